//! Lion over the lane trait (the formula and op order:
//! [`crate::spec::lion`](mod@crate::spec::lion)).

use super::mixed::{LaneForm, MixedForms, WithForm};
use super::{FlaggedBody, enter_with_flags, scaled_grad};
use crate::float::Float;
use crate::lanes::{Block, Enter, Lanes, for_each_block, load_n, store_n};
use crate::operands::{Checked, LionBuffers, LionCoefficients, MAX_MIXED_STATE};

/// Lion's per-step scalars as vectors, and its per-vector arithmetic after
/// the gradient's scale and sign, in the op order of the module's essay:
/// the plain body and the mixed-precision form ([`LionForm`]) share its
/// [`step`](Self::step).
struct LionLanes<I: Lanes<T>, T: Float> {
    beta1: I::V,
    one_minus_beta1: I::V,
    beta2: I::V,
    one_minus_beta2: I::V,
    lr: I::V,
    decay_factor: I::V,
}

impl<I: Lanes<T>, T: Float> LionLanes<I, T> {
    /// # Safety
    /// The tier `I` is available.
    #[inline(always)]
    unsafe fn new(c: &LionCoefficients<T>) -> Self {
        // SAFETY: the caller guarantees the tier.
        unsafe {
            LionLanes {
                beta1: I::splat(c.beta1),
                one_minus_beta1: I::splat(c.one_minus_beta1),
                beta2: I::splat(c.beta2),
                one_minus_beta2: I::splat(c.one_minus_beta2),
                lr: I::splat(c.lr),
                decay_factor: I::splat(c.decay_factor.unwrap_or(T::ONE)),
            }
        }
    }

    /// `(p, m)` from `g` (scaled and signed), `p` and `m`, with decoupled
    /// decay when `DECAY`.
    ///
    /// # Safety
    /// The tier `I` is available.
    #[inline(always)]
    unsafe fn step<const DECAY: bool>(&self, g: I::V, p: I::V, m: I::V) -> (I::V, I::V) {
        // SAFETY: the caller guarantees the tier.
        unsafe {
            let p = if DECAY { I::mul(p, self.decay_factor) } else { p };
            let c = I::add(I::mul(self.beta1, m), I::mul(self.one_minus_beta1, g));
            let p = I::sub(p, I::mul(self.lr, I::sign(c)));
            (p, I::add(I::mul(self.beta2, m), I::mul(self.one_minus_beta2, g)))
        }
    }
}

struct LionBody<I: Lanes<T>, T: Float, const DECAY: bool, const MAXIMIZE: bool> {
    param: *mut T,
    grad: *const T,
    exp_avg: *mut T,
    grad_scale: I::V,
    lion: LionLanes<I, T>,
}

impl<I: Lanes<T>, T: Float, const DECAY: bool, const MAXIMIZE: bool> Block
    for LionBody<I, T, DECAY, MAXIMIZE>
{
    #[inline(always)]
    unsafe fn run(&self, o: usize, n: usize) {
        // SAFETY: `o + n` is within every buffer (the caller's contract, from
        // `for_each_block` over the common length); the tier is available.
        unsafe {
            let g = scaled_grad::<I, T, MAXIMIZE>(self.grad, self.grad_scale, o, n);
            let p = load_n::<I, T>(self.param.add(o), n);
            let m = load_n::<I, T>(self.exp_avg.add(o), n);
            let (p, m) = self.lion.step::<DECAY>(g, p, m);
            store_n::<I, T>(self.param.add(o), n, p);
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
                grad_scale: I::splat(c.grad_scale),
                lion: LionLanes::new(c),
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

/// Lion's mixed-precision form: [`LionLanes::step`] with `DECAY` fixed,
/// over the slot `exp_avg`.
pub(crate) struct LionForm<I: Lanes<f32>, const DECAY: bool>(LionLanes<I, f32>);

impl<I: Lanes<f32>, const DECAY: bool> LaneForm<I> for LionForm<I, DECAY> {
    type Coefficients = LionCoefficients<f32>;
    const READS: [bool; MAX_MIXED_STATE] = [true, false, false];
    const WRITES: [bool; MAX_MIXED_STATE] = [true, false, false];

    #[inline(always)]
    unsafe fn new(c: &LionCoefficients<f32>) -> Self {
        // SAFETY: forwarded from the caller (the tier).
        LionForm(unsafe { LionLanes::new(c) })
    }

    #[inline(always)]
    unsafe fn update(
        &self,
        g: I::V,
        p: I::V,
        [m, x, y]: [I::V; MAX_MIXED_STATE],
    ) -> (I::V, [I::V; MAX_MIXED_STATE]) {
        // SAFETY: forwarded from the caller (the tier).
        let (p, m) = unsafe { self.0.step::<DECAY>(g, p, m) };
        (p, [m, x, y])
    }
}

impl MixedForms for LionCoefficients<f32> {
    /// `DECAY` from the scalars.
    #[inline(always)]
    fn select<I: Lanes<f32>, W: WithForm<I, Self>>(
        &self,
        _given: [bool; MAX_MIXED_STATE],
        call: W,
    ) -> W::Output {
        match self.decay_factor {
            Some(_) => call.run::<LionForm<I, true>>(),
            None => call.run::<LionForm<I, false>>(),
        }
    }
}
