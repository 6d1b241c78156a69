//! The 8-bit-state step over the lane trait, for every algorithm with a
//! mixed-precision update: per block of `QUANT_BLOCK` elements, the codes
//! decoded and scaled, the algorithm's [`LaneForm`] (the same code its `f32`
//! kernel runs), the new state kept in a stack block, its absmax, and the
//! codes re-encoded with integer operations on the lanes' bits (the codes,
//! formula and op order: [`crate::spec::quantized`](mod@crate::spec::quantized)).

use super::mixed::{LaneForm, MixedForms, WithForm};
use crate::float::max_nan;
use crate::lanes::{Enter, MAX_VECTOR_BYTES, Variant, load_n, store_n};
use crate::narrow::{HalfLanes, load_u8_n, store_u8_n};
use crate::operands::{
    Checked, MAX_MIXED_STATE, MixedUpdate, QUANT_BLOCK, QuantizedBuffers, QuantizedCoefficients,
};

/// The signed code's base (`spec::quantized::SIGNED_BASE`).
const SIGNED_BASE: u32 = 889;
/// The unsigned code's base (`spec::quantized::UNSIGNED_BASE`).
const UNSIGNED_BASE: u32 = 761;
/// `1.0`'s bits `>> 20`.
const CODE_TOP: u32 = 1016;

/// Decodes code lanes `c` (each below 2⁸) to their values.
///
/// # Safety
/// The tier `I` is available.
#[inline(always)]
unsafe fn decode<I: HalfLanes, const SIGNED: bool>(c: I::U) -> I::V {
    // SAFETY: the caller guarantees the tier.
    unsafe {
        let base = I::splat_u(if SIGNED { SIGNED_BASE } else { UNSIGNED_BASE });
        let mag = if SIGNED { I::and_u(c, I::splat_u(0x7F)) } else { c };
        // All ones where the magnitude is nonzero, else zero: `0 − min(mag, 1)`.
        let nonzero = I::sub_u(I::splat_u(0), I::min_u(mag, I::splat_u(1)));
        let bits = I::and_u(I::shl_u::<20>(I::add_u(mag, base)), nonzero);
        let bits = if SIGNED { I::or_u(bits, I::shl_u::<24>(I::and_u(c, I::splat_u(0x80)))) } else { bits };
        I::from_bits(bits)
    }
}

/// Encodes the lanes `y` (each `|y| ≤ 1` up to rounding) to codes.
///
/// # Safety
/// The tier `I` is available.
#[inline(always)]
unsafe fn encode<I: HalfLanes, const SIGNED: bool>(y: I::V) -> I::U {
    // SAFETY: the caller guarantees the tier.
    unsafe {
        let b = I::select_nan(y, I::splat_u(0), I::to_bits(y));
        let a = I::and_u(b, I::splat_u(0x7FFF_FFFF));
        let odd = I::and_u(I::shr_u::<20>(a), I::splat_u(1));
        let k = I::shr_u::<20>(I::add_u(I::add_u(a, I::splat_u(0x7FFFF)), odd));
        let base = if SIGNED { SIGNED_BASE } else { UNSIGNED_BASE };
        let mag = I::sub_u(I::min_u(I::max_u(k, I::splat_u(base)), I::splat_u(CODE_TOP)), I::splat_u(base));
        if SIGNED { I::or_u(I::shr_u::<24>(I::and_u(b, I::splat_u(0x8000_0000))), mag) } else { mag }
    }
}

/// One block's new `f32` state values, one row per slot (aligned for the
/// widest vector).
#[repr(C, align(64))]
struct Staging([[f32; QUANT_BLOCK]; MAX_MIXED_STATE]);

/// The pointers of one state slot.
#[derive(Clone, Copy)]
struct Slot {
    codes: *mut u8,
    scales: *mut f32,
}

/// The block loop for one form `F` of the algorithm `U` (whose slots'
/// codes, [`MixedUpdate::SIGNED`], are constants here).
struct QuantizedBody<I: HalfLanes, U, F> {
    param: *mut f32,
    grad: *mut f32,
    state: [Slot; MAX_MIXED_STATE],
    form: F,
    _algorithm: core::marker::PhantomData<U>,
    grad_scale: I::V,
    zero: I::V,
    zero_grad: bool,
}

impl<I: HalfLanes, U: MixedUpdate, F: LaneForm<I>> QuantizedBody<I, U, F> {
    /// Slot `k`'s lanes at `o` (`m` of them), decoded and scaled.
    ///
    /// # Safety
    /// As [`Self::block`].
    #[inline(always)]
    unsafe fn load_state(&self, k: usize, o: usize, m: usize, scale: I::V) -> I::V {
        // SAFETY: forwarded from the caller.
        unsafe {
            let c = load_u8_n::<I>(self.state[k].codes.add(o), m);
            let x = if U::SIGNED[k] { decode::<I, true>(c) } else { decode::<I, false>(c) };
            I::mul(x, scale)
        }
    }

    /// Block `j`: elements `start .. start + len` (`len <= QUANT_BLOCK`).
    ///
    /// # Safety
    /// The range is in bounds of the parameter, the gradient and every slot
    /// `F` reads or writes, block `j` of their scales too; the tier `I` is
    /// available.
    #[inline(always)]
    unsafe fn block(&self, j: usize, start: usize, len: usize, staging: &mut Staging) {
        let n = I::N;
        // SAFETY: every access is at `start + o` with `o + m <= len` (the
        // caller's range) or into `staging` at `o + m <= len <= QUANT_BLOCK`;
        // the slots touched are those `F` reads or writes, whose pointers the
        // caller vouches for; the tier is available.
        unsafe {
            let mut scale = [self.zero; MAX_MIXED_STATE];
            for (k, s) in scale.iter_mut().enumerate() {
                if F::READS[k] {
                    *s = I::splat(*self.state[k].scales.add(j));
                }
            }
            let mut absmax = [self.zero; MAX_MIXED_STATE];
            let mut o = 0;
            while o < len {
                let m = n.min(len - o);
                let at = start + o;
                let g = I::mul(load_n::<I, f32>(self.grad.add(at), m), self.grad_scale);
                if self.zero_grad {
                    store_n::<I, f32>(self.grad.add(at), m, self.zero);
                }
                let p = load_n::<I, f32>(self.param.add(at), m);
                let mut state = [self.zero; MAX_MIXED_STATE];
                for (k, s) in state.iter_mut().enumerate() {
                    if F::READS[k] {
                        *s = self.load_state(k, at, m, scale[k]);
                    }
                }
                let (p, state) = self.form.update(g, p, state);
                store_n::<I, f32>(self.param.add(at), m, p);
                for k in 0..MAX_MIXED_STATE {
                    if F::WRITES[k] {
                        let row = staging.0[k].as_mut_ptr().add(o);
                        store_n::<I, f32>(row, m, state[k]);
                        // A partial vector's other lanes are not the block's:
                        // the max reads back the `m` stored (the rest zero).
                        let s = if m == n { state[k] } else { load_n::<I, f32>(row, m) };
                        absmax[k] = I::max(absmax[k], I::abs(s));
                    }
                }
                o += m;
            }
            for (k, lanes) in absmax.into_iter().enumerate() {
                if !F::WRITES[k] {
                    continue;
                }
                let mut folded = [0.0f32; MAX_VECTOR_BYTES / 4];
                I::store(folded.as_mut_ptr(), lanes);
                let absmax = folded[..n].iter().fold(0.0f32, |acc, &x| max_nan(acc, x));
                let inv = I::splat(1.0 / absmax);
                let mut o = 0;
                while o < len {
                    let m = n.min(len - o);
                    let y = I::mul(load_n::<I, f32>(staging.0[k].as_ptr().add(o), m), inv);
                    let c = if U::SIGNED[k] { encode::<I, true>(y) } else { encode::<I, false>(y) };
                    store_u8_n::<I>(self.state[k].codes.add(start + o), m, c);
                    o += m;
                }
                *self.state[k].scales.add(j) = absmax;
            }
        }
    }
}

/// One 8-bit-state call; with its form `F` fixed (`F = ()` while waiting:
/// see [`WithForm`]), a [`Variant`].
struct QuantizedCall<'a, 'c, I, U, F> {
    token: I,
    buffers: Checked<QuantizedBuffers<'a>>,
    coefficients: &'c QuantizedCoefficients<U>,
    _form: core::marker::PhantomData<F>,
}

impl<'a, 'c, I, U, F> QuantizedCall<'a, 'c, I, U, F> {
    fn new(
        token: I,
        buffers: Checked<QuantizedBuffers<'a>>,
        coefficients: &'c QuantizedCoefficients<U>,
    ) -> Self {
        QuantizedCall { token, buffers, coefficients, _form: core::marker::PhantomData }
    }
}

impl<I, U, F> Variant<I> for QuantizedCall<'_, '_, I, U, F>
where
    I: HalfLanes,
    U: MixedUpdate,
    F: LaneForm<I, Coefficients = U>,
{
    type Output = ();

    #[inline(always)]
    unsafe fn run(self) {
        let (b, ()) = self.buffers.into_parts();
        let c = self.coefficients;
        let grad_scale = if c.algorithm.maximize() { -c.grad_scale } else { c.grad_scale };
        let n = b.param.len();
        let QuantizedBuffers { param, grad, mut state } = b;
        let state = core::array::from_fn(|k| {
            if F::READS[k] || F::WRITES[k] {
                let s = state[k].take().expect("a state slot the step needs is given");
                Slot { codes: s.codes.as_mut_ptr(), scales: s.scales.as_mut_ptr() }
            } else {
                Slot { codes: core::ptr::null_mut(), scales: core::ptr::null_mut() }
            }
        });
        // SAFETY: the tier is available (caller); the buffers are `Checked`
        // (codes of length `n`, `n.div_ceil(QUANT_BLOCK)` scales per given
        // slot), the pointers of every slot `F` touches come from them (the
        // `expect` above), and every block is inside `0..n`.
        unsafe {
            let body = QuantizedBody::<I, U, F> {
                param: param.as_mut_ptr(),
                grad: grad.as_mut_ptr(),
                state,
                form: F::new(&c.algorithm),
                _algorithm: core::marker::PhantomData,
                grad_scale: I::splat(grad_scale),
                zero: I::splat(0.0),
                zero_grad: c.zero_grad,
            };
            let mut staging = Staging([[0.0; QUANT_BLOCK]; MAX_MIXED_STATE]);
            let mut start = 0;
            let mut j = 0;
            while start < n {
                let len = QUANT_BLOCK.min(n - start);
                body.block(j, start, len, &mut staging);
                start += len;
                j += 1;
            }
        }
    }
}

impl<I, U> WithForm<I, U> for QuantizedCall<'_, '_, I, U, ()>
where
    I: HalfLanes + Enter,
    U: MixedUpdate,
{
    type Output = ();

    #[inline(always)]
    fn run<F: LaneForm<I, Coefficients = U>>(self) {
        let QuantizedCall { token, buffers, coefficients, .. } = self;
        token.enter(QuantizedCall::<I, U, F>::new(token, buffers, coefficients))
    }
}

/// One 8-bit-state step of the algorithm `U` on the token's tier: the
/// algorithm's options as its form, each in a `#[target_feature]` function
/// of its own.
///
/// # Panics
/// If a state slot the options need is absent (before anything is written).
pub(crate) fn quantized<I: HalfLanes + Enter, U: MixedForms>(
    token: I,
    b: Checked<QuantizedBuffers<'_>>,
    c: &QuantizedCoefficients<U>,
) {
    if let Some(slot) = b.get().missing::<U>() {
        panic!("8-bit {} step: state[{slot}] is needed but not given", U::NAME);
    }
    let given = b.get().given();
    c.algorithm.select(given, QuantizedCall::<I, U, ()>::new(token, b, c))
}
