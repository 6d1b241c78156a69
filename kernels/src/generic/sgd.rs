//! SGD over the lane trait (the formula and op order:
//! [`crate::spec::sgd`](mod@crate::spec::sgd)).
//!
//! The momentum options are one const `MODE` (no momentum; momentum on its
//! first or a later step, each plain or Nesterov: five forms, since without
//! momentum neither the first step nor Nesterov means anything), and `L2`
//! and `MAXIMIZE` are the two flags of [`FlaggedBody`]: twenty variants per
//! tier and element type, each with a loop free of branches.

use super::mixed::{LaneForm, MixedForms, WithForm};
use super::{FlaggedBody, enter_with_flags, optional_ptr, scaled_grad};
use crate::float::Float;
use crate::lanes::{Block, Enter, Lanes, for_each_block, load_n, store_n};
use crate::operands::{Checked, MAX_MIXED_STATE, SgdBuffers, SgdCoefficients};

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

/// Whether the form `MODE` reads the momentum buffer (the later steps).
const fn reads_momentum(mode: u8) -> bool {
    mode == LATER || mode == LATER_NESTEROV
}

/// SGD's per-step scalars as vectors, and its per-vector arithmetic after
/// the gradient's scale and sign, in the op order of the module's essay:
/// the plain body and the mixed-precision form ([`SgdForm`]) share its
/// [`step`](Self::step).
struct SgdLanes<I: Lanes<T>, T: Float> {
    lr: I::V,
    momentum: I::V,
    one_minus_dampening: I::V,
    weight_decay: I::V,
}

impl<I: Lanes<T>, T: Float> SgdLanes<I, T> {
    /// # Safety
    /// The tier `I` is available.
    #[inline(always)]
    unsafe fn new(c: &SgdCoefficients<T>) -> Self {
        // SAFETY: the caller guarantees the tier.
        unsafe {
            SgdLanes {
                lr: I::splat(c.lr),
                momentum: I::splat(c.momentum),
                one_minus_dampening: I::splat(c.one_minus_dampening),
                weight_decay: I::splat(c.weight_decay.unwrap_or(T::ZERO)),
            }
        }
    }

    /// `(p, b)` from `d` (scaled and signed), `p` and the momentum buffer
    /// `b` (read only by the later steps' forms; returned as written, `d`
    /// on the first step, and unchanged without momentum).
    ///
    /// # Safety
    /// The tier `I` is available.
    #[inline(always)]
    unsafe fn step<const MODE: u8, const L2: bool>(&self, d: I::V, p: I::V, b: I::V) -> (I::V, I::V) {
        // SAFETY: the caller guarantees the tier.
        unsafe {
            let d = if L2 { I::add(d, I::mul(self.weight_decay, p)) } else { d };
            let (d, b) = if has_momentum(MODE) {
                let b = if reads_momentum(MODE) {
                    I::add(I::mul(self.momentum, b), I::mul(self.one_minus_dampening, d))
                } else {
                    d
                };
                let d = if MODE == FIRST_NESTEROV || MODE == LATER_NESTEROV {
                    I::add(d, I::mul(self.momentum, b))
                } else {
                    b
                };
                (d, b)
            } else {
                (d, b)
            };
            (I::sub(p, I::mul(self.lr, d)), b)
        }
    }
}

struct SgdBody<I: Lanes<T>, T: Float, const MODE: u8, const L2: bool, const MAXIMIZE: bool> {
    param: *mut T,
    grad: *const T,
    momentum_buffer: *mut T,
    grad_scale: I::V,
    sgd: SgdLanes<I, T>,
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
            let d = scaled_grad::<I, T, MAXIMIZE>(self.grad, self.grad_scale, o, n);
            let p = load_n::<I, T>(self.param.add(o), n);
            let b = if reads_momentum(MODE) { load_n::<I, T>(self.momentum_buffer.add(o), n) } else { d };
            let (p, b) = self.sgd.step::<MODE, L2>(d, p, b);
            if has_momentum(MODE) {
                store_n::<I, T>(self.momentum_buffer.add(o), n, b);
            }
            store_n::<I, T>(self.param.add(o), n, p);
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
                grad_scale: I::splat(c.grad_scale),
                sgd: SgdLanes::new(c),
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

/// SGD's mixed-precision form: [`SgdLanes::step`] with the momentum form
/// `MODE` and `L2` fixed, over the slot `momentum_buffer`.
pub(crate) struct SgdForm<I: Lanes<f32>, const MODE: u8, const L2: bool>(SgdLanes<I, f32>);

impl<I: Lanes<f32>, const MODE: u8, const L2: bool> LaneForm<I> for SgdForm<I, MODE, L2> {
    type Coefficients = SgdCoefficients<f32>;
    const READS: [bool; MAX_MIXED_STATE] = [reads_momentum(MODE), false, false];
    const WRITES: [bool; MAX_MIXED_STATE] = [has_momentum(MODE), false, false];

    #[inline(always)]
    unsafe fn new(c: &SgdCoefficients<f32>) -> Self {
        // SAFETY: forwarded from the caller (the tier).
        SgdForm(unsafe { SgdLanes::new(c) })
    }

    #[inline(always)]
    unsafe fn update(
        &self,
        g: I::V,
        p: I::V,
        [b, x, y]: [I::V; MAX_MIXED_STATE],
    ) -> (I::V, [I::V; MAX_MIXED_STATE]) {
        // SAFETY: forwarded from the caller (the tier).
        unsafe {
            let (p, b) = self.0.step::<MODE, L2>(g, p, b);
            (p, [b, x, y])
        }
    }
}

impl MixedForms for SgdCoefficients<f32> {
    /// The momentum form from the buffer's slot, `first` and `nesterov`;
    /// `L2` from the scalars.
    #[inline(always)]
    fn select<I: Lanes<f32>, W: WithForm<I, Self>>(
        &self,
        given: [bool; MAX_MIXED_STATE],
        call: W,
    ) -> W::Output {
        fn mode<I: Lanes<f32>, W: WithForm<I, SgdCoefficients<f32>>, const MODE: u8>(
            l2: bool,
            call: W,
        ) -> W::Output {
            if l2 { call.run::<SgdForm<I, MODE, true>>() } else { call.run::<SgdForm<I, MODE, false>>() }
        }
        let l2 = self.weight_decay.is_some();
        match (given[0], self.first, self.nesterov) {
            (false, _, _) => mode::<I, W, PLAIN>(l2, call),
            (true, true, false) => mode::<I, W, FIRST>(l2, call),
            (true, true, true) => mode::<I, W, FIRST_NESTEROV>(l2, call),
            (true, false, false) => mode::<I, W, LATER>(l2, call),
            (true, false, true) => mode::<I, W, LATER_NESTEROV>(l2, call),
        }
    }
}
