//! SGD's operands (the essay: [`crate::spec::sgd`](mod@crate::spec::sgd)).

use super::buffers::{Dense, MAX_NAMED, Parts, Reborrow};

/// The scalars of an SGD step, already rounded to the element type.
///
/// Which form runs is fixed by the buffers given: `momentum_buffer` present
/// means the momentum form (reading `momentum`, `one_minus_dampening`,
/// `nesterov` and `first`); absent, the plain step `p −= lr·d` (those four
/// are then not read).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdCoefficients<T> {
    /// The learning rate.
    pub lr: T,
    /// μ, the momentum coefficient (read only when `momentum_buffer` is given).
    pub momentum: T,
    /// 1 − dampening (read only when `momentum_buffer` is given).
    pub one_minus_dampening: T,
    /// Nesterov momentum: `d = d + μ·b` instead of `d = b` (read only when
    /// `momentum_buffer` is given).
    pub nesterov: bool,
    /// The first step (`t == 1`): the momentum buffer's prior contents are
    /// ignored and overwritten with `d` (read only when `momentum_buffer` is
    /// given).
    pub first: bool,
    /// L2 weight decay coefficient (`None`: no decay).
    pub weight_decay: Option<T>,
    /// The gradient's multiplier, applied before anything else: the
    /// clip coefficient of a step with gradient-norm clipping, 1 without.
    pub grad_scale: T,
    /// Ascend instead of descend (`g = −g`).
    pub maximize: bool,
}

/// The buffers of one SGD step, all of one length.
#[derive(Debug)]
pub struct SgdBuffers<'a, T> {
    /// Parameters θ, updated in place.
    pub param: &'a mut [T],
    /// Gradient g, read only.
    pub grad: &'a [T],
    /// Momentum buffer b (`momentum_buffer` in PyTorch), updated in place;
    /// given exactly when momentum is on.
    pub momentum_buffer: Option<&'a mut [T]>,
}

impl<'a, T> Dense<'a> for SgdBuffers<'a, T> {
    type Elem = T;
    type State = Option<&'a mut [T]>;
    const ALGORITHM: &'static str = "SGD";
    const NAMES: &'static [&'static str] = &["grad", "momentum_buffer"];

    fn param(&self) -> &[T] {
        self.param
    }
    fn lengths(&self) -> [Option<usize>; MAX_NAMED] {
        [Some(self.grad.len()), self.momentum_buffer.as_deref().map(<[T]>::len), None, None]
    }
    fn into_parts(self) -> Parts<'a, T, Self::State> {
        Parts { param: self.param, grad: self.grad, state: self.momentum_buffer }
    }
    fn from_parts(Parts { param, grad, state: momentum_buffer }: Parts<'a, T, Self::State>) -> Self {
        SgdBuffers { param, grad, momentum_buffer }
    }
}

impl<T> Reborrow for SgdBuffers<'_, T> {
    type Short<'b>
        = SgdBuffers<'b, T>
    where
        Self: 'b;

    fn reborrow(&mut self) -> SgdBuffers<'_, T> {
        let momentum_buffer = self.momentum_buffer.as_deref_mut();
        SgdBuffers { param: self.param, grad: self.grad, momentum_buffer }
    }
}
