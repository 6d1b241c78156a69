//! RMSprop over the lane trait (the formula and op order:
//! [`crate::spec::rmsprop`](mod@crate::spec::rmsprop)).

use super::{FlaggedBody, adjusted_grad, enter_with_flags, optional_ptr};
use crate::float::Float;
use crate::lanes::{Block, Enter, Lanes, TwoFlags, by_flags, for_each_block, load_n, store_n};
use crate::operands::{Checked, RmsPropBuffers, RmsPropCoefficients};

struct RmsPropBody<
    I: Lanes<T>,
    T: Float,
    const L2: bool,
    const MAXIMIZE: bool,
    const CENTERED: bool,
    const MOMENTUM: bool,
> {
    param: *mut T,
    grad: *const T,
    square_avg: *mut T,
    momentum_buffer: *mut T,
    grad_avg: *mut T,
    alpha: I::V,
    one_minus_alpha: I::V,
    eps: I::V,
    lr: I::V,
    momentum: I::V,
    grad_scale: I::V,
    weight_decay: I::V,
}

impl<I: Lanes<T>, T: Float, const L2: bool, const MAXIMIZE: bool, const CENTERED: bool, const MOMENTUM: bool>
    Block for RmsPropBody<I, T, L2, MAXIMIZE, CENTERED, MOMENTUM>
{
    #[inline(always)]
    unsafe fn run(&self, o: usize, n: usize) {
        // SAFETY: `o + n` is within every buffer (the optional ones are
        // non-null exactly when their const flag is on); the tier is available.
        unsafe {
            let (g, p) = adjusted_grad::<I, T, L2, MAXIMIZE>(
                self.grad,
                self.param,
                self.grad_scale,
                self.weight_decay,
                o,
                n,
            );
            let v = load_n::<I, T>(self.square_avg.add(o), n);
            let v = I::add(I::mul(self.alpha, v), I::mul(I::mul(self.one_minus_alpha, g), g));
            store_n::<I, T>(self.square_avg.add(o), n, v);
            let variance = if CENTERED {
                let a = load_n::<I, T>(self.grad_avg.add(o), n);
                let a = I::add(I::mul(self.alpha, a), I::mul(self.one_minus_alpha, g));
                store_n::<I, T>(self.grad_avg.add(o), n, a);
                I::sub(v, I::mul(a, a))
            } else {
                v
            };
            let d = I::add(I::sqrt(variance), self.eps);
            let step = if MOMENTUM {
                let b = load_n::<I, T>(self.momentum_buffer.add(o), n);
                let b = I::add(I::mul(self.momentum, b), I::div(g, d));
                store_n::<I, T>(self.momentum_buffer.add(o), n, b);
                b
            } else {
                I::div(g, d)
            };
            store_n::<I, T>(self.param.add(o), n, I::sub(p, I::mul(self.lr, step)));
        }
    }
}

/// One RMSprop call with `L2` and `MAXIMIZE` fixed; `CENTERED` and
/// `MOMENTUM` are its flags (see [`FlaggedBody`]).
struct RmsPropCall<'a, 'c, T, const L2: bool, const MAXIMIZE: bool>(
    Checked<RmsPropBuffers<'a, T>>,
    &'c RmsPropCoefficients<T>,
);

impl<I: Lanes<T>, T: Float, const L2: bool, const MAXIMIZE: bool> FlaggedBody<I>
    for RmsPropCall<'_, '_, T, L2, MAXIMIZE>
{
    type Output = ();

    #[inline(always)]
    unsafe fn run<const CENTERED: bool, const MOMENTUM: bool>(self) {
        let RmsPropCall(b, c) = self;
        let (b, ()) = b.into_parts();
        // SAFETY: the buffers are `Checked` (one length `n`; the optional ones
        // present when their flags are on), `for_each_block` stays inside
        // `0..n`, and the caller guarantees the tier.
        unsafe {
            let body = RmsPropBody::<I, T, L2, MAXIMIZE, CENTERED, MOMENTUM> {
                param: b.param.as_mut_ptr(),
                grad: b.grad.as_ptr(),
                square_avg: b.square_avg.as_mut_ptr(),
                momentum_buffer: optional_ptr::<T, MOMENTUM>(b.momentum_buffer),
                grad_avg: optional_ptr::<T, CENTERED>(b.grad_avg),
                alpha: I::splat(c.alpha),
                one_minus_alpha: I::splat(c.one_minus_alpha),
                eps: I::splat(c.eps),
                lr: I::splat(c.lr),
                momentum: I::splat(c.momentum),
                grad_scale: I::splat(c.grad_scale),
                weight_decay: I::splat(c.weight_decay.unwrap_or(T::ZERO)),
            };
            for_each_block::<I, T, _>(b.param.len(), &body);
        }
    }
}

/// The token and the call, before `L2` and `MAXIMIZE` are fixed.
struct RmsPropOptions<'a, 'c, I, T>(I, Checked<RmsPropBuffers<'a, T>>, &'c RmsPropCoefficients<T>);

impl<I: Lanes<T> + Enter, T: Float> TwoFlags for RmsPropOptions<'_, '_, I, T> {
    type Output = ();

    #[inline(always)]
    fn run<const L2: bool, const MAXIMIZE: bool>(self) {
        let RmsPropOptions(token, b, c) = self;
        let (centered, momentum) = (b.get().grad_avg.is_some(), b.get().momentum_buffer.is_some());
        enter_with_flags(token, RmsPropCall::<T, L2, MAXIMIZE>(b, c), centered, momentum)
    }
}

/// One RMSprop step on the token's tier: `L2`, `MAXIMIZE`, centered and
/// momentum picked as const parameters, each combination in a
/// `#[target_feature]` function of its own.
pub(crate) fn rmsprop<I: Lanes<T> + Enter, T: Float>(
    token: I,
    buffers: Checked<RmsPropBuffers<'_, T>>,
    c: &RmsPropCoefficients<T>,
) {
    by_flags(RmsPropOptions(token, buffers, c), c.weight_decay.is_some(), c.maximize)
}
