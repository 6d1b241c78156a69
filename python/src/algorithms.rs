//! The functional API: one Python function per algorithm, with PyTorch's
//! hyperparameter names and defaults, each a call of [`crate::run::step`].
//!
//! Every buffer argument is one numpy array or CPU torch tensor, or a list
//! of them (the multi-tensor form: one call for a whole param group). `step`
//! is the step number after increment (the first update is `step=1`), as
//! in `torch.optim`'s functional forms.
//!
//! Every step also takes the gradient keywords: `grad_scale` multiplies
//! each gradient element first, inside the step; `max_grad_norm` clips the
//! call's gradients by their global 2-norm (`torch.nn.utils.clip_grad_norm_`
//! fused into the step: one read-only pass for the norm, the coefficient as
//! the multiplier) and the step returns the norm (else `None`);
//! `grad_norm_non_finite="skip"` writes nothing when that norm is inf or
//! NaN. [`grad_norm`] is the norm alone.

use crate::errors::StepNumber;
use crate::run::{GradOptions, step as run};
use fused_optim::{
    AdaDeltaConfig, AdaGradConfig, AdaMaxConfig, AdamConfig, EpsForm, LionConfig, RmsPropConfig, SgdConfig,
    WeightDecay,
};
use pyo3::prelude::*;

type Obj<'py> = Bound<'py, PyAny>;

/// The Adam config from torch's arguments.
#[allow(clippy::too_many_arguments)]
pub(crate) fn adam_config(
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    decoupled_weight_decay: bool,
    amsgrad: bool,
    maximize: bool,
    eps_hat: bool,
) -> AdamConfig {
    AdamConfig {
        lr,
        betas,
        eps,
        eps_form: if eps_hat { EpsForm::Hat } else { EpsForm::Standard },
        weight_decay: match (weight_decay, decoupled_weight_decay) {
            (wd, true) => WeightDecay::Decoupled(wd),
            (wd, false) => WeightDecay::L2(wd),
        },
        amsgrad,
        maximize,
        beta1_decay: 1.0,
    }
}

/// adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, step, lr=1e-3, betas=(0.9, 0.999),
/// eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False, decoupled_weight_decay=False, eps_hat=False)
///
/// One Adam step in place (torch.optim.Adam's arithmetic; AdamW with
/// decoupled_weight_decay=True; AMSGrad with amsgrad=True and a
/// max_exp_avg_sq buffer; eps_hat=True adds eps to sqrt(v) as the paper's
/// section 2 form). Each buffer is a numpy array or CPU torch tensor of
/// float32 or float64, or a list of them (one call for many tensors).
/// Raises TypeError or ValueError, having written nothing.
#[pyfunction]
#[pyo3(signature = (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, step, lr=1e-3, betas=(0.9, 0.999),
    eps=1e-8, weight_decay=0.0, amsgrad=false, maximize=false, decoupled_weight_decay=false, eps_hat=false,
    grad_scale=1.0, max_grad_norm=None, grad_norm_non_finite="propagate"))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn adam_step(
    py: Python<'_>,
    param: &Obj<'_>,
    grad: &Obj<'_>,
    exp_avg: &Obj<'_>,
    exp_avg_sq: &Obj<'_>,
    max_exp_avg_sq: Option<&Obj<'_>>,
    step: StepNumber,
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    amsgrad: bool,
    maximize: bool,
    decoupled_weight_decay: bool,
    eps_hat: bool,
    grad_scale: f64,
    max_grad_norm: Option<f64>,
    grad_norm_non_finite: &str,
) -> PyResult<Option<f64>> {
    let config =
        adam_config(lr, betas, eps, weight_decay, decoupled_weight_decay, amsgrad, maximize, eps_hat);
    run(
        py,
        &config,
        step.0,
        param,
        grad,
        [Some(exp_avg), Some(exp_avg_sq), max_exp_avg_sq],
        &GradOptions::new(grad_scale, max_grad_norm, grad_norm_non_finite)?,
    )
}

/// adamw_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, step, lr=1e-3, betas=(0.9, 0.999),
/// eps=1e-8, weight_decay=1e-2, amsgrad=False, maximize=False, eps_hat=False)
///
/// adam_step with decoupled weight decay and torch.optim.AdamW's defaults.
#[pyfunction]
#[pyo3(signature = (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq=None, *, step, lr=1e-3, betas=(0.9, 0.999),
    eps=1e-8, weight_decay=1e-2, amsgrad=false, maximize=false, eps_hat=false,
    grad_scale=1.0, max_grad_norm=None, grad_norm_non_finite="propagate"))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn adamw_step(
    py: Python<'_>,
    param: &Obj<'_>,
    grad: &Obj<'_>,
    exp_avg: &Obj<'_>,
    exp_avg_sq: &Obj<'_>,
    max_exp_avg_sq: Option<&Obj<'_>>,
    step: StepNumber,
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    amsgrad: bool,
    maximize: bool,
    eps_hat: bool,
    grad_scale: f64,
    max_grad_norm: Option<f64>,
    grad_norm_non_finite: &str,
) -> PyResult<Option<f64>> {
    let config = adam_config(lr, betas, eps, weight_decay, true, amsgrad, maximize, eps_hat);
    run(
        py,
        &config,
        step.0,
        param,
        grad,
        [Some(exp_avg), Some(exp_avg_sq), max_exp_avg_sq],
        &GradOptions::new(grad_scale, max_grad_norm, grad_norm_non_finite)?,
    )
}

/// adamax_step(param, grad, exp_avg, exp_inf, *, step, lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
/// weight_decay=0.0, maximize=False)
///
/// One AdaMax step in place (torch.optim.Adamax's arithmetic).
#[pyfunction]
#[pyo3(signature = (param, grad, exp_avg, exp_inf, *, step, lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
    weight_decay=0.0, maximize=false,
    grad_scale=1.0, max_grad_norm=None, grad_norm_non_finite="propagate"))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn adamax_step(
    py: Python<'_>,
    param: &Obj<'_>,
    grad: &Obj<'_>,
    exp_avg: &Obj<'_>,
    exp_inf: &Obj<'_>,
    step: StepNumber,
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    weight_decay: f64,
    maximize: bool,
    grad_scale: f64,
    max_grad_norm: Option<f64>,
    grad_norm_non_finite: &str,
) -> PyResult<Option<f64>> {
    let config = AdaMaxConfig { lr, betas, eps, weight_decay, maximize, beta1_decay: 1.0 };
    run(
        py,
        &config,
        step.0,
        param,
        grad,
        [Some(exp_avg), Some(exp_inf), None],
        &GradOptions::new(grad_scale, max_grad_norm, grad_norm_non_finite)?,
    )
}

/// adagrad_step(param, grad, sum, *, step, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
/// initial_accumulator_value=0.0, eps=1e-10, maximize=False)
///
/// One AdaGrad step in place (torch.optim.Adagrad's arithmetic). `sum`
/// starts at initial_accumulator_value (the caller fills it).
#[pyfunction]
#[pyo3(signature = (param, grad, sum, *, step, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
    initial_accumulator_value=0.0, eps=1e-10, maximize=false,
    grad_scale=1.0, max_grad_norm=None, grad_norm_non_finite="propagate"))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn adagrad_step(
    py: Python<'_>,
    param: &Obj<'_>,
    grad: &Obj<'_>,
    sum: &Obj<'_>,
    step: StepNumber,
    lr: f64,
    lr_decay: f64,
    weight_decay: f64,
    initial_accumulator_value: f64,
    eps: f64,
    maximize: bool,
    grad_scale: f64,
    max_grad_norm: Option<f64>,
    grad_norm_non_finite: &str,
) -> PyResult<Option<f64>> {
    let config = AdaGradConfig { lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize };
    run(
        py,
        &config,
        step.0,
        param,
        grad,
        [Some(sum), None, None],
        &GradOptions::new(grad_scale, max_grad_norm, grad_norm_non_finite)?,
    )
}

/// rmsprop_step(param, grad, square_avg, momentum_buffer=None, grad_avg=None, *, step, lr=1e-2,
/// alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False)
///
/// One RMSprop step in place (torch.optim.RMSprop's arithmetic):
/// momentum_buffer exactly when momentum > 0, grad_avg exactly when centered.
#[pyfunction]
#[pyo3(signature = (param, grad, square_avg, momentum_buffer=None, grad_avg=None, *, step, lr=1e-2,
    alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=false, maximize=false,
    grad_scale=1.0, max_grad_norm=None, grad_norm_non_finite="propagate"))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn rmsprop_step(
    py: Python<'_>,
    param: &Obj<'_>,
    grad: &Obj<'_>,
    square_avg: &Obj<'_>,
    momentum_buffer: Option<&Obj<'_>>,
    grad_avg: Option<&Obj<'_>>,
    step: StepNumber,
    lr: f64,
    alpha: f64,
    eps: f64,
    weight_decay: f64,
    momentum: f64,
    centered: bool,
    maximize: bool,
    grad_scale: f64,
    max_grad_norm: Option<f64>,
    grad_norm_non_finite: &str,
) -> PyResult<Option<f64>> {
    let config = RmsPropConfig { lr, alpha, eps, weight_decay, momentum, centered, maximize };
    run(
        py,
        &config,
        step.0,
        param,
        grad,
        [Some(square_avg), momentum_buffer, grad_avg],
        &GradOptions::new(grad_scale, max_grad_norm, grad_norm_non_finite)?,
    )
}

/// adadelta_step(param, grad, square_avg, acc_delta, *, step, lr=1.0, rho=0.9, eps=1e-6,
/// weight_decay=0.0, maximize=False)
///
/// One AdaDelta step in place (torch.optim.Adadelta's arithmetic).
#[pyfunction]
#[pyo3(signature = (param, grad, square_avg, acc_delta, *, step, lr=1.0, rho=0.9, eps=1e-6,
    weight_decay=0.0, maximize=false,
    grad_scale=1.0, max_grad_norm=None, grad_norm_non_finite="propagate"))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn adadelta_step(
    py: Python<'_>,
    param: &Obj<'_>,
    grad: &Obj<'_>,
    square_avg: &Obj<'_>,
    acc_delta: &Obj<'_>,
    step: StepNumber,
    lr: f64,
    rho: f64,
    eps: f64,
    weight_decay: f64,
    maximize: bool,
    grad_scale: f64,
    max_grad_norm: Option<f64>,
    grad_norm_non_finite: &str,
) -> PyResult<Option<f64>> {
    let config = AdaDeltaConfig { lr, rho, eps, weight_decay, maximize };
    run(
        py,
        &config,
        step.0,
        param,
        grad,
        [Some(square_avg), Some(acc_delta), None],
        &GradOptions::new(grad_scale, max_grad_norm, grad_norm_non_finite)?,
    )
}

/// sgd_step(param, grad, momentum_buffer=None, *, step, lr=1e-3, momentum=0.0, dampening=0.0,
/// weight_decay=0.0, nesterov=False, maximize=False, grad_scale=1.0, max_grad_norm=None,
/// grad_norm_non_finite="propagate")
///
/// One SGD step in place (torch.optim.SGD's arithmetic): momentum_buffer
/// exactly when momentum > 0. step=1 is the first step, where the buffer
/// is set to the gradient (torch's first step, when a parameter has no
/// buffer yet; its prior contents are not read); later steps decay it.
#[pyfunction]
#[pyo3(signature = (param, grad, momentum_buffer=None, *, step, lr=1e-3, momentum=0.0, dampening=0.0,
    weight_decay=0.0, nesterov=false, maximize=false,
    grad_scale=1.0, max_grad_norm=None, grad_norm_non_finite="propagate"))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgd_step(
    py: Python<'_>,
    param: &Obj<'_>,
    grad: &Obj<'_>,
    momentum_buffer: Option<&Obj<'_>>,
    step: StepNumber,
    lr: f64,
    momentum: f64,
    dampening: f64,
    weight_decay: f64,
    nesterov: bool,
    maximize: bool,
    grad_scale: f64,
    max_grad_norm: Option<f64>,
    grad_norm_non_finite: &str,
) -> PyResult<Option<f64>> {
    let config = SgdConfig { lr, momentum, dampening, weight_decay, nesterov, maximize };
    let grads = GradOptions::new(grad_scale, max_grad_norm, grad_norm_non_finite)?;
    run(py, &config, step.0, param, grad, [momentum_buffer, None, None], &grads)
}

/// lion_step(param, grad, exp_avg, *, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, maximize=False,
/// grad_scale=1.0, max_grad_norm=None, grad_norm_non_finite="propagate")
///
/// One Lion step in place (Chen et al. 2023; the lion-pytorch package's
/// arithmetic): p *= 1 - lr*weight_decay; p -= lr*sign(beta1*m + (1 - beta1)*g);
/// m = beta2*m + (1 - beta2)*g. Lion keeps no step count. A NaN reaching
/// sign() gives a NaN parameter (torch's sign gives 0).
#[pyfunction]
#[pyo3(signature = (param, grad, exp_avg, *, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, maximize=false,
    grad_scale=1.0, max_grad_norm=None, grad_norm_non_finite="propagate"))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn lion_step(
    py: Python<'_>,
    param: &Obj<'_>,
    grad: &Obj<'_>,
    exp_avg: &Obj<'_>,
    lr: f64,
    betas: (f64, f64),
    weight_decay: f64,
    maximize: bool,
    grad_scale: f64,
    max_grad_norm: Option<f64>,
    grad_norm_non_finite: &str,
) -> PyResult<Option<f64>> {
    let config = LionConfig { lr, betas, weight_decay, maximize };
    let grads = GradOptions::new(grad_scale, max_grad_norm, grad_norm_non_finite)?;
    run(py, &config, 1, param, grad, [Some(exp_avg), None, None], &grads)
}
