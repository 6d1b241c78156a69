//! AdaMax: hyperparameters, validation, the stateless step.
//!
//! The formula and the op order of the kernel are in
//! [`fused_optim_kernels::spec::adamax`](mod@fused_optim_kernels::spec::adamax).

use crate::driver::Parallelism;
use crate::hyper::{
    beta1_at, bias_correction, decay_factor, non_negative, optional_decay, representable, step_number,
    unit_interval,
};
use crate::stateless;
use crate::{Error, Float};
use fused_optim_kernels::{AdaMaxBuffers, AdaMaxCoefficients};

/// Hyperparameters of AdaMax, with PyTorch's defaults.
///
/// With `eps = 0.0` this is Algorithm 2 of Kingma & Ba.
///
/// ```
/// use fused_optim::AdaMaxConfig;
/// let c = AdaMaxConfig::default();
/// assert_eq!((c.lr, c.betas, c.eps, c.weight_decay), (2e-3, (0.9, 0.999), 1e-8, 0.0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaMaxConfig {
    /// Learning rate α (finite, `>= 0`). Default `2e-3`.
    pub lr: f64,
    /// (β1, β2), each in `[0, 1)`. Default `(0.9, 0.999)`.
    pub betas: (f64, f64),
    /// ε added to `|g|` inside the maximum (finite, `>= 0`). Default `1e-8`.
    pub eps: f64,
    /// L2 weight decay coefficient (finite, `>= 0`; 0 is none). Default `0`.
    pub weight_decay: f64,
    /// Maximize the objective instead of minimizing it. Default off.
    pub maximize: bool,
    /// λ in `(0, 1]`: step `t` uses `β1,t = β1·λ^(t−1)` in the first moment,
    /// the bias correction stays `1 − β1^t` (as for
    /// [`AdamConfig::beta1_decay`](crate::AdamConfig::beta1_decay)). Default `1.0`.
    pub beta1_decay: f64,
}

impl Default for AdaMaxConfig {
    fn default() -> Self {
        AdaMaxConfig {
            lr: 2e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            maximize: false,
            beta1_decay: 1.0,
        }
    }
}

impl AdaMaxConfig {
    /// Checks every hyperparameter; the error names the first bad one.
    pub fn validate(&self) -> Result<(), Error> {
        non_negative("lr", self.lr)?;
        unit_interval("beta1", self.betas.0)?;
        unit_interval("beta2", self.betas.1)?;
        non_negative("eps", self.eps)?;
        non_negative("weight_decay", self.weight_decay)?;
        decay_factor("beta1_decay", self.beta1_decay)
    }

    /// The kernel's per-step scalars for step `t`: `step_size = lr/(1 − β1^t)`
    /// in `f64`, everything rounded once to `T`.
    pub fn coefficients<T: Float>(&self, t: u64) -> Result<AdaMaxCoefficients<T>, Error> {
        self.validate()?;
        step_number(t)?;
        let (beta1, beta2) = self.betas;
        let beta1_t = beta1_at(beta1, self.beta1_decay, t);
        Ok(AdaMaxCoefficients {
            beta1: T::from_f64(beta1_t),
            one_minus_beta1: T::from_f64(1.0 - beta1_t),
            beta2: T::from_f64(beta2),
            eps: representable("eps", self.eps, self.eps)?,
            step_size: representable("lr", self.lr, self.lr / bias_correction(beta1, t))?,
            weight_decay: optional_decay(self.weight_decay)?,
            maximize: self.maximize,
        })
    }

    /// Bytes one element's step reads and writes: p, g, m, u read; p, m, u written.
    pub fn bytes_per_element<T: Float>(&self) -> usize {
        T::BYTES * 7
    }
}

/// One AdaMax step over caller-owned slices. `t` is the step number after
/// increment (the first update is `t = 1`). On error nothing is written.
///
/// ```
/// use fused_optim::{adamax_step, AdaMaxBuffers, AdaMaxConfig, Parallelism};
/// let (mut p, g) = (vec![0.5f64; 4], vec![-1.0f64; 4]);
/// let (mut m, mut u) = (vec![0.0; 4], vec![0.0; 4]);
/// let b = AdaMaxBuffers { param: &mut p, grad: &g, exp_avg: &mut m, exp_inf: &mut u };
/// adamax_step(&AdaMaxConfig::default(), 1, b, &Parallelism::Serial)?;
/// assert!((p[0] - 0.502).abs() < 1e-9); // first step: lr·sign(−g)
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub fn adamax_step<T: Float>(
    config: &AdaMaxConfig,
    t: u64,
    buffers: AdaMaxBuffers<'_, T>,
    parallelism: &Parallelism,
) -> Result<(), Error> {
    stateless::step(config, t, buffers, parallelism)
}

stateless::stateless!(AdaMaxConfig, AdaMaxBuffers, AdaMaxCoefficients, fused_optim_kernels::adamax);

/// One AdaMax step over a whole list of tensors: the same bits as
/// [`adamax_step`] on each alone, balanced across threads by elements (see
/// [`adam_step_many`](crate::adam_step_many)). Every tensor is checked before
/// any is written; an error names the first bad tensor ([`Error::Tensor`]).
pub fn adamax_step_many<T: Float>(
    config: &AdaMaxConfig,
    t: u64,
    tensors: &mut [AdaMaxBuffers<'_, T>],
    parallelism: &Parallelism,
) -> Result<(), Error> {
    stateless::step_many(config, t, tensors, parallelism)
}
