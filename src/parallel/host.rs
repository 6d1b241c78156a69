//! The host's threads: a step run on a parallel-for the host process already
//! has (an OpenMP team, ATen's `at::parallel_for`, TBB, a job system) instead
//! of a pool of the library's own.
//!
//! A training process is someone else's: PyTorch runs every operator on its
//! OpenMP team, and after each parallel region those threads keep spinning
//! for a while (libgomp's default), holding the cores a second pool would
//! need. A step on rayon's threads then waits for cores the host's team is
//! spinning on. Run on the host's own team, the step's threads are the ones
//! already awake.
//!
//! The driver cuts a step into the same pieces whatever runs them, and every
//! participant claims pieces from one counter ([`super::claims`]), so any
//! executor gives the same bits, including one that runs its workers one
//! after another, on one thread, or not at all (the caller then claims every
//! piece itself after [`ParallelFor::run`] returns).

use std::fmt;

/// A host's parallel-for: how a step's pieces reach the host's threads.
///
/// ```
/// use fused_optim::parallel::ParallelFor;
/// use fused_optim::{adam_step, AdamBuffers, AdamConfig, Parallelism};
/// use std::sync::Arc;
///
/// /// A host that runs its workers on scoped threads of its own.
/// struct Scoped(usize);
///
/// impl ParallelFor for Scoped {
///     fn threads(&self) -> usize {
///         self.0
///     }
///     fn run(&self, workers: usize, job: &(dyn Fn(usize) + Sync)) {
///         std::thread::scope(|s| {
///             for w in 1..workers {
///                 s.spawn(move || job(w));
///             }
///             job(0); // the calling thread is worker 0
///         });
///     }
/// }
///
/// fused_optim::set_serial_threshold(0); // split even this small step
/// let (mut p, g) = (vec![1.0f32; 100_000], vec![0.5f32; 100_000]);
/// let (mut m, mut v) = (vec![0.0f32; 100_000], vec![0.0f32; 100_000]);
/// let b = AdamBuffers { param: &mut p, grad: &g, exp_avg: &mut m, exp_avg_sq: &mut v, max_exp_avg_sq: None };
/// adam_step(&AdamConfig::default(), 1, b, &Parallelism::Host(Arc::new(Scoped(3))))?;
/// assert!(p.iter().all(|&x| x == p[0]) && p[0] < 1.0);
/// # fused_optim::set_serial_threshold(fused_optim::DEFAULT_SERIAL_BELOW_BYTES);
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub trait ParallelFor: Send + Sync {
    /// How many threads a large step should be cut for (at least 1).
    fn threads(&self) -> usize;

    /// Calls `job(w)` for each worker `w < workers`, at most once each, on
    /// the host's threads (the calling thread may be one of them), and
    /// returns once every call it made has returned.
    ///
    /// A host may run fewer workers than asked, run them one after another,
    /// or run none: the pieces a worker did not take are run by the caller
    /// after `run` returns, so the result is the same bits. What a host must
    /// not do is call `job` after `run` has returned. `job` does not panic:
    /// a panicking piece is caught inside it and resumed on the caller after
    /// every piece has finished.
    fn run(&self, workers: usize, job: &(dyn Fn(usize) + Sync));

    /// A name for messages and `Debug` (default: `"host"`).
    fn name(&self) -> String {
        "host".to_owned()
    }
}

impl fmt::Debug for dyn ParallelFor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} threads)", self.name(), self.threads())
    }
}
