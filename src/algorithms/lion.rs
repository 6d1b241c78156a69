//! Lion: hyperparameters, validation, coefficients, state.
//!
//! The formula, the op order and the NaN rule of the kernel are in
//! [`fused_optim_kernels::spec::lion`](mod@fused_optim_kernels::spec::lion).

use super::descriptor::{Algorithm, StateBuffer, StateSlots};
use crate::hyper::{non_negative, representable, step_number, unit_interval};
use crate::{Error, Float};
use fused_optim_kernels::{Checked, Reborrow};
use fused_optim_kernels::{LionBuffers, LionCoefficients};

/// Hyperparameters of Lion (Chen et al. 2023), with lion-pytorch's defaults.
///
/// Weight decay is decoupled (`p *= 1 − lr·wd`, as AdamW's). Lion's update
/// has the size `lr` in every coordinate, so its `lr` is usually 3–10×
/// smaller than AdamW's, and its `weight_decay` as much larger.
///
/// ```
/// use fused_optim::LionConfig;
/// let c = LionConfig::default();
/// assert_eq!((c.lr, c.betas, c.weight_decay, c.maximize), (1e-4, (0.9, 0.99), 0.0, false));
/// assert!(LionConfig { betas: (0.9, 1.0), ..c }.validate().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LionConfig {
    /// Learning rate: the size of every coordinate's step (finite, `>= 0`). Default `1e-4`.
    pub lr: f64,
    /// (β1, β2), each in `[0, 1)`: β1 interpolates the update's direction,
    /// β2 decays the momentum. Default `(0.9, 0.99)`.
    pub betas: (f64, f64),
    /// Decoupled weight decay coefficient (finite, `>= 0`; 0 is none). Default `0`.
    pub weight_decay: f64,
    /// Maximize the objective instead of minimizing it. Default off.
    pub maximize: bool,
}

impl Default for LionConfig {
    fn default() -> Self {
        LionConfig { lr: 1e-4, betas: (0.9, 0.99), weight_decay: 0.0, maximize: false }
    }
}

impl LionConfig {
    /// Checks every hyperparameter; the error names the first bad one.
    pub fn validate(&self) -> Result<(), Error> {
        non_negative("lr", self.lr)?;
        unit_interval("beta1", self.betas.0)?;
        unit_interval("beta2", self.betas.1)?;
        non_negative("weight_decay", self.weight_decay)
    }

    /// The kernel's scalars, rounded once to `T`; the decay factor
    /// `1 − lr·wd` is computed in `f64` first. Lion has no bias correction:
    /// `t` is only checked (`>= 1`), so every step API has one shape. A
    /// finite hyperparameter whose scalar overflows `T` (lr above about
    /// 3.4e38 for f32, `1 − lr·wd` beyond it) is refused, naming it.
    pub fn coefficients<T: Float>(&self, t: u64) -> Result<LionCoefficients<T>, Error> {
        self.validate()?;
        step_number(t)?;
        let (beta1, beta2) = self.betas;
        let decay_factor = match self.weight_decay {
            0.0 => None,
            wd => Some(representable("weight_decay", wd, 1.0 - self.lr * wd)?),
        };
        Ok(LionCoefficients {
            beta1: T::from_f64(beta1),
            one_minus_beta1: T::from_f64(1.0 - beta1),
            beta2: T::from_f64(beta2),
            one_minus_beta2: T::from_f64(1.0 - beta2),
            lr: representable("lr", self.lr, self.lr)?,
            decay_factor,
            grad_scale: T::ONE,
            maximize: self.maximize,
        })
    }
}

/// Lion's state: the momentum.
#[derive(Clone, Debug, PartialEq)]
pub struct LionState<T> {
    /// Momentum m (`exp_avg` in lion-pytorch).
    pub exp_avg: Vec<T>,
}

/// [`LionState`]'s buffer, lent as a slice ([`Optimizer::state_mut`](crate::Optimizer::state_mut)).
#[derive(Debug)]
pub struct LionStateMut<'a, T> {
    /// Momentum m (`exp_avg` in lion-pytorch).
    pub exp_avg: &'a mut [T],
}

/// Bit 1 of the checkpoint flags (maximize, as for every algorithm).
const MAXIMIZE: u32 = 1 << 1;

impl Algorithm for LionConfig {
    const NAME: &'static str = "Lion";
    const CHECKPOINT_ID: u32 = 6;
    const STATE: &'static [StateBuffer] = &[StateBuffer::always("exp_avg")];

    type Coefficients<T: Float> = LionCoefficients<T>;
    type Buffers<'a, T: Float> = LionBuffers<'a, T>;
    type State<T: Float> = LionState<T>;
    type StateMut<'a, T: Float + 'a> = LionStateMut<'a, T>;

    fn validate(&self) -> Result<(), Error> {
        LionConfig::validate(self)
    }

    fn coefficients<T: Float>(&self, t: u64) -> Result<LionCoefficients<T>, Error> {
        LionConfig::coefficients(self, t)
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn with_lr(&self, lr: f64) -> Self {
        LionConfig { lr, ..*self }
    }

    fn encode(&self) -> (u32, [f64; 8]) {
        let h = [self.lr, self.betas.0, self.betas.1, self.weight_decay, 0.0, 0.0, 0.0, 0.0];
        (if self.maximize { MAXIMIZE } else { 0 }, h)
    }

    fn decode(flags: u32, [lr, b1, b2, weight_decay, ..]: [f64; 8]) -> Result<Self, &'static str> {
        Ok(LionConfig { lr, betas: (b1, b2), weight_decay, maximize: flags & MAXIMIZE != 0 })
    }

    fn state_from<T: Float>([m, _, _]: [Option<Vec<T>>; 3]) -> Option<LionState<T>> {
        Some(LionState { exp_avg: m? })
    }

    fn state_slices<T: Float>(s: &LionState<T>) -> [Option<&[T]>; 3] {
        [Some(&s.exp_avg), None, None]
    }

    fn view_mut<T: Float>(s: &mut LionState<T>) -> LionStateMut<'_, T> {
        LionStateMut { exp_avg: &mut s.exp_avg }
    }

    fn slots<'a, T: Float + 'a>(s: LionStateMut<'a, T>) -> StateSlots<'a, T> {
        [Some(s.exp_avg), None, None]
    }

    fn buffers<'a, T: Float>(
        param: &'a mut [T],
        grad: &'a [T],
        [m, _, _]: StateSlots<'a, T>,
    ) -> Option<LionBuffers<'a, T>> {
        Some(LionBuffers { param, grad, exp_avg: m? })
    }

    fn grad<'s, T: Float>(b: &'s LionBuffers<'_, T>) -> &'s [T] {
        b.grad
    }

    fn given<T: Float>(_: &LionBuffers<'_, T>) -> [bool; 3] {
        [true, false, false]
    }

    fn reborrow<'s, T: Float>(b: &'s mut LionBuffers<'_, T>) -> LionBuffers<'s, T> {
        Reborrow::reborrow(b)
    }

    fn kernel<T: Float>(b: Checked<LionBuffers<'_, T>>, c: &LionCoefficients<T>) {
        fused_optim_kernels::lion_checked(b, c)
    }
}
