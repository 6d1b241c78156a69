//! The rayon driver: one kernel call per thread, on cache-line-aligned pieces.
//!
//! The step is element-wise, so any split gives the serial bits; what the
//! driver decides is only *when* to split and *where*:
//!
//! - **When.** Below [`serial_threshold`] bytes of memory traffic per call the
//!   step runs on the calling thread: a fork-join costs microseconds (and on
//!   an oversubscribed VM, where two workers can share a core, milliseconds),
//!   which is more than a small step takes.
//! - **Where.** Into one piece per thread of the chosen pool; the calling
//!   thread runs one piece and spawns the others (`in_place_scope`). Every split point is moved to a 64-byte
//!   boundary of the parameter buffer (one AVX-512 vector, one cache line), so
//!   no two threads write the same parameter cache line and every piece but
//!   the last runs whole vectors.
//! - **On which pool.** [`Parallelism`]: the calling thread only, rayon's
//!   global pool, or a pool the caller owns.

use fused_optim_kernels::{AdaMaxBuffers, AdamBuffers, MAX_VECTOR_BYTES, ProbeBuffers};
use rayon::ThreadPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The default of [`serial_threshold`]: 4 MiB.
///
/// Chosen by measurement (`cargo run --release --example roofline -- --crossover`,
/// serial against the driver forced to split, samples interleaved) on the
/// development machine, a 2-core AVX-512 VM. Waking a rayon worker there costs
/// up to 15–18 µs (a cross-vCPU wake-up), so splitting pays only once a serial
/// step takes a few times that. At 3.5 MiB of traffic split ÷ serial was 1.13
/// to 1.40 for f64 Adam and both AdaMax (0.58 for f32 Adam, whose worker
/// happened to be awake); at 7 MiB it was 0.61 to 0.91 for all four. Every
/// power-of-two size therefore lands on the faster side with a threshold
/// anywhere between the two; 4 MiB splits from 2^18 f32 / 2^17 f64 elements.
pub const DEFAULT_SERIAL_BELOW_BYTES: usize = 4 << 20;

static SERIAL_BELOW_BYTES: AtomicUsize = AtomicUsize::new(DEFAULT_SERIAL_BELOW_BYTES);

/// Memory traffic (bytes read + written) below which a step stays on the
/// calling thread, whatever the [`Parallelism`]. Process-wide.
pub fn serial_threshold() -> usize {
    SERIAL_BELOW_BYTES.load(Ordering::Relaxed)
}

/// Sets [`serial_threshold`] for the whole process (0: split every step that
/// may use threads; `usize::MAX`: never split). For machines whose fork-join
/// cost differs from the development VM's; the roofline example's
/// `--crossover` measures it.
pub fn set_serial_threshold(bytes: usize) {
    SERIAL_BELOW_BYTES.store(bytes, Ordering::Relaxed);
}

/// Which threads a step may use.
#[derive(Clone, Debug, Default)]
pub enum Parallelism {
    /// The calling thread only.
    Serial,
    /// Rayon's global pool, for steps of at least [`serial_threshold`] bytes of traffic.
    #[default]
    Global,
    /// The caller's pool, for steps of at least [`serial_threshold`] bytes of traffic.
    Pool(Arc<ThreadPool>),
}

impl Parallelism {
    /// The number of threads a large step is split across.
    pub fn threads(&self) -> usize {
        match self {
            Parallelism::Serial => 1,
            Parallelism::Global => rayon::current_num_threads(),
            Parallelism::Pool(pool) => pool.current_num_threads(),
        }
    }
}

/// A set of equally long buffers that can be cut into two at an index.
pub(crate) trait Split: Sized + Send {
    /// Common length.
    fn len(&self) -> usize;
    /// `[0, mid)` and `[mid, len)`.
    fn split_at(self, mid: usize) -> (Self, Self);
    /// Address of element 0 of the buffer whose cache lines split points align to.
    fn anchor(&self) -> usize;
}

impl<T: Send + Sync> Split for AdamBuffers<'_, T> {
    fn len(&self) -> usize {
        AdamBuffers::len(self)
    }
    fn split_at(self, mid: usize) -> (Self, Self) {
        AdamBuffers::split_at(self, mid)
    }
    fn anchor(&self) -> usize {
        self.param.as_ptr() as usize
    }
}

impl<T: Send + Sync> Split for AdaMaxBuffers<'_, T> {
    fn len(&self) -> usize {
        AdaMaxBuffers::len(self)
    }
    fn split_at(self, mid: usize) -> (Self, Self) {
        AdaMaxBuffers::split_at(self, mid)
    }
    fn anchor(&self) -> usize {
        self.param.as_ptr() as usize
    }
}

impl<T: Send + Sync, const W: usize> Split for ProbeBuffers<'_, T, W> {
    fn len(&self) -> usize {
        ProbeBuffers::len(self)
    }
    fn split_at(self, mid: usize) -> (Self, Self) {
        ProbeBuffers::split_at(self, mid)
    }
    fn anchor(&self) -> usize {
        self.written.first().map_or(self.read.as_ptr() as usize, |s| s.as_ptr() as usize)
    }
}

/// Runs `kernel` over `buffers`, split across the threads `parallelism`
/// allows when the step moves at least [`serial_threshold`] bytes
/// (`bytes_per_element` is the traffic of one element: reads plus writes).
///
/// The calling thread runs the first piece itself; the others are spawned
/// into the pool first, so only `threads − 1` workers need waking and the
/// caller never sleeps while there is work.
pub(crate) fn drive<B: Split>(
    buffers: B,
    element_bytes: usize,
    bytes_per_element: usize,
    parallelism: &Parallelism,
    kernel: impl Fn(B) + Sync,
) {
    let traffic = buffers.len().saturating_mul(bytes_per_element);
    let threads = parallelism.threads();
    if threads <= 1 || traffic < serial_threshold() {
        return kernel(buffers);
    }
    match parallelism {
        Parallelism::Pool(pool) => {
            pool.in_place_scope(|scope| spread(scope, buffers, threads, element_bytes, &kernel))
        }
        _ => rayon::in_place_scope(|scope| spread(scope, buffers, threads, element_bytes, &kernel)),
    }
}

/// Cuts `buffers` into `pieces` at 64-byte boundaries, spawns all but the
/// first into `scope`, and runs the first on the calling thread.
fn spread<'scope, B: Split + 'scope, K: Fn(B) + Sync>(
    scope: &rayon::Scope<'scope>,
    buffers: B,
    pieces: usize,
    element_bytes: usize,
    kernel: &'scope K,
) {
    let (n, anchor) = (buffers.len(), buffers.anchor());
    let cut = |i: usize| aligned_split(anchor, n, n / pieces * i, element_bytes);
    let (first, mut rest) = buffers.split_at(cut(1));
    for i in 2..pieces {
        let (piece, tail) = rest.split_at(cut(i) - cut(i - 1));
        scope.spawn(move |_| kernel(piece));
        rest = tail;
    }
    scope.spawn(move |_| kernel(rest));
    kernel(first);
}

/// Moves the split index `mid` down to the nearest index whose address
/// (`anchor + index·element_bytes`) is a multiple of 64 bytes, within `0..=n`.
fn aligned_split(anchor: usize, n: usize, mid: usize, element_bytes: usize) -> usize {
    let address = anchor + mid * element_bytes;
    let back = (address % MAX_VECTOR_BYTES) / element_bytes;
    mid.saturating_sub(back).min(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_points_land_on_cache_lines() {
        for anchor in (0..256).step_by(4) {
            for mid in 0..100 {
                let s = aligned_split(anchor, 100, mid, 4);
                assert!(s <= mid && mid - s < 16);
                if s > 0 {
                    assert_eq!((anchor + s * 4) % 64, 0, "anchor {anchor} mid {mid}");
                }
            }
        }
        assert_eq!(aligned_split(8, 10, 7, 8), 7);
        assert_eq!(aligned_split(8, 10, 8, 8), 7);
    }
}
