//! The threads the C steps use, and the serial threshold, as C sets them.

use crate::status::{fo_status, guard};
use fused_optim_core::Parallelism;
use fused_optim_core::parallel::{OpenMp, ParallelFor, binding_parallelism, set_binding_parallelism};
use std::ffi::c_void;
use std::sync::Arc;

/// The most threads `fo_set_threads` accepts: 1024.
///
/// A count above it is a caller's bug (a negative `int` converted to
/// `size_t`, an uninitialised variable, a byte count), refused before it
/// starts thousands of OS threads. The bound is generous on purpose: the
/// driver cuts a step into at most 32 pieces, so no step keeps more than 32
/// threads busy, and 1024 is above the hardware threads of today's common
/// shared-memory servers. It is a constant, not the machine's
/// `available_parallelism`, so that it can be in this header and means the
/// same everywhere: that number changes with the cgroup and the affinity
/// mask the process runs under, and a pool larger than the cores is legal,
/// only slower. (The Rust library's `MAX_THREADS`, the same number.)
pub const FO_MAX_THREADS: usize = 1024;
const _: () = assert!(FO_MAX_THREADS == fused_optim_core::parallel::MAX_THREADS);

/// The threads later steps use: 0 for rayon's global pool (the default),
/// 1 for the calling thread only, 1 < n <= `FO_MAX_THREADS` for a pool of n
/// threads owned by the library (replacing any earlier one). Returns `FO_OK`;
/// or `FO_ERROR_THREADS`, leaving the setting as it was, for a count above
/// `FO_MAX_THREADS` (refused before any thread starts) or a pool that could
/// not be built.
#[unsafe(no_mangle)]
pub extern "C" fn fo_set_threads(threads: usize) -> fo_status {
    guard(|| match Parallelism::with_threads(threads) {
        Ok(parallelism) => {
            set_binding_parallelism(parallelism);
            fo_status::FO_OK
        }
        Err(_) => fo_status::FO_ERROR_THREADS,
    })
}

/// A host's job: run worker `worker` of a step (`job_ctx` is the library's).
pub type fo_job = unsafe extern "C" fn(job_ctx: *mut c_void, worker: usize);

/// A host's parallel-for (`fo_set_parallel_for`'s `run`).
type HostRun = unsafe extern "C" fn(*mut c_void, usize, fo_job, *mut c_void);

/// A C host's parallel-for as the library's `ParallelFor`.
struct CHost {
    run: HostRun,
    ctx: *mut c_void,
    threads: usize,
}

// SAFETY: `fo_set_parallel_for`'s contract: `host_ctx` may be used from any
// thread for as long as the setting holds.
unsafe impl Send for CHost {}
// SAFETY: as above.
unsafe impl Sync for CHost {}

/// The library's job, called by the host for one worker.
///
/// # Safety
/// `job_ctx` is the pointer `CHost::run` passed, used before that call returns.
unsafe extern "C" fn run_worker(job_ctx: *mut c_void, worker: usize) {
    // SAFETY: `job_ctx` points to the `&dyn Fn` on `CHost::run`'s stack, alive
    // until the host's `run` returns (the host's contract: no call after).
    let job = unsafe { &*job_ctx.cast::<&(dyn Fn(usize) + Sync)>() };
    job(worker); // catches a panicking piece itself; never unwinds here
}

impl ParallelFor for CHost {
    fn threads(&self) -> usize {
        self.threads
    }

    fn run(&self, workers: usize, job: &(dyn Fn(usize) + Sync)) {
        let job_ref: &(dyn Fn(usize) + Sync) = job;
        // SAFETY: the host's contract (`fo_set_parallel_for`): it calls
        // `run_worker(job_ctx, w)` for `w < workers` and returns after every
        // call has returned, so the pointer to `job_ref` stays valid.
        unsafe { (self.run)(self.ctx, workers, run_worker, (&raw const job_ref).cast_mut().cast()) };
    }

    fn name(&self) -> String {
        "C host".to_owned()
    }
}

/// Later steps run on the caller's parallel-for, cut for `threads` threads
/// (1 to `FO_MAX_THREADS`): for a framework's own pool (ATen's
/// `at::parallel_for`, TBB, a job system), so the step shares the host's
/// threads instead of starting its own. A step calls
/// `run(host_ctx, workers, job, job_ctx)`, which must call
/// `job(job_ctx, w)` once for each `w < workers` on the host's threads (the
/// calling thread may be one) and return once every call has returned. It
/// may run fewer workers, run them one after another, or none: the library
/// runs what they left on the calling thread, with the same bits. It must
/// not call `job` after it has returned, and must not leave `job` or itself
/// by a C++ exception or `longjmp`; `job` never unwinds and never waits for
/// another worker. `host_ctx` must stay valid, and usable from any thread,
/// until the setting has changed and every step begun before the change has
/// returned (a step in flight on another thread keeps using it). Every
/// executor gives the same bits. Returns `FO_OK`; `FO_ERROR_NULL_POINTER` for
/// a null `run`, `FO_ERROR_THREADS` for `threads` 0 or above
/// `FO_MAX_THREADS`, leaving the setting as it was.
/// `fo_set_threads` sets it back to the library's own threads.
#[unsafe(no_mangle)]
pub extern "C" fn fo_set_parallel_for(
    run: Option<unsafe extern "C" fn(*mut c_void, usize, fo_job, *mut c_void)>, host_ctx: *mut c_void,
    threads: usize,
) -> fo_status {
    guard(|| {
        let Some(run) = run else { return fo_status::FO_ERROR_NULL_POINTER };
        if threads == 0 || threads > FO_MAX_THREADS {
            return fo_status::FO_ERROR_THREADS;
        }
        set_binding_parallelism(Parallelism::Host(Arc::new(CHost { run, ctx: host_ctx, threads })));
        fo_status::FO_OK
    })
}

/// Later steps run on the OpenMP team of the runtime this process has
/// already loaded (libgomp, LLVM's libomp or Intel's libiomp5, found at run
/// time; the library links none): `threads` threads, or 0 to follow the
/// runtime's `omp_get_max_threads()` (`OMP_NUM_THREADS`,
/// `omp_set_num_threads`) at each step. Called inside an OpenMP parallel
/// region, a step runs on the calling thread (OpenMP's nested regions have
/// one thread by default). Returns `FO_OK`; `FO_ERROR_THREADS` if no OpenMP
/// runtime is loaded (Linux only) or `threads` is above `FO_MAX_THREADS`,
/// leaving the setting as it was.
#[unsafe(no_mangle)]
pub extern "C" fn fo_set_threads_openmp(threads: usize) -> fo_status {
    guard(|| match OpenMp::loaded() {
        Some(team) if threads <= FO_MAX_THREADS => {
            set_binding_parallelism(Parallelism::Host(Arc::new(team.with_threads(threads))));
            fo_status::FO_OK
        }
        _ => fo_status::FO_ERROR_THREADS,
    })
}

/// The threads set by `fo_set_threads`, as it was given: 0 for rayon's
/// global pool, 1 for the calling thread only, n for a pool of n threads;
/// after `fo_set_parallel_for` or `fo_set_threads_openmp`, the host's
/// thread count (the OpenMP runtime's at the time of the call when it follows it).
#[unsafe(no_mangle)]
pub extern "C" fn fo_threads() -> usize {
    binding_parallelism().thread_setting()
}

/// Sets the memory traffic in bytes (reads plus writes of every buffer of
/// a step) below which a step runs on the calling thread whatever
/// `fo_set_threads` says, for the whole process (the Rust API's
/// `set_serial_threshold`; the default is 512 KiB). 0 splits every step
/// across the threads; `SIZE_MAX` never splits. Any value is valid; it only
/// changes speed, never the results.
#[unsafe(no_mangle)]
pub extern "C" fn fo_set_serial_threshold(bytes: usize) {
    fused_optim_core::set_serial_threshold(bytes);
}

/// The threshold `fo_set_serial_threshold` sets, in bytes of traffic.
#[unsafe(no_mangle)]
pub extern "C" fn fo_serial_threshold() -> usize {
    fused_optim_core::serial_threshold()
}

/// The parallelism set by `fo_set_threads`.
pub(crate) fn parallelism() -> Parallelism {
    binding_parallelism()
}
