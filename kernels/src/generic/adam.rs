//! Adam, AdamW and AMSGrad over the lane trait (the formula and op order:
//! [`crate::spec::adam`](mod@crate::spec::adam)).

use super::mixed::{LaneForm, MixedForms, WithForm};
use super::{FlaggedBody, enter_with_flags, optional_ptr, scaled_grad};
use crate::float::Float;
use crate::lanes::{Block, Enter, Lanes, for_each_block, load_n, store_n};
use crate::operands::{AdamBuffers, AdamCoefficients, Checked, Decay, MAX_MIXED_STATE};

const WD_NONE: u8 = 0;
const WD_L2: u8 = 1;
const WD_DECOUPLED: u8 = 2;

/// Adam's per-step scalars as vectors, and its per-vector arithmetic in the
/// op order of the module's essay. The plain body and the mixed-precision
/// body ([`super::mixed`]) share its [`step`](Self::step); they differ only
/// in their loads and stores.
pub(crate) struct AdamLanes<I: Lanes<T>, T: Float> {
    beta1: I::V,
    one_minus_beta1: I::V,
    beta2: I::V,
    one_minus_beta2: I::V,
    step_size: I::V,
    eps_hat: I::V,
    decay: I::V,
}

impl<I: Lanes<T>, T: Float> AdamLanes<I, T> {
    /// # Safety
    /// The tier `I` is available.
    #[inline(always)]
    pub(crate) unsafe fn new(c: &AdamCoefficients<T>) -> Self {
        let decay = match c.decay {
            Decay::None => T::ZERO,
            Decay::L2(x) | Decay::Decoupled(x) => x,
        };
        // SAFETY: the caller guarantees the tier.
        unsafe {
            AdamLanes {
                beta1: I::splat(c.beta1),
                one_minus_beta1: I::splat(c.one_minus_beta1),
                beta2: I::splat(c.beta2),
                one_minus_beta2: I::splat(c.one_minus_beta2),
                step_size: I::splat(c.step_size),
                eps_hat: I::splat(c.eps_hat),
                decay: I::splat(decay),
            }
        }
    }

    /// Weight decay `WD`: `g + (wd·p)` (L2) or `p·decay` (decoupled).
    ///
    /// # Safety
    /// The tier `I` is available.
    #[inline(always)]
    unsafe fn decay<const WD: u8>(&self, g: I::V, p: I::V) -> (I::V, I::V) {
        // SAFETY: the caller guarantees the tier.
        unsafe {
            match WD {
                WD_L2 => (I::add(g, I::mul(self.decay, p)), p),
                WD_DECOUPLED => (g, I::mul(p, self.decay)),
                _ => (g, p),
            }
        }
    }

    /// `m = (β1·m) + ((1−β1)·g)`.
    ///
    /// # Safety
    /// The tier `I` is available.
    #[inline(always)]
    unsafe fn first_moment(&self, m: I::V, g: I::V) -> I::V {
        // SAFETY: the caller guarantees the tier.
        unsafe { I::add(I::mul(self.beta1, m), I::mul(self.one_minus_beta1, g)) }
    }

    /// `v = (β2·v) + (((1−β2)·g)·g)`.
    ///
    /// # Safety
    /// The tier `I` is available.
    #[inline(always)]
    unsafe fn second_moment(&self, v: I::V, g: I::V) -> I::V {
        // SAFETY: the caller guarantees the tier.
        unsafe { I::add(I::mul(self.beta2, v), I::mul(I::mul(self.one_minus_beta2, g), g)) }
    }

    /// `p − s·(m / (√v̂ + ε̂))`.
    ///
    /// # Safety
    /// The tier `I` is available.
    #[inline(always)]
    unsafe fn update(&self, p: I::V, m: I::V, v_hat: I::V) -> I::V {
        // SAFETY: the caller guarantees the tier.
        unsafe { I::sub(p, I::mul(self.step_size, I::div(m, I::add(I::sqrt(v_hat), self.eps_hat)))) }
    }

    /// One step of the essay after the gradient's scale and sign, with the
    /// weight-decay mode `WD` and AMSGrad: `(p, [m, v, vm])` from `g`, `p`
    /// and `[m, v, vm]` (`vm` read and returned only with AMSGrad; without,
    /// the third slot comes back as `v`).
    ///
    /// # Safety
    /// The tier `I` is available.
    #[inline(always)]
    pub(crate) unsafe fn step<const WD: u8, const AMSGRAD: bool>(
        &self,
        g: I::V,
        p: I::V,
        [m, v, vm]: [I::V; 3],
    ) -> (I::V, [I::V; 3]) {
        // SAFETY: the caller guarantees the tier.
        unsafe {
            let (g, p) = self.decay::<WD>(g, p);
            let m = self.first_moment(m, g);
            let v = self.second_moment(v, g);
            let v_hat = if AMSGRAD { I::max(vm, v) } else { v };
            (self.update(p, m, v_hat), [m, v, v_hat])
        }
    }
}

/// The per-vector update, monomorphised over the options so the loop holds no branches.
struct AdamBody<I: Lanes<T>, T: Float, const WD: u8, const MAXIMIZE: bool, const AMSGRAD: bool> {
    param: *mut T,
    grad: *const T,
    exp_avg: *mut T,
    exp_avg_sq: *mut T,
    max_exp_avg_sq: *mut T,
    grad_scale: I::V,
    adam: AdamLanes<I, T>,
}

impl<I: Lanes<T>, T: Float, const WD: u8, const MAXIMIZE: bool, const AMSGRAD: bool> Block
    for AdamBody<I, T, WD, MAXIMIZE, AMSGRAD>
{
    #[inline(always)]
    unsafe fn run(&self, o: usize, n: usize) {
        // SAFETY: `o + n` is within every buffer (the caller's contract, from
        // `for_each_block` over the common length); the tier is available.
        unsafe {
            let g = scaled_grad::<I, T, MAXIMIZE>(self.grad, self.grad_scale, o, n);
            let p = load_n::<I, T>(self.param.add(o), n);
            let m = load_n::<I, T>(self.exp_avg.add(o), n);
            let v = load_n::<I, T>(self.exp_avg_sq.add(o), n);
            let vm = if AMSGRAD { load_n::<I, T>(self.max_exp_avg_sq.add(o), n) } else { v };
            let (p, [m, v, vm]) = self.adam.step::<WD, AMSGRAD>(g, p, [m, v, vm]);
            store_n::<I, T>(self.exp_avg.add(o), n, m);
            store_n::<I, T>(self.exp_avg_sq.add(o), n, v);
            if AMSGRAD {
                store_n::<I, T>(self.max_exp_avg_sq.add(o), n, vm);
            }
            store_n::<I, T>(self.param.add(o), n, p);
        }
    }
}

/// One Adam call with its weight-decay mode fixed; `MAXIMIZE` and `AMSGRAD`
/// are its flags (see [`FlaggedBody`]).
struct AdamCall<'a, 'c, T, const WD: u8>(Checked<AdamBuffers<'a, T>>, &'c AdamCoefficients<T>);

impl<I: Lanes<T>, T: Float, const WD: u8> FlaggedBody<I> for AdamCall<'_, '_, T, WD> {
    type Output = ();

    #[inline(always)]
    unsafe fn run<const MAXIMIZE: bool, const AMSGRAD: bool>(self) {
        let AdamCall(b, c) = self;
        let (b, ()) = b.into_parts();
        let body = AdamBody::<I, T, WD, MAXIMIZE, AMSGRAD> {
            param: b.param.as_mut_ptr(),
            grad: b.grad.as_ptr(),
            exp_avg: b.exp_avg.as_mut_ptr(),
            exp_avg_sq: b.exp_avg_sq.as_mut_ptr(),
            max_exp_avg_sq: optional_ptr::<T, AMSGRAD>(b.max_exp_avg_sq),
            // SAFETY: the caller guarantees the tier (a token of `I` exists).
            grad_scale: unsafe { I::splat(c.grad_scale) },
            // SAFETY: the caller guarantees the tier.
            adam: unsafe { AdamLanes::new(c) },
        };
        // SAFETY: the buffers are `Checked` (one length `n`; the optional one
        // present when its flag is on), `for_each_block` stays inside `0..n`,
        // and the caller guarantees the tier.
        unsafe { for_each_block::<I, T, _>(b.param.len(), &body) }
    }
}

/// One Adam step on the token's tier: the weight-decay mode, `maximize` and
/// AMSGrad picked as const parameters, each combination in a
/// `#[target_feature]` function of its own.
pub(crate) fn adam<I: Lanes<T> + Enter, T: Float>(
    token: I,
    buffers: Checked<AdamBuffers<'_, T>>,
    c: &AdamCoefficients<T>,
) {
    let amsgrad = buffers.get().max_exp_avg_sq.is_some();
    match c.decay {
        Decay::None => enter_with_flags(token, AdamCall::<T, WD_NONE>(buffers, c), c.maximize, amsgrad),
        Decay::L2(_) => enter_with_flags(token, AdamCall::<T, WD_L2>(buffers, c), c.maximize, amsgrad),
        Decay::Decoupled(_) => {
            enter_with_flags(token, AdamCall::<T, WD_DECOUPLED>(buffers, c), c.maximize, amsgrad)
        }
    }
}

/// Adam's mixed-precision form: [`AdamLanes::step`] with the weight-decay
/// mode `WD` and AMSGrad fixed, over the slots `exp_avg`, `exp_avg_sq` and
/// (AMSGrad) `max_exp_avg_sq`.
pub(crate) struct AdamForm<I: Lanes<f32>, const WD: u8, const AMSGRAD: bool>(AdamLanes<I, f32>);

impl<I: Lanes<f32>, const WD: u8, const AMSGRAD: bool> LaneForm<I> for AdamForm<I, WD, AMSGRAD> {
    type Coefficients = AdamCoefficients<f32>;
    const READS: [bool; MAX_MIXED_STATE] = [true, true, AMSGRAD];
    const WRITES: [bool; MAX_MIXED_STATE] = [true, true, AMSGRAD];

    #[inline(always)]
    unsafe fn new(c: &AdamCoefficients<f32>) -> Self {
        // SAFETY: forwarded from the caller (the tier).
        AdamForm(unsafe { AdamLanes::new(c) })
    }

    #[inline(always)]
    unsafe fn update(
        &self,
        g: I::V,
        p: I::V,
        state: [I::V; MAX_MIXED_STATE],
    ) -> (I::V, [I::V; MAX_MIXED_STATE]) {
        // SAFETY: forwarded from the caller (the tier).
        unsafe { self.0.step::<WD, AMSGRAD>(g, p, state) }
    }
}

impl MixedForms for AdamCoefficients<f32> {
    /// The weight-decay mode from the scalars, AMSGrad from the third slot.
    #[inline(always)]
    fn select<I: Lanes<f32>, W: WithForm<I, Self>>(
        &self,
        given: [bool; MAX_MIXED_STATE],
        call: W,
    ) -> W::Output {
        match (self.decay, given[2]) {
            (Decay::None, false) => call.run::<AdamForm<I, WD_NONE, false>>(),
            (Decay::None, true) => call.run::<AdamForm<I, WD_NONE, true>>(),
            (Decay::L2(_), false) => call.run::<AdamForm<I, WD_L2, false>>(),
            (Decay::L2(_), true) => call.run::<AdamForm<I, WD_L2, true>>(),
            (Decay::Decoupled(_), false) => call.run::<AdamForm<I, WD_DECOUPLED, false>>(),
            (Decay::Decoupled(_), true) => call.run::<AdamForm<I, WD_DECOUPLED, true>>(),
        }
    }
}
