//! Hosts' parallel-fors for the tests: well-behaved ones and the awkward
//! ones a real host may be (one that runs its workers one after another,
//! one that runs none, one that runs them on another thread), and the
//! process's OpenMP runtime, loaded for the test if the machine has one.
//!
//! Every one must give the reference's bits: the driver cuts the same
//! pieces whatever runs them.

use fused_optim::Parallelism;
use fused_optim::parallel::{OpenMp, ParallelFor};
use std::sync::Arc;

/// Runs worker 0 on the calling thread and the others on scoped threads it
/// starts for the step, all at once.
#[derive(Debug)]
pub struct ScopedHost(pub usize);

impl ParallelFor for ScopedHost {
    fn threads(&self) -> usize {
        self.0
    }
    fn run(&self, workers: usize, job: &(dyn Fn(usize) + Sync)) {
        std::thread::scope(|s| {
            for w in 1..workers {
                s.spawn(move || job(w));
            }
            job(0);
        });
    }
}

/// Runs every worker on the calling thread, one after another (a host
/// whose pool is busy, or has one thread).
#[derive(Debug)]
pub struct SerialHost(pub usize);

impl ParallelFor for SerialHost {
    fn threads(&self) -> usize {
        self.0
    }
    fn run(&self, workers: usize, job: &(dyn Fn(usize) + Sync)) {
        (0..workers).rev().for_each(job);
    }
}

/// Runs no worker at all: the caller must do every piece itself.
#[derive(Debug)]
pub struct IdleHost(pub usize);

impl ParallelFor for IdleHost {
    fn threads(&self) -> usize {
        self.0
    }
    fn run(&self, _workers: usize, _job: &(dyn Fn(usize) + Sync)) {}
}

/// A host with a pool of its own threads (a framework's job system): worker 0
/// on the calling thread, the others on the pool, all at once. Starts no
/// thread per step.
pub struct PoolHost(pub rayon::ThreadPool);

impl PoolHost {
    /// A host whose pool has `threads` threads.
    pub fn new(threads: usize) -> PoolHost {
        PoolHost(rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool"))
    }
}

impl ParallelFor for PoolHost {
    fn threads(&self) -> usize {
        self.0.current_num_threads()
    }
    fn run(&self, workers: usize, job: &(dyn Fn(usize) + Sync)) {
        self.0.in_place_scope(|s| {
            for w in 1..workers {
                s.spawn(move |_| job(w));
            }
            job(0);
        });
    }
}

/// Runs every worker on one other thread (its pool's one thread), one after
/// another, and waits for it: the calling thread takes no piece.
pub struct OtherThreadHost(pub rayon::ThreadPool);

impl OtherThreadHost {
    /// The host, with its one thread.
    pub fn new() -> OtherThreadHost {
        OtherThreadHost(rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a pool"))
    }
}

impl Default for OtherThreadHost {
    fn default() -> Self {
        OtherThreadHost::new()
    }
}

impl ParallelFor for OtherThreadHost {
    fn threads(&self) -> usize {
        2
    }
    fn run(&self, workers: usize, job: &(dyn Fn(usize) + Sync)) {
        self.0.install(|| (0..workers).for_each(job));
    }
}

/// The process's OpenMP runtime: the one already loaded, else GCC's
/// `libgomp.so.1` loaded now (as PyTorch loads its own), if the machine has
/// it. `None` where there is none (an emulated CPU without the library):
/// the callers then test the other executors only, and say so.
pub fn openmp() -> Option<OpenMp> {
    if let Some(team) = OpenMp::loaded() {
        return Some(team);
    }
    load_libgomp();
    OpenMp::loaded()
}

#[cfg(target_os = "linux")]
fn load_libgomp() {
    use std::ffi::{c_char, c_int, c_void};
    unsafe extern "C" {
        fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    }
    const RTLD_NOW: c_int = 2;
    // Privately (RTLD_LOCAL), as Python loads torch's: the library must find
    // it outside the global symbol scope. Never closed.
    // SAFETY: a NUL-terminated name; loading libgomp runs its constructors,
    // which start no thread.
    unsafe { dlopen(c"libgomp.so.1".as_ptr(), RTLD_NOW) };
}

#[cfg(not(target_os = "linux"))]
fn load_libgomp() {}

/// Every kind of host executor, at two or three threads, as drivers for
/// [`crate::assert_matches_reference`]; OpenMP's when there is a runtime.
pub fn host_parallelisms() -> Vec<Parallelism> {
    // Hosts whose threads live across steps (a thread started per step is
    // slow under an emulated CPU); `ScopedHost` is for the one-off tests.
    let mut out: Vec<Parallelism> = vec![
        Parallelism::Host(Arc::new(PoolHost::new(2))),
        Parallelism::Host(Arc::new(PoolHost::new(3))),
        Parallelism::Host(Arc::new(SerialHost(3))),
        Parallelism::Host(Arc::new(IdleHost(3))),
        Parallelism::Host(Arc::new(OtherThreadHost::new())),
    ];
    match openmp() {
        Some(team) => {
            // 0: the runtime's own count (omp_get_max_threads); 3: more than this machine's cores.
            for threads in [0, 3] {
                out.push(Parallelism::Host(Arc::new(team.with_threads(threads))));
            }
        }
        None => eprintln!("no OpenMP runtime on this machine: the OpenMP executor is not tested here"),
    }
    out
}
