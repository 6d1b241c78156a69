//! The C ABI of [`fused_optim`](fused_optim_core): `fo_*` functions over raw
//! pointers, for frameworks in C, C++ or Python (ctypes), built as
//! `libfused_optim.so` and `libfused_optim.a`
//! (`cargo build --release -p fused-optim-capi`), declared in
//! `capi/include/fused_optim.h`.
//!
//! Every entry point checks before it writes: a null pointer where a buffer
//! is needed, a length whose byte size overflows, a pointer not aligned for
//! its element type, any two buffers that overlap, an invalid hyperparameter,
//! step 0, an optional state buffer (AMSGrad's `max_exp_avg_sq`, RMSprop's
//! `momentum_buffer` or `grad_avg`) missing while its option is on or given
//! while it is off. Each gets its own [`fo_status`] and leaves every buffer
//! untouched. A zero length is a valid step of nothing (its pointers are not
//! read). A panic never crosses the boundary: it becomes `FO_ERROR_INTERNAL`.
//!
//! Every algorithm has the same four entry points: `fo_<algorithm>_step_f32`
//! and `_f64` over one tensor, `fo_<algorithm>_step_many_f32` and `_f64` over
//! arrays of per-tensor pointers. Each is one call of the same generic step
//! (`many::step_many`, or `many::step` for one tensor, a list of one),
//! which takes the algorithm from the config's type and the state buffers in
//! the order of its `Algorithm::STATE`, runs one sequence of checks and hands
//! the validated coefficients and slices to `fused_optim::step::step_many_validated`.
//! Mixed-precision Adam (`bf16`/`f16`/`f32` buffers, each with an `fo_dtype`
//! tag) has `fo_adam_step_mixed` and `fo_adam_step_mixed_many` over an array
//! of `fo_mixed_tensor`, with the same checks and `FO_ERROR_DTYPE` for an
//! unknown tag or a combination without a kernel (see `mixed.rs`).
//!
//! The steps run on the threads set by [`fo_set_threads`] (default: rayon's
//! global pool; 1: the calling thread only; at most [`FO_MAX_THREADS`]), with
//! the Rust API's serial threshold, which [`fo_set_serial_threshold`] sets
//! from C.
//!
//! A config's options are `uint8_t` flags, nonzero meaning on, never C
//! `bool`s: whatever byte C leaves in one is a valid value (see `configs.rs`).
//!
//! The header is generated from this crate by cbindgen, from the workspace
//! root: `cbindgen --config capi/cbindgen.toml --crate fused-optim-capi
//! --output capi/include/fused_optim.h`. The entry points are written out
//! one by one, each a single call of the generic step, so that cbindgen
//! reads their signatures as they stand (it expands no macros on stable).
//!
//! The Rust library is `fused_optim_core` here (the package `fused-optim`,
//! renamed): this crate's library is `fused_optim`, so that the C library
//! keeps its name.

#![warn(missing_docs)]
#![allow(non_camel_case_types)]

mod checks;
mod configs;
mod many;
mod steps;
// After `steps`, so that the header lists Adam's and AdaMax's entry points first.
mod adaptive;
mod mixed;

pub use adaptive::*;
pub use configs::*;
pub use mixed::*;
pub use steps::*;

use fused_optim_core::{Error, Parallelism, Tier};
use std::convert::Infallible;
use std::ffi::c_char;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, RwLock};

/// What an `fo_*` call came to. The numbers are stable across versions.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum fo_status {
    /// The step ran.
    FO_OK = 0,
    /// A buffer or config pointer was null (with a nonzero length).
    FO_ERROR_NULL_POINTER = 1,
    /// The element count is too large for the address space.
    FO_ERROR_LENGTH = 2,
    /// A pointer is not aligned for its element type.
    FO_ERROR_ALIGNMENT = 3,
    /// Two buffers overlap.
    FO_ERROR_OVERLAP = 4,
    /// A hyperparameter is out of range or not finite.
    FO_ERROR_HYPERPARAMETER = 5,
    /// The step number was 0 (steps count from 1).
    FO_ERROR_STEP = 6,
    /// An optional state buffer (AMSGrad's `max_exp_avg_sq`, RMSprop's
    /// `momentum_buffer` or `grad_avg`) is missing while its option is on, or
    /// given while it is off.
    FO_ERROR_STATE_BUFFER = 7,
    /// `fo_set_threads` was asked for more than `FO_MAX_THREADS` threads, or
    /// the thread pool could not be built (the setting is then unchanged).
    FO_ERROR_THREADS = 8,
    /// A bug: a panic inside the library, caught at the boundary.
    FO_ERROR_INTERNAL = 9,
    /// A mixed-precision step's element types: an unknown dtype, state
    /// buffers of different types, or a combination without a kernel.
    FO_ERROR_DTYPE = 10,
}

impl From<Error> for fo_status {
    fn from(e: Error) -> fo_status {
        match e {
            Error::LengthMismatch { .. } => fo_status::FO_ERROR_LENGTH,
            Error::InvalidHyperparameter { .. } => fo_status::FO_ERROR_HYPERPARAMETER,
            Error::ZeroStep | Error::StepCountOverflow => fo_status::FO_ERROR_STEP,
            Error::MissingState { .. } | Error::UnexpectedState { .. } => fo_status::FO_ERROR_STATE_BUFFER,
            Error::StateTypeMismatch { .. }
            | Error::UnsupportedLayout(_)
            | Error::UnsupportedStateType(_) => fo_status::FO_ERROR_DTYPE,
            Error::Tensor { error, .. } => fo_status::from(*error),
            // `Error` is `#[non_exhaustive]`: a variant the library adds
            // before this crate names it is a bug to report, not a refusal.
            _ => fo_status::FO_ERROR_INTERNAL,
        }
    }
}

/// The error of a C config conversion that cannot fail.
impl From<Infallible> for fo_status {
    fn from(never: Infallible) -> fo_status {
        match never {}
    }
}

/// A static, NUL-terminated description of a status (any `int` is accepted).
#[unsafe(no_mangle)]
pub extern "C" fn fo_status_message(status: i32) -> *const c_char {
    let message: &'static std::ffi::CStr = match status {
        0 => c"ok",
        1 => c"a buffer or config pointer is null",
        2 => c"the element count is too large for the address space",
        3 => c"a pointer is not aligned for its element type",
        4 => c"two buffers overlap",
        5 => c"a hyperparameter is out of range or not finite",
        6 => c"the step number is 0 (steps count from 1)",
        7 => c"an optional state buffer (max_exp_avg_sq, momentum_buffer, grad_avg) is missing while its option is on, or given while it is off",
        8 => c"the thread count is above FO_MAX_THREADS, or the thread pool could not be built",
        9 => c"internal error: a panic was caught at the C boundary",
        10 => c"unknown element type, state buffers of different types, or no kernel for this combination of types",
        _ => c"unknown status",
    };
    message.as_ptr()
}

/// The instruction-set tier the steps run on: "avx512", "avx2" or "portable".
#[unsafe(no_mangle)]
pub extern "C" fn fo_tier() -> *const c_char {
    let name: &'static std::ffi::CStr = match catch_unwind(Tier::dispatched) {
        Ok(Tier::Avx512) => c"avx512",
        Ok(Tier::Avx2) => c"avx2",
        _ => c"portable",
    };
    name.as_ptr()
}

/// The library's version, "major.minor.patch".
#[unsafe(no_mangle)]
pub extern "C" fn fo_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

fn parallelism_slot() -> &'static RwLock<Parallelism> {
    static SLOT: RwLock<Parallelism> = RwLock::new(Parallelism::Global);
    &SLOT
}

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
/// only slower.
pub const FO_MAX_THREADS: usize = 1024;

/// The threads later steps use: 0 for rayon's global pool (the default),
/// 1 for the calling thread only, 1 < n <= `FO_MAX_THREADS` for a pool of n
/// threads owned by the library (replacing any earlier one). Returns `FO_OK`;
/// or `FO_ERROR_THREADS`, leaving the setting as it was, for a count above
/// `FO_MAX_THREADS` (refused before any thread starts) or a pool that could
/// not be built.
#[unsafe(no_mangle)]
pub extern "C" fn fo_set_threads(threads: usize) -> fo_status {
    guard(|| {
        let parallelism = match threads {
            0 => Parallelism::Global,
            1 => Parallelism::Serial,
            n if n > FO_MAX_THREADS => return fo_status::FO_ERROR_THREADS,
            n => match rayon::ThreadPoolBuilder::new().num_threads(n).build() {
                Ok(pool) => Parallelism::Pool(Arc::new(pool)),
                Err(_) => return fo_status::FO_ERROR_THREADS,
            },
        };
        *parallelism_slot().write().unwrap_or_else(|p| p.into_inner()) = parallelism;
        fo_status::FO_OK
    })
}

/// The threads set by `fo_set_threads`, as it was given: 0 for rayon's
/// global pool, 1 for the calling thread only, n for a pool of n threads.
#[unsafe(no_mangle)]
pub extern "C" fn fo_threads() -> usize {
    match parallelism() {
        Parallelism::Global => 0,
        Parallelism::Serial => 1,
        Parallelism::Pool(pool) => pool.current_num_threads(),
    }
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
fn parallelism() -> Parallelism {
    parallelism_slot().read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Runs `f`, turning a panic into `FO_ERROR_INTERNAL`.
fn guard(f: impl FnOnce() -> fo_status) -> fo_status {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        // Forgotten, not dropped: a payload whose `drop` panicked would
        // unwind out of this `extern "C"` function and abort the process.
        std::mem::forget(payload);
        fo_status::FO_ERROR_INTERNAL
    })
}
