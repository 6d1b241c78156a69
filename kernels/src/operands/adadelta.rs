//! AdaDelta's operands (the essay: [`crate::spec::adadelta`](mod@crate::spec::adadelta)).

use super::buffers::{Dense, MAX_NAMED, Parts, Reborrow};

/// The scalars of an AdaDelta step, already rounded to the element type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaDeltaCoefficients<T> {
    /// ρ.
    pub rho: T,
    /// 1 − ρ.
    pub one_minus_rho: T,
    /// ε.
    pub eps: T,
    /// The learning rate lr (PyTorch's default 1.0 leaves δ as it is).
    pub lr: T,
    /// L2 weight decay coefficient (`None`: no decay).
    pub weight_decay: Option<T>,
    /// The gradient's multiplier, applied before anything else: the
    /// clip coefficient of a step with gradient-norm clipping, 1 without.
    pub grad_scale: T,
    /// Ascend instead of descend (`g = −g`).
    pub maximize: bool,
}

/// The buffers of one AdaDelta step, all of one length.
#[derive(Debug)]
pub struct AdaDeltaBuffers<'a, T> {
    /// Parameters θ, updated in place.
    pub param: &'a mut [T],
    /// Gradient g, read only.
    pub grad: &'a [T],
    /// Running average of squared gradients s (`square_avg` in PyTorch), updated in place.
    pub square_avg: &'a mut [T],
    /// Running average of squared updates x (`acc_delta`), updated in place.
    pub acc_delta: &'a mut [T],
}

impl<'a, T> Dense<'a> for AdaDeltaBuffers<'a, T> {
    type Elem = T;
    type State = [&'a mut [T]; 2];
    const ALGORITHM: &'static str = "AdaDelta";
    const NAMES: &'static [&'static str] = &["grad", "square_avg", "acc_delta"];

    fn param(&self) -> &[T] {
        self.param
    }
    fn lengths(&self) -> [Option<usize>; MAX_NAMED] {
        [Some(self.grad.len()), Some(self.square_avg.len()), Some(self.acc_delta.len()), None]
    }
    fn into_parts(self) -> Parts<'a, T, Self::State> {
        Parts { param: self.param, grad: self.grad, state: [self.square_avg, self.acc_delta] }
    }
    fn from_parts(Parts { param, grad, state: [square_avg, acc_delta] }: Parts<'a, T, Self::State>) -> Self {
        AdaDeltaBuffers { param, grad, square_avg, acc_delta }
    }
}

impl<T> Reborrow for AdaDeltaBuffers<'_, T> {
    type Short<'b>
        = AdaDeltaBuffers<'b, T>
    where
        Self: 'b;

    fn reborrow(&mut self) -> AdaDeltaBuffers<'_, T> {
        AdaDeltaBuffers {
            param: self.param,
            grad: self.grad,
            square_avg: self.square_avg,
            acc_delta: self.acc_delta,
        }
    }
}
