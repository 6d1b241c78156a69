//! AdaGrad over the lane trait (the formula and op order:
//! [`crate::spec::adagrad`](mod@crate::spec::adagrad)).

use super::{FlaggedBody, adjusted_grad, enter_with_flags};
use crate::float::Float;
use crate::lanes::{Block, Enter, Lanes, for_each_block, load_n, store_n};
use crate::operands::{AdaGradBuffers, AdaGradCoefficients, Checked};

struct AdaGradBody<I: Lanes<T>, T: Float, const L2: bool, const MAXIMIZE: bool> {
    param: *mut T,
    grad: *const T,
    sum: *mut T,
    step_size: I::V,
    eps: I::V,
    grad_scale: I::V,
    weight_decay: I::V,
}

impl<I: Lanes<T>, T: Float, const L2: bool, const MAXIMIZE: bool> Block for AdaGradBody<I, T, L2, MAXIMIZE> {
    #[inline(always)]
    unsafe fn run(&self, o: usize, n: usize) {
        // SAFETY: `o + n` is within every buffer; the tier is available.
        unsafe {
            let (g, p) = adjusted_grad::<I, T, L2, MAXIMIZE>(
                self.grad,
                self.param,
                self.grad_scale,
                self.weight_decay,
                o,
                n,
            );
            let s = I::add(load_n::<I, T>(self.sum.add(o), n), I::mul(g, g));
            store_n::<I, T>(self.sum.add(o), n, s);
            let d = I::add(I::sqrt(s), self.eps);
            let p = I::sub(p, I::mul(self.step_size, I::div(g, d)));
            store_n::<I, T>(self.param.add(o), n, p);
        }
    }
}

/// One AdaGrad call; `L2` and `MAXIMIZE` are its flags (see [`FlaggedBody`]).
struct AdaGradCall<'a, 'c, T>(Checked<AdaGradBuffers<'a, T>>, &'c AdaGradCoefficients<T>);

impl<I: Lanes<T>, T: Float> FlaggedBody<I> for AdaGradCall<'_, '_, T> {
    type Output = ();

    #[inline(always)]
    unsafe fn run<const L2: bool, const MAXIMIZE: bool>(self) {
        let AdaGradCall(b, c) = self;
        let (b, ()) = b.into_parts();
        // SAFETY: the buffers are `Checked` (one length `n`), `for_each_block`
        // stays inside `0..n`, and the caller guarantees the tier.
        unsafe {
            let body = AdaGradBody::<I, T, L2, MAXIMIZE> {
                param: b.param.as_mut_ptr(),
                grad: b.grad.as_ptr(),
                sum: b.sum.as_mut_ptr(),
                step_size: I::splat(c.step_size),
                eps: I::splat(c.eps),
                grad_scale: I::splat(c.grad_scale),
                weight_decay: I::splat(c.weight_decay.unwrap_or(T::ZERO)),
            };
            for_each_block::<I, T, _>(b.param.len(), &body);
        }
    }
}

/// One AdaGrad step on the token's tier.
pub(crate) fn adagrad<I: Lanes<T> + Enter, T: Float>(
    token: I,
    buffers: Checked<AdaGradBuffers<'_, T>>,
    c: &AdaGradCoefficients<T>,
) {
    enter_with_flags(token, AdaGradCall(buffers, c), c.weight_decay.is_some(), c.maximize)
}
