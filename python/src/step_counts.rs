//! torch's step counts: `state["step"]` is a scalar float tensor (float32,
//! or float64 under a float64 default dtype). These read every count of a
//! param group exactly, as integers, and write the next, one call each, so
//! that the optimizer does not pay a torch operation per parameter.
//!
//! A count must be a finite, non-negative integer below 2**64; anything
//! else is a `ValueError` naming the parameter's position, before any step
//! is taken. The next count is written as torch's `step += 1` leaves it:
//! rounded to the tensor's type, which is exact below 2**24 for float32 and
//! 2**53 for float64. Past that a float32 count stays at 2**24, as torch's
//! does (the bias corrections are 1 to the last bit long before).

use crate::buffers::{Buffer, Elem, buffer, label};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

const NAME: &str = "state['step']";

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
        // Below 2**64: the largest such double, 2**64 - 2048, plus one (the
        // step number) still fits the library's u64. NaN and the infinities
        // are outside the range.
        if !(value.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&value)) {
            return Err(PyValueError::new_err(format!(
                "{} = {value} is not a step count: a non-negative integer below 2**64",
                label(NAME, Some(i)),
            )));
        }
        counts.push(value as u64);
    }
    Ok(counts)
}

/// _write_step_counts(steps, count)
///
/// Writes `count` to every step tensor of the list, rounded to its type as
/// torch's `+= 1` would (each tensor checked first, so nothing is written
/// unless every one can take it).
#[pyfunction]
pub(crate) fn _write_step_counts(steps: Vec<Bound<'_, PyAny>>, count: u64) -> PyResult<()> {
    let buffers = steps.iter().enumerate().map(|(i, t)| scalar(t, i, true)).collect::<PyResult<Vec<_>>>()?;
    for b in &buffers {
        // SAFETY: as in `_read_step_counts`, and the tensor is writeable; no
        // other reference to its element exists in this call.
        unsafe {
            match b.elem {
                // The nearest value, as torch's float addition rounds.
                Elem::F64 => *(b.address as *mut f64) = count as f64,
                _ => *(b.address as *mut f32) = (count as f64) as f32,
            }
        }
    }
    Ok(())
}
