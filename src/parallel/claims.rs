//! Fork-join by claiming: pieces of work handed out by an atomic counter.
//!
//! [`run_claimed`] runs `work(0) … work(pieces − 1)`, each exactly once,
//! on the calling thread and on up to `helpers` pool threads, and returns
//! when all have run. Every participant, the caller included, claims the next
//! unclaimed piece until none is left; the caller then waits only for pieces
//! a helper has claimed and is running.
//!
//! This is what a scoped fork-join (`rayon::join`, `in_place_scope`) cannot
//! give a caller outside the pool: there the caller must wait for a worker to
//! wake up and start, and on the development VM a worker idle for a few
//! milliseconds takes about 55 µs to wake (a cross-vCPU wake-up), more than a
//! 4 MiB step takes alone. Here a helper that arrives late finds every piece
//! claimed and leaves; a step is never much slower than serial, and as fast
//! as the threads allow when they are awake.
//!
//! A helper can outlive the call (it may be scheduled after the caller
//! returned). It then only touches the counters, which an `Arc` keeps alive;
//! it never calls `work`, whose borrow ended with the call (see the `SAFETY`
//! comments).

use super::threads::Parallelism;
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// `work` with its lifetime erased, so `'static` pool jobs can hold it.
#[derive(Clone, Copy)]
struct ErasedWork(*const (dyn Fn(usize) + Sync + 'static));

// SAFETY: the pointee is `Sync`, so calling it from any thread is sound;
// when it may be called is governed by `Claims` (see `help`).
unsafe impl Send for ErasedWork {}
// SAFETY: as above.
unsafe impl Sync for ErasedWork {}

struct Claims {
    /// The next piece to hand out; values `>= pieces` mean none is left.
    next: AtomicUsize,
    /// Pieces finished (run or panicked).
    done: AtomicUsize,
    pieces: usize,
    /// The payload of the first piece that panicked, on whichever thread.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    work: ErasedWork,
}

impl Claims {
    /// Claims and runs pieces until none is left.
    fn help(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::AcqRel);
            if i >= self.pieces {
                return;
            }
            // SAFETY: `i < pieces`, so `run_claimed` has not returned: it
            // returns only once `done == pieces`, and this piece is counted
            // in `done` below only after `work` returns. So the borrow that
            // `work` was erased from is still alive.
            let work = unsafe { &*self.work.0 };
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| work(i))) {
                // The first payload is kept for the caller to resume. Later
                // ones are forgotten, not dropped: a payload whose `drop`
                // panics must not unwind out of here before `done` counts
                // this piece.
                let mut first = self.panic.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if first.is_none() {
                    *first = Some(payload);
                } else {
                    std::mem::forget(payload);
                }
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }
}

/// Runs `work(i)` for every `i < pieces` exactly once, on the calling thread
/// and on up to `helpers` threads of `parallelism`'s pool (or the host's
/// threads, for [`Parallelism::Host`]); returns when every piece has run.
///
/// # Panics
/// If any piece panicked: after every piece has finished, the first panic
/// resumes on the calling thread with its own payload (its message), whether
/// it happened on a pool thread or on the caller.
pub(crate) fn run_claimed(
    pieces: usize,
    helpers: usize,
    parallelism: &Parallelism,
    work: &(dyn Fn(usize) + Sync),
) {
    // SAFETY: only the lifetime is changed. The erased reference is
    // dereferenced only in `Claims::help` for a claimed `i < pieces`, and this
    // function does not return before all those calls have returned (the wait
    // on `done` below), so `work` outlives every use.
    let work: &'static (dyn Fn(usize) + Sync) =
        unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), &'static (dyn Fn(usize) + Sync)>(work) };
    let claims = Arc::new(Claims {
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        pieces,
        panic: Mutex::new(None),
        work: ErasedWork(work),
    });
    // The wait runs in a guard's `drop`, so it also runs if anything unwinds
    // here: this function must never return, or unwind, while a helper may
    // still call `work`.
    let host_panic = {
        let _wait = WaitForPieces(&claims);
        let host_panic = if let Parallelism::Host(host) = parallelism {
            // The host runs `help` on its own threads (the caller may be one
            // of them) and returns when they have. A host that panics is
            // caught here, so the caller still finishes the step below
            // before the panic goes on: no step is left half applied.
            let shared: &Claims = &claims;
            catch_unwind(AssertUnwindSafe(|| {
                host.run(helpers.min(pieces.saturating_sub(1)) + 1, &|_| shared.help())
            }))
            .err()
        } else {
            for _ in 0..helpers.min(pieces.saturating_sub(1)) {
                let claims = Arc::clone(&claims);
                let job = move || claims.help();
                match parallelism {
                    Parallelism::Pool(pool) => pool.spawn(job),
                    _ => rayon::spawn(job),
                }
            }
            None
        };
        // Whatever no helper (or host worker) has claimed: all of it, for a
        // host that ran none.
        claims.help();
        host_panic
    };
    if let Some(payload) = host_panic {
        std::panic::resume_unwind(payload);
    }
    let payload = claims.panic.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    if let Some(payload) = payload {
        // Every piece has finished: no helper touches `work` any more.
        std::panic::resume_unwind(payload);
    }
}

/// Waits, when dropped, until every piece has finished. Normally every
/// piece is claimed by then (the caller claims until none is left), so the
/// pieces still running are on helpers that are running: the wait is short.
/// Should anything unwind before the caller claimed them, the pieces nobody
/// claimed are claimed here and counted as finished without running, so the
/// wait still ends. It spins, then yields
/// the core in case a helper shares it.
struct WaitForPieces<'a>(&'a Claims);

impl Drop for WaitForPieces<'_> {
    fn drop(&mut self) {
        while self.0.next.fetch_add(1, Ordering::AcqRel) < self.0.pieces {
            self.0.done.fetch_add(1, Ordering::Release);
        }
        let mut spins = 0u32;
        while self.0.done.load(Ordering::Acquire) < self.0.pieces {
            if spins < 1 << 12 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn every_piece_runs_once() {
        let pool = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap());
        for parallelism in [Parallelism::Global, Parallelism::Pool(pool)] {
            for pieces in [1, 2, 5, 32] {
                let counts: Vec<AtomicUsize> = (0..pieces).map(|_| AtomicUsize::new(0)).collect();
                run_claimed(pieces, 3, &parallelism, &|i| {
                    counts[i].fetch_add(1, Ordering::Relaxed);
                });
                assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1));
            }
        }
    }

    #[test]
    fn the_caller_finishes_alone_when_helpers_are_busy() {
        // A one-thread pool kept busy: its helper job cannot start until the
        // caller has done every piece and returned.
        let pool = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap());
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        pool.spawn(move || release_rx.recv().unwrap());
        let ran = Mutex::new(Vec::new());
        run_claimed(4, 1, &Parallelism::Pool(Arc::clone(&pool)), &|i| ran.lock().unwrap().push(i));
        assert_eq!(*ran.lock().unwrap(), vec![0, 1, 2, 3]);
        release_tx.send(()).unwrap(); // the late helper then finds nothing to do
    }

    #[test]
    #[should_panic(expected = "piece 7 failed")]
    fn a_panicking_piece_is_reported_with_its_message() {
        let pool = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap());
        run_claimed(8, 2, &Parallelism::Pool(pool), &|i| {
            if i == 7 {
                panic!("piece {i} failed");
            }
        });
    }

    /// Runs its workers on scoped threads of its own.
    struct Scoped;

    impl crate::parallel::ParallelFor for Scoped {
        fn threads(&self) -> usize {
            3
        }
        fn run(&self, workers: usize, job: &(dyn Fn(usize) + Sync)) {
            std::thread::scope(|s| (0..workers).for_each(|w| drop(s.spawn(move || job(w)))));
        }
    }

    #[test]
    fn a_host_runs_every_piece_once_and_reports_a_panic() {
        let host = Parallelism::Host(Arc::new(Scoped));
        let counts: Vec<AtomicUsize> = (0..9).map(|_| AtomicUsize::new(0)).collect();
        run_claimed(9, 2, &host, &|i| {
            counts[i].fetch_add(1, Ordering::Relaxed);
        });
        assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1));
        let result = catch_unwind(AssertUnwindSafe(|| {
            run_claimed(9, 2, &host, &|i| {
                if i == 4 {
                    panic!("piece {i} failed on a host thread");
                }
            })
        }));
        let payload = result.expect_err("a piece panicked");
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("piece 4 failed on a host thread")
        );
    }

    #[test]
    fn the_callers_own_panic_keeps_its_payload() {
        // A one-thread pool kept busy: the caller runs every piece itself,
        // so the panic is the caller's, and its payload must come back as is.
        let pool = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap());
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        pool.spawn(move || release_rx.recv().unwrap());
        let parallelism = Parallelism::Pool(Arc::clone(&pool));
        let result = catch_unwind(AssertUnwindSafe(|| {
            run_claimed(4, 1, &parallelism, &|i| {
                if i == 2 {
                    std::panic::panic_any(42u32);
                }
            })
        }));
        release_tx.send(()).unwrap();
        let payload = result.expect_err("the piece panicked");
        assert_eq!(payload.downcast_ref::<u32>(), Some(&42));
    }
}
