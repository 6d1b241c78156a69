//! AdaDelta: hyperparameters, validation, the stateless step.
//!
//! The formula and the op order of the kernel are in
//! [`fused_optim_kernels::spec::adadelta`](mod@fused_optim_kernels::spec::adadelta).

use crate::driver::Parallelism;
use crate::hyper::{non_negative, optional_decay, representable, step_number, unit_interval};
use crate::stateless;
use crate::{Error, Float};
use fused_optim_kernels::{AdaDeltaBuffers, AdaDeltaCoefficients};

/// Hyperparameters of AdaDelta, with PyTorch's defaults.
///
/// ```
/// use fused_optim::AdaDeltaConfig;
/// let c = AdaDeltaConfig::default();
/// assert_eq!((c.lr, c.rho, c.eps, c.weight_decay), (1.0, 0.9, 1e-6, 0.0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaDeltaConfig {
    /// Scale of the update δ (finite, `>= 0`). Default `1.0`.
    pub lr: f64,
    /// Decay ρ of both running averages, in `[0, 1)`. Default `0.9`.
    pub rho: f64,
    /// ε inside both roots (finite, `>= 0`). Default `1e-6`.
    pub eps: f64,
    /// L2 weight decay coefficient (finite, `>= 0`; 0 is none). Default `0`.
    pub weight_decay: f64,
    /// Maximize the objective instead of minimizing it. Default off.
    pub maximize: bool,
}

impl Default for AdaDeltaConfig {
    fn default() -> Self {
        AdaDeltaConfig { lr: 1.0, rho: 0.9, eps: 1e-6, weight_decay: 0.0, maximize: false }
    }
}

impl AdaDeltaConfig {
    /// Checks every hyperparameter; the error names the first bad one.
    pub fn validate(&self) -> Result<(), Error> {
        non_negative("lr", self.lr)?;
        unit_interval("rho", self.rho)?;
        non_negative("eps", self.eps)?;
        non_negative("weight_decay", self.weight_decay)
    }

    /// The kernel's scalars, rounded once to `T`. AdaDelta has no bias
    /// correction: `t` is only checked (`>= 1`), so every step API has one shape.
    pub fn coefficients<T: Float>(&self, t: u64) -> Result<AdaDeltaCoefficients<T>, Error> {
        self.validate()?;
        step_number(t)?;
        Ok(AdaDeltaCoefficients {
            rho: T::from_f64(self.rho),
            one_minus_rho: T::from_f64(1.0 - self.rho),
            eps: representable("eps", self.eps, self.eps)?,
            lr: representable("lr", self.lr, self.lr)?,
            weight_decay: optional_decay(self.weight_decay)?,
            maximize: self.maximize,
        })
    }

    /// Bytes one element's step reads and writes: p, g, s, x read; p, s, x written.
    pub fn bytes_per_element<T: Float>(&self) -> usize {
        T::BYTES * 7
    }
}

/// One AdaDelta step over caller-owned slices. On error nothing is written.
///
/// ```
/// use fused_optim::{adadelta_step, AdaDeltaBuffers, AdaDeltaConfig, Parallelism};
/// let (mut p, g) = (vec![1.0f32; 4], vec![1.0f32; 4]);
/// let (mut s, mut x) = (vec![0.0f32; 4], vec![0.0f32; 4]);
/// let buffers = AdaDeltaBuffers { param: &mut p, grad: &g, square_avg: &mut s, acc_delta: &mut x };
/// adadelta_step(&AdaDeltaConfig::default(), 1, buffers, &Parallelism::Serial)?;
/// assert!((p[0] - (1.0 - 3.16e-3)).abs() < 1e-5); // δ = √ε/√(0.1 + ε)
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub fn adadelta_step<T: Float>(
    config: &AdaDeltaConfig,
    t: u64,
    buffers: AdaDeltaBuffers<'_, T>,
    parallelism: &Parallelism,
) -> Result<(), Error> {
    stateless::step(config, t, buffers, parallelism)
}

/// One AdaDelta step over a list of tensors: the same bits as
/// [`adadelta_step`] on each alone (see [`adam_step_many`](crate::adam_step_many)).
pub fn adadelta_step_many<T: Float>(
    config: &AdaDeltaConfig,
    t: u64,
    tensors: &mut [AdaDeltaBuffers<'_, T>],
    parallelism: &Parallelism,
) -> Result<(), Error> {
    stateless::step_many(config, t, tensors, parallelism)
}

stateless::stateless!(AdaDeltaConfig, AdaDeltaBuffers, AdaDeltaCoefficients, fused_optim_kernels::adadelta);
