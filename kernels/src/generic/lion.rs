//! Lion over the lane trait (the formula and op order:
//! [`crate::spec::lion`](mod@crate::spec::lion)).

use super::{FlaggedBody, enter_with_flags};
use crate::float::Float;
use crate::lanes::{Block, Enter, Lanes, for_each_block, load_n, store_n};
use crate::operands::{Checked, LionBuffers, LionCoefficients};

struct LionBody<I: Lanes<T>, T: Float, const DECAY: bool, const MAXIMIZE: bool> {
    param: *mut T,
    grad: *const T,
    exp_avg: *mut T,
    beta1: I::V,
    one_minus_beta1: I::V,
    beta2: I::V,
    one_minus_beta2: I::V,
    lr: I::V,
    decay_factor: I::V,
    grad_scale: I::V,
}

impl<I: Lanes<T>, T: Float, const DECAY: bool, const MAXIMIZE: bool> Block
    for LionBody<I, T, DECAY, MAXIMIZE>
{
    #[inline(always)]
    unsafe fn run(&self, o: usize, n: usize) {
        // SAFETY: `o + n` is within every buffer (the caller's contract, from
        // `for_each_block` over the common length); the tier is available.
        unsafe {
            let mut g = I::mul(load_n::<I, T>(self.grad.add(o), n), self.grad_scale);
            if MAXIMIZE {
                g = I::neg(g);
            }
            let mut p = load_n::<I, T>(self.param.add(o), n);
            if DECAY {
                p = I::mul(p, self.decay_factor);
            }
            let m = load_n::<I, T>(self.exp_avg.add(o), n);
            let c = I::add(I::mul(self.beta1, m), I::mul(self.one_minus_beta1, g));
            let p = I::sub(p, I::mul(self.lr, I::sign(c)));
            store_n::<I, T>(self.param.add(o), n, p);
            let m = I::add(I::mul(self.beta2, m), I::mul(self.one_minus_beta2, g));
            store_n::<I, T>(self.exp_avg.add(o), n, m);
        }
    }
}

/// One Lion call; `DECAY` and `MAXIMIZE` are its flags (see [`FlaggedBody`]).
struct LionCall<'a, 'c, T>(Checked<LionBuffers<'a, T>>, &'c LionCoefficients<T>);

impl<I: Lanes<T>, T: Float> FlaggedBody<I> for LionCall<'_, '_, T> {
    type Output = ();

    #[inline(always)]
    unsafe fn run<const DECAY: bool, const MAXIMIZE: bool>(self) {
        let LionCall(b, c) = self;
        let (b, ()) = b.into_parts();
        // SAFETY: the buffers are `Checked` (one length `n`), `for_each_block`
        // stays inside `0..n`, and the caller guarantees the tier.
        unsafe {
            let body = LionBody::<I, T, DECAY, MAXIMIZE> {
                param: b.param.as_mut_ptr(),
                grad: b.grad.as_ptr(),
                exp_avg: b.exp_avg.as_mut_ptr(),
                beta1: I::splat(c.beta1),
                one_minus_beta1: I::splat(c.one_minus_beta1),
                beta2: I::splat(c.beta2),
                one_minus_beta2: I::splat(c.one_minus_beta2),
                lr: I::splat(c.lr),
                decay_factor: I::splat(c.decay_factor.unwrap_or(T::ONE)),
                grad_scale: I::splat(c.grad_scale),
            };
            for_each_block::<I, T, _>(b.param.len(), &body);
        }
    }
}

/// One Lion step on the token's tier.
pub(crate) fn lion<I: Lanes<T> + Enter, T: Float>(
    token: I,
    buffers: Checked<LionBuffers<'_, T>>,
    c: &LionCoefficients<T>,
) {
    enter_with_flags(token, LionCall(buffers, c), c.decay_factor.is_some(), c.maximize)
}
