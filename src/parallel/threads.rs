//! Which threads a step may use, and from what size it uses more than one.

use rayon::ThreadPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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
