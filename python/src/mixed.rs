//! `adam_step_mixed`: Adam over bf16/f16 storage with f32 arithmetic, the
//! loss-scale unscale and the `found_inf` skip fused into the step (the
//! library's [`fused_optim::mixed`]), over numpy arrays and torch tensors.

use crate::algorithms::adam_config;
use crate::buffers::{Arg, Buffer, Elem};
use crate::errors::StepNumber;
use crate::errors::library_error;
use crate::run::{Role, check_disjoint, slice_mut, without_gil};
use fused_optim::mixed::{
    MixedAdamBuffers, MixedOptions, MixedSlice, StepOutcome, adam_step_mixed_many_with, mixed_coefficients,
};
use fused_optim::parallel::binding_parallelism;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

type Obj<'py> = Bound<'py, PyAny>;

/// A mutable mixed slice over a checked buffer.
///
/// # Safety
/// As [`slice_mut`]: `b` passed the span checks as written and the overlap
/// check with every other buffer of the call, and is alive for `'a`.
unsafe fn mixed_slice<'a>(b: &Buffer<'_>, name: &str) -> PyResult<MixedSlice<'a>> {
    // SAFETY: the caller's contract; the element type is the buffer's own.
    unsafe {
        Ok(match b.elem {
            Elem::F32 => MixedSlice::F32(slice_mut(b)),
            Elem::Bf16 => MixedSlice::Bf16(slice_mut(b)),
            Elem::F16 => MixedSlice::F16(slice_mut(b)),
            Elem::F64 => {
                return Err(PyTypeError::new_err(format!(
                    "{name} is float64: the mixed-precision step stores float32, bfloat16 or float16"
                )));
            }
        })
    }
}

/// adam_step_mixed(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, param_copy=None, *, step, lr=1e-3,
/// betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False,
/// decoupled_weight_decay=False, eps_hat=False, loss_scale=1.0, skip_non_finite=True, zero_grad=False,
/// stochastic_rounding=None) -> bool
///
/// One mixed-precision Adam step in place: parameters float32 (master
/// weights), bfloat16 or float16; gradients float32 or the parameter's type;
/// state float32 (or bfloat16 with bfloat16 parameters); arithmetic in
/// float32. bfloat16 is given as a torch.bfloat16 tensor, a numpy uint16 array
/// of the bits, or an ml_dtypes.bfloat16 array. The gradient is multiplied
/// by 1/loss_scale inside the step; with skip_non_finite, one read-only
/// pass first looks for an inf or NaN gradient and, if it finds one, writes
/// nothing and returns False (the step count must not advance). zero_grad
/// writes 0 to the gradient as it is read; param_copy receives the new
/// parameters rounded to its type; stochastic_rounding=seed rounds bfloat16
/// stores stochastically, reproducibly. Returns True when the step ran.
#[pyfunction]
#[pyo3(signature = (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, param_copy=None, *, step, lr=1e-3,
    betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=false, maximize=false, decoupled_weight_decay=false,
    eps_hat=false, loss_scale=1.0, skip_non_finite=true, zero_grad=false, stochastic_rounding=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn adam_step_mixed(
    py: Python<'_>,
    param: &Obj<'_>,
    grad: &Obj<'_>,
    exp_avg: &Obj<'_>,
    exp_avg_sq: &Obj<'_>,
    max_exp_avg_sq: Option<&Obj<'_>>,
    param_copy: Option<&Obj<'_>>,
    step: StepNumber,
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    amsgrad: bool,
    maximize: bool,
    decoupled_weight_decay: bool,
    eps_hat: bool,
    loss_scale: f64,
    skip_non_finite: bool,
    zero_grad: bool,
    stochastic_rounding: Option<u64>,
) -> PyResult<bool> {
    let config =
        adam_config(lr, betas, eps, weight_decay, decoupled_weight_decay, amsgrad, maximize, eps_hat);
    let options = MixedOptions { loss_scale, skip_non_finite, zero_grad, stochastic_rounding };
    let coefficients = mixed_coefficients(&config, step.0, &options).map_err(|e| library_error(e, false))?;
    let form = Arg::new(param).form();
    // The gradient is taken mutably (the step writes it with zero_grad).
    let roles = [
        Some(Role::read(param, "param", form, true)?),
        Some(Role::read(grad, "grad", form, true)?),
        Some(Role::read(exp_avg, "exp_avg", form, true)?),
        Some(Role::read(exp_avg_sq, "exp_avg_sq", form, true)?),
        max_exp_avg_sq.map(|o| Role::read(o, "max_exp_avg_sq", form, true)).transpose()?,
        param_copy.map(|o| Role::read(o, "param_copy", form, true)).transpose()?,
    ];
    let mut spans = Vec::new();
    roles.iter().flatten().try_for_each(|r| r.spans(&mut spans))?;
    check_disjoint(spans)?;
    let count = roles[0].as_ref().map_or(0, |r| r.buffers.len());
    let mut tensors = Vec::with_capacity(count);
    for i in 0..count {
        // SAFETY: every buffer passed the span checks as written and the
        // overlap check together; the roles keep the arrays alive.
        let slot = |k: usize| -> PyResult<Option<MixedSlice<'_>>> {
            roles[k].as_ref().map(|r| unsafe { mixed_slice(&r.buffers[i], r.name) }).transpose()
        };
        let (p, g, m, v) = (slot(0)?, slot(1)?, slot(2)?, slot(3)?);
        let (Some(param), Some(grad), Some(exp_avg), Some(exp_avg_sq)) = (p, g, m, v) else {
            unreachable!("the four required roles are read above")
        };
        tensors.push(MixedAdamBuffers {
            param,
            grad,
            exp_avg,
            exp_avg_sq,
            max_exp_avg_sq: slot(4)?,
            param_copy: slot(5)?,
            position: 0,
        });
    }
    let parallelism = binding_parallelism();
    let traffic = tensors.iter().map(|t| t.param.len() * 16).sum();
    let outcome = without_gil(py, traffic, || {
        adam_step_mixed_many_with(&config, &coefficients, &mut tensors, &options, &parallelism)
    })
    .map_err(|e| library_error(e, form.is_some()))?;
    Ok(outcome == StepOutcome::Applied)
}
