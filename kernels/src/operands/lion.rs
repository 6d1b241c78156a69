//! Lion's operands (the essay: [`crate::spec::lion`](mod@crate::spec::lion)).

use super::buffers::{Dense, MAX_NAMED, Parts, Reborrow};

/// The per-step scalars of Lion, already rounded to the element type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LionCoefficients<T> {
    /// β1 (the interpolation that gives the update's sign).
    pub beta1: T,
    /// 1 − β1.
    pub one_minus_beta1: T,
    /// β2 (the momentum's decay).
    pub beta2: T,
    /// 1 − β2.
    pub one_minus_beta2: T,
    /// The learning rate: every element moves by exactly `lr` (or not at all).
    pub lr: T,
    /// Decoupled weight decay: `p *= factor` with `factor = 1 − lr·wd`
    /// (`None`: no decay).
    pub decay_factor: Option<T>,
    /// The gradient's multiplier, applied before anything else: the
    /// clip coefficient of a step with gradient-norm clipping, 1 without.
    pub grad_scale: T,
    /// Ascend instead of descend (`g = −g`).
    pub maximize: bool,
}

/// The buffers of one Lion step, all of one length.
#[derive(Debug)]
pub struct LionBuffers<'a, T> {
    /// Parameters θ, updated in place.
    pub param: &'a mut [T],
    /// Gradient g, read only.
    pub grad: &'a [T],
    /// Momentum m (`exp_avg` in lion-pytorch), updated in place.
    pub exp_avg: &'a mut [T],
}

impl<'a, T> Dense<'a> for LionBuffers<'a, T> {
    type Elem = T;
    type State = &'a mut [T];
    const ALGORITHM: &'static str = "Lion";
    const NAMES: &'static [&'static str] = &["grad", "exp_avg"];

    fn param(&self) -> &[T] {
        self.param
    }
    fn lengths(&self) -> [Option<usize>; MAX_NAMED] {
        [Some(self.grad.len()), Some(self.exp_avg.len()), None, None]
    }
    fn into_parts(self) -> Parts<'a, T, Self::State> {
        Parts { param: self.param, grad: self.grad, state: self.exp_avg }
    }
    fn from_parts(Parts { param, grad, state: exp_avg }: Parts<'a, T, Self::State>) -> Self {
        LionBuffers { param, grad, exp_avg }
    }
}

impl<T> Reborrow for LionBuffers<'_, T> {
    type Short<'b>
        = LionBuffers<'b, T>
    where
        Self: 'b;

    fn reborrow(&mut self) -> LionBuffers<'_, T> {
        LionBuffers { param: self.param, grad: self.grad, exp_avg: self.exp_avg }
    }
}
