//! RMSprop: hyperparameters, validation, the stateless step.
//!
//! The formula and the op order of the kernel are in
//! [`fused_optim_kernels::spec::rmsprop`](mod@fused_optim_kernels::spec::rmsprop).

use crate::driver::Parallelism;
use crate::hyper::{non_negative, optional_decay, representable, step_number, unit_interval};
use crate::stateless::{self, option_buffer};
use crate::{Error, Float};
use fused_optim_kernels::{RmsPropBuffers, RmsPropCoefficients};

/// Hyperparameters of RMSprop, with PyTorch's defaults.
///
/// ```
/// use fused_optim::RmsPropConfig;
/// let c = RmsPropConfig::default();
/// assert_eq!((c.lr, c.alpha, c.eps, c.momentum, c.centered), (1e-2, 0.99, 1e-8, 0.0, false));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsPropConfig {
    /// Learning rate (finite, `>= 0`). Default `1e-2`.
    pub lr: f64,
    /// Smoothing constant α of the running averages, in `[0, 1)`. Default `0.99`.
    pub alpha: f64,
    /// ε added to the root (finite, `>= 0`). Default `1e-8`.
    pub eps: f64,
    /// L2 weight decay coefficient (finite, `>= 0`; 0 is none). Default `0`.
    pub weight_decay: f64,
    /// Momentum μ (finite, `>= 0`); above 0 the step needs a `momentum_buffer`. Default `0`.
    pub momentum: f64,
    /// Centered RMSprop: divide by an estimate of the gradient's standard
    /// deviation instead of its root mean square (needs a `grad_avg` buffer). Default off.
    pub centered: bool,
    /// Maximize the objective instead of minimizing it. Default off.
    pub maximize: bool,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        RmsPropConfig {
            lr: 1e-2,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            maximize: false,
        }
    }
}

impl RmsPropConfig {
    /// Checks every hyperparameter; the error names the first bad one.
    pub fn validate(&self) -> Result<(), Error> {
        non_negative("lr", self.lr)?;
        unit_interval("alpha", self.alpha)?;
        non_negative("eps", self.eps)?;
        non_negative("weight_decay", self.weight_decay)?;
        non_negative("momentum", self.momentum)
    }

    /// The kernel's scalars, rounded once to `T`. RMSprop has no bias
    /// correction: `t` is only checked (`>= 1`), so every step API has one shape.
    pub fn coefficients<T: Float>(&self, t: u64) -> Result<RmsPropCoefficients<T>, Error> {
        self.validate()?;
        step_number(t)?;
        Ok(RmsPropCoefficients {
            alpha: T::from_f64(self.alpha),
            one_minus_alpha: T::from_f64(1.0 - self.alpha),
            eps: representable("eps", self.eps, self.eps)?,
            lr: representable("lr", self.lr, self.lr)?,
            momentum: representable("momentum", self.momentum, self.momentum)?,
            weight_decay: optional_decay(self.weight_decay)?,
            maximize: self.maximize,
        })
    }

    /// Bytes one element's step reads and writes: p, g, v read and p, v
    /// written, plus the momentum buffer and the gradient average, each read
    /// and written, when their options are on.
    pub fn bytes_per_element<T: Float>(&self) -> usize {
        T::BYTES * (5 + 2 * (self.momentum > 0.0) as usize + 2 * self.centered as usize)
    }
}

/// One RMSprop step over caller-owned slices. `momentum_buffer` must be
/// given exactly when `momentum > 0`, `grad_avg` exactly when `centered`.
/// On error nothing is written.
///
/// ```
/// use fused_optim::{rmsprop_step, RmsPropBuffers, RmsPropConfig, Parallelism};
/// let config = RmsPropConfig { momentum: 0.9, centered: true, ..RmsPropConfig::default() };
/// let (mut p, g) = (vec![1.0f64; 4], vec![0.5f64; 4]);
/// let (mut v, mut b, mut a) = (vec![0.0; 4], vec![0.0; 4], vec![0.0; 4]);
/// let buffers = RmsPropBuffers { param: &mut p, grad: &g, square_avg: &mut v,
///                                momentum_buffer: Some(&mut b), grad_avg: Some(&mut a) };
/// rmsprop_step(&config, 1, buffers, &Parallelism::Serial)?;
/// assert!(p[0] < 1.0);
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub fn rmsprop_step<T: Float>(
    config: &RmsPropConfig,
    t: u64,
    buffers: RmsPropBuffers<'_, T>,
    parallelism: &Parallelism,
) -> Result<(), Error> {
    stateless::step(config, t, buffers, parallelism)
}

/// One RMSprop step over a list of tensors: the same bits as [`rmsprop_step`]
/// on each alone (see [`adam_step_many`](crate::adam_step_many)).
pub fn rmsprop_step_many<T: Float>(
    config: &RmsPropConfig,
    t: u64,
    tensors: &mut [RmsPropBuffers<'_, T>],
    parallelism: &Parallelism,
) -> Result<(), Error> {
    stateless::step_many(config, t, tensors, parallelism)
}

stateless::stateless!(RmsPropConfig, RmsPropBuffers, RmsPropCoefficients, fused_optim_kernels::rmsprop, check: |c, b| {
    option_buffer("momentum", c.momentum > 0.0, "momentum_buffer", b.momentum_buffer.is_some())?;
    option_buffer("centered", c.centered, "grad_avg", b.grad_avg.is_some())
});
