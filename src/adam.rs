//! Adam, AdamW and AMSGrad: hyperparameters, validation, the stateless step.
//!
//! The formula and the op order of the kernel are in
//! [`fused_optim_kernels::spec::adam`](mod@fused_optim_kernels::spec::adam). This module
//! turns PyTorch-style hyperparameters and a step number into the kernel's
//! per-step scalars (in `f64`, then rounded once), checks everything, and runs
//! the kernel through the driver.

use crate::driver::Parallelism;
use crate::hyper::{
    beta1_at, bias_correction, decay_factor, non_negative, representable, step_number, unit_interval,
};
use crate::stateless::{self, option_buffer};
use crate::{Error, Float};
use fused_optim_kernels::{AdamBuffers, AdamCoefficients, Decay};

/// Where ε enters Adam's denominator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EpsForm {
    /// PyTorch's Adam (Algorithm 1 of the paper): `m̂/(√v̂ + ε)` with the
    /// bias-corrected moments, that is `(lr/bc1)·m/(√v/√bc2 + ε)`.
    #[default]
    Standard,
    /// The paper's §2 reordering, as TensorFlow's Adam computes it:
    /// `α_t = lr·√bc2/bc1`, `p −= α_t·m/(√v + ε̂)`, with the configured `eps`
    /// taken as ε̂. It equals `Standard` with `ε = ε̂/√bc2`: ε weighs more in
    /// the first steps.
    Hat,
}

/// Weight decay, as PyTorch's Adam (`L2`) and AdamW (`Decoupled`) apply it.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum WeightDecay {
    /// No weight decay.
    #[default]
    None,
    /// L2 penalty: `g += wd·p` before the moments (PyTorch `Adam(weight_decay=wd)`).
    L2(f64),
    /// Decoupled decay: `p *= 1 − lr·wd` before the update (PyTorch `AdamW(weight_decay=wd)`).
    Decoupled(f64),
}

/// Hyperparameters of Adam / AdamW / AMSGrad, with PyTorch's defaults.
///
/// ```
/// use fused_optim::{AdamConfig, WeightDecay};
/// let adam = AdamConfig::default();
/// assert_eq!((adam.lr, adam.betas, adam.eps), (1e-3, (0.9, 0.999), 1e-8));
/// let adamw = AdamConfig { lr: 3e-4, ..AdamConfig::adamw() };
/// assert_eq!(adamw.weight_decay, WeightDecay::Decoupled(1e-2));
/// assert!(AdamConfig { betas: (0.9, 1.0), ..adam }.validate().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate α (finite, `>= 0`). Default `1e-3`.
    pub lr: f64,
    /// (β1, β2), each in `[0, 1)`. Default `(0.9, 0.999)`.
    pub betas: (f64, f64),
    /// ε added to `√v̂/√bc2` (finite, `>= 0`), or ε̂ added to `√v̂` with
    /// [`EpsForm::Hat`]. Default `1e-8`.
    pub eps: f64,
    /// How `eps` enters the denominator. Default [`EpsForm::Standard`] (PyTorch).
    pub eps_form: EpsForm,
    /// Weight decay (coefficient finite, `>= 0`). Default none; [`AdamConfig::adamw`] gives
    /// `Decoupled(1e-2)`.
    pub weight_decay: WeightDecay,
    /// AMSGrad: use the running maximum of v (needs a `max_exp_avg_sq` buffer). Default off.
    pub amsgrad: bool,
    /// Maximize the objective instead of minimizing it. Default off.
    pub maximize: bool,
    /// λ in `(0, 1]`, the decay of β1 in the paper's convergence analysis
    /// (§4): step `t` uses `β1,t = β1·λ^(t−1)` in the first moment, while the
    /// bias correction stays `1 − β1^t` as in Algorithm 1. Default `1.0`
    /// (no decay, as PyTorch).
    pub beta1_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            eps_form: EpsForm::Standard,
            weight_decay: WeightDecay::None,
            amsgrad: false,
            maximize: false,
            beta1_decay: 1.0,
        }
    }
}

impl AdamConfig {
    /// PyTorch's `AdamW` defaults: Adam's, with decoupled weight decay `1e-2`.
    pub fn adamw() -> Self {
        AdamConfig { weight_decay: WeightDecay::Decoupled(1e-2), ..AdamConfig::default() }
    }

    /// Checks every hyperparameter; the error names the first bad one.
    pub fn validate(&self) -> Result<(), Error> {
        non_negative("lr", self.lr)?;
        unit_interval("beta1", self.betas.0)?;
        unit_interval("beta2", self.betas.1)?;
        non_negative("eps", self.eps)?;
        decay_factor("beta1_decay", self.beta1_decay)?;
        match self.weight_decay {
            WeightDecay::None => Ok(()),
            WeightDecay::L2(wd) | WeightDecay::Decoupled(wd) => non_negative("weight_decay", wd),
        }
    }

    /// The kernel's per-step scalars for step `t` (first step: 1), computed in
    /// `f64` and rounded once to `T`.
    ///
    /// `step_size = lr·√bc2/bc1` and `eps_hat = ε·√bc2` (the one-division form
    /// of the update; see the kernel's essay), or `eps_hat = ε` with
    /// [`EpsForm::Hat`]. With `beta1_decay` λ < 1, the first moment's
    /// coefficient is `β1·λ^(t−1)`. A weight decay of 0 is no decay,
    /// as in PyTorch. A finite hyperparameter whose derived scalar overflows
    /// `T` (lr above about 3.4e38 for f32, `1 − lr·wd` beyond f64) is refused,
    /// naming it.
    pub fn coefficients<T: Float>(&self, t: u64) -> Result<AdamCoefficients<T>, Error> {
        self.validate()?;
        step_number(t)?;
        let (beta1, beta2) = self.betas;
        let beta1_t = beta1_at(beta1, self.beta1_decay, t);
        let bc1 = bias_correction(beta1, t);
        let sqrt_bc2 = bias_correction(beta2, t).sqrt();
        let decay = match self.weight_decay {
            WeightDecay::L2(wd) if wd != 0.0 => Decay::L2(representable("weight_decay", wd, wd)?),
            WeightDecay::Decoupled(wd) if wd != 0.0 => {
                Decay::Decoupled(representable("weight_decay", wd, 1.0 - self.lr * wd)?)
            }
            _ => Decay::None,
        };
        Ok(AdamCoefficients {
            beta1: T::from_f64(beta1_t),
            one_minus_beta1: T::from_f64(1.0 - beta1_t),
            beta2: T::from_f64(beta2),
            one_minus_beta2: T::from_f64(1.0 - beta2),
            step_size: representable("lr", self.lr, self.lr * sqrt_bc2 / bc1)?,
            eps_hat: match self.eps_form {
                EpsForm::Standard => representable("eps", self.eps, self.eps * sqrt_bc2)?,
                EpsForm::Hat => representable("eps", self.eps, self.eps)?,
            },
            decay,
            maximize: self.maximize,
        })
    }

    /// Bytes one element's step reads and writes: p, g, m, v read; p, m, v
    /// written; AMSGrad's maximum read and written.
    pub fn bytes_per_element<T: Float>(&self) -> usize {
        T::BYTES * if self.amsgrad { 9 } else { 7 }
    }
}

/// One Adam step over caller-owned slices: the shape a framework needs.
///
/// `t` is the step number after increment (the first update is `t = 1`).
/// `buffers.max_exp_avg_sq` must be `Some` exactly when `config.amsgrad`.
/// On error nothing is written.
///
/// ```
/// use fused_optim::{adam_step, AdamBuffers, AdamConfig, Parallelism};
/// let mut param = vec![1.0f32, -2.0, 3.0];
/// let grad = [0.1f32, -0.2, 0.0];
/// let (mut m, mut v) = (vec![0.0f32; 3], vec![0.0f32; 3]);
/// let buffers = AdamBuffers { param: &mut param, grad: &grad, exp_avg: &mut m,
///                             exp_avg_sq: &mut v, max_exp_avg_sq: None };
/// adam_step(&AdamConfig::default(), 1, buffers, &Parallelism::Global)?;
/// assert!((param[0] - 0.999).abs() < 1e-6 && (param[1] + 1.999).abs() < 1e-6);
/// assert_eq!(param[2], 3.0); // zero gradient, zero moment: no move
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub fn adam_step<T: Float>(
    config: &AdamConfig,
    t: u64,
    buffers: AdamBuffers<'_, T>,
    parallelism: &Parallelism,
) -> Result<(), Error> {
    stateless::step(config, t, buffers, parallelism)
}

stateless::stateless!(AdamConfig, AdamBuffers, AdamCoefficients, fused_optim_kernels::adam, check: |c, b| {
    option_buffer("amsgrad", c.amsgrad, "max_exp_avg_sq", b.max_exp_avg_sq.is_some())
});

/// One Adam step over a whole list of tensors (each its own length and
/// buffers; one hyperparameter set and step number for all): the same bits as
/// [`adam_step`] on each tensor alone, in one call.
///
/// The work is balanced across threads by elements, not by tensors: large
/// tensors are split, small ones grouped, with no hand-off per tensor. Every
/// tensor is checked before any is written; an error names the first bad
/// tensor ([`Error::Tensor`]) and nothing is written.
///
/// ```
/// use fused_optim::{adam_step_many, AdamBuffers, AdamConfig, Parallelism};
/// let grads = [vec![0.5f32; 3], vec![-1.0f32; 1000]];
/// let mut params = [vec![1.0f32; 3], vec![2.0f32; 1000]];
/// let mut moments = [(vec![0.0f32; 3], vec![0.0f32; 3]), (vec![0.0f32; 1000], vec![0.0f32; 1000])];
/// let mut tensors: Vec<AdamBuffers<'_, f32>> = params.iter_mut().zip(&grads).zip(&mut moments)
///     .map(|((p, g), (m, v))| AdamBuffers { param: p, grad: g, exp_avg: m, exp_avg_sq: v, max_exp_avg_sq: None })
///     .collect();
/// adam_step_many(&AdamConfig::default(), 1, &mut tensors, &Parallelism::Global)?;
/// assert!(params[0][0] < 1.0 && params[1][999] > 2.0);
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub fn adam_step_many<T: Float>(
    config: &AdamConfig,
    t: u64,
    tensors: &mut [AdamBuffers<'_, T>],
    parallelism: &Parallelism,
) -> Result<(), Error> {
    stateless::step_many(config, t, tensors, parallelism)
}
