//! SGD over the lane trait (the formula and op order:
//! [`crate::spec::sgd`](mod@crate::spec::sgd)).
//!
//! The momentum options are one const `MODE` (no momentum; momentum on its
//! first or a later step, each plain or Nesterov: five forms, since without
//! momentum neither the first step nor Nesterov means anything), and `L2`
//! and `MAXIMIZE` are the two flags of [`FlaggedBody`]: twenty variants per
//! tier and element type, each with a loop free of branches.

use super::{FlaggedBody, adjusted_grad, enter_with_flags, optional_ptr};
use crate::float::Float;
use crate::lanes::{Block, Enter, Lanes, for_each_block, load_n, store_n};
use crate::operands::{Checked, SgdBuffers, SgdCoefficients};

/// No momentum: `p = p − lr·d`, no buffer.
const PLAIN: u8 = 0;
/// Momentum, first step: `b = d`, `d = b`.
const FIRST: u8 = 1;
/// Momentum, first step, Nesterov: `b = d`, `d = d + μ·b`.
const FIRST_NESTEROV: u8 = 2;
/// Momentum, later steps: `b = μ·b + (1−dampening)·d`, `d = b`.
const LATER: u8 = 3;
/// Momentum, later steps, Nesterov: `b = μ·b + (1−dampening)·d`, `d = d + μ·b`.
const LATER_NESTEROV: u8 = 4;

/// Whether the form `MODE` keeps a momentum buffer.
const fn has_momentum(mode: u8) -> bool {
    mode != PLAIN
}

struct SgdBody<I: Lanes<T>, T: Float, const MODE: u8, const L2: bool, const MAXIMIZE: bool> {
    param: *mut T,
    grad: *const T,
    momentum_buffer: *mut T,
    lr: I::V,
    momentum: I::V,
    one_minus_dampening: I::V,
    grad_scale: I::V,
    weight_decay: I::V,
}

impl<I: Lanes<T>, T: Float, const MODE: u8, const L2: bool, const MAXIMIZE: bool> Block
    for SgdBody<I, T, MODE, L2, MAXIMIZE>
{
    #[inline(always)]
    unsafe fn run(&self, o: usize, n: usize) {
        // SAFETY: `o + n` is within every buffer (the momentum buffer is
        // non-null exactly when `MODE` has momentum, and only then touched);
        // the tier is available.
        unsafe {
            let (d, p) = adjusted_grad::<I, T, L2, MAXIMIZE>(
                self.grad,
                self.param,
                self.grad_scale,
                self.weight_decay,
                o,
                n,
            );
            let d = if has_momentum(MODE) {
                let b = if MODE == FIRST || MODE == FIRST_NESTEROV {
                    d
                } else {
                    let b = load_n::<I, T>(self.momentum_buffer.add(o), n);
                    I::add(I::mul(self.momentum, b), I::mul(self.one_minus_dampening, d))
                };
                store_n::<I, T>(self.momentum_buffer.add(o), n, b);
                if MODE == FIRST_NESTEROV || MODE == LATER_NESTEROV {
                    I::add(d, I::mul(self.momentum, b))
                } else {
                    b
                }
            } else {
                d
            };
            store_n::<I, T>(self.param.add(o), n, I::sub(p, I::mul(self.lr, d)));
        }
    }
}

/// One SGD call with its momentum form `MODE` fixed; `L2` and `MAXIMIZE`
/// are its flags (see [`FlaggedBody`]).
struct SgdCall<'a, 'c, T, const MODE: u8>(Checked<SgdBuffers<'a, T>>, &'c SgdCoefficients<T>);

impl<I: Lanes<T>, T: Float, const MODE: u8> FlaggedBody<I> for SgdCall<'_, '_, T, MODE> {
    type Output = ();

    #[inline(always)]
    unsafe fn run<const L2: bool, const MAXIMIZE: bool>(self) {
        let SgdCall(b, c) = self;
        let (b, ()) = b.into_parts();
        // SAFETY: the buffers are `Checked` (one length `n`; the momentum
        // buffer present when `MODE` has momentum, as `sgd` picks `MODE` from
        // it), `for_each_block` stays inside `0..n`, and the caller
        // guarantees the tier.
        unsafe {
            let body = SgdBody::<I, T, MODE, L2, MAXIMIZE> {
                param: b.param.as_mut_ptr(),
                grad: b.grad.as_ptr(),
                momentum_buffer: if has_momentum(MODE) {
                    optional_ptr::<T, true>(b.momentum_buffer)
                } else {
                    optional_ptr::<T, false>(b.momentum_buffer)
                },
                lr: I::splat(c.lr),
                momentum: I::splat(c.momentum),
                one_minus_dampening: I::splat(c.one_minus_dampening),
                grad_scale: I::splat(c.grad_scale),
                weight_decay: I::splat(c.weight_decay.unwrap_or(T::ZERO)),
            };
            for_each_block::<I, T, _>(b.param.len(), &body);
        }
    }
}

/// One SGD step on the token's tier: the momentum form (from the buffer's
/// presence, `first` and `nesterov`), `L2` and `MAXIMIZE` picked as const
/// parameters, each combination in a `#[target_feature]` function of its own.
pub(crate) fn sgd<I: Lanes<T> + Enter, T: Float>(
    token: I,
    buffers: Checked<SgdBuffers<'_, T>>,
    c: &SgdCoefficients<T>,
) {
    let (l2, maximize) = (c.weight_decay.is_some(), c.maximize);
    let momentum = buffers.get().momentum_buffer.is_some();
    match (momentum, c.first, c.nesterov) {
        (false, _, _) => enter_with_flags(token, SgdCall::<T, PLAIN>(buffers, c), l2, maximize),
        (true, true, false) => enter_with_flags(token, SgdCall::<T, FIRST>(buffers, c), l2, maximize),
        (true, true, true) => enter_with_flags(token, SgdCall::<T, FIRST_NESTEROV>(buffers, c), l2, maximize),
        (true, false, false) => enter_with_flags(token, SgdCall::<T, LATER>(buffers, c), l2, maximize),
        (true, false, true) => {
            enter_with_flags(token, SgdCall::<T, LATER_NESTEROV>(buffers, c), l2, maximize)
        }
    }
}
