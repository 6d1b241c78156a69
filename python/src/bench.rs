//! Measurement hooks for `python/bench/` (underscored: not the package's
//! API): the same step through the Rust API, timed in Rust, and the
//! bandwidth probe over the caller's arrays, so that a benchmark compares
//! them with the Python calls in one process and one run.

use crate::buffers::{Arg, Elem};
use crate::run::{Role, check_disjoint, slice, slice_mut};
use fused_optim::parallel::binding_parallelism;
use fused_optim::{AdamBuffers, AdamConfig, Parallelism, ProbeBuffers, adam_step, probe_step};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use std::time::Instant;

/// _time_rust_adam_step(param, grad, exp_avg, exp_avg_sq, calls) -> float
///
/// Seconds per call of `fused_optim::adam_step` (the Rust API: f32,
/// AdamW's defaults, step 1, the bindings' threads) over the four float32
/// arrays, `calls` calls in a row: the same step on the same memory as the
/// functional call it is compared with, without Python.
#[pyfunction]
pub(crate) fn _time_rust_adam_step(
    py: Python<'_>,
    param: &Bound<'_, PyAny>,
    grad: &Bound<'_, PyAny>,
    exp_avg: &Bound<'_, PyAny>,
    exp_avg_sq: &Bound<'_, PyAny>,
    calls: usize,
) -> PyResult<f64> {
    let roles = adam_roles(param, grad, exp_avg, exp_avg_sq, None)?;
    // SAFETY: the four buffers passed the span checks (three as written) and
    // the overlap check together, hold f32, and the roles keep them alive.
    let (p, g, m, v) = unsafe { slices(&roles, 0) };
    let parallelism = binding_parallelism();
    let config = AdamConfig::adamw();
    py.detach(|| {
        let start = Instant::now();
        for _ in 0..calls {
            let buffers = AdamBuffers {
                param: &mut *p,
                grad: g,
                exp_avg: &mut *m,
                exp_avg_sq: &mut *v,
                max_exp_avg_sq: None,
            };
            adam_step(&config, 1, buffers, &parallelism)
                .map_err(|e| crate::errors::library_error(e, false))?;
        }
        Ok(start.elapsed().as_secs_f64() / calls.max(1) as f64)
    })
}

/// The float32 arrays (or lists, `form`) of an Adam step, checked as a step
/// checks them: spans, overlap, and float32 throughout.
fn adam_roles<'py>(
    param: &Bound<'py, PyAny>,
    grad: &Bound<'py, PyAny>,
    exp_avg: &Bound<'py, PyAny>,
    exp_avg_sq: &Bound<'py, PyAny>,
    form: Option<usize>,
) -> PyResult<[Role<'py>; 4]> {
    let roles = [
        Role::read(param, "param", form, true)?,
        Role::read(grad, "grad", form, false)?,
        Role::read(exp_avg, "exp_avg", form, true)?,
        Role::read(exp_avg_sq, "exp_avg_sq", form, true)?,
    ];
    if roles.iter().any(|r| r.buffers.iter().any(|b| b.elem != Elem::F32)) {
        return Err(PyTypeError::new_err("the benchmark hooks take float32 arrays"));
    }
    let mut spans = Vec::new();
    roles.iter().try_for_each(|r| r.spans(&mut spans))?;
    check_disjoint(spans)?;
    Ok(roles)
}

/// Tensor `i`'s slices of four checked roles.
///
/// # Safety
/// `roles` came from [`adam_roles`] and outlives the slices.
unsafe fn slices<'a>(
    roles: &[Role<'_>; 4],
    i: usize,
) -> (&'a mut [f32], &'a [f32], &'a mut [f32], &'a mut [f32]) {
    // SAFETY: the caller's contract.
    unsafe {
        (
            slice_mut::<f32>(&roles[0].buffers[i]),
            slice::<f32>(&roles[1].buffers[i]),
            slice_mut::<f32>(&roles[2].buffers[i]),
            slice_mut::<f32>(&roles[3].buffers[i]),
        )
    }
}

/// _probe(param, grad, exp_avg, exp_avg_sq)
///
/// The bandwidth probe with Adam's shape (three streams read and written,
/// one read) over float32 arrays or lists of them, tensor by tensor, on the
/// bindings' threads: the roof of an f32 Adam step over the same bytes at the
/// same addresses.
#[pyfunction]
pub(crate) fn _probe(
    py: Python<'_>,
    param: &Bound<'_, PyAny>,
    grad: &Bound<'_, PyAny>,
    exp_avg: &Bound<'_, PyAny>,
    exp_avg_sq: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let roles = adam_roles(param, grad, exp_avg, exp_avg_sq, Arg::new(param).form())?;
    let count = roles[0].buffers.len();
    let mut tensors = Vec::with_capacity(count);
    for i in 0..count {
        // SAFETY: checked by `adam_roles` (spans, overlap, f32); the roles
        // outlive the slices.
        tensors.push(unsafe { slices(&roles, i) });
    }
    let parallelism: Parallelism = binding_parallelism();
    py.detach(|| {
        tensors.into_iter().try_for_each(|(p, g, m, v)| {
            probe_step(ProbeBuffers { written: [p, m, v], read: g }, &parallelism)
        })
    })
    .map_err(|e| crate::errors::library_error(e, true))
}
