//! The host's OpenMP team, found at run time: a [`ParallelFor`] over
//! `GOMP_parallel`.
//!
//! Nothing links an OpenMP runtime at build time. [`OpenMp::loaded`] looks
//! for one the process has already loaded (PyTorch loads its `libgomp.so.1`;
//! a C or C++ host built with `-fopenmp` links one): first in the global
//! symbol scope, then in every loaded object whose file name starts with
//! `libgomp`, `libomp` or `libiomp` (a runtime loaded privately, as Python
//! loads torch's, is not in the global scope), opened again with
//! `RTLD_NOLOAD` so nothing new is loaded. `GOMP_parallel` is the entry
//! point GCC's libgomp, LLVM's libomp and Intel's libiomp5 all export (the
//! latter two for compatibility with GCC-compiled code), with
//! `omp_get_max_threads`.
//!
//! A step run through it is one `GOMP_parallel` region: the calling thread
//! and the team's threads each take a worker index and claim pieces. Called
//! from inside another OpenMP region, the nested region gets a team of one
//! (OpenMP's default), and the caller runs every piece: no deadlock, the same
//! bits. Linux only; elsewhere [`OpenMp::loaded`] finds nothing.

use super::host::ParallelFor;
use std::ffi::{c_int, c_uint, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};

/// `void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags)`.
type GompParallel = unsafe extern "C" fn(extern "C" fn(*mut c_void), *mut c_void, c_uint, c_uint);
/// `int omp_get_max_threads(void)`.
type OmpGetMaxThreads = unsafe extern "C" fn() -> c_int;

/// The loaded OpenMP runtime's team.
#[derive(Clone, Copy, Debug)]
pub struct OpenMp {
    parallel: GompParallel,
    max_threads: OmpGetMaxThreads,
    /// Team size for a step; 0: the runtime's `omp_get_max_threads()` at
    /// the time of the step (what `OMP_NUM_THREADS`, `omp_set_num_threads`
    /// and `torch.set_num_threads` set).
    threads: usize,
    /// The process that found the runtime. OpenMP runtimes are not fork-safe
    /// (a child of a process whose team has run hangs in its next parallel
    /// region): in another process (a `fork()` child, as a DataLoader
    /// worker is) the team is one thread and no region is started.
    pid: u32,
}

impl OpenMp {
    /// The OpenMP runtime this process has loaded, if any (see the module).
    /// The team follows the runtime's `omp_get_max_threads()`.
    pub fn loaded() -> Option<OpenMp> {
        let (parallel, max_threads) = symbols::find()?;
        Some(OpenMp { parallel, max_threads, threads: 0, pid: std::process::id() })
    }

    /// The same runtime with a team of `threads` (0: follow
    /// `omp_get_max_threads()`).
    pub fn with_threads(self, threads: usize) -> OpenMp {
        OpenMp { threads, ..self }
    }
}

/// What the team's threads share for one region.
struct Region<'a> {
    job: &'a (dyn Fn(usize) + Sync),
    next: AtomicUsize,
    workers: usize,
}

/// The region's body, on every thread of the team: take a worker index,
/// run the job for it. A team larger than `workers` leaves the extra threads
/// idle.
extern "C" fn region(data: *mut c_void) {
    // SAFETY: `data` is the `Region` that `run` passed to `GOMP_parallel`,
    // which does not return before every thread of the team has returned
    // from this function, so the `Region` (on `run`'s stack) is alive.
    let region = unsafe { &*data.cast::<Region<'_>>() };
    let w = region.next.fetch_add(1, Ordering::Relaxed);
    if w < region.workers {
        // The job catches a panicking piece itself (`ParallelFor::run`'s
        // contract); a panic escaping here would abort at this `extern "C"`
        // boundary instead of unwinding into the runtime.
        (region.job)(w);
    }
}

impl OpenMp {
    /// Whether this is the process that found the runtime (see `pid`).
    fn in_own_process(&self) -> bool {
        std::process::id() == self.pid
    }
}

impl ParallelFor for OpenMp {
    fn threads(&self) -> usize {
        if !self.in_own_process() {
            return 1;
        }
        if self.threads > 0 {
            return self.threads;
        }
        // SAFETY: a function of the loaded runtime with this C signature,
        // found by name; it takes nothing and only reads the calling thread's
        // OpenMP settings.
        let n = unsafe { (self.max_threads)() };
        usize::try_from(n).unwrap_or(1).max(1)
    }

    fn run(&self, workers: usize, job: &(dyn Fn(usize) + Sync)) {
        if !self.in_own_process() {
            return (0..workers).for_each(job); // no region in a fork()ed child: see `pid`
        }
        let region_data = Region { job, next: AtomicUsize::new(0), workers };
        let team = c_uint::try_from(workers.max(1)).unwrap_or(c_uint::MAX);
        // SAFETY: `GOMP_parallel` has this C signature in every runtime that
        // exports it; it runs `region(data)` on each thread of a team of at
        // most `team` threads (the caller included) and returns after all of
        // them have returned, so `region_data` outlives every use. Flags 0:
        // no proc_bind request.
        unsafe { (self.parallel)(region, (&raw const region_data).cast_mut().cast(), team, 0) };
    }

    fn name(&self) -> String {
        "OpenMP".to_owned()
    }
}

#[cfg(target_os = "linux")]
mod symbols {
    //! `dlsym` and `dl_iterate_phdr`, declared here: the C library every
    //! Linux Rust program links provides them.
    use super::{GompParallel, OmpGetMaxThreads};
    use std::ffi::{CStr, c_char, c_int, c_void};

    const RTLD_LAZY: c_int = 1;
    const RTLD_NOLOAD: c_int = 4;
    /// glibc's and musl's `RTLD_DEFAULT`: the global scope.
    const RTLD_DEFAULT: *mut c_void = std::ptr::null_mut();

    /// The first fields of `struct dl_phdr_info` (the only ones read; the
    /// struct is passed by pointer, so its later fields need no declaring).
    #[repr(C)]
    struct DlPhdrInfo {
        addr: usize,
        name: *const c_char,
    }

    unsafe extern "C" {
        fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
        fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
        fn dl_iterate_phdr(
            callback: unsafe extern "C" fn(*mut DlPhdrInfo, usize, *mut c_void) -> c_int,
            data: *mut c_void,
        ) -> c_int;
    }

    /// The two entry points in `handle`'s scope, if both are there.
    fn lookup(handle: *mut c_void) -> Option<(GompParallel, OmpGetMaxThreads)> {
        // SAFETY: `dlsym` with a handle from `dlopen` (or RTLD_DEFAULT) and
        // NUL-terminated names only reads; a null result is "not found".
        let (parallel, max_threads) = unsafe {
            (dlsym(handle, c"GOMP_parallel".as_ptr()), dlsym(handle, c"omp_get_max_threads".as_ptr()))
        };
        if parallel.is_null() || max_threads.is_null() {
            return None;
        }
        // SAFETY: the runtimes export these names with these C signatures
        // (GCC's libgomp ABI, which libomp and libiomp5 implement), and a
        // non-null `dlsym` result is the function's address.
        unsafe {
            Some((
                std::mem::transmute::<*mut c_void, GompParallel>(parallel),
                std::mem::transmute::<*mut c_void, OmpGetMaxThreads>(max_threads),
            ))
        }
    }

    /// Records the path of each loaded object whose file name is an OpenMP
    /// runtime's.
    unsafe extern "C" fn collect(info: *mut DlPhdrInfo, _size: usize, data: *mut c_void) -> c_int {
        // SAFETY: `dl_iterate_phdr` passes a valid `dl_phdr_info` (whose
        // first two fields `DlPhdrInfo` declares) and our `data`, a
        // `Vec<Vec<u8>>` that `find` owns for the call.
        let (info, found) = unsafe { (&*info, &mut *data.cast::<Vec<Vec<u8>>>()) };
        if !info.name.is_null() {
            // SAFETY: a non-null `dlpi_name` is a NUL-terminated path.
            let path = unsafe { CStr::from_ptr(info.name) }.to_bytes();
            let file = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
            if [&b"libgomp"[..], b"libomp", b"libiomp"].iter().any(|p| file.starts_with(p)) {
                found.push(path.to_vec());
            }
        }
        0
    }

    pub(super) fn find() -> Option<(GompParallel, OmpGetMaxThreads)> {
        if let Some(found) = lookup(RTLD_DEFAULT) {
            return Some(found);
        }
        let mut paths: Vec<Vec<u8>> = Vec::new();
        // SAFETY: `collect` matches the callback type and only pushes to the
        // `Vec` passed as `data`, which lives across the call.
        unsafe { dl_iterate_phdr(collect, (&raw mut paths).cast()) };
        paths.into_iter().find_map(|mut path| {
            path.push(0);
            let path = CStr::from_bytes_with_nul(&path).ok()?;
            // SAFETY: RTLD_NOLOAD returns a handle only for an object already
            // loaded (raising its reference count, so it stays loaded) and
            // loads nothing.
            let handle = unsafe { dlopen(path.as_ptr(), RTLD_LAZY | RTLD_NOLOAD) };
            if handle.is_null() { None } else { lookup(handle) }
        })
    }
}

#[cfg(not(target_os = "linux"))]
mod symbols {
    use super::{GompParallel, OmpGetMaxThreads};

    pub(super) fn find() -> Option<(GompParallel, OmpGetMaxThreads)> {
        None
    }
}
