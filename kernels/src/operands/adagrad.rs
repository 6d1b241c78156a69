//! AdaGrad's operands (the essay: [`crate::spec::adagrad`](mod@crate::spec::adagrad)).

use super::buffers::{Dense, MAX_NAMED, Parts, Reborrow};

/// The per-step scalars of AdaGrad, already rounded to the element type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaGradCoefficients<T> {
    /// `clr = lr/(1 + (t − 1)·lr_decay)`.
    pub step_size: T,
    /// ε.
    pub eps: T,
    /// L2 weight decay coefficient (`None`: no decay).
    pub weight_decay: Option<T>,
    /// The gradient's multiplier, applied before anything else: the
    /// clip coefficient of a step with gradient-norm clipping, 1 without.
    pub grad_scale: T,
    /// Ascend instead of descend (`g = −g`).
    pub maximize: bool,
}

/// The buffers of one AdaGrad step, all of one length.
#[derive(Debug)]
pub struct AdaGradBuffers<'a, T> {
    /// Parameters θ, updated in place.
    pub param: &'a mut [T],
    /// Gradient g, read only.
    pub grad: &'a [T],
    /// Sum of squared gradients s (`sum` in PyTorch), updated in place.
    pub sum: &'a mut [T],
}

impl<'a, T> Dense<'a> for AdaGradBuffers<'a, T> {
    type Elem = T;
    type State = &'a mut [T];
    const ALGORITHM: &'static str = "AdaGrad";
    const NAMES: &'static [&'static str] = &["grad", "sum"];

    fn param(&self) -> &[T] {
        self.param
    }
    fn lengths(&self) -> [Option<usize>; MAX_NAMED] {
        [Some(self.grad.len()), Some(self.sum.len()), None, None]
    }
    fn into_parts(self) -> Parts<'a, T, Self::State> {
        Parts { param: self.param, grad: self.grad, state: self.sum }
    }
    fn from_parts(Parts { param, grad, state: sum }: Parts<'a, T, Self::State>) -> Self {
        AdaGradBuffers { param, grad, sum }
    }
}

impl<T> Reborrow for AdaGradBuffers<'_, T> {
    type Short<'b>
        = AdaGradBuffers<'b, T>
    where
        Self: 'b;

    fn reborrow(&mut self) -> AdaGradBuffers<'_, T> {
        AdaGradBuffers { param: self.param, grad: self.grad, sum: self.sum }
    }
}
