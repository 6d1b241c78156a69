//! Adam's operands (the essay: [`crate::spec::adam`](mod@crate::spec::adam)).

use super::buffers::{Dense, MAX_NAMED, Parts, Reborrow};

/// How weight decay enters the step, with its per-step coefficient.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decay<T> {
    /// No weight decay.
    None,
    /// L2 penalty added to the gradient: `g += coefficient·p` (Adam, AdaMax).
    L2(T),
    /// Decoupled decay (AdamW): `p *= factor`, with `factor = 1 − lr·wd`.
    Decoupled(T),
}

/// The per-step scalars of Adam, already rounded to the element type.
///
/// Built once per call (in the root crate, from `f64` hyperparameters and the
/// integer step); the kernel only reads them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamCoefficients<T> {
    /// β1.
    pub beta1: T,
    /// 1 − β1.
    pub one_minus_beta1: T,
    /// β2.
    pub beta2: T,
    /// 1 − β2.
    pub one_minus_beta2: T,
    /// `s = lr·√bc2/bc1` (standard form), or `lr·√bc2/bc1` with a user ε̂.
    pub step_size: T,
    /// `ε̂ = ε·√bc2` (standard form), or the user's ε̂.
    pub eps_hat: T,
    /// Weight decay and its coefficient.
    pub decay: Decay<T>,
    /// The gradient's multiplier, applied before anything else: the
    /// clip coefficient of a step with gradient-norm clipping, 1 without.
    pub grad_scale: T,
    /// Ascend instead of descend (`g = −g`).
    pub maximize: bool,
}

/// The buffers of one Adam step, all of one length.
///
/// `max_exp_avg_sq` is `Some` exactly when AMSGrad is on.
#[derive(Debug)]
pub struct AdamBuffers<'a, T> {
    /// Parameters θ, updated in place.
    pub param: &'a mut [T],
    /// Gradient g, read only.
    pub grad: &'a [T],
    /// First moment m, updated in place.
    pub exp_avg: &'a mut [T],
    /// Second moment v, updated in place.
    pub exp_avg_sq: &'a mut [T],
    /// AMSGrad's running maximum of v, updated in place.
    pub max_exp_avg_sq: Option<&'a mut [T]>,
}

impl<'a, T> Dense<'a> for AdamBuffers<'a, T> {
    type Elem = T;
    type State = ([&'a mut [T]; 2], Option<&'a mut [T]>);
    const ALGORITHM: &'static str = "Adam";
    const NAMES: &'static [&'static str] = &["grad", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

    fn param(&self) -> &[T] {
        self.param
    }
    fn lengths(&self) -> [Option<usize>; MAX_NAMED] {
        let amsgrad = self.max_exp_avg_sq.as_deref().map(<[T]>::len);
        [Some(self.grad.len()), Some(self.exp_avg.len()), Some(self.exp_avg_sq.len()), amsgrad]
    }
    fn into_parts(self) -> Parts<'a, T, Self::State> {
        Parts {
            param: self.param,
            grad: self.grad,
            state: ([self.exp_avg, self.exp_avg_sq], self.max_exp_avg_sq),
        }
    }
    fn from_parts(
        Parts { param, grad, state: ([exp_avg, exp_avg_sq], max_exp_avg_sq) }: Parts<'a, T, Self::State>,
    ) -> Self {
        AdamBuffers { param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq }
    }
}

impl<T> Reborrow for AdamBuffers<'_, T> {
    type Short<'b>
        = AdamBuffers<'b, T>
    where
        Self: 'b;

    fn reborrow(&mut self) -> AdamBuffers<'_, T> {
        let max_exp_avg_sq = self.max_exp_avg_sq.as_deref_mut();
        AdamBuffers {
            param: self.param,
            grad: self.grad,
            exp_avg: self.exp_avg,
            exp_avg_sq: self.exp_avg_sq,
            max_exp_avg_sq,
        }
    }
}
