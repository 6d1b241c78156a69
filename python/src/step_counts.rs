//! torch's step counts: `state["step"]` is a scalar float tensor (float32,
//! or float64 under a float64 default dtype). These read every count of a
//! param group exactly, as integers, and write the next, one call each, so
//! that the optimizer does not pay a torch operation per parameter.
//!
//! A count must be a non-negative integer that the tensor's type can count
//! past exactly: below 2**24 for float32 (the next integer, 2**24 + 1, has no
//! float32), below 2**53 for float64. Anything else is a `ValueError` naming
//! the parameter's position, before any step is taken.

use crate::buffers::{Buffer, Elem, buffer, label};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

const NAME: &str = "state['step']";

/// The largest count a step tensor of `elem` may hold: one below the first
/// integer after which counting is no longer exact.
fn limit(elem: Elem) -> u64 {
    match elem {
        Elem::F64 => 1 << 53,
        _ => 1 << 24,
    }
}

/// One step tensor: a CPU scalar (one element) of float32 or float64.
fn scalar<'py>(tensor: &Bound<'py, PyAny>, index: usize, written: bool) -> PyResult<Buffer<'py>> {
    let b = buffer(tensor, NAME, Some(index))?;
    if b.len != 1 || !matches!(b.elem, Elem::F32 | Elem::F64) {
        return Err(PyTypeError::new_err(format!(
            "{}: a step count is one float32 or float64 element, got {} of {}",
            label(NAME, Some(index)),
            b.len,
            b.elem.name()
        )));
    }
    if written && !b.writeable {
        return Err(PyValueError::new_err(format!("{}: the array is read-only", label(NAME, Some(index)))));
    }
    b.span().map_err(|e| crate::errors::span_error(e, &label(NAME, Some(index))))?;
    Ok(b)
}

/// _read_step_counts(steps) -> list[int]
///
/// The step counts of a list of step tensors, exactly.
#[pyfunction]
pub(crate) fn _read_step_counts(steps: Vec<Bound<'_, PyAny>>) -> PyResult<Vec<u64>> {
    let mut counts = Vec::with_capacity(steps.len());
    for (i, tensor) in steps.iter().enumerate() {
        let b = scalar(tensor, i, false)?;
        // SAFETY: one element of the buffer's type at a checked (non-null,
        // aligned) address of a live tensor, which the buffer keeps alive;
        // read under the GIL.
        let value = unsafe {
            match b.elem {
                Elem::F64 => *(b.address as *const f64),
                _ => f64::from(*(b.address as *const f32)),
            }
        };
        let limit = limit(b.elem);
        if !(value.is_finite() && value.fract() == 0.0 && value >= 0.0 && value < limit as f64) {
            return Err(PyValueError::new_err(format!(
                "{} = {value} is not a step count: an integer from 0 to {} for a {} step tensor (a larger \
                 count: convert the step tensors to float64)",
                label(NAME, Some(i)),
                limit - 1,
                b.elem.name()
            )));
        }
        counts.push(value as u64);
    }
    Ok(counts)
}

/// _write_step_counts(steps, count)
///
/// Writes `count` to every step tensor of the list (each checked first, so
/// nothing is written unless every one can hold it exactly).
#[pyfunction]
pub(crate) fn _write_step_counts(steps: Vec<Bound<'_, PyAny>>, count: u64) -> PyResult<()> {
    let buffers = steps.iter().enumerate().map(|(i, t)| scalar(t, i, true)).collect::<PyResult<Vec<_>>>()?;
    for (i, b) in buffers.iter().enumerate() {
        if count > limit(b.elem) {
            return Err(PyValueError::new_err(format!(
                "{}: {count} has no exact {}",
                label(NAME, Some(i)),
                b.elem.name()
            )));
        }
    }
    for b in &buffers {
        // SAFETY: as in `_read_step_counts`, and the tensor is writeable; no
        // other reference to its element exists in this call. `count` is at
        // most the type's limit, so the conversion is exact.
        unsafe {
            match b.elem {
                Elem::F64 => *(b.address as *mut f64) = count as f64,
                _ => *(b.address as *mut f32) = count as f32,
            }
        }
    }
    Ok(())
}
