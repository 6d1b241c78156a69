//! Mixed-precision Adam over the lane trait: `bf16`/`f16` storage, `f32`
//! arithmetic, Adam's per-vector update shared with [`super::adam`] (the
//! layouts, formula and op order:
//! [`crate::spec::adam_mixed`](mod@crate::spec::adam_mixed)).

use super::adam::{AdamLanes, WD_DECOUPLED, WD_L2, WD_NONE};
use crate::lanes::{Block, Enter, Variant, for_each_block};
use crate::narrow::{Dtype, HalfLanes, Storage, bf16, f16, random_lanes};
use crate::operands::{Checked, Decay, MixedAdamBuffers, MixedAdamCoefficients, MixedSlice, StochasticKeys};

/// The per-vector update for one layout (`C` is the copy's type, unused
/// without `COPY`) and one weight-decay mode and AMSGrad setting.
struct MixedBody<I: HalfLanes, P, G, S, C, const WD: u8, const AMSGRAD: bool, const COPY: bool> {
    param: *mut P,
    grad: *mut G,
    exp_avg: *mut S,
    exp_avg_sq: *mut S,
    max_exp_avg_sq: *mut S,
    copy: *mut C,
    adam: AdamLanes<I, f32>,
    grad_scale: I::V,
    zero: I::V,
    zero_grad: bool,
    stochastic: Option<StochasticKeys>,
    position: u32,
}

impl<I, P, G, S, C, const WD: u8, const AMSGRAD: bool, const COPY: bool>
    MixedBody<I, P, G, S, C, WD, AMSGRAD, COPY>
where
    I: HalfLanes,
{
    /// Stores `v` to `p + o`, stochastically with `key` when stochastic
    /// rounding is on and `T` is `bf16`.
    ///
    /// # Safety
    /// As [`Block::run`].
    #[inline(always)]
    unsafe fn put<T: Storage>(
        &self,
        p: *mut T,
        o: usize,
        n: usize,
        v: I::V,
        key: impl Fn(&StochasticKeys) -> u32,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe {
            match self.stochastic {
                Some(keys) if T::DTYPE == Dtype::Bf16 => {
                    let random = random_lanes::<I>(key(&keys), self.position.wrapping_add(o as u32));
                    T::store_stochastic::<I>(p.add(o), n, v, random)
                }
                _ => T::store::<I>(p.add(o), n, v),
            }
        }
    }
}

impl<I, P, G, S, C, const WD: u8, const AMSGRAD: bool, const COPY: bool> Block
    for MixedBody<I, P, G, S, C, WD, AMSGRAD, COPY>
where
    I: HalfLanes,
    P: Storage,
    G: Storage,
    S: Storage,
    C: Storage,
{
    #[inline(always)]
    unsafe fn run(&self, o: usize, n: usize) {
        // SAFETY: `o + n` is within every buffer (the optional ones non-null
        // exactly when their flag is on); the tier is available.
        unsafe {
            let g = I::mul(G::load::<I>(self.grad.add(o), n), self.grad_scale);
            if self.zero_grad {
                G::store::<I>(self.grad.add(o), n, self.zero);
            }
            let (g, p) = self.adam.decay::<WD>(g, P::load::<I>(self.param.add(o), n));
            let m = self.adam.first_moment(S::load::<I>(self.exp_avg.add(o), n), g);
            self.put(self.exp_avg, o, n, m, |k| k.exp_avg);
            let v = self.adam.second_moment(S::load::<I>(self.exp_avg_sq.add(o), n), g);
            self.put(self.exp_avg_sq, o, n, v, |k| k.exp_avg_sq);
            let v_hat = if AMSGRAD {
                let vm = I::max(S::load::<I>(self.max_exp_avg_sq.add(o), n), v);
                self.put(self.max_exp_avg_sq, o, n, vm, |k| k.max_exp_avg_sq);
                vm
            } else {
                v
            };
            let p = self.adam.update(p, m, v_hat);
            self.put(self.param, o, n, p, |k| k.param);
            if COPY {
                C::store::<I>(self.copy.add(o), n, p);
            }
        }
    }
}

/// The raw pointer of a buffer that the layout match says is of type `T`,
/// null when it is optional and its option `ON` is off.
///
/// # Panics
/// If the buffer's type is not `T`, or `ON` is set and the buffer is absent
/// (the layout and the flags are computed from the buffers, so this checks
/// the selection, once per call).
fn pointer<T: Storage, const ON: bool>(s: Option<&mut MixedSlice<'_>>) -> *mut T {
    if !ON {
        return core::ptr::null_mut();
    }
    s.and_then(MixedSlice::typed_ptr::<T>).expect("the layout and the options were matched before")
}

/// One mixed-precision Adam call with its layout (`P, G, S, C`) and options
/// fixed (see [`Variant`]); 72 of them per tier.
struct MixedVariant<'a, 'c, P, G, S, C, const WD: u8, const AMSGRAD: bool, const COPY: bool> {
    buffers: Checked<MixedAdamBuffers<'a>>,
    coefficients: &'c MixedAdamCoefficients,
    _types: core::marker::PhantomData<(P, G, S, C)>,
}

impl<I, P, G, S, C, const WD: u8, const AMSGRAD: bool, const COPY: bool> Variant<I>
    for MixedVariant<'_, '_, P, G, S, C, WD, AMSGRAD, COPY>
where
    I: HalfLanes,
    P: Storage,
    G: Storage,
    S: Storage,
    C: Storage,
{
    type Output = ();

    #[inline(always)]
    unsafe fn run(self) {
        let (mut b, _) = self.buffers.into_parts();
        let c = self.coefficients;
        let grad_scale = if c.adam.maximize { -c.grad_scale } else { c.grad_scale };
        let n = b.param.len();
        // SAFETY: the tier is available (caller); the buffers are `Checked`
        // (one length `n`), the pointers come from them with the types matched
        // to `P, G, S, C` (`pointer` asserts it), and `for_each_block` stays
        // inside `0..n`.
        unsafe {
            let body = MixedBody::<I, P, G, S, C, WD, AMSGRAD, COPY> {
                param: pointer::<P, true>(Some(&mut b.param)),
                grad: pointer::<G, true>(Some(&mut b.grad)),
                exp_avg: pointer::<S, true>(Some(&mut b.exp_avg)),
                exp_avg_sq: pointer::<S, true>(Some(&mut b.exp_avg_sq)),
                max_exp_avg_sq: pointer::<S, AMSGRAD>(b.max_exp_avg_sq.as_mut()),
                copy: pointer::<C, COPY>(b.param_copy.as_mut()),
                adam: AdamLanes::new(&c.adam),
                grad_scale: I::splat(grad_scale),
                zero: I::splat(0.0),
                zero_grad: c.zero_grad,
                stochastic: c.stochastic,
                position: b.position as u32,
            };
            for_each_block::<I, f32, _>(n, &body);
        }
    }
}

/// The weight-decay mode and AMSGrad as const parameters, for the layout
/// `P, G, S, C` (`COPY`: whether a copy is written).
#[inline(always)]
fn run_layout<I, P, G, S, C, const COPY: bool>(
    token: I,
    b: Checked<MixedAdamBuffers<'_>>,
    c: &MixedAdamCoefficients,
) where
    I: HalfLanes + Enter,
    P: Storage,
    G: Storage,
    S: Storage,
    C: Storage,
{
    fn variant<'a, 'c, P, G, S, C, const WD: u8, const AMSGRAD: bool, const COPY: bool>(
        buffers: Checked<MixedAdamBuffers<'a>>,
        coefficients: &'c MixedAdamCoefficients,
    ) -> MixedVariant<'a, 'c, P, G, S, C, WD, AMSGRAD, COPY> {
        MixedVariant { buffers, coefficients, _types: core::marker::PhantomData }
    }
    match (c.adam.decay, b.get().max_exp_avg_sq.is_some()) {
        (Decay::None, false) => token.enter(variant::<P, G, S, C, WD_NONE, false, COPY>(b, c)),
        (Decay::None, true) => token.enter(variant::<P, G, S, C, WD_NONE, true, COPY>(b, c)),
        (Decay::L2(_), false) => token.enter(variant::<P, G, S, C, WD_L2, false, COPY>(b, c)),
        (Decay::L2(_), true) => token.enter(variant::<P, G, S, C, WD_L2, true, COPY>(b, c)),
        (Decay::Decoupled(_), false) => token.enter(variant::<P, G, S, C, WD_DECOUPLED, false, COPY>(b, c)),
        (Decay::Decoupled(_), true) => token.enter(variant::<P, G, S, C, WD_DECOUPLED, true, COPY>(b, c)),
    }
}

/// One mixed-precision Adam step on the token's tier: the layout (from the
/// check, derived once), the weight-decay mode and AMSGrad picked as type and
/// const parameters, each combination in a `#[target_feature]` function of
/// its own.
pub(crate) fn adam_mixed<I: HalfLanes + Enter>(
    token: I,
    b: Checked<MixedAdamBuffers<'_>>,
    c: &MixedAdamCoefficients,
) {
    use Dtype::{Bf16, F16, F32};
    let layout = b.facts();
    match (layout.param, layout.grad, layout.state, layout.copy) {
        (F32, F32, F32, None) => run_layout::<I, f32, f32, f32, f32, false>(token, b, c),
        (F32, Bf16, F32, None) => run_layout::<I, f32, bf16, f32, f32, false>(token, b, c),
        (F32, F16, F32, None) => run_layout::<I, f32, f16, f32, f32, false>(token, b, c),
        (F32, F32, F32, Some(Bf16)) => run_layout::<I, f32, f32, f32, bf16, true>(token, b, c),
        (F32, Bf16, F32, Some(Bf16)) => run_layout::<I, f32, bf16, f32, bf16, true>(token, b, c),
        (F32, F16, F32, Some(Bf16)) => run_layout::<I, f32, f16, f32, bf16, true>(token, b, c),
        (F32, F32, F32, Some(F16)) => run_layout::<I, f32, f32, f32, f16, true>(token, b, c),
        (F32, Bf16, F32, Some(F16)) => run_layout::<I, f32, bf16, f32, f16, true>(token, b, c),
        (F32, F16, F32, Some(F16)) => run_layout::<I, f32, f16, f32, f16, true>(token, b, c),
        (Bf16, Bf16, F32, None) => run_layout::<I, bf16, bf16, f32, f32, false>(token, b, c),
        (Bf16, Bf16, Bf16, None) => run_layout::<I, bf16, bf16, bf16, f32, false>(token, b, c),
        (F16, F16, F32, None) => run_layout::<I, f16, f16, f32, f32, false>(token, b, c),
        _ => unreachable!("unsupported layout {layout}: `Checked` admits only supported ones"),
    }
}
