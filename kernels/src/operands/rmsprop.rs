//! RMSprop's operands (the essay: [`crate::spec::rmsprop`](mod@crate::spec::rmsprop)).

use super::buffers::{Dense, MAX_NAMED, Parts, Reborrow};

/// The scalars of an RMSprop step, already rounded to the element type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RmsPropCoefficients<T> {
    /// α, the smoothing constant.
    pub alpha: T,
    /// 1 − α.
    pub one_minus_alpha: T,
    /// ε.
    pub eps: T,
    /// The learning rate.
    pub lr: T,
    /// μ, the momentum coefficient (read only when `momentum_buffer` is given).
    pub momentum: T,
    /// L2 weight decay coefficient (`None`: no decay).
    pub weight_decay: Option<T>,
    /// The gradient's multiplier, applied before anything else: the
    /// clip coefficient of a step with gradient-norm clipping, 1 without.
    pub grad_scale: T,
    /// Ascend instead of descend (`g = −g`).
    pub maximize: bool,
}

/// The buffers of one RMSprop step, all of one length.
#[derive(Debug)]
pub struct RmsPropBuffers<'a, T> {
    /// Parameters θ, updated in place.
    pub param: &'a mut [T],
    /// Gradient g, read only.
    pub grad: &'a [T],
    /// Running average of squared gradients v (`square_avg` in PyTorch), updated in place.
    pub square_avg: &'a mut [T],
    /// Momentum buffer b, updated in place; given exactly when momentum is on.
    pub momentum_buffer: Option<&'a mut [T]>,
    /// Running average of gradients a, updated in place; given exactly when centered.
    pub grad_avg: Option<&'a mut [T]>,
}

impl<'a, T> Dense<'a> for RmsPropBuffers<'a, T> {
    type Elem = T;
    type State = (&'a mut [T], [Option<&'a mut [T]>; 2]);
    const ALGORITHM: &'static str = "RMSprop";
    const NAMES: &'static [&'static str] = &["grad", "square_avg", "momentum_buffer", "grad_avg"];

    fn param(&self) -> &[T] {
        self.param
    }
    fn lengths(&self) -> [Option<usize>; MAX_NAMED] {
        [
            Some(self.grad.len()),
            Some(self.square_avg.len()),
            self.momentum_buffer.as_deref().map(<[T]>::len),
            self.grad_avg.as_deref().map(<[T]>::len),
        ]
    }
    fn into_parts(self) -> Parts<'a, T, Self::State> {
        Parts {
            param: self.param,
            grad: self.grad,
            state: (self.square_avg, [self.momentum_buffer, self.grad_avg]),
        }
    }
    fn from_parts(
        Parts { param, grad, state: (square_avg, [momentum_buffer, grad_avg]) }: Parts<'a, T, Self::State>,
    ) -> Self {
        RmsPropBuffers { param, grad, square_avg, momentum_buffer, grad_avg }
    }
}

impl<T> Reborrow for RmsPropBuffers<'_, T> {
    type Short<'b>
        = RmsPropBuffers<'b, T>
    where
        Self: 'b;

    fn reborrow(&mut self) -> RmsPropBuffers<'_, T> {
        let momentum_buffer = self.momentum_buffer.as_deref_mut();
        let grad_avg = self.grad_avg.as_deref_mut();
        RmsPropBuffers {
            param: self.param,
            grad: self.grad,
            square_avg: self.square_avg,
            momentum_buffer,
            grad_avg,
        }
    }
}
