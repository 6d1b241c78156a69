//! AdaDelta: hyperparameters, validation, coefficients, state.
//!
//! The formula and the op order of the kernel are in
//! [`fused_optim_kernels::spec::adadelta`](mod@fused_optim_kernels::spec::adadelta).

use super::descriptor::{Algorithm, StateBuffer, StateSlots};
use crate::hyper::{non_negative, optional_decay, representable, step_number, unit_interval};
use crate::{Error, Float};
use fused_optim_kernels::{AdaDeltaBuffers, AdaDeltaCoefficients};
use fused_optim_kernels::{Checked, Reborrow};

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
            grad_scale: T::ONE,
            maximize: self.maximize,
        })
    }
}

/// AdaDelta's state: the running averages of squared gradients and updates.
#[derive(Clone, Debug, PartialEq)]
pub struct AdaDeltaState<T> {
    /// Running average of squared gradients (`square_avg` in PyTorch).
    pub square_avg: Vec<T>,
    /// Running average of squared updates (`acc_delta`).
    pub acc_delta: Vec<T>,
}

/// [`AdaDeltaState`]'s buffers, lent as slices ([`Optimizer::state_mut`](crate::Optimizer::state_mut)).
#[derive(Debug)]
pub struct AdaDeltaStateMut<'a, T> {
    /// Running average of squared gradients (`square_avg` in PyTorch).
    pub square_avg: &'a mut [T],
    /// Running average of squared updates (`acc_delta`).
    pub acc_delta: &'a mut [T],
}

impl Algorithm for AdaDeltaConfig {
    const NAME: &'static str = "AdaDelta";
    const CHECKPOINT_ID: u32 = 5;
    const STATE: &'static [StateBuffer] =
        &[StateBuffer::always("square_avg"), StateBuffer::always("acc_delta")];

    type Coefficients<T: Float> = AdaDeltaCoefficients<T>;
    type Buffers<'a, T: Float> = AdaDeltaBuffers<'a, T>;
    type State<T: Float> = AdaDeltaState<T>;
    type StateMut<'a, T: Float + 'a> = AdaDeltaStateMut<'a, T>;

    fn validate(&self) -> Result<(), Error> {
        AdaDeltaConfig::validate(self)
    }

    fn coefficients<T: Float>(&self, t: u64) -> Result<AdaDeltaCoefficients<T>, Error> {
        AdaDeltaConfig::coefficients(self, t)
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn with_lr(&self, lr: f64) -> Self {
        AdaDeltaConfig { lr, ..*self }
    }

    fn encode(&self) -> (u32, [f64; 8]) {
        ((self.maximize as u32) << 1, [self.lr, self.rho, self.eps, self.weight_decay, 0.0, 0.0, 0.0, 0.0])
    }

    fn decode(flags: u32, [lr, rho, eps, weight_decay, ..]: [f64; 8]) -> Result<Self, &'static str> {
        Ok(AdaDeltaConfig { lr, rho, eps, weight_decay, maximize: flags & (1 << 1) != 0 })
    }

    fn state_from<T: Float>([v, d, _]: [Option<Vec<T>>; 3]) -> Option<AdaDeltaState<T>> {
        Some(AdaDeltaState { square_avg: v?, acc_delta: d? })
    }

    fn state_slices<T: Float>(s: &AdaDeltaState<T>) -> [Option<&[T]>; 3] {
        [Some(&s.square_avg), Some(&s.acc_delta), None]
    }

    fn view_mut<T: Float>(s: &mut AdaDeltaState<T>) -> AdaDeltaStateMut<'_, T> {
        AdaDeltaStateMut { square_avg: &mut s.square_avg, acc_delta: &mut s.acc_delta }
    }

    fn slots<'a, T: Float + 'a>(s: AdaDeltaStateMut<'a, T>) -> StateSlots<'a, T> {
        [Some(s.square_avg), Some(s.acc_delta), None]
    }

    fn buffers<'a, T: Float>(
        param: &'a mut [T],
        grad: &'a [T],
        [v, d, _]: StateSlots<'a, T>,
    ) -> Option<AdaDeltaBuffers<'a, T>> {
        Some(AdaDeltaBuffers { param, grad, square_avg: v?, acc_delta: d? })
    }

    fn given<T: Float>(_: &AdaDeltaBuffers<'_, T>) -> [bool; 3] {
        [true, true, false]
    }

    fn grad<'s, T: Float>(b: &'s AdaDeltaBuffers<'_, T>) -> &'s [T] {
        b.grad
    }

    fn reborrow<'s, T: Float>(b: &'s mut AdaDeltaBuffers<'_, T>) -> AdaDeltaBuffers<'s, T> {
        Reborrow::reborrow(b)
    }

    fn kernel<T: Float>(b: Checked<AdaDeltaBuffers<'_, T>>, c: &AdaDeltaCoefficients<T>) {
        fused_optim_kernels::adadelta_checked(b, c)
    }
}
