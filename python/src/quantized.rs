//! The 8-bit-state steps (`adam_step_8bit`, `lion_step_8bit`) and the
//! codes' conversions (`quantize_8bit`, `dequantize_8bit`): float32
//! parameters and gradients, each state buffer one uint8 code per element
//! and one float32 scale per block of 256 (the library's
//! [`fused_optim::quantized`]), over numpy arrays and torch tensors.

use crate::algorithms::adam_config;
use crate::buffers::{Buffer, Elem};
use crate::errors::{StepNumber, library_error};
use crate::run::{Role, check_disjoint, slice, slice_mut, without_gil};
use fused_optim::LionConfig;
use fused_optim::algorithms::Algorithm;
use fused_optim::mixed::{MixedKernel, MixedOptions, StepOutcome};
use fused_optim::parallel::binding_parallelism;
use fused_optim::quantized::{
    QUANT_BLOCK, QuantizedBuffers, QuantizedKernel, QuantizedSlot, quantized_bytes_per_element,
    quantized_coefficients, scales_len, step_quantized_many_with,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

type Obj<'py> = Bound<'py, PyAny>;

/// `TypeError` unless every buffer of `role` holds `elem`.
fn expect(role: &Role<'_>, elem: Elem, what: &str) -> PyResult<()> {
    match role.buffers.iter().position(|b| b.elem != elem) {
        None => Ok(()),
        Some(i) => Err(PyTypeError::new_err(format!(
            "{} is {}: {what} are {}",
            role.label(i),
            role.buffers[i].elem.name(),
            elem.name()
        ))),
    }
}

/// A mutable slice of `T` over a checked buffer.
///
/// # Safety
/// As [`slice_mut`]; the buffer holds `T` (checked by [`expect`]).
unsafe fn slice_of<'a, T>(b: &Buffer<'_>) -> &'a mut [T] {
    // SAFETY: the caller's contract.
    unsafe { slice_mut(b) }
}

/// One 8-bit-state step of `A` over the Python arguments: `state` holds,
/// per slot in the algorithm's order, the codes and the scales (`None`
/// for an optional buffer not given), with their argument names.
#[allow(clippy::too_many_arguments)]
fn run<A: Algorithm>(
    py: Python<'_>,
    config: &A,
    t: u64,
    param: &Obj<'_>,
    grad: &Obj<'_>,
    state: [Option<(&Obj<'_>, &Obj<'_>)>; 3],
    names: [(&'static str, &'static str); 3],
    options: &MixedOptions,
    grad_scale: f64,
) -> PyResult<bool>
where
    A::Coefficients<f32>: MixedKernel + QuantizedKernel,
{
    let mut coefficients = quantized_coefficients(config, t, options).map_err(|e| library_error(e, false))?;
    if grad_scale != 1.0 {
        coefficients.grad_scale = (f64::from(coefficients.grad_scale) * grad_scale) as f32;
    }
    let form = crate::buffers::Arg::new(param).form();
    let param = Role::read(param, "param", form, true)?;
    let grad = Role::read(grad, "grad", form, true)?;
    expect(&param, Elem::F32, "8-bit-state steps' parameters")?;
    expect(&grad, Elem::F32, "8-bit-state steps' gradients")?;
    let mut slots: [Option<(Role, Role)>; 3] = [None, None, None];
    for (k, pair) in state.iter().enumerate() {
        if let Some((codes, scales)) = pair {
            let codes = Role::read(codes, names[k].0, form, true)?;
            let scales = Role::read(scales, names[k].1, form, true)?;
            expect(&codes, Elem::U8, "the codes")?;
            expect(&scales, Elem::F32, "the scales")?;
            slots[k] = Some((codes, scales));
        }
    }
    let mut spans = Vec::new();
    param.spans(&mut spans)?;
    grad.spans(&mut spans)?;
    for (codes, scales) in slots.iter().flatten() {
        codes.spans(&mut spans)?;
        scales.spans(&mut spans)?;
    }
    check_disjoint(spans)?;
    let mut tensors = Vec::with_capacity(param.buffers.len());
    for i in 0..param.buffers.len() {
        // SAFETY: every buffer passed the span checks as written and the
        // overlap check together, its element type was matched above, and
        // the roles keep the arrays alive for the call.
        let state = slots.each_ref().map(|s| {
            s.as_ref().map(|(codes, scales)| unsafe {
                QuantizedSlot { codes: slice_of(&codes.buffers[i]), scales: slice_of(&scales.buffers[i]) }
            })
        });
        // SAFETY: as above.
        let (p, g) = unsafe { (slice_of(&param.buffers[i]), slice_of(&grad.buffers[i])) };
        tensors.push(QuantizedBuffers { param: p, grad: g, state });
    }
    let parallelism = binding_parallelism();
    let elements: usize = param.buffers.iter().map(|b| b.len).sum();
    let kept = slots.iter().flatten().count();
    let traffic = elements.saturating_mul(quantized_bytes_per_element(kept, options.zero_grad));
    let (outcome, _) = without_gil(py, traffic, || {
        step_quantized_many_with(config, &coefficients, None, &mut tensors, options, &parallelism)
    })
    .map_err(|e| library_error(e, form.is_some()))?;
    Ok(outcome == StepOutcome::Applied)
}

/// The extras of an 8-bit-state step (round to nearest: no stochastic rounding).
fn options(loss_scale: f64, skip_non_finite: bool, zero_grad: bool) -> MixedOptions {
    MixedOptions { loss_scale, skip_non_finite, zero_grad, stochastic_rounding: None }
}

/// adam_step_8bit(param, grad, exp_avg_codes, exp_avg_scales, exp_avg_sq_codes, exp_avg_sq_scales,
/// max_exp_avg_sq_codes=None, max_exp_avg_sq_scales=None, *, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
/// weight_decay=0.0, amsgrad=False, maximize=False, decoupled_weight_decay=False, eps_hat=False,
/// loss_scale=1.0, grad_scale=1.0, skip_non_finite=True, zero_grad=False) -> bool
///
/// One Adam step in place with 8-bit blockwise state: param and grad
/// float32; each moment as uint8 codes (one per element: exp_avg in the
/// signed code, exp_avg_sq and max_exp_avg_sq in the unsigned one) and
/// float32 scales (one per block of 256 elements: len = ceil(n / 256)).
/// Zeros (codes 0, scales 0) are the initial state. The extras are
/// adam_step_mixed's; returns True when the step ran.
#[pyfunction]
#[pyo3(signature = (param, grad, exp_avg_codes, exp_avg_scales, exp_avg_sq_codes, exp_avg_sq_scales,
    max_exp_avg_sq_codes=None, max_exp_avg_sq_scales=None, *, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
    weight_decay=0.0, amsgrad=false, maximize=false, decoupled_weight_decay=false, eps_hat=false, loss_scale=1.0,
    grad_scale=1.0, skip_non_finite=true, zero_grad=false))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn adam_step_8bit(
    py: Python<'_>,
    param: &Obj<'_>,
    grad: &Obj<'_>,
    exp_avg_codes: &Obj<'_>,
    exp_avg_scales: &Obj<'_>,
    exp_avg_sq_codes: &Obj<'_>,
    exp_avg_sq_scales: &Obj<'_>,
    max_exp_avg_sq_codes: Option<&Obj<'_>>,
    max_exp_avg_sq_scales: Option<&Obj<'_>>,
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
) -> PyResult<bool> {
    let config =
        adam_config(lr, betas, eps, weight_decay, decoupled_weight_decay, amsgrad, maximize, eps_hat);
    let max = match (max_exp_avg_sq_codes, max_exp_avg_sq_scales) {
        (Some(c), Some(s)) => Some((c, s)),
        (None, None) => None,
        _ => {
            return Err(PyValueError::new_err(
                "max_exp_avg_sq_codes and max_exp_avg_sq_scales are given together or not at all",
            ));
        }
    };
    let state = [Some((exp_avg_codes, exp_avg_scales)), Some((exp_avg_sq_codes, exp_avg_sq_scales)), max];
    let names = [
        ("exp_avg_codes", "exp_avg_scales"),
        ("exp_avg_sq_codes", "exp_avg_sq_scales"),
        ("max_exp_avg_sq_codes", "max_exp_avg_sq_scales"),
    ];
    let options = options(loss_scale, skip_non_finite, zero_grad);
    run(py, &config, step.0, param, grad, state, names, &options, grad_scale)
}

/// lion_step_8bit(param, grad, exp_avg_codes, exp_avg_scales, *, lr=1e-4, betas=(0.9, 0.99),
/// weight_decay=0.0, maximize=False, loss_scale=1.0, grad_scale=1.0, skip_non_finite=True,
/// zero_grad=False) -> bool
///
/// One Lion step in place with its momentum in 8-bit blockwise state (the
/// signed code; see adam_step_8bit).
#[pyfunction]
#[pyo3(signature = (param, grad, exp_avg_codes, exp_avg_scales, *, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0,
    maximize=false, loss_scale=1.0, grad_scale=1.0, skip_non_finite=true, zero_grad=false))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn lion_step_8bit(
    py: Python<'_>,
    param: &Obj<'_>,
    grad: &Obj<'_>,
    exp_avg_codes: &Obj<'_>,
    exp_avg_scales: &Obj<'_>,
    lr: f64,
    betas: (f64, f64),
    weight_decay: f64,
    maximize: bool,
    loss_scale: f64,
    grad_scale: f64,
    skip_non_finite: bool,
    zero_grad: bool,
) -> PyResult<bool> {
    let config = LionConfig { lr, betas, weight_decay, maximize };
    let names = [("exp_avg_codes", "exp_avg_scales"), ("", ""), ("", "")];
    let options = options(loss_scale, skip_non_finite, zero_grad);
    run(
        py,
        &config,
        1,
        param,
        grad,
        [Some((exp_avg_codes, exp_avg_scales)), None, None],
        names,
        &options,
        grad_scale,
    )
}

/// The three buffers of a conversion, checked: values (float32), codes
/// (uint8), scales (float32, ceil(n / 256)); `written` says which side the
/// conversion writes.
fn conversion<'py>(
    values: &Obj<'py>,
    codes: &Obj<'py>,
    scales: &Obj<'py>,
    values_written: bool,
) -> PyResult<(Role<'py>, Role<'py>, Role<'py>)> {
    let values = Role::read(values, "values", None, values_written)?;
    let codes = Role::read(codes, "codes", None, !values_written)?;
    let scales = Role::read(scales, "scales", None, !values_written)?;
    expect(&values, Elem::F32, "the values")?;
    expect(&codes, Elem::U8, "the codes")?;
    expect(&scales, Elem::F32, "the scales")?;
    let n = values.buffers[0].len;
    if codes.buffers[0].len != n {
        return Err(PyValueError::new_err(format!(
            "codes has {} elements, values {n}",
            codes.buffers[0].len
        )));
    }
    if scales.buffers[0].len != scales_len(n) {
        return Err(PyValueError::new_err(format!(
            "scales has {} elements; {n} values need ceil({n} / {QUANT_BLOCK}) = {}",
            scales.buffers[0].len,
            scales_len(n)
        )));
    }
    let mut spans = Vec::new();
    values.spans(&mut spans)?;
    codes.spans(&mut spans)?;
    scales.spans(&mut spans)?;
    check_disjoint(spans)?;
    Ok((values, codes, scales))
}

/// quantize_8bit(values, codes, scales, *, signed) -> None
///
/// Encodes float32 `values` into 8-bit state as a step stores it: per block
/// of 256 the absmax as the scale, each value to the nearest code of the
/// signed (a first moment) or unsigned (a second moment) code. How a
/// float32 state (a torch checkpoint's exp_avg) is loaded.
#[pyfunction]
#[pyo3(signature = (values, codes, scales, *, signed))]
pub(crate) fn quantize_8bit(
    values: &Obj<'_>,
    codes: &Obj<'_>,
    scales: &Obj<'_>,
    signed: bool,
) -> PyResult<()> {
    let (values, codes, scales) = conversion(values, codes, scales, false)?;
    // SAFETY: the three buffers passed the span, type and overlap checks
    // (values read, codes and scales written) and are alive for the call.
    unsafe {
        fused_optim::quantized::quantize(
            slice(&values.buffers[0]),
            slice_of(&codes.buffers[0]),
            slice_of(&scales.buffers[0]),
            signed,
        );
    }
    Ok(())
}

/// dequantize_8bit(codes, scales, values, *, signed) -> None
///
/// Decodes 8-bit state into float32 `values` (code value · block scale):
/// the state a torch checkpoint holds as exp_avg / exp_avg_sq.
#[pyfunction]
#[pyo3(signature = (codes, scales, values, *, signed))]
pub(crate) fn dequantize_8bit(
    codes: &Obj<'_>,
    scales: &Obj<'_>,
    values: &Obj<'_>,
    signed: bool,
) -> PyResult<()> {
    let (values, codes, scales) = conversion(values, codes, scales, true)?;
    // SAFETY: as in `quantize_8bit`, with the values written.
    unsafe {
        fused_optim::quantized::dequantize(
            slice(&codes.buffers[0]),
            slice(&scales.buffers[0]),
            signed,
            slice_of(&values.buffers[0]),
        );
    }
    Ok(())
}
