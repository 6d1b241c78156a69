//! The mixed-precision steps (`adam_step_mixed`, `lion_step_mixed`,
//! `sgd_step_mixed`): bf16/f16 storage with f32 arithmetic, the loss-scale
//! unscale and the `found_inf` skip fused into the step (the library's
//! [`fused_optim::mixed`]), over numpy arrays and torch tensors, written once
//! over the algorithm.

use crate::algorithms::adam_config;
use crate::buffers::{Arg, Buffer, Elem};
use crate::errors::StepNumber;
use crate::errors::library_error;
use crate::run::{Role, check_disjoint, slice_mut, without_gil};
use fused_optim::algorithms::Algorithm;
use fused_optim::mixed::{
    MixedBuffers, MixedCoefficients, MixedKernel, MixedOptions, MixedSlice, StepOutcome,
    mixed_bytes_per_element, mixed_coefficients, step_mixed_many_with,
};
use fused_optim::parallel::binding_parallelism;
use fused_optim::{LionConfig, SgdConfig};
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
            other @ (Elem::F64 | Elem::U8) => {
                return Err(PyTypeError::new_err(format!(
                    "{name} is {}: the mixed-precision step stores float32, bfloat16 or float16",
                    other.name()
                )));
            }
        })
    }
}

/// The extras every mixed step takes, from the Python keywords.
fn options(
    loss_scale: f64,
    skip_non_finite: bool,
    zero_grad: bool,
    stochastic_rounding: Option<u64>,
) -> MixedOptions {
    MixedOptions { loss_scale, skip_non_finite, zero_grad, stochastic_rounding }
}

/// A multiplier applied with the unscale (the torch optimizers' clip
/// coefficient): the step's gradient factor becomes `f32(f64(1/loss_scale)
/// × grad_scale)`, any value (0 and NaN included, as a clip coefficient
/// can be), never a pass of its own.
fn scaled<U>(mut coefficients: MixedCoefficients<U>, grad_scale: f64) -> MixedCoefficients<U> {
    if grad_scale != 1.0 {
        coefficients.grad_scale = (f64::from(coefficients.grad_scale) * grad_scale) as f32;
    }
    coefficients
}

/// One mixed-precision step of `A` over the Python arguments: `state` holds
/// the algorithm's state arguments in its state order (`None` for an
/// optional buffer not given). Returns whether the step ran (False: the
/// `found_inf` check skipped it and nothing was written).
#[allow(clippy::too_many_arguments)]
fn run<A: Algorithm>(
    py: Python<'_>,
    config: &A,
    t: u64,
    param: &Obj<'_>,
    grad: &Obj<'_>,
    state: [Option<&Obj<'_>>; 3],
    param_copy: Option<&Obj<'_>>,
    options: &MixedOptions,
    grad_scale: f64,
) -> PyResult<bool>
where
    A::Coefficients<f32>: MixedKernel,
{
    let coefficients = mixed_coefficients(config, t, options).map_err(|e| library_error(e, false))?;
    let coefficients = scaled(coefficients, grad_scale);
    let form = Arg::new(param).form();
    // The gradient is taken mutably (the step writes it with zero_grad).
    let param = Role::read(param, "param", form, true)?;
    let grad = Role::read(grad, "grad", form, true)?;
    let mut states: [Option<Role>; 3] = [None, None, None];
    for (k, object) in state.iter().enumerate() {
        if let Some(object) = object {
            states[k] = Some(Role::read(object, A::STATE[k].name, form, true)?);
        }
    }
    let copy = param_copy.map(|o| Role::read(o, "param_copy", form, true)).transpose()?;
    let mut spans = Vec::new();
    param.spans(&mut spans)?;
    grad.spans(&mut spans)?;
    states.iter().flatten().try_for_each(|r| r.spans(&mut spans))?;
    copy.iter().try_for_each(|r| r.spans(&mut spans))?;
    check_disjoint(spans)?;
    let mut tensors = Vec::with_capacity(param.buffers.len());
    for i in 0..param.buffers.len() {
        // SAFETY: every buffer passed the span checks as written and the
        // overlap check together; the roles keep the arrays alive.
        let slice = |r: &Role<'_>| unsafe { mixed_slice(&r.buffers[i], r.name) };
        let mut state = [None, None, None];
        for (k, role) in states.iter().enumerate() {
            state[k] = role.as_ref().map(slice).transpose()?;
        }
        tensors.push(MixedBuffers {
            param: slice(&param)?,
            grad: slice(&grad)?,
            state,
            param_copy: copy.as_ref().map(slice).transpose()?,
            position: 0,
        });
    }
    let parallelism = binding_parallelism();
    let elements: usize = param.buffers.iter().map(|b| b.len).sum();
    let traffic = elements.saturating_mul(mixed_bytes_per_element_of(&tensors));
    let outcome = without_gil(py, traffic, || {
        step_mixed_many_with(config, &coefficients, &mut tensors, options, &parallelism)
    })
    .map_err(|e| library_error(e, form.is_some()))?;
    Ok(outcome == StepOutcome::Applied)
}

/// Bytes one element of the first tensor's layout moves (the GIL decision).
fn mixed_bytes_per_element_of(tensors: &[MixedBuffers<'_>]) -> usize {
    // A layout the step will refuse moves nothing; its error comes from the step.
    tensors
        .first()
        .and_then(|t| t.layout().ok().map(|l| (t, l)))
        .map_or(0, |(t, layout)| mixed_bytes_per_element(&layout, t.state.iter().flatten().count(), false))
}

/// adam_step_mixed(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, param_copy=None, *, step, lr=1e-3,
/// betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False,
/// decoupled_weight_decay=False, eps_hat=False, loss_scale=1.0, grad_scale=1.0, skip_non_finite=True,
/// zero_grad=False, stochastic_rounding=None) -> bool
///
/// One mixed-precision Adam step in place: parameters float32 (master
/// weights), bfloat16 or float16; gradients float32 or the parameter's type;
/// state float32, or bfloat16 with bfloat16 parameters or with float32
/// parameters and gradients (lean state: 4 bytes per parameter instead of
/// 8; stochastic_rounding applies to it); arithmetic in float32. bfloat16 is given as a torch.bfloat16 tensor, a numpy uint16 array
/// of the bits, or an ml_dtypes.bfloat16 array. The gradient is multiplied
/// by 1/loss_scale (times grad_scale, a clip coefficient) inside the step; with skip_non_finite, one read-only
/// pass first looks for an inf or NaN gradient and, if it finds one, writes
/// nothing and returns False (the step count must not advance). zero_grad
/// writes 0 to the gradient as it is read; param_copy receives the new
/// parameters rounded to its type; stochastic_rounding=seed rounds bfloat16
/// stores stochastically, reproducibly. Returns True when the step ran.
#[pyfunction]
#[pyo3(signature = (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, param_copy=None, *, step, lr=1e-3,
    betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=false, maximize=false, decoupled_weight_decay=false,
    eps_hat=false, loss_scale=1.0, grad_scale=1.0, skip_non_finite=true, zero_grad=false, stochastic_rounding=None))]
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
    grad_scale: f64,
    skip_non_finite: bool,
    zero_grad: bool,
    stochastic_rounding: Option<u64>,
) -> PyResult<bool> {
    let config =
        adam_config(lr, betas, eps, weight_decay, decoupled_weight_decay, amsgrad, maximize, eps_hat);
    let options = options(loss_scale, skip_non_finite, zero_grad, stochastic_rounding);
    let state = [Some(exp_avg), Some(exp_avg_sq), max_exp_avg_sq];
    run(py, &config, step.0, param, grad, state, param_copy, &options, grad_scale)
}

/// lion_step_mixed(param, grad, exp_avg, param_copy=None, *, step=1, lr=1e-4, betas=(0.9, 0.99),
/// weight_decay=0.0, maximize=False, loss_scale=1.0, grad_scale=1.0, skip_non_finite=True, zero_grad=False,
/// stochastic_rounding=None) -> bool
///
/// One mixed-precision Lion step in place: lion_step's arithmetic in
/// float32 over the storage types and with the extras of adam_step_mixed.
/// The state may be bfloat16 with float32 parameters and gradients, as
/// for adam_step_mixed. Lion's arithmetic does not use the step number; stochastic rounding
/// does (its draws are keyed by seed and step): pass the true count with it.
#[pyfunction]
#[pyo3(signature = (param, grad, exp_avg, param_copy=None, *, step=StepNumber(1), lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0,
    maximize=false, loss_scale=1.0, grad_scale=1.0, skip_non_finite=true, zero_grad=false, stochastic_rounding=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn lion_step_mixed(
    py: Python<'_>,
    param: &Obj<'_>,
    grad: &Obj<'_>,
    exp_avg: &Obj<'_>,
    param_copy: Option<&Obj<'_>>,
    step: StepNumber,
    lr: f64,
    betas: (f64, f64),
    weight_decay: f64,
    maximize: bool,
    loss_scale: f64,
    grad_scale: f64,
    skip_non_finite: bool,
    zero_grad: bool,
    stochastic_rounding: Option<u64>,
) -> PyResult<bool> {
    let config = LionConfig { lr, betas, weight_decay, maximize };
    let options = options(loss_scale, skip_non_finite, zero_grad, stochastic_rounding);
    run(py, &config, step.0, param, grad, [Some(exp_avg), None, None], param_copy, &options, grad_scale)
}

/// sgd_step_mixed(param, grad, momentum_buffer=None, param_copy=None, *, step, lr=1e-3, momentum=0.0,
/// dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False, loss_scale=1.0, grad_scale=1.0,
/// skip_non_finite=True, zero_grad=False, stochastic_rounding=None) -> bool
///
/// One mixed-precision SGD step in place: sgd_step's arithmetic (step=1:
/// the buffer starts as the gradient) in float32 over the storage types and
/// with the extras of adam_step_mixed. Any step > 1 is a later step; with
/// stochastic rounding pass the true count (the draws are keyed by it).
#[pyfunction]
#[pyo3(signature = (param, grad, momentum_buffer=None, param_copy=None, *, step, lr=1e-3, momentum=0.0,
    dampening=0.0, weight_decay=0.0, nesterov=false, maximize=false, loss_scale=1.0, grad_scale=1.0, skip_non_finite=true,
    zero_grad=false, stochastic_rounding=None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgd_step_mixed(
    py: Python<'_>,
    param: &Obj<'_>,
    grad: &Obj<'_>,
    momentum_buffer: Option<&Obj<'_>>,
    param_copy: Option<&Obj<'_>>,
    step: StepNumber,
    lr: f64,
    momentum: f64,
    dampening: f64,
    weight_decay: f64,
    nesterov: bool,
    maximize: bool,
    loss_scale: f64,
    grad_scale: f64,
    skip_non_finite: bool,
    zero_grad: bool,
    stochastic_rounding: Option<u64>,
) -> PyResult<bool> {
    let config = SgdConfig { lr, momentum, dampening, weight_decay, nesterov, maximize };
    let options = options(loss_scale, skip_non_finite, zero_grad, stochastic_rounding);
    run(py, &config, step.0, param, grad, [momentum_buffer, None, None], param_copy, &options, grad_scale)
}
