//! AdaGrad: hyperparameters, validation, the stateless step.
//!
//! The formula and the op order of the kernel are in
//! [`fused_optim_kernels::spec::adagrad`](mod@fused_optim_kernels::spec::adagrad).

use crate::driver::Parallelism;
use crate::hyper::{non_negative, optional_decay, representable, step_number};
use crate::stateless;
use crate::{Error, Float};
use fused_optim_kernels::{AdaGradBuffers, AdaGradCoefficients};

/// Hyperparameters of AdaGrad, with PyTorch's defaults.
///
/// ```
/// use fused_optim::AdaGradConfig;
/// let c = AdaGradConfig::default();
/// assert_eq!((c.lr, c.lr_decay, c.initial_accumulator_value, c.eps), (1e-2, 0.0, 0.0, 1e-10));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaGradConfig {
    /// Learning rate (finite, `>= 0`). Default `1e-2`.
    pub lr: f64,
    /// Learning-rate decay: step `t` uses `lr/(1 + (t − 1)·lr_decay)` (finite, `>= 0`). Default `0`.
    pub lr_decay: f64,
    /// L2 weight decay coefficient (finite, `>= 0`; 0 is none). Default `0`.
    pub weight_decay: f64,
    /// The value the sum of squares starts at (finite, `>= 0`). Default `0`.
    pub initial_accumulator_value: f64,
    /// ε added to `√s` (finite, `>= 0`). Default `1e-10`.
    pub eps: f64,
    /// Maximize the objective instead of minimizing it. Default off.
    pub maximize: bool,
}

impl Default for AdaGradConfig {
    fn default() -> Self {
        AdaGradConfig {
            lr: 1e-2,
            lr_decay: 0.0,
            weight_decay: 0.0,
            initial_accumulator_value: 0.0,
            eps: 1e-10,
            maximize: false,
        }
    }
}

impl AdaGradConfig {
    /// Checks every hyperparameter; the error names the first bad one.
    pub fn validate(&self) -> Result<(), Error> {
        non_negative("lr", self.lr)?;
        non_negative("lr_decay", self.lr_decay)?;
        non_negative("weight_decay", self.weight_decay)?;
        non_negative("initial_accumulator_value", self.initial_accumulator_value)?;
        non_negative("eps", self.eps)
    }

    /// The kernel's per-step scalars for step `t`: `clr = lr/(1 + (t − 1)·lr_decay)`
    /// in `f64`, everything rounded once to `T`.
    pub fn coefficients<T: Float>(&self, t: u64) -> Result<AdaGradCoefficients<T>, Error> {
        self.validate()?;
        step_number(t)?;
        let clr = self.lr / (1.0 + (t - 1) as f64 * self.lr_decay);
        Ok(AdaGradCoefficients {
            step_size: representable("lr", self.lr, clr)?,
            eps: representable("eps", self.eps, self.eps)?,
            weight_decay: optional_decay(self.weight_decay)?,
            maximize: self.maximize,
        })
    }

    /// The sum's starting value in `T`, or an error if it overflows `T`.
    pub fn initial_sum<T: Float>(&self) -> Result<T, Error> {
        representable(
            "initial_accumulator_value",
            self.initial_accumulator_value,
            self.initial_accumulator_value,
        )
    }

    /// Bytes one element's step reads and writes: p, g, s read; p, s written.
    pub fn bytes_per_element<T: Float>(&self) -> usize {
        T::BYTES * 5
    }
}

/// One AdaGrad step over caller-owned slices. `t` is the step number after
/// increment (the first update is `t = 1`; it matters only with `lr_decay`).
/// The `sum` buffer starts at [`AdaGradConfig::initial_accumulator_value`].
/// On error nothing is written.
///
/// ```
/// use fused_optim::{adagrad_step, AdaGradBuffers, AdaGradConfig, Parallelism};
/// let (mut p, g, mut s) = (vec![1.0f32; 4], vec![3.0f32; 4], vec![0.0f32; 4]);
/// adagrad_step(&AdaGradConfig::default(), 1, AdaGradBuffers { param: &mut p, grad: &g, sum: &mut s },
///              &Parallelism::Serial)?;
/// assert_eq!(s[0], 9.0);
/// assert!((p[0] - 0.99).abs() < 1e-6); // first step: lr·g/|g|
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub fn adagrad_step<T: Float>(
    config: &AdaGradConfig,
    t: u64,
    buffers: AdaGradBuffers<'_, T>,
    parallelism: &Parallelism,
) -> Result<(), Error> {
    stateless::step(config, t, buffers, parallelism)
}

/// One AdaGrad step over a list of tensors: the same bits as [`adagrad_step`]
/// on each alone (see [`adam_step_many`](crate::adam_step_many)).
pub fn adagrad_step_many<T: Float>(
    config: &AdaGradConfig,
    t: u64,
    tensors: &mut [AdaGradBuffers<'_, T>],
    parallelism: &Parallelism,
) -> Result<(), Error> {
    stateless::step_many(config, t, tensors, parallelism)
}

stateless::stateless!(AdaGradConfig, AdaGradBuffers, AdaGradCoefficients, fused_optim_kernels::adagrad);
