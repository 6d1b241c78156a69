//! Which threads a step may use, and from what size it uses more than one.

use super::host::ParallelFor;
use rayon::ThreadPool;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

/// The default of [`serial_threshold`]: 512 KiB.
///
/// Chosen by measurement on the development machine, a 2-core AVX-512 VM,
/// with `cargo run --release -p fused-optim-bench --example roofline -- --crossover` (serial
/// against the driver with the threshold at 0, back to back, samples
/// interleaved): split ÷ serial was 0.97 to 1.13 at 448 KiB of traffic and
/// 0.75 to 0.92 at 896 KiB for all four kernels, so every power-of-two size
/// lands within 3% of its faster side. Called after the pool has idled (the
/// first step of an iteration), a split step at 896 KiB took about 3 µs more
/// than serial, not the ~55 µs a worker takes to wake there: the pieces are
/// claimed, so the caller never waits for a thread that has not started.
pub const DEFAULT_SERIAL_BELOW_BYTES: usize = 512 << 10;

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
    /// Rayon's current pool (the global one, or the pool whose worker calls the
    /// step), for steps of at least [`serial_threshold`] bytes of traffic.
    #[default]
    Global,
    /// The caller's pool, for steps of at least [`serial_threshold`] bytes of traffic.
    Pool(Arc<ThreadPool>),
    /// The host's threads (an OpenMP team, a framework's parallel-for), for
    /// steps of at least [`serial_threshold`] bytes of traffic: see
    /// [`ParallelFor`] and [`OpenMp`](super::OpenMp).
    Host(Arc<dyn ParallelFor>),
}

impl Parallelism {
    /// The number of threads a large step is split across.
    pub fn threads(&self) -> usize {
        match self {
            Parallelism::Serial => 1,
            Parallelism::Global => rayon::current_num_threads(),
            Parallelism::Pool(pool) => pool.current_num_threads(),
            Parallelism::Host(host) => host.threads().clamp(1, MAX_THREADS),
        }
    }
}

/// The most threads [`Parallelism::with_threads`] accepts: 1024.
///
/// A count above it is a caller's bug, refused before it starts thousands
/// of OS threads; the C ABI's `FO_MAX_THREADS` (the same number) says why
/// the bound is where it is.
pub const MAX_THREADS: usize = 1024;

/// Why [`Parallelism::with_threads`] gave no parallelism.
#[derive(Debug)]
pub enum ThreadsError {
    /// More than [`MAX_THREADS`] threads were asked for (no thread started).
    TooMany(usize),
    /// Rayon could not build the pool.
    Pool(rayon::ThreadPoolBuildError),
}

impl std::fmt::Display for ThreadsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ThreadsError::TooMany(n) => write!(f, "{n} threads asked for; at most {MAX_THREADS}"),
            ThreadsError::Pool(e) => write!(f, "the thread pool could not be built: {e}"),
        }
    }
}

impl std::error::Error for ThreadsError {}

impl Parallelism {
    /// The parallelism a binding's thread count names: 0 for rayon's global
    /// pool, 1 for the calling thread only, `1 < n <= MAX_THREADS` for a new
    /// pool of `n` threads.
    ///
    /// ```
    /// use fused_optim::Parallelism;
    /// assert!(matches!(Parallelism::with_threads(1)?, Parallelism::Serial));
    /// assert_eq!(Parallelism::with_threads(3)?.thread_setting(), 3);
    /// assert!(Parallelism::with_threads(1 << 20).is_err());
    /// # Ok::<(), fused_optim::parallel::ThreadsError>(())
    /// ```
    pub fn with_threads(threads: usize) -> Result<Parallelism, ThreadsError> {
        Ok(match threads {
            0 => Parallelism::Global,
            1 => Parallelism::Serial,
            n if n > MAX_THREADS => return Err(ThreadsError::TooMany(n)),
            n => Parallelism::Pool(Arc::new(
                rayon::ThreadPoolBuilder::new().num_threads(n).build().map_err(ThreadsError::Pool)?,
            )),
        })
    }

    /// The thread count [`Parallelism::with_threads`] takes for this
    /// parallelism: 0 for the global pool, 1 for serial, the pool's size.
    pub fn thread_setting(&self) -> usize {
        match self {
            Parallelism::Global => 0,
            Parallelism::Serial => 1,
            Parallelism::Pool(pool) => pool.current_num_threads(),
            Parallelism::Host(host) => host.threads().max(1),
        }
    }
}

fn binding_slot() -> &'static RwLock<Parallelism> {
    static SLOT: RwLock<Parallelism> = RwLock::new(Parallelism::Global);
    &SLOT
}

/// The process-wide parallelism of the bindings (the C ABI's
/// `fo_set_threads`, Python's `fused_optim.set_num_threads`), whose steps
/// take no [`Parallelism`] argument. Default: [`Parallelism::Global`].
pub fn binding_parallelism() -> Parallelism {
    binding_slot().read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Sets [`binding_parallelism`] for the whole process.
pub fn set_binding_parallelism(parallelism: Parallelism) {
    *binding_slot().write().unwrap_or_else(|p| p.into_inner()) = parallelism;
}
