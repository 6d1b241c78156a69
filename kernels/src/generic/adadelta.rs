//! AdaDelta over the lane trait (the formula and op order:
//! [`crate::spec::adadelta`](mod@crate::spec::adadelta)).

use super::{FlaggedBody, adjusted_grad, enter_with_flags};
use crate::float::Float;
use crate::lanes::{Block, Enter, Lanes, for_each_block, load_n, store_n};
use crate::operands::{AdaDeltaBuffers, AdaDeltaCoefficients, Checked};

struct AdaDeltaBody<I: Lanes<T>, T: Float, const L2: bool, const MAXIMIZE: bool> {
    param: *mut T,
    grad: *const T,
    square_avg: *mut T,
    acc_delta: *mut T,
    rho: I::V,
    one_minus_rho: I::V,
    eps: I::V,
    lr: I::V,
    grad_scale: I::V,
    weight_decay: I::V,
}

impl<I: Lanes<T>, T: Float, const L2: bool, const MAXIMIZE: bool> Block for AdaDeltaBody<I, T, L2, MAXIMIZE> {
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
            let s = load_n::<I, T>(self.square_avg.add(o), n);
            let s = I::add(I::mul(self.rho, s), I::mul(I::mul(self.one_minus_rho, g), g));
            store_n::<I, T>(self.square_avg.add(o), n, s);
            let x = load_n::<I, T>(self.acc_delta.add(o), n);
            let std = I::sqrt(I::add(s, self.eps));
            let delta = I::mul(I::div(I::sqrt(I::add(x, self.eps)), std), g);
            let x = I::add(I::mul(self.rho, x), I::mul(I::mul(self.one_minus_rho, delta), delta));
            store_n::<I, T>(self.acc_delta.add(o), n, x);
            let p = I::sub(p, I::mul(self.lr, delta));
            store_n::<I, T>(self.param.add(o), n, p);
        }
    }
}

/// One AdaDelta call; `L2` and `MAXIMIZE` are its flags (see [`FlaggedBody`]).
struct AdaDeltaCall<'a, 'c, T>(Checked<AdaDeltaBuffers<'a, T>>, &'c AdaDeltaCoefficients<T>);

impl<I: Lanes<T>, T: Float> FlaggedBody<I> for AdaDeltaCall<'_, '_, T> {
    type Output = ();

    #[inline(always)]
    unsafe fn run<const L2: bool, const MAXIMIZE: bool>(self) {
        let AdaDeltaCall(b, c) = self;
        let (b, ()) = b.into_parts();
        // SAFETY: the buffers are `Checked` (one length `n`), `for_each_block`
        // stays inside `0..n`, and the caller guarantees the tier.
        unsafe {
            let body = AdaDeltaBody::<I, T, L2, MAXIMIZE> {
                param: b.param.as_mut_ptr(),
                grad: b.grad.as_ptr(),
                square_avg: b.square_avg.as_mut_ptr(),
                acc_delta: b.acc_delta.as_mut_ptr(),
                rho: I::splat(c.rho),
                one_minus_rho: I::splat(c.one_minus_rho),
                eps: I::splat(c.eps),
                lr: I::splat(c.lr),
                grad_scale: I::splat(c.grad_scale),
                weight_decay: I::splat(c.weight_decay.unwrap_or(T::ZERO)),
            };
            for_each_block::<I, T, _>(b.param.len(), &body);
        }
    }
}

/// One AdaDelta step on the token's tier.
pub(crate) fn adadelta<I: Lanes<T> + Enter, T: Float>(
    token: I,
    buffers: Checked<AdaDeltaBuffers<'_, T>>,
    c: &AdaDeltaCoefficients<T>,
) {
    enter_with_flags(token, AdaDeltaCall(buffers, c), c.weight_decay.is_some(), c.maximize)
}
