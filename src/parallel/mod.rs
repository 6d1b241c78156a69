//! The parallel driver: which threads a step may use ([`Parallelism`],
//! [`serial_threshold`]), where a step is cut into pieces (`pieces`), and
//! how the pieces are claimed by the calling thread and a pool's threads
//! (`claims`).
//!
//! Imports run one way inside: `host` (the host's parallel-for) and
//! `openmp` (one, found at run time) at the bottom, `threads` above them,
//! `claims` above it, `pieces` and `reduce` (the gradient norm's read-only
//! pass, cut at block boundaries) above all.

#[allow(unsafe_code)] // one lifetime erasure, argued in the module
mod claims;
mod host;
#[allow(unsafe_code)] // the runtime's entry points, found by name and called through C
mod openmp;
mod pieces;
mod reduce;
mod threads;

pub use host::ParallelFor;
pub use openmp::OpenMp;
pub(crate) use pieces::{drive, drive_many};
pub(crate) use reduce::sum_squares_many;
pub use threads::{
    DEFAULT_SERIAL_BELOW_BYTES, MAX_THREADS, Parallelism, ThreadsError, binding_parallelism,
    serial_threshold, set_binding_parallelism, set_serial_threshold,
};
