//! The library's refusals as Python exceptions: `TypeError` for element
//! types, `ValueError` for everything else, each with the library's message.

use fused_optim::foreign::SpanError;
use fused_optim::{Error, ErrorKind};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt};

/// A step the library refused (nothing was written). `listed`: the call
/// had lists; else the library's "tensor 0" (every call is a list inside)
/// is left out of the message.
pub(crate) fn library_error(e: Error, listed: bool) -> PyErr {
    let e = match e {
        Error::Tensor { error, .. } if !listed => *error,
        e => e,
    };
    let message = e.to_string();
    // Exhaustive over the kinds: a new kind fails to compile here until it
    // has an exception.
    match e.kind() {
        ErrorKind::StateType => PyTypeError::new_err(message),
        ErrorKind::Length | ErrorKind::Hyperparameter | ErrorKind::Step | ErrorKind::StateBuffer => {
            PyValueError::new_err(message)
        }
    }
}

/// A buffer whose address and size cannot make a slice.
pub(crate) fn span_error(e: SpanError, buffer: &str) -> PyErr {
    PyValueError::new_err(format!("{buffer}: {e}"))
}

/// A step number from Python: an `int` from 1 to 2**64 - 1. `TypeError` for
/// anything else (a float, a bool), `ValueError` out of range (the library
/// refuses 0 with its own message).
pub(crate) struct StepNumber(pub(crate) u64);

impl<'a, 'py> FromPyObject<'a, 'py> for StepNumber {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> Result<Self, PyErr> {
        if obj.is_instance_of::<PyBool>() || !obj.is_instance_of::<PyInt>() {
            return Err(PyTypeError::new_err(format!(
                "step must be an int (the step number after increment, from 1), got {}",
                obj.get_type().name()?
            )));
        }
        obj.extract::<u64>().map(StepNumber).map_err(|_| {
            PyValueError::new_err(format!(
                "step = {} is out of range: steps count from 1 to 2**64 - 1",
                obj.as_any()
            ))
        })
    }
}
