//! RMSprop: hyperparameters, validation, coefficients, state.
//!
//! The formula and the op order of the kernel are in
//! [`fused_optim_kernels::spec::rmsprop`](mod@fused_optim_kernels::spec::rmsprop).

use super::descriptor::{Algorithm, StateBuffer, StateSlots};
use crate::hyper::{non_negative, optional_decay, representable, step_number, unit_interval};
use crate::{Error, Float};
use fused_optim_kernels::{Checked, Reborrow};
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
            grad_scale: T::ONE,
            maximize: self.maximize,
        })
    }
}

/// RMSprop's state: the mean square and, with their options, the momentum
/// buffer and the mean gradient.
#[derive(Clone, Debug, PartialEq)]
pub struct RmsPropState<T> {
    /// Running average of squared gradients v (`square_avg` in PyTorch).
    pub square_avg: Vec<T>,
    /// Momentum buffer (`momentum_buffer`), with momentum > 0 only.
    pub momentum_buffer: Option<Vec<T>>,
    /// Running average of gradients (`grad_avg`), when centered only.
    pub grad_avg: Option<Vec<T>>,
}

/// [`RmsPropState`]'s buffers, lent as slices ([`Optimizer::state_mut`](crate::Optimizer::state_mut)).
///
/// Replacing a field of the view changes the view, not the optimizer.
#[derive(Debug)]
pub struct RmsPropStateMut<'a, T> {
    /// Running average of squared gradients v (`square_avg` in PyTorch).
    pub square_avg: &'a mut [T],
    /// Momentum buffer (`momentum_buffer`), with momentum > 0 only.
    pub momentum_buffer: Option<&'a mut [T]>,
    /// Running average of gradients (`grad_avg`), when centered only.
    pub grad_avg: Option<&'a mut [T]>,
}

impl Algorithm for RmsPropConfig {
    const NAME: &'static str = "RMSprop";
    const CHECKPOINT_ID: u32 = 4;
    const STATE: &'static [StateBuffer] = &[
        StateBuffer::always("square_avg"),
        StateBuffer::with("momentum_buffer", "momentum"),
        StateBuffer::with("grad_avg", "centered"),
    ];

    type Coefficients<T: Float> = RmsPropCoefficients<T>;
    type Buffers<'a, T: Float> = RmsPropBuffers<'a, T>;
    type State<T: Float> = RmsPropState<T>;
    type StateMut<'a, T: Float + 'a> = RmsPropStateMut<'a, T>;

    fn validate(&self) -> Result<(), Error> {
        RmsPropConfig::validate(self)
    }

    fn coefficients<T: Float>(&self, t: u64) -> Result<RmsPropCoefficients<T>, Error> {
        RmsPropConfig::coefficients(self, t)
    }

    fn keeps(&self, index: usize) -> bool {
        match index {
            1 => self.momentum > 0.0,
            2 => self.centered,
            _ => true,
        }
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn with_lr(&self, lr: f64) -> Self {
        RmsPropConfig { lr, ..*self }
    }

    fn encode(&self) -> (u32, [f64; 8]) {
        let flags = (self.maximize as u32) << 1 | (self.centered as u32) << 3;
        (flags, [self.lr, self.alpha, self.eps, self.weight_decay, self.momentum, 0.0, 0.0, 0.0])
    }

    fn decode(
        flags: u32,
        [lr, alpha, eps, weight_decay, momentum, ..]: [f64; 8],
    ) -> Result<Self, &'static str> {
        let (maximize, centered) = (flags & (1 << 1) != 0, flags & (1 << 3) != 0);
        Ok(RmsPropConfig { lr, alpha, eps, weight_decay, momentum, centered, maximize })
    }

    fn state_from<T: Float>([v, b, a]: [Option<Vec<T>>; 3]) -> Option<RmsPropState<T>> {
        Some(RmsPropState { square_avg: v?, momentum_buffer: b, grad_avg: a })
    }

    fn optional_mut<T: Float>(s: &mut RmsPropState<T>) -> [Option<&mut Option<Vec<T>>>; 3] {
        [None, Some(&mut s.momentum_buffer), Some(&mut s.grad_avg)]
    }

    fn state_slices<T: Float>(s: &RmsPropState<T>) -> [Option<&[T]>; 3] {
        [Some(&s.square_avg), s.momentum_buffer.as_deref(), s.grad_avg.as_deref()]
    }

    fn view_mut<T: Float>(s: &mut RmsPropState<T>) -> RmsPropStateMut<'_, T> {
        RmsPropStateMut {
            square_avg: &mut s.square_avg,
            momentum_buffer: s.momentum_buffer.as_deref_mut(),
            grad_avg: s.grad_avg.as_deref_mut(),
        }
    }

    fn slots<'a, T: Float + 'a>(s: RmsPropStateMut<'a, T>) -> StateSlots<'a, T> {
        [Some(s.square_avg), s.momentum_buffer, s.grad_avg]
    }

    fn buffers<'a, T: Float>(
        param: &'a mut [T],
        grad: &'a [T],
        [v, b, a]: StateSlots<'a, T>,
    ) -> Option<RmsPropBuffers<'a, T>> {
        Some(RmsPropBuffers { param, grad, square_avg: v?, momentum_buffer: b, grad_avg: a })
    }

    fn given<T: Float>(b: &RmsPropBuffers<'_, T>) -> [bool; 3] {
        [true, b.momentum_buffer.is_some(), b.grad_avg.is_some()]
    }

    fn grad<'s, T: Float>(b: &'s RmsPropBuffers<'_, T>) -> &'s [T] {
        b.grad
    }

    fn reborrow<'s, T: Float>(b: &'s mut RmsPropBuffers<'_, T>) -> RmsPropBuffers<'s, T> {
        Reborrow::reborrow(b)
    }

    fn kernel<T: Float>(b: Checked<RmsPropBuffers<'_, T>>, c: &RmsPropCoefficients<T>) {
        fused_optim_kernels::rmsprop_checked(b, c)
    }
}
