//! The error type of every fallible entry point.
//!
//! Every check runs before any buffer is touched: when a function returns an
//! error, every buffer it was given is bit-identical to what it was before.

use std::fmt;

/// Why a step was refused. Nothing was written.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// A buffer's length differs from the parameter's.
    LengthMismatch {
        /// The buffer's name (`"grad"`, `"exp_avg"`, …).
        buffer: &'static str,
        /// Its length.
        len: usize,
        /// The parameter's length.
        expected: usize,
    },
    /// A hyperparameter is out of its range (or not finite).
    InvalidHyperparameter {
        /// The hyperparameter's name (`"lr"`, `"beta1"`, …).
        name: &'static str,
        /// The value given.
        value: f64,
        /// The range it must lie in, as a phrase (`"finite and >= 0"`).
        expected: &'static str,
    },
    /// The step number was 0; steps count from 1 (the first update is `t = 1`).
    ZeroStep,
    /// The owning optimizer's step count would pass `u64::MAX`.
    StepCountOverflow,
    /// An option that keeps state is on (AMSGrad, RMSprop's momentum or
    /// centering) but its buffer was not given.
    MissingState {
        /// The buffer (`"max_exp_avg_sq"`, `"momentum_buffer"`, `"grad_avg"`).
        buffer: &'static str,
        /// The option that needs it (`"amsgrad"`, `"momentum"`, `"centered"`).
        option: &'static str,
    },
    /// An optional state buffer was given but the option that uses it is off.
    UnexpectedState {
        /// The buffer given.
        buffer: &'static str,
        /// The option that is off.
        option: &'static str,
    },
    /// A mixed-precision step's state buffer has another type than the
    /// first state buffer (Adam's `exp_avg`).
    StateTypeMismatch {
        /// The buffer.
        buffer: &'static str,
    },
    /// An owning mixed-precision optimizer was asked to keep its state in a
    /// type no layout supports (`f16`).
    UnsupportedStateType(fused_optim_kernels::Dtype),
    /// A mixed-precision step's combination of storage types has no kernel
    /// (see [`MixedLayout::SUPPORTED`](crate::mixed::MixedLayout::SUPPORTED)).
    UnsupportedLayout(fused_optim_kernels::MixedLayout),
    /// Tensor `index` of a multi-tensor step was refused for `error`.
    Tensor {
        /// Its position in the list.
        index: usize,
        /// Why it was refused.
        error: Box<Error>,
    },
}

/// What kind of input an [`Error`] refuses, for a binding that maps errors
/// to codes of its own (the C ABI's status numbers).
///
/// Unlike [`Error`], this enum is exhaustive: a binding that matches on it
/// stops compiling when a kind is added, instead of reporting the new error
/// as something else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A buffer's length differs from the parameter's.
    Length,
    /// A hyperparameter is out of range, not finite, or does not fit the element type.
    Hyperparameter,
    /// The step number is 0, or the step count would overflow.
    Step,
    /// An optional state buffer is missing while its option is on, or given while it is off.
    StateBuffer,
    /// Mixed-precision element types the kernels do not take together.
    StateType,
}

impl Error {
    /// The error itself when it is a one-tensor call's [`Error::Tensor`]
    /// (the single-tensor entry points run the multi-tensor step on a list
    /// of one, whose "tensor 0" says nothing).
    pub(crate) fn without_tensor(self) -> Error {
        match self {
            Error::Tensor { error, .. } => *error,
            other => other,
        }
    }

    /// The kind of input refused (a [`Error::Tensor`]'s is its inner error's).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::LengthMismatch { .. } => ErrorKind::Length,
            Error::InvalidHyperparameter { .. } => ErrorKind::Hyperparameter,
            Error::ZeroStep | Error::StepCountOverflow => ErrorKind::Step,
            Error::MissingState { .. } | Error::UnexpectedState { .. } => ErrorKind::StateBuffer,
            Error::StateTypeMismatch { .. }
            | Error::UnsupportedLayout(_)
            | Error::UnsupportedStateType(_) => ErrorKind::StateType,
            Error::Tensor { error, .. } => error.kind(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::LengthMismatch { buffer, len, expected } => write!(
                f,
                "buffer `{buffer}` has {len} elements but `param` has {expected}: all buffers of a step must have the same length"
            ),
            Error::InvalidHyperparameter { name, value, expected } => {
                write!(f, "invalid hyperparameter `{name}` = {value}: it must be {expected}")
            }
            Error::ZeroStep => {
                f.write_str("step number t = 0: steps count from 1 (the first update is t = 1)")
            }
            Error::StepCountOverflow => f.write_str("the step count would overflow u64"),
            Error::MissingState { buffer, option } => {
                write!(f, "`{option}` is on but no `{buffer}` buffer was given")
            }
            Error::UnexpectedState { buffer, option } => {
                write!(f, "a `{buffer}` buffer was given but `{option}` is off")
            }
            Error::StateTypeMismatch { buffer } => {
                write!(f, "state buffer `{buffer}` has another element type than the first state buffer")
            }
            Error::UnsupportedStateType(dtype) => {
                write!(f, "no mixed-precision kernel keeps its state in {dtype}: use f32 or bf16")
            }
            Error::UnsupportedLayout(layout) => {
                write!(f, "no mixed-precision kernel for this combination of types ({layout})")
            }
            Error::Tensor { index, error } => write!(f, "tensor {index}: {error}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Tensor { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }
}

/// The kernels' length check, as this crate's error.
pub(crate) fn length_mismatch(e: fused_optim_kernels::LengthMismatch) -> Error {
    Error::LengthMismatch { buffer: e.buffer, len: e.len, expected: e.expected }
}
