//! AdaMax's operands (the essay: [`crate::spec::adamax`](mod@crate::spec::adamax)).

use super::buffers::{Dense, MAX_NAMED, Parts, Reborrow};

/// The per-step scalars of AdaMax, already rounded to the element type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaMaxCoefficients<T> {
    /// β1.
    pub beta1: T,
    /// 1 − β1.
    pub one_minus_beta1: T,
    /// β2.
    pub beta2: T,
    /// ε.
    pub eps: T,
    /// `clr = lr/(1 − β1^t)`.
    pub step_size: T,
    /// L2 weight decay coefficient (`None`: no decay).
    pub weight_decay: Option<T>,
    /// The gradient's multiplier, applied before anything else: the
    /// clip coefficient of a step with gradient-norm clipping, 1 without.
    pub grad_scale: T,
    /// Ascend instead of descend (`g = −g`).
    pub maximize: bool,
}

/// The buffers of one AdaMax step, all of one length.
#[derive(Debug)]
pub struct AdaMaxBuffers<'a, T> {
    /// Parameters θ, updated in place.
    pub param: &'a mut [T],
    /// Gradient g, read only.
    pub grad: &'a [T],
    /// First moment m, updated in place.
    pub exp_avg: &'a mut [T],
    /// Exponentially weighted infinity norm u, updated in place.
    pub exp_inf: &'a mut [T],
}

impl<'a, T> Dense<'a> for AdaMaxBuffers<'a, T> {
    type Elem = T;
    type State = [&'a mut [T]; 2];
    const ALGORITHM: &'static str = "AdaMax";
    const NAMES: &'static [&'static str] = &["grad", "exp_avg", "exp_inf"];

    fn param(&self) -> &[T] {
        self.param
    }
    fn lengths(&self) -> [Option<usize>; MAX_NAMED] {
        [Some(self.grad.len()), Some(self.exp_avg.len()), Some(self.exp_inf.len()), None]
    }
    fn into_parts(self) -> Parts<'a, T, Self::State> {
        Parts { param: self.param, grad: self.grad, state: [self.exp_avg, self.exp_inf] }
    }
    fn from_parts(Parts { param, grad, state: [exp_avg, exp_inf] }: Parts<'a, T, Self::State>) -> Self {
        AdaMaxBuffers { param, grad, exp_avg, exp_inf }
    }
}

impl<T> Reborrow for AdaMaxBuffers<'_, T> {
    type Short<'b>
        = AdaMaxBuffers<'b, T>
    where
        Self: 'b;

    fn reborrow(&mut self) -> AdaMaxBuffers<'_, T> {
        AdaMaxBuffers { param: self.param, grad: self.grad, exp_avg: self.exp_avg, exp_inf: self.exp_inf }
    }
}
