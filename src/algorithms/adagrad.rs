//! AdaGrad: hyperparameters, validation, coefficients, state.
//!
//! The formula and the op order of the kernel are in
//! [`fused_optim_kernels::spec::adagrad`](mod@fused_optim_kernels::spec::adagrad).

use super::descriptor::{Algorithm, StateBuffer, StateSlots};
use crate::hyper::{non_negative, optional_decay, representable, step_number};
use crate::{Error, Float};
use fused_optim_kernels::{AdaGradBuffers, AdaGradCoefficients};
use fused_optim_kernels::{Checked, Reborrow};

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
            grad_scale: T::ONE,
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
}

/// AdaGrad's state: the sum of squared gradients.
#[derive(Clone, Debug, PartialEq)]
pub struct AdaGradState<T> {
    /// Sum of squared gradients s (`sum` in PyTorch), starting at `initial_accumulator_value`.
    pub sum: Vec<T>,
}

/// [`AdaGradState`]'s buffer, lent as a slice ([`Optimizer::state_mut`](crate::Optimizer::state_mut)).
#[derive(Debug)]
pub struct AdaGradStateMut<'a, T> {
    /// Sum of squared gradients s (`sum` in PyTorch).
    pub sum: &'a mut [T],
}

impl Algorithm for AdaGradConfig {
    const NAME: &'static str = "AdaGrad";
    const CHECKPOINT_ID: u32 = 3;
    const STATE: &'static [StateBuffer] = &[StateBuffer::always("sum")];

    type Coefficients<T: Float> = AdaGradCoefficients<T>;
    type Buffers<'a, T: Float> = AdaGradBuffers<'a, T>;
    type State<T: Float> = AdaGradState<T>;
    type StateMut<'a, T: Float + 'a> = AdaGradStateMut<'a, T>;

    fn validate(&self) -> Result<(), Error> {
        AdaGradConfig::validate(self)
    }

    fn coefficients<T: Float>(&self, t: u64) -> Result<AdaGradCoefficients<T>, Error> {
        AdaGradConfig::coefficients(self, t)
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn with_lr(&self, lr: f64) -> Self {
        AdaGradConfig { lr, ..*self }
    }

    fn initial_value<T: Float>(&self) -> Result<T, Error> {
        self.initial_sum()
    }

    fn encode(&self) -> (u32, [f64; 8]) {
        let c = self;
        let h = [c.lr, c.lr_decay, c.weight_decay, c.initial_accumulator_value, c.eps, 0.0, 0.0, 0.0];
        ((self.maximize as u32) << 1, h)
    }

    fn decode(
        flags: u32,
        [lr, lr_decay, weight_decay, initial, eps, ..]: [f64; 8],
    ) -> Result<Self, &'static str> {
        let maximize = flags & (1 << 1) != 0;
        Ok(AdaGradConfig { lr, lr_decay, weight_decay, initial_accumulator_value: initial, eps, maximize })
    }

    fn state_from<T: Float>([sum, ..]: [Option<Vec<T>>; 3]) -> Option<AdaGradState<T>> {
        Some(AdaGradState { sum: sum? })
    }

    fn state_slices<T: Float>(s: &AdaGradState<T>) -> [Option<&[T]>; 3] {
        [Some(&s.sum), None, None]
    }

    fn view_mut<T: Float>(s: &mut AdaGradState<T>) -> AdaGradStateMut<'_, T> {
        AdaGradStateMut { sum: &mut s.sum }
    }

    fn slots<'a, T: Float + 'a>(s: AdaGradStateMut<'a, T>) -> StateSlots<'a, T> {
        [Some(s.sum), None, None]
    }

    fn buffers<'a, T: Float>(
        param: &'a mut [T],
        grad: &'a [T],
        [sum, ..]: StateSlots<'a, T>,
    ) -> Option<AdaGradBuffers<'a, T>> {
        Some(AdaGradBuffers { param, grad, sum: sum? })
    }

    fn given<T: Float>(_: &AdaGradBuffers<'_, T>) -> [bool; 3] {
        [true, false, false]
    }

    fn grad<'s, T: Float>(b: &'s AdaGradBuffers<'_, T>) -> &'s [T] {
        b.grad
    }

    fn reborrow<'s, T: Float>(b: &'s mut AdaGradBuffers<'_, T>) -> AdaGradBuffers<'s, T> {
        Reborrow::reborrow(b)
    }

    fn kernel<T: Float>(b: Checked<AdaGradBuffers<'_, T>>, c: &AdaGradCoefficients<T>) {
        fused_optim_kernels::adagrad_checked(b, c)
    }
}
