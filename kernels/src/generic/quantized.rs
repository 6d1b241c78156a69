//! The 8-bit-state step over the lane trait, for every algorithm with a
//! mixed-precision update: per block of `QUANT_BLOCK` elements, the codes
//! decoded and scaled, the algorithm's [`LaneForm`] (the same code its `f32`
//! kernel runs), the new state kept in a stack block, its absmax, and the
//! codes re-encoded with integer operations on the lanes' bits (the codes,
//! formula and op order: [`crate::spec::quantized`](mod@crate::spec::quantized)).
//!
//! # Where the time goes, and the loop's shape
//!
//! The step's `f32` update is bound by the division and square root; what
//! the 8-bit state adds is integer work on every element of every slot
//! (decode, absmax, encode), about twice the update's own vector
//! operations. So the loop is shaped to spend as few operations as
//! possible on it:
//!
//! - **whole blocks** (every block but a tensor's last) run a loop of
//!   whole vectors with no partial-vector test;
//! - **the absmax is an integer max** of the values' bits without the sign
//!   (one operation, where the float max with the NaN rule takes three):
//!   for non-negative floats the integer order is the float order, and a
//!   NaN's bits are above inf's, so any NaN still wins;
//! - **a block whose absmax and inverse are finite** (every block but an
//!   all-zero one, one holding NaN or inf, or one of a subnormal absmax)
//!   is encoded by [`encode_finite`], which needs neither the NaN select
//!   nor the top clamp;
//! - **decoding tests a code for zero with one float compare** of its
//!   shifted bits ([`HalfLanes::where_nonzero`]), and the signed code's sign
//!   moves with one arithmetic shift.
//!
//! Tried and left out: deferring each block's encode into the next block's
//! update loop (so that its integer work would run beside the divider)
//! measured no faster, in cache or at 2²⁶ elements, and cost a second
//! staging block.

use super::mixed::{LaneForm, MixedForms, WithForm};
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
        let base = I::splat_u(if SIGNED { SIGNED_BASE } else { UNSIGNED_BASE } << 20);
        // The magnitude in place (bits 20..26, resp. 20..27) and, signed, the
        // sign at bit 31 (the code shifted to the top, back by 4 copying the
        // sign, the copies cleared): as a float, `±0.0` for magnitude 0,
        // else a tiny nonzero one. Adding the base does not carry into the
        // sign (`(127 + 889) << 20 < 2³¹`); for magnitude 0 nothing is
        // added, so `0x80` stays `−0.0`.
        let x = if SIGNED {
            I::and_u(I::sra_u::<4>(I::shl_u::<24>(c)), I::splat_u(0x87F0_0000))
        } else {
            I::shl_u::<20>(c)
        };
        I::from_bits(I::add_u(x, I::where_nonzero(I::from_bits(x), base)))
    }
}

/// Encodes the lanes `y` (each `|y| ≤ 1` up to rounding) to codes: any
/// value, NaN and inf included.
///
/// # Safety
/// The tier `I` is available.
#[inline(always)]
unsafe fn encode<I: HalfLanes, const SIGNED: bool>(y: I::V) -> I::U {
    // SAFETY: the caller guarantees the tier.
    unsafe {
        let b = I::select_nan(y, I::splat_u(0), I::to_bits(y));
        let a = I::and_u(b, I::splat_u(0x7FFF_FFFF));
        let k = I::shr_u::<20>(I::add_u(a, I::splat_u(0x80000)));
        let base = if SIGNED { SIGNED_BASE } else { UNSIGNED_BASE };
        let mag = I::sub_u(I::min_u(I::max_u(k, I::splat_u(base)), I::splat_u(CODE_TOP)), I::splat_u(base));
        if SIGNED { with_sign::<I>(b, mag) } else { mag }
    }
}

/// [`encode`] for a block whose `absmax` and `1/absmax` are both finite,
/// the common case: every `y` is then finite and `|y| < 1.0625` (as
/// `|s| ≤ absmax` and `inv` is `1/absmax` rounded once, `|y| ≤ (1 + 2⁻²⁴)²`),
/// which rounds to at most the top code, so neither the NaN select nor the
/// top clamp can act. The
/// bottom clamp moves before the rounding (`max(a, base << 20)`: rounding is
/// monotone and `base << 20` rounds to itself, so the two orders agree) and
/// the subtraction of the base folds into the rounding's constant: four
/// integer operations for the unsigned code, seven for the signed.
///
/// # Safety
/// The tier `I` is available.
#[inline(always)]
unsafe fn encode_finite<I: HalfLanes, const SIGNED: bool>(y: I::V) -> I::U {
    // SAFETY: the caller guarantees the tier.
    unsafe {
        let base = if SIGNED { SIGNED_BASE } else { UNSIGNED_BASE } << 20;
        let b = I::to_bits(y);
        let a = I::max_u(I::and_u(b, I::splat_u(0x7FFF_FFFF)), I::splat_u(base));
        // `a ≥ base`, so `a − base + 0x80000` does not wrap.
        let mag = I::shr_u::<20>(I::add_u(a, I::splat_u(0x80000u32.wrapping_sub(base))));
        if SIGNED { with_sign::<I>(b, mag) } else { mag }
    }
}

/// The signed code: `b`'s sign bit as the code's bit `0x80` over `mag`.
///
/// # Safety
/// The tier `I` is available.
#[inline(always)]
unsafe fn with_sign<I: HalfLanes>(b: I::U, mag: I::U) -> I::U {
    // SAFETY: the caller guarantees the tier.
    unsafe { I::or_u(I::shr_u::<24>(I::and_u(b, I::splat_u(0x8000_0000))), mag) }
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

    /// Block `j`'s update: elements `start .. start + len` (`len <=
    /// QUANT_BLOCK`; `FULL`: `len == QUANT_BLOCK`, so every vector is whole,
    /// as in every block but a tensor's last). The parameters are stored,
    /// the written slots' new values go to `staging`, and their absmax is
    /// returned.
    ///
    /// # Safety
    /// The range is in bounds of the parameter, the gradient and every slot
    /// `F` reads or writes, block `j` of their scales too; the tier `I` is
    /// available.
    #[inline(always)]
    unsafe fn update<const FULL: bool>(
        &self,
        j: usize,
        start: usize,
        len: usize,
        staging: &mut Staging,
    ) -> [f32; MAX_MIXED_STATE] {
        let n = I::N;
        let len = if FULL { QUANT_BLOCK } else { len };
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
            // The absmax as the bits of `|s|`: for values without a sign
            // bit the integer order is the float order, with every NaN above
            // inf, so an integer max gives the float max and any NaN wins.
            let mut absmax = [I::splat_u(0); MAX_MIXED_STATE];
            let magnitude = I::splat_u(0x7FFF_FFFF);
            let mut o = 0;
            while o < len {
                let m = if FULL { n } else { n.min(len - o) };
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
                        absmax[k] = I::max_u(absmax[k], I::and_u(I::to_bits(s), magnitude));
                    }
                }
                o += m;
            }
            core::array::from_fn(|k| {
                let mut folded = [0.0f32; MAX_VECTOR_BYTES / 4];
                I::store(folded.as_mut_ptr(), I::from_bits(absmax[k]));
                f32::from_bits(folded[..n].iter().fold(0, |acc, x| acc.max(x.to_bits())))
            })
        }
    }

    /// Block `j`'s scales and codes after its [`update`](Self::update).
    ///
    /// # Safety
    /// As [`update`](Self::update), `staging` holding the block's values.
    #[inline(always)]
    unsafe fn finish<const FULL: bool>(
        &self,
        j: usize,
        start: usize,
        len: usize,
        staging: &Staging,
        absmax: [f32; MAX_MIXED_STATE],
    ) {
        // SAFETY: block `j`'s scales and `start .. start + len` of the codes
        // are in bounds (the caller); `staging` rows hold `len` values.
        unsafe {
            for (k, &absmax) in absmax.iter().enumerate() {
                if !F::WRITES[k] {
                    continue;
                }
                *self.state[k].scales.add(j) = absmax;
                let inv = 1.0 / absmax;
                let row = staging.0[k].as_ptr();
                let codes = self.state[k].codes.add(start);
                // Both finite: the block holds no NaN or inf (`absmax`) and is
                // not all zero or of a subnormal absmax whose inverse
                // overflows (`inv`).
                match (U::SIGNED[k], absmax.is_finite() && inv.is_finite()) {
                    (true, true) => encode_row::<I, FULL, true, true>(row, codes, len, inv),
                    (false, true) => encode_row::<I, FULL, false, true>(row, codes, len, inv),
                    (true, false) => encode_row::<I, FULL, true, false>(row, codes, len, inv),
                    (false, false) => encode_row::<I, FULL, false, false>(row, codes, len, inv),
                }
            }
        }
    }
}

/// Codes `encode(row[o]·inv)` for `o < len` into `codes` (the `SIGNED`
/// code; `FINITE`: the absmax and `inv` are finite, so [`encode_finite`]
/// serves).
///
/// # Safety
/// `row` is valid for `len` reads, `codes` for `len` writes, `len ==
/// QUANT_BLOCK` when `FULL`, `inv` and the block's absmax finite when `FINITE`; the tier `I` is
/// available.
#[inline(always)]
unsafe fn encode_row<I: HalfLanes, const FULL: bool, const SIGNED: bool, const FINITE: bool>(
    row: *const f32,
    codes: *mut u8,
    len: usize,
    inv: f32,
) {
    let n = I::N;
    let len = if FULL { QUANT_BLOCK } else { len };
    // SAFETY: `o + m <= len`, in bounds of both (the caller); the tier is
    // available (the caller).
    unsafe {
        let inv = I::splat(inv);
        let mut o = 0;
        while o < len {
            let m = if FULL { n } else { n.min(len - o) };
            let y = I::mul(load_n::<I, f32>(row.add(o), m), inv);
            let c = if FINITE { encode_finite::<I, SIGNED>(y) } else { encode::<I, SIGNED>(y) };
            store_u8_n::<I>(codes.add(o), m, c);
            o += m;
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
            while n - start >= QUANT_BLOCK {
                let absmax = body.update::<true>(j, start, QUANT_BLOCK, &mut staging);
                body.finish::<true>(j, start, QUANT_BLOCK, &staging, absmax);
                start += QUANT_BLOCK;
                j += 1;
            }
            if start < n {
                let len = n - start;
                let absmax = body.update::<false>(j, start, len, &mut staging);
                body.finish::<false>(j, start, len, &staging, absmax);
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
