//! The threads the C steps use, and the serial threshold, as C sets them.

use crate::status::{fo_status, guard};
use fused_optim_core::Parallelism;
use fused_optim_core::parallel::{binding_parallelism, set_binding_parallelism};

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

/// The threads set by `fo_set_threads`, as it was given: 0 for rayon's
/// global pool, 1 for the calling thread only, n for a pool of n threads.
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
