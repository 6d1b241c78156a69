//! AdaMax over the lane trait (the formula and op order:
//! [`crate::spec::adamax`](mod@crate::spec::adamax)).

use super::{FlaggedBody, adjusted_grad, enter_with_flags};
use crate::float::Float;
use crate::lanes::{Block, Enter, Lanes, for_each_block, load_n, store_n};
use crate::operands::{AdaMaxBuffers, AdaMaxCoefficients, Checked};

struct AdaMaxBody<I: Lanes<T>, T: Float, const L2: bool, const MAXIMIZE: bool> {
    param: *mut T,
    grad: *const T,
    exp_avg: *mut T,
    exp_inf: *mut T,
    beta1: I::V,
    one_minus_beta1: I::V,
    beta2: I::V,
    eps: I::V,
    step_size: I::V,
    grad_scale: I::V,
    weight_decay: I::V,
}

impl<I: Lanes<T>, T: Float, const L2: bool, const MAXIMIZE: bool> Block for AdaMaxBody<I, T, L2, MAXIMIZE> {
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
            let m = load_n::<I, T>(self.exp_avg.add(o), n);
            let m = I::add(I::mul(self.beta1, m), I::mul(self.one_minus_beta1, g));
            store_n::<I, T>(self.exp_avg.add(o), n, m);
            let u = load_n::<I, T>(self.exp_inf.add(o), n);
            let u = I::max(I::mul(self.beta2, u), I::add(I::abs(g), self.eps));
            store_n::<I, T>(self.exp_inf.add(o), n, u);
            let p = I::sub(p, I::mul(self.step_size, I::div(m, u)));
            store_n::<I, T>(self.param.add(o), n, p);
        }
    }
}

/// One AdaMax call; `L2` and `MAXIMIZE` are its flags (see [`FlaggedBody`]).
struct AdaMaxCall<'a, 'c, T>(Checked<AdaMaxBuffers<'a, T>>, &'c AdaMaxCoefficients<T>);

impl<I: Lanes<T>, T: Float> FlaggedBody<I> for AdaMaxCall<'_, '_, T> {
    type Output = ();

    #[inline(always)]
    unsafe fn run<const L2: bool, const MAXIMIZE: bool>(self) {
        let AdaMaxCall(b, c) = self;
        let (b, ()) = b.into_parts();
        // SAFETY: the buffers are `Checked` (one length `n`), `for_each_block`
        // stays inside `0..n`, and the caller guarantees the tier.
        unsafe {
            let body = AdaMaxBody::<I, T, L2, MAXIMIZE> {
                param: b.param.as_mut_ptr(),
                grad: b.grad.as_ptr(),
                exp_avg: b.exp_avg.as_mut_ptr(),
                exp_inf: b.exp_inf.as_mut_ptr(),
                beta1: I::splat(c.beta1),
                one_minus_beta1: I::splat(c.one_minus_beta1),
                beta2: I::splat(c.beta2),
                eps: I::splat(c.eps),
                step_size: I::splat(c.step_size),
                grad_scale: I::splat(c.grad_scale),
                weight_decay: I::splat(c.weight_decay.unwrap_or(T::ZERO)),
            };
            for_each_block::<I, T, _>(b.param.len(), &body);
        }
    }
}

/// One AdaMax step on the token's tier.
pub(crate) fn adamax<I: Lanes<T> + Enter, T: Float>(
    token: I,
    buffers: Checked<AdaMaxBuffers<'_, T>>,
    c: &AdaMaxCoefficients<T>,
) {
    enter_with_flags(token, AdaMaxCall(buffers, c), c.weight_decay.is_some(), c.maximize)
}
