//! The AVX2 tier: 256-bit lanes (`f32x8`, `f64x4`), F16C conversions.

use crate::lanes::{WidenLanes, load_partial_buffered, store_partial_buffered};
use crate::narrow::HalfLanes;
use core::arch::x86_64::*;
use wide::{f32x8, f64x4};

/// 256-bit AVX2 lanes (`f32x8`, `f64x4`). Needs the `avx2` CPU feature, and
/// `f16c` for its f16 conversions ([`HalfLanes`]): constructing the token
/// ([`Token::try_new`](crate::lanes::Token::try_new)) detects both.
#[derive(Clone, Copy, Debug)]
pub struct Avx2(());

super::entry::x86_entry!(Avx2, enter_avx2, "avx2,f16c");

/// `−a`: flips the sign bit.
///
/// # Safety
/// The CPU has AVX.
#[inline(always)]
unsafe fn neg_ps(a: __m256) -> __m256 {
    // SAFETY: the caller guarantees the CPU feature.
    unsafe { _mm256_xor_ps(a, _mm256_set1_ps(-0.0)) }
}

/// `|a|`: clears the sign bit.
///
/// # Safety
/// The CPU has AVX.
#[inline(always)]
unsafe fn abs_ps(a: __m256) -> __m256 {
    // SAFETY: the caller guarantees the CPU feature.
    unsafe { _mm256_andnot_ps(_mm256_set1_ps(-0.0), a) }
}

/// `maxps(a, b) = a > b ? a : b`; then `a` wherever `a` is NaN (`max_nan`).
///
/// # Safety
/// The CPU has AVX.
#[inline(always)]
unsafe fn max_ps(a: __m256, b: __m256) -> __m256 {
    // SAFETY: the caller guarantees the CPU feature.
    unsafe { _mm256_blendv_ps(_mm256_max_ps(a, b), a, _mm256_cmp_ps::<_CMP_UNORD_Q>(a, a)) }
}

/// `−a` (`f64`).
///
/// # Safety
/// The CPU has AVX.
#[inline(always)]
unsafe fn neg_pd(a: __m256d) -> __m256d {
    // SAFETY: the caller guarantees the CPU feature.
    unsafe { _mm256_xor_pd(a, _mm256_set1_pd(-0.0)) }
}

/// `|a|` (`f64`).
///
/// # Safety
/// The CPU has AVX.
#[inline(always)]
unsafe fn abs_pd(a: __m256d) -> __m256d {
    // SAFETY: the caller guarantees the CPU feature.
    unsafe { _mm256_andnot_pd(_mm256_set1_pd(-0.0), a) }
}

/// `max_nan` lane-wise (`f64`), as [`max_ps`].
///
/// # Safety
/// The CPU has AVX.
#[inline(always)]
unsafe fn max_pd(a: __m256d, b: __m256d) -> __m256d {
    // SAFETY: the caller guarantees the CPU feature.
    unsafe { _mm256_blendv_pd(_mm256_max_pd(a, b), a, _mm256_cmp_pd::<_CMP_UNORD_Q>(a, a)) }
}

/// `sign_nan` lane-wise: `copysign(1, a)` kept where `a ≠ 0` (ordered
/// compare: false for ±0 and NaN, which leaves `+0`), then `a` wherever `a`
/// is NaN.
///
/// # Safety
/// The CPU has AVX.
#[inline(always)]
unsafe fn sign_ps(a: __m256) -> __m256 {
    // SAFETY: the caller guarantees the CPU feature.
    unsafe {
        let signed_one = _mm256_or_ps(_mm256_and_ps(a, _mm256_set1_ps(-0.0)), _mm256_set1_ps(1.0));
        let nonzero = _mm256_cmp_ps::<_CMP_NEQ_OQ>(a, _mm256_setzero_ps());
        let sign = _mm256_and_ps(signed_one, nonzero);
        _mm256_blendv_ps(sign, a, _mm256_cmp_ps::<_CMP_UNORD_Q>(a, a))
    }
}

/// `sign_nan` lane-wise (`f64`), as [`sign_ps`].
///
/// # Safety
/// The CPU has AVX.
#[inline(always)]
unsafe fn sign_pd(a: __m256d) -> __m256d {
    // SAFETY: the caller guarantees the CPU feature.
    unsafe {
        let signed_one = _mm256_or_pd(_mm256_and_pd(a, _mm256_set1_pd(-0.0)), _mm256_set1_pd(1.0));
        let nonzero = _mm256_cmp_pd::<_CMP_NEQ_OQ>(a, _mm256_setzero_pd());
        let sign = _mm256_and_pd(signed_one, nonzero);
        _mm256_blendv_pd(sign, a, _mm256_cmp_pd::<_CMP_UNORD_Q>(a, a))
    }
}

super::entry::x86_lanes!(
    Avx2,
    f32,
    f32x8,
    __m256,
    8,
    _mm256_set1_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_add_ps,
    _mm256_sub_ps,
    _mm256_mul_ps,
    _mm256_div_ps,
    _mm256_sqrt_ps,
    neg_ps,
    abs_ps,
    max_ps,
    sign_ps,
    load_partial_buffered::<Avx2, f32>,
    store_partial_buffered::<Avx2, f32>,
);

super::entry::x86_lanes!(
    Avx2,
    f64,
    f64x4,
    __m256d,
    4,
    _mm256_set1_pd,
    _mm256_loadu_pd,
    _mm256_storeu_pd,
    _mm256_add_pd,
    _mm256_sub_pd,
    _mm256_mul_pd,
    _mm256_div_pd,
    _mm256_sqrt_pd,
    neg_pd,
    abs_pd,
    max_pd,
    sign_pd,
    load_partial_buffered::<Avx2, f64>,
    store_partial_buffered::<Avx2, f64>,
);

// SAFETY: 8 f32 lanes and 4 f64 lanes; `vcvtps2pd` converts each f32 lane of
// a 128-bit half exactly (AVX, enabled with the tier).
unsafe impl WidenLanes for Avx2 {
    #[inline(always)]
    unsafe fn widen_low(v: f32x8) -> f64x4 {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm256_cvtps_pd(_mm256_castps256_ps128(v.into())).into() }
    }
    #[inline(always)]
    unsafe fn widen_high(v: f32x8) -> f64x4 {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v.into())).into() }
    }
}

// SAFETY: each method is the named AVX2 integer intrinsic (wrapping), a bit
// cast, or F16C's exact conversion with round-to-nearest-even (immediate 0);
// the AVX2 tier's wrappers enable `f16c` with `avx2`, and the tier is only
// available where the CPU has both.
unsafe impl HalfLanes for Avx2 {
    type U = __m256i;

    #[inline(always)]
    unsafe fn to_bits(v: f32x8) -> __m256i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm256_castps_si256(v.into()) }
    }
    #[inline(always)]
    unsafe fn from_bits(u: __m256i) -> f32x8 {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm256_castsi256_ps(u).into() }
    }
    #[inline(always)]
    unsafe fn splat_u(x: u32) -> __m256i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm256_set1_epi32(x as i32) }
    }
    #[inline(always)]
    unsafe fn iota() -> __m256i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7) }
    }
    #[inline(always)]
    unsafe fn add_u(a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm256_add_epi32(a, b) }
    }
    #[inline(always)]
    unsafe fn mul_u(a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm256_mullo_epi32(a, b) }
    }
    #[inline(always)]
    unsafe fn xor_u(a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm256_xor_si256(a, b) }
    }
    #[inline(always)]
    unsafe fn and_u(a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm256_and_si256(a, b) }
    }
    #[inline(always)]
    unsafe fn or_u(a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm256_or_si256(a, b) }
    }
    #[inline(always)]
    unsafe fn shr15(a: __m256i) -> __m256i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm256_srli_epi32::<15>(a) }
    }
    #[inline(always)]
    unsafe fn shr16(a: __m256i) -> __m256i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm256_srli_epi32::<16>(a) }
    }
    #[inline(always)]
    unsafe fn shl16(a: __m256i) -> __m256i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm256_slli_epi32::<16>(a) }
    }
    #[inline(always)]
    unsafe fn sub_u(a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm256_sub_epi32(a, b) }
    }
    #[inline(always)]
    unsafe fn min_u(a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm256_min_epu32(a, b) }
    }
    #[inline(always)]
    unsafe fn max_u(a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm256_max_epu32(a, b) }
    }
    #[inline(always)]
    unsafe fn shr_u<const S: u32>(a: __m256i) -> __m256i {
        // SAFETY: the caller guarantees the CPU feature. (The shift count in a
        // register: the immediate form's const parameter is an `i32`, which a
        // `u32` const parameter cannot name; `S` is a constant, so it folds.)
        unsafe { _mm256_srl_epi32(a, _mm_cvtsi32_si128(S as i32)) }
    }
    #[inline(always)]
    unsafe fn sra_u<const S: u32>(a: __m256i) -> __m256i {
        // SAFETY: the caller guarantees the CPU feature. (The count in a
        // register, as in `shr_u`.)
        unsafe { _mm256_sra_epi32(a, _mm_cvtsi32_si128(S as i32)) }
    }
    #[inline(always)]
    unsafe fn shl_u<const S: u32>(a: __m256i) -> __m256i {
        // SAFETY: the caller guarantees the CPU feature (count as in `shr_u`).
        unsafe { _mm256_sll_epi32(a, _mm_cvtsi32_si128(S as i32)) }
    }
    #[inline(always)]
    unsafe fn where_nonzero(test: f32x8, x: __m256i) -> __m256i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe {
            let nonzero = _mm256_cmp_ps::<_CMP_NEQ_UQ>(test.into(), _mm256_setzero_ps());
            _mm256_and_si256(_mm256_castps_si256(nonzero), x)
        }
    }
    #[inline(always)]
    unsafe fn select_nan(v: f32x8, if_nan: __m256i, other: __m256i) -> __m256i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe {
            let v: __m256 = v.into();
            let nan = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_UNORD_Q>(v, v));
            _mm256_blendv_epi8(other, if_nan, nan)
        }
    }
    #[inline(always)]
    unsafe fn any_non_finite(v: f32x8) -> bool {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe {
            let exponent = _mm256_set1_epi32(0x7F80_0000);
            let top = _mm256_and_si256(_mm256_castps_si256(v.into()), exponent);
            _mm256_movemask_epi8(_mm256_cmpeq_epi32(top, exponent)) != 0
        }
    }
    #[inline(always)]
    unsafe fn load_u16(p: *const u16) -> __m256i {
        // SAFETY: the caller guarantees the CPU feature and 8 readable values.
        unsafe { _mm256_cvtepu16_epi32(_mm_loadu_si128(p.cast())) }
    }
    #[inline(always)]
    unsafe fn store_u16(p: *mut u16, u: __m256i) {
        // SAFETY: the caller guarantees the CPU feature and 8 writable
        // values; every lane is below 2^16, so the saturating pack is exact.
        unsafe {
            let packed = _mm_packus_epi32(_mm256_castsi256_si128(u), _mm256_extracti128_si256::<1>(u));
            _mm_storeu_si128(p.cast(), packed)
        }
    }
    #[inline(always)]
    unsafe fn load_u8(p: *const u8) -> __m256i {
        // SAFETY: the caller guarantees the CPU feature and 8 readable bytes
        // (`movq` reads exactly 8).
        unsafe { _mm256_cvtepu8_epi32(_mm_loadl_epi64(p.cast())) }
    }
    #[inline(always)]
    unsafe fn store_u8(p: *mut u8, u: __m256i) {
        // SAFETY: the caller guarantees the CPU feature and 8 writable bytes
        // (`movq` writes exactly 8); every lane is below 2^8, so both
        // saturating packs are exact.
        unsafe {
            let words = _mm_packus_epi32(_mm256_castsi256_si128(u), _mm256_extracti128_si256::<1>(u));
            _mm_storel_epi64(p.cast(), _mm_packus_epi16(words, words))
        }
    }
    #[inline(always)]
    unsafe fn load_f16(p: *const u16) -> f32x8 {
        // SAFETY: the caller guarantees F16C (enabled with the tier) and 8 readable values.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())).into() }
    }
    #[inline(always)]
    unsafe fn store_f16(p: *mut u16, v: f32x8) {
        // SAFETY: the caller guarantees F16C and 8 writable values.
        unsafe { _mm_storeu_si128(p.cast(), _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v.into())) }
    }
}
