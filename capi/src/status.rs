//! What a C call came to: the status codes, their messages, the library's
//! identity (tier, version), and the guard that keeps a panic from crossing
//! the boundary.

use fused_optim_core::foreign::SpanError;
use fused_optim_core::{Error, ErrorKind, Tier};
use std::convert::Infallible;
use std::ffi::c_char;
use std::panic::{AssertUnwindSafe, catch_unwind};

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
        // Exhaustive over the kinds: a kind added to the library fails to
        // compile here until it has a status.
        match e.kind() {
            ErrorKind::Length => fo_status::FO_ERROR_LENGTH,
            ErrorKind::Hyperparameter => fo_status::FO_ERROR_HYPERPARAMETER,
            ErrorKind::Step => fo_status::FO_ERROR_STEP,
            ErrorKind::StateBuffer => fo_status::FO_ERROR_STATE_BUFFER,
            ErrorKind::StateType => fo_status::FO_ERROR_DTYPE,
        }
    }
}

impl From<SpanError> for fo_status {
    fn from(e: SpanError) -> fo_status {
        match e {
            SpanError::Null => fo_status::FO_ERROR_NULL_POINTER,
            SpanError::Alignment => fo_status::FO_ERROR_ALIGNMENT,
            SpanError::Length => fo_status::FO_ERROR_LENGTH,
            SpanError::Overlap => fo_status::FO_ERROR_OVERLAP,
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

/// Runs `f`, turning a panic into `FO_ERROR_INTERNAL`.
pub(crate) fn guard(f: impl FnOnce() -> fo_status) -> fo_status {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        // Forgotten, not dropped: a payload whose `drop` panicked would
        // unwind out of this `extern "C"` function and abort the process.
        std::mem::forget(payload);
        fo_status::FO_ERROR_INTERNAL
    })
}
