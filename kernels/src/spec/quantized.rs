//! The 8-bit-state step of every algorithm with a mixed-precision update
//! (Adam / AdamW / AMSGrad, Lion, SGD with momentum): `f32` parameters and
//! gradients, each state buffer stored as one byte per element through a
//! non-linear code, with one `f32` scale (the block's absolute maximum) per
//! block of [`QUANT_BLOCK`] elements, in the spirit of bitsandbytes' 8-bit
//! blockwise optimizers. Each step dequantizes a block, runs the algorithm's
//! `f32` update on it, finds the block's new absmax and requantizes, in one
//! pass over memory.
//!
//! # Block size: 256
//!
//! - it is the block size of bitsandbytes' blockwise 8-bit optimizers
//!   (its 0.50 `AdamW8bit` keeps 16 absmax scales per moment for a tensor
//!   of 4096 elements), so states and behaviour compare directly;
//! - the scales cost `4/256` byte per element per slot: `0.03` byte per
//!   parameter for Adam's two moments (against 8 bytes of `f32` state);
//! - a block is 16 AVX-512 vectors (32 AVX2, 64 SSE): no block ever ends
//!   inside a vector except the tensor's last, and the block's new `f32`
//!   values (at most 3 slots × 1 KiB) stay in L1 between the update and the
//!   requantization;
//! - an outlier spoils only its own 256 elements' resolution.
//!
//! The thread driver must cut the buffers at multiples of 256 only
//! ([`QuantizedBuffers`]' `split_at` panics otherwise): blocks are counted
//! from element 0, so a cut at a block boundary gives each piece whole
//! blocks and the same bytes as one call.
//!
//! # The codes
//!
//! Float-like, normalized so that the block's absmax is `1.0`, with 3
//! mantissa bits: a code is the top bits of an `f32` bit pattern, so
//! encoding is a handful of integer operations on the `f32` bits (the same
//! on every tier, no table, no search) and decoding one shift and add.
//!
//! - **unsigned** (values ≥ 0: Adam's `exp_avg_sq` and `max_exp_avg_sq`):
//!   byte `c`; [`decode_unsigned`]`(0) = 0.0`, else
//!   `f32::from_bits((c + 761) << 20)`. So `255 ↦ 1.0`, `254 ↦ 0.9375`, `1 ↦
//!   1.25·2⁻³²`: 32 binades of 8 steps each. The second moment is a square,
//!   so this covers `√v` down to `2⁻¹⁶` of the block's largest.
//! - **signed** (first moments and momentum: Adam's and Lion's `exp_avg`,
//!   SGD's `momentum_buffer`): byte `c = sign << 7 | mag`, the magnitude as
//!   above with base 889 (`mag 127 ↦ 1.0`, `mag 1 ↦ 1.25·2⁻¹⁶`): 16 binades;
//!   [`decode_signed`]`(c) = ±(mag == 0 ? 0.0 : from_bits((mag + 889) << 20))`,
//!   the bit `0x80` giving the negative (so `0x80` decodes to `−0.0`).
//!
//! Within its range a code's relative rounding error is at most `2⁻⁴`
//! (half a step of 3 mantissa bits), the same order as bitsandbytes'
//! dynamic map, whose encoding however needs a search of a 256-entry table;
//! the float-like code needs none and is exactly reproducible in SIMD.
//!
//! **Encoding** `y` (the value already divided by the absmax, so `|y| ≤ 1`
//! up to rounding): `b = y.to_bits()`, a NaN `y` taken as `+0` (`b = 0`);
//! `a = b & 0x7FFF_FFFF`; `k = (a + 0x80000) >> 20` (round to nearest on
//! 3 mantissa bits, ties away from zero, carried into the exponent);
//!
//! - unsigned: `c = min(max(k, 761), 1016) − 761` (the sign is dropped:
//!   `|y|` is stored);
//! - signed: `mag = min(max(k, 889), 1016) − 889`, `c = (b >> 31) << 7 | mag`.
//!
//! So `y > 1` saturates at the top code (255, resp. magnitude 127, which is
//! what `inf` becomes), and an `f32` value that is a code's value encodes to
//! that code (`encode(decode(c)) == c` for every byte, `0x80 ↦ −0.0 ↦ 0x80`
//! included). This is **the nearest code, ties away from zero** (to the
//! larger magnitude),
//! everywhere except the **flush region** just below the smallest nonzero
//! code: the clamp maps `k = 761` (resp. 889), that is the pattern of
//! `1.125·2⁻³²` (resp. `1.125·2⁻¹⁶`), to code 0. Hence, with `u = 2⁻³²`
//! (unsigned) or `2⁻¹⁶` (signed), `|y| < 1.1875·u` encodes to 0 and
//! `|y| ≥ 1.1875·u` to the smallest nonzero code `1.25·u` (the tie at
//! `1.1875·u` goes up), where the nearest code would
//! switch at `0.625·u`. Values in `[0.625·u, 1.1875·u)` of the absmax are
//! flushed to zero: a relative error of at most `1.1875·u` of the block's
//! absmax, never of a value above it.
//!
//! **Why ties away from zero.** A tie (the bits below the third mantissa bit
//! exactly `0x80000`) is one value in 2¹⁹ of a binade, so the rule hardly
//! moves the state; what it moves is the cost: adding half a step and
//! shifting is two integer operations, where ties to even needs three more
//! (the parity bit, extracted and added), on every element of every
//! written slot. The first version of this code rounded ties to even; the
//! rule above took 9% of the 8-bit AdamW step's instructions away on the
//! AVX2 tier (callgrind, `bench/instructions.sh`: 12.49 → 11.33 per
//! element).
//!
//! **What 3 mantissa bits cost.** A moving average whose increment is
//! below half a step of its code is rounded away: with Adam's `β2 = 0.999`,
//! `v` changes by `0.001·(g² − v)` a step, so while `g²` stays within about
//! 30× of `v` the stored `v` does not move (nor does it decay). Early in
//! training `v` then stops growing below its `f32` value, the bias
//! correction divides it by `1 − β2ᵗ` all the same, and the steps come out
//! somewhat larger than with `f32` state. On the issue's quality task
//! (`python/tests/test_state_quality.py`) the 8-bit state ends with a loss
//! 1.9% below the `f32` state's; rounding only `v` through its code each
//! step (in an `f32` run) reproduces that (−1.8%), rounding only `exp_avg`
//! (`β1 = 0.9`: increments of 10%) moves it by +0.3%. Nearest rounding
//! stays because the contract asks for it; stochastic rounding of the codes
//! (as `bf16` state has) is the known remedy.
//!
//! # Formula and op order
//!
//! Per block `j` (elements `[256·j, min(256·(j+1), n))`), first every
//! element in order:
//!
//! ```text
//! g  = grad·grad_scale                 (grad_scale negated once when maximizing)
//! grad = 0                             (if zero_grad)
//! sₖ = decode(codeₖ)·scaleₖ[j]         (each given state slot; one f32 multiply)
//! (p, s) = element(g, p, s)            (the algorithm's f32 update: spec::mixed's table)
//! store p; keep the new sₖ             (the slots the update writes)
//! ```
//!
//! then for each written slot `k`:
//!
//! ```text
//! absmax = max over the block of |sₖ|  (max_nan from +0: any NaN gives NaN)
//! inv    = 1 / absmax                  (one correctly rounded division per block)
//! codeₖ  = encode(sₖ·inv)              (each element)
//! scaleₖ[j] = absmax
//! ```
//!
//! The parameter update of this step uses the `f32` state values before
//! quantization. The fold order of the absmax does not matter: its operands
//! are non-negative, so `max` is the same whatever the order unless one is a
//! NaN, and a NaN's payload is not part of the contract.
//!
//! # NaN, inf, zero
//!
//! - An all-zero block: `absmax = 0`, `inv = inf`, `0·inf = NaN`, which
//!   encodes to code 0; scale 0; it decodes to 0 (`0·0`). The initial state
//!   is all codes 0 and scales 0.
//! - A NaN anywhere in a block's new state: scale NaN, `inv` NaN, so every
//!   code of the block 0; the whole block decodes to NaN next step.
//! - An inf: `inv = 0`, every finite element's code 0 (or `0x80`), the inf's
//!   `inf·0 = NaN ↦ 0`; scale inf, so the whole block decodes to NaN
//!   (`0·inf`) next step.
//! - A tiny absmax: when `1/absmax` overflows (`absmax` below about `2⁻¹²⁸`,
//!   subnormal), `inv = inf`: every nonzero element saturates to the top code
//!   (`±1`), every zero gives `0·inf = NaN ↦ 0`; the scale is the absmax. (A
//!   block whose state is that small has lost its resolution anyway; it
//!   decodes to `±absmax` or 0, never to NaN.)
//!
//! NaN and inf in the gradient propagate as in the algorithm's `f32`
//! kernel; skipping an overflowed step is the caller's (`found_inf`).
//!
//! # Tiers
//!
//! The lane code computes the same values: the update is the algorithm's
//! lane form (its `f32` kernel's code); the absmax an integer max of the
//! values' bits without the sign, lane-wise then across the lanes (for
//! non-negative floats the integer order is the float order and every NaN's
//! bits are above inf's, so it is the `max_nan` fold's value, any NaN
//! winning); `inv` one scalar division; and the codes the integer
//! operations above on the lanes' bits (in blocks whose absmax and `inv` are
//! finite, in the shorter form `generic::quantized` explains, which gives the
//! same codes). So every tier and every cut at block boundaries gives the
//! same bytes and bits.

use crate::float::max_nan;
use crate::operands::{
    Checked, MAX_MIXED_STATE, MixedUpdate, QUANT_BLOCK, QuantizedBuffers, QuantizedCoefficients,
};

/// The unsigned code's base: `(c + UNSIGNED_BASE) << 20` is code `c`'s bits.
pub const UNSIGNED_BASE: u32 = 761;
/// The signed code's base: `(mag + SIGNED_BASE) << 20` is magnitude `mag`'s bits.
pub const SIGNED_BASE: u32 = 889;
/// `1.0`'s bits `>> 20`: the top code's pattern.
pub const CODE_TOP: u32 = 1016;

/// The absolute value's bits rounded to 3 mantissa bits (nearest, ties
/// away from zero), `>> 20`; a NaN is taken as `+0`.
fn rounded_top(b: u32) -> u32 {
    let a = b & 0x7FFF_FFFF;
    (a + 0x80000) >> 20
}

/// `y`'s bits, `+0`'s for a NaN.
fn bits_or_zero(y: f32) -> u32 {
    if y.is_nan() { 0 } else { y.to_bits() }
}

/// The unsigned code of `|y|` (see the module's essay): nearest code, ties
/// away from zero, `> 1` saturating to 255, a NaN to 0, the flush region below the
/// smallest nonzero code to 0.
pub fn encode_unsigned(y: f32) -> u8 {
    let k = rounded_top(bits_or_zero(y));
    (k.clamp(UNSIGNED_BASE, CODE_TOP) - UNSIGNED_BASE) as u8
}

/// The value of an unsigned code: `0.0` for 0, else `from_bits((c + 761) << 20)`.
pub fn decode_unsigned(c: u8) -> f32 {
    if c == 0 { 0.0 } else { f32::from_bits((c as u32 + UNSIGNED_BASE) << 20) }
}

/// The signed code of `y` (see the module's essay): sign bit `0x80`, the
/// magnitude's code as [`encode_unsigned`]'s with base 889.
pub fn encode_signed(y: f32) -> u8 {
    let b = bits_or_zero(y);
    let mag = rounded_top(b).clamp(SIGNED_BASE, CODE_TOP) - SIGNED_BASE;
    ((b >> 31) << 7 | mag) as u8
}

/// The value of a signed code: `±0.0` for magnitude 0, else
/// `±from_bits((mag + 889) << 20)`, negative when `c & 0x80`.
pub fn decode_signed(c: u8) -> f32 {
    let mag = (c & 0x7F) as u32;
    let x = if mag == 0 { 0.0 } else { f32::from_bits((mag + SIGNED_BASE) << 20) };
    if c & 0x80 != 0 { -x } else { x }
}

/// `encode_signed` or `encode_unsigned`.
pub fn encode(signed: bool, y: f32) -> u8 {
    if signed { encode_signed(y) } else { encode_unsigned(y) }
}

/// `decode_signed` or `decode_unsigned`.
pub fn decode(signed: bool, c: u8) -> f32 {
    if signed { decode_signed(c) } else { decode_unsigned(c) }
}

/// Encodes one block's `f32` values as a step stores them and returns the
/// block's scale: `absmax` = the [`max_nan`] of every `|x|` (from `+0`),
/// `inv = 1/absmax`, each code `encode(x·inv)`.
///
/// # Panics
/// If the lengths differ or exceed [`QUANT_BLOCK`].
pub fn quantize_block(values: &[f32], codes: &mut [u8], signed: bool) -> f32 {
    assert!(values.len() == codes.len() && values.len() <= QUANT_BLOCK, "one block of equal lengths");
    let absmax = values.iter().fold(0.0f32, |acc, &x| max_nan(acc, x.abs()));
    let inv = 1.0 / absmax;
    for (code, &x) in codes.iter_mut().zip(values) {
        *code = encode(signed, x * inv);
    }
    absmax
}

/// Encodes a whole buffer of `f32` values into codes and one scale per
/// block of [`QUANT_BLOCK`] (from element 0), exactly as a step stores its
/// state: how `f32` state (another optimizer's checkpoint) is loaded.
///
/// # Panics
/// If `codes` is not as long as `values`, or `scales` not one per block.
pub fn quantize(values: &[f32], codes: &mut [u8], scales: &mut [f32], signed: bool) {
    assert_eq!(codes.len(), values.len(), "quantize: one code per value");
    assert_eq!(scales.len(), values.len().div_ceil(QUANT_BLOCK), "quantize: one scale per block");
    for ((v, c), s) in values.chunks(QUANT_BLOCK).zip(codes.chunks_mut(QUANT_BLOCK)).zip(scales.iter_mut()) {
        *s = quantize_block(v, c, signed);
    }
}

/// Decodes codes and their blocks' scales into `f32` values, as a step
/// reads its state: `out[i] = decode(codes[i]) · scales[i / QUANT_BLOCK]`.
///
/// # Panics
/// If `out` is not as long as `codes`, or `scales` not one per block.
pub fn dequantize(codes: &[u8], scales: &[f32], signed: bool, out: &mut [f32]) {
    assert_eq!(out.len(), codes.len(), "dequantize: one value per code");
    assert_eq!(scales.len(), codes.len().div_ceil(QUANT_BLOCK), "dequantize: one scale per block");
    for ((c, &s), o) in codes.chunks(QUANT_BLOCK).zip(scales).zip(out.chunks_mut(QUANT_BLOCK)) {
        for (o, &c) in o.iter_mut().zip(c) {
            *o = decode(signed, c) * s;
        }
    }
}

/// The 8-bit-state step of the algorithm `U`, one element at a time, block
/// by block (the module's essay).
///
/// # Panics
/// As [`crate::quantized()`]: unequal lengths, scales not one per block, or
/// a state slot the options need not given (checked before anything is
/// written).
#[track_caller]
pub fn quantized<U: MixedUpdate>(b: QuantizedBuffers<'_>, c: &QuantizedCoefficients<U>) {
    if let Err(e) = b.check_for::<U>() {
        panic!("{e}");
    }
    let QuantizedBuffers { param, grad, mut state } = Checked::or_panic(b).into_inner();
    let scale = if c.algorithm.maximize() { -c.grad_scale } else { c.grad_scale };
    let n = param.len();
    for (j, start) in (0..n).step_by(QUANT_BLOCK).enumerate() {
        let end = n.min(start + QUANT_BLOCK);
        let mut new = [[0.0f32; QUANT_BLOCK]; MAX_MIXED_STATE];
        let mut written = [false; MAX_MIXED_STATE];
        for i in start..end {
            let g = grad[i] * scale;
            if c.zero_grad {
                grad[i] = 0.0;
            }
            let old = core::array::from_fn(|k| {
                state[k].as_ref().map(|s| decode(U::SIGNED[k], s.codes[i]) * s.scales[j])
            });
            let (p, values) = c.algorithm.element(g, param[i], old);
            param[i] = p;
            for k in 0..MAX_MIXED_STATE {
                if let (Some(_), Some(x)) = (state[k].as_ref(), values[k]) {
                    new[k][i - start] = x;
                    written[k] = true;
                }
            }
        }
        for k in 0..MAX_MIXED_STATE {
            let Some(s) = state[k].as_mut().filter(|_| written[k]) else { continue };
            s.scales[j] = quantize_block(&new[k][..end - start], &mut s.codes[start..end], U::SIGNED[k]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `2^e` for a normal exponent, exactly (`powi` need not be exact, and
    /// under Miri it is not).
    fn pow2(e: i32) -> f32 {
        f32::from_bits(((127 + e) as u32) << 23)
    }

    /// Every code's value, in code order.
    fn values(signed: bool) -> Vec<f32> {
        (0..=255u8).map(|c| decode(signed, c)).collect()
    }

    #[test]
    fn every_code_round_trips() {
        for signed in [false, true] {
            for c in 0..=255u8 {
                assert_eq!(encode(signed, decode(signed, c)), c, "signed {signed}, code {c:#04x}");
            }
        }
        assert_eq!(decode_signed(0x80).to_bits(), (-0.0f32).to_bits());
        assert_eq!(encode_signed(-0.0), 0x80);
        assert_eq!(decode_unsigned(255), 1.0);
        assert_eq!(decode_unsigned(254), 0.9375);
        assert_eq!(decode_unsigned(1), 1.25 * pow2(-32));
        assert_eq!(decode_signed(127), 1.0);
        assert_eq!(decode_signed(0xFF), -1.0);
        assert_eq!(decode_signed(1), 1.25 * pow2(-16));
    }

    #[test]
    // Safe arithmetic over many values: too slow interpreted, and Miri checks no unsafe code here.
    #[cfg_attr(miri, ignore)]
    fn codes_are_monotone() {
        let u = values(false);
        assert!(u.windows(2).all(|w| w[0] < w[1]));
        let s = values(true);
        assert!(s[..128].windows(2).all(|w| w[0] < w[1]));
        assert!(s[128..].windows(2).all(|w| w[0] > w[1]));
        // Encoding is monotone too: over a sweep of the bit patterns of [0, 1].
        for signed in [false, true] {
            let mut last = 0u8;
            // Interpreted (Miri), a coarser walk.
            for b in (0..=1.0f32.to_bits()).step_by(if cfg!(miri) { 1_000_003 } else { 997 }) {
                let c = encode(signed, f32::from_bits(b));
                assert!(c >= last, "signed {signed}: {b:#x}");
                last = c;
            }
        }
    }

    #[test]
    fn ties_go_away_from_zero() {
        // 1.0625 is halfway between 1.0 and 1.125: scaled into range,
        // 0.53125 lies between 0.5 and 0.5625.
        assert_eq!(decode_unsigned(encode_unsigned(0.53125)), 0.5625);
        // 0.59375 lies between 0.5625 and 0.625.
        assert_eq!(decode_unsigned(encode_unsigned(0.59375)), 0.625);
        assert_eq!(decode_signed(encode_signed(-0.59375)), -0.625);
        assert_eq!(decode_signed(encode_signed(-0.53125)), -0.5625);
        // One ulp off the tie decides.
        assert_eq!(decode_unsigned(encode_unsigned(f32::from_bits(0.53125f32.to_bits() - 1))), 0.5);
        assert_eq!(decode_unsigned(encode_unsigned(f32::from_bits(0.59375f32.to_bits() - 1))), 0.5625);
        // The top binade's tie between 0.9375 (odd) and 1.0 rounds up to 1.0.
        assert_eq!(encode_unsigned(0.96875), 255);
    }

    #[test]
    fn the_flush_threshold_is_1_1875_units() {
        for (signed, unit) in [(false, pow2(-32)), (true, pow2(-16))] {
            let threshold = 1.1875 * unit;
            let below = f32::from_bits(threshold.to_bits() - 1);
            assert_eq!(encode(signed, threshold), 1, "the tie goes up");
            assert_eq!(encode(signed, below), 0);
            assert_eq!(decode(signed, 1), 1.25 * unit);
            // The nearest code would switch at 0.625 units: the flush region.
            assert_eq!(encode(signed, 0.7 * unit), 0);
            assert_eq!(encode(signed, f32::from_bits(1)), 0);
            assert_eq!(encode(signed, f32::MIN_POSITIVE), 0);
        }
        assert_eq!(encode_signed(-1.1875 * pow2(-16)), 0x81);
        assert_eq!(encode_signed(-1.1 * pow2(-16)), 0x80);
    }

    #[test]
    fn saturation_and_nan() {
        for y in [1.0f32, 1.0000001, 1.5, 2.0, 1e30, f32::MAX, f32::INFINITY] {
            assert_eq!(encode_unsigned(y), 255);
            assert_eq!(encode_unsigned(-y), 255, "the unsigned code stores |y|");
            assert_eq!(encode_signed(y), 0x7F);
            assert_eq!(encode_signed(-y), 0xFF);
        }
        for nan in [f32::NAN, -f32::NAN, f32::from_bits(0x7F80_0001), f32::from_bits(0xFFC0_1234)] {
            assert_eq!(encode_unsigned(nan), 0);
            assert_eq!(encode_signed(nan), 0);
        }
    }

    /// A small deterministic generator (xorshift64*).
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed | 1;
        move || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
    }

    /// The nearest of the 256 decoded values by search, ties to the larger
    /// magnitude; `None` in the flush region (where encode gives 0 by
    /// design, see the essay).
    fn nearest(signed: bool, y: f32) -> Option<u8> {
        let unit = if signed { pow2(-16) } else { pow2(-32) };
        if y.abs() < 1.1875 * unit && y.abs() >= 0.625 * unit {
            return None;
        }
        let table = values(signed);
        let target = if signed { y } else { y.abs() } as f64;
        let mut best: Option<(f64, u8)> = None;
        for c in 0..=255u8 {
            let d = (table[c as usize] as f64 - target).abs();
            let better = match best {
                None => true,
                Some((bd, bc)) => d < bd || (d == bd && table[c as usize].abs() > table[bc as usize].abs()),
            };
            if better {
                best = Some((d, c));
            }
        }
        let c = best.expect("256 candidates").1;
        // ±0: the signed code keeps the sign of a value that rounds to zero.
        Some(if signed && c & 0x7F == 0 { if y.is_sign_negative() { 0x80 } else { 0 } } else { c })
    }

    #[test]
    // Safe arithmetic over many values: too slow interpreted, and Miri checks no unsafe code here.
    #[cfg_attr(miri, ignore)]
    fn encode_is_the_nearest_code_outside_the_flush_region() {
        let mut next = rng(0x5EED);
        let mut ys: Vec<f32> = vec![0.0, -0.0, 1.0, -1.0, 0.5, -0.5, f32::MIN_POSITIVE, 1e-45, -1e-45];
        for signed in [false, true] {
            ys.extend(values(signed));
            // The midpoints between neighbouring codes, and one ulp around them.
            let t = values(signed);
            for w in t.windows(2) {
                let mid = ((w[0] as f64 + w[1] as f64) / 2.0) as f32;
                ys.extend([
                    mid,
                    f32::from_bits(mid.to_bits().wrapping_add(1)),
                    f32::from_bits(mid.to_bits() - 1),
                ]);
            }
        }
        for _ in 0..if cfg!(miri) { 100 } else { 100_000 } {
            let r = next();
            // Uniform in [-1, 1], and log-uniform over the codes' range.
            ys.push((r >> 40) as f32 / (1u64 << 23) as f32 * if r & 1 == 0 { 1.0 } else { -1.0 });
            let e = (r >> 8) % 40;
            let m = 1.0 + ((r >> 16) & 0xFFFF) as f32 / 65536.0;
            ys.push(m * pow2(-(e as i32)) * if r & 2 == 0 { 0.5 } else { -0.5 });
        }
        for y in ys.into_iter().filter(|y| y.abs() <= 1.0 && !y.is_nan()) {
            for signed in [false, true] {
                if let Some(want) = nearest(signed, y) {
                    assert_eq!(encode(signed, y), want, "signed {signed}, y = {y:e} ({:#x})", y.to_bits());
                }
            }
        }
    }
}
