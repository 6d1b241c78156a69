//! The AVX-512 tier: 512-bit lanes (`f32x16`, `f64x8`), masked partial
//! loads and stores, AVX-512F's f16 conversions.

use crate::lanes::WidenLanes;
use crate::narrow::HalfLanes;
use core::arch::x86_64::*;
use wide::{f32x16, f64x8};

/// 512-bit AVX-512F lanes (`f32x16`, `f64x8`). Its code also uses 256-bit
/// AVX loads and stores (16-bit storage), and a `#[target_feature(enable =
/// "avx512f")]` function may use whatever `avx512f` implies (AVX2, FMA,
/// F16C): constructing the token detects all of them, so that a hypervisor
/// exposing AVX-512F with AVX2 masked gets the AVX2 or portable tier, not
/// SIGILL.
#[derive(Clone, Copy, Debug)]
pub struct Avx512(());

super::entry::x86_entry!(Avx512, enter_avx512, "avx512f,avx2,fma,f16c");

/// All-ones in the low `len` bits: the lane mask of a partial AVX-512 access.
#[inline(always)]
fn low_mask(len: usize) -> u32 {
    debug_assert!(len <= 16);
    ((1u64 << len) - 1) as u32
}

/// `−a`: flips the sign bit (AVX-512F has no floating-point `xor`).
///
/// # Safety
/// The CPU has AVX-512F.
#[inline(always)]
unsafe fn neg_ps(a: __m512) -> __m512 {
    // SAFETY: the caller guarantees the CPU feature.
    unsafe { _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32(i32::MIN))) }
}

/// `maxps(a, b)`, then `a` wherever `a` is NaN (`max_nan`).
///
/// # Safety
/// The CPU has AVX-512F.
#[inline(always)]
unsafe fn max_ps(a: __m512, b: __m512) -> __m512 {
    // SAFETY: the caller guarantees the CPU feature.
    unsafe { _mm512_mask_mov_ps(_mm512_max_ps(a, b), _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, a), a) }
}

/// `sign_nan` lane-wise: `copysign(1, a)` kept where `a ≠ 0` (ordered
/// compare: false for ±0 and NaN, which leaves `+0`), then `a` wherever `a`
/// is NaN.
///
/// # Safety
/// The CPU has AVX-512F.
#[inline(always)]
unsafe fn sign_ps(a: __m512) -> __m512 {
    // SAFETY: the caller guarantees the CPU feature.
    unsafe {
        let sign_bit = _mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(i32::MIN));
        let signed_one =
            _mm512_castsi512_ps(_mm512_or_si512(sign_bit, _mm512_castps_si512(_mm512_set1_ps(1.0))));
        let sign = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_NEQ_OQ>(a, _mm512_setzero_ps()), signed_one);
        _mm512_mask_mov_ps(sign, _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, a), a)
    }
}

/// `sign_nan` lane-wise (`f64`), as [`sign_ps`].
///
/// # Safety
/// The CPU has AVX-512F.
#[inline(always)]
unsafe fn sign_pd(a: __m512d) -> __m512d {
    // SAFETY: the caller guarantees the CPU feature.
    unsafe {
        let sign_bit = _mm512_and_si512(_mm512_castpd_si512(a), _mm512_set1_epi64(i64::MIN));
        let signed_one =
            _mm512_castsi512_pd(_mm512_or_si512(sign_bit, _mm512_castpd_si512(_mm512_set1_pd(1.0))));
        let sign = _mm512_maskz_mov_pd(_mm512_cmp_pd_mask::<_CMP_NEQ_OQ>(a, _mm512_setzero_pd()), signed_one);
        _mm512_mask_mov_pd(sign, _mm512_cmp_pd_mask::<_CMP_UNORD_Q>(a, a), a)
    }
}

/// Loads `len <= 16` elements; masked-off lanes are zero, neither read nor
/// faulted on.
///
/// # Safety
/// The CPU has AVX-512F; `p` is valid for `len` reads.
#[inline(always)]
unsafe fn load_partial_ps(p: *const f32, len: usize) -> f32x16 {
    // SAFETY: masked-off lanes are not touched; the caller guarantees `len`
    // readable elements and the CPU feature.
    unsafe { _mm512_maskz_loadu_ps(low_mask(len) as __mmask16, p).into() }
}

/// Stores the first `len <= 16` lanes; masked-off lanes are not written.
///
/// # Safety
/// The CPU has AVX-512F; `p` is valid for `len` writes.
#[inline(always)]
unsafe fn store_partial_ps(p: *mut f32, len: usize, v: f32x16) {
    // SAFETY: masked-off lanes are not touched; the caller guarantees `len`
    // writable elements and the CPU feature.
    unsafe { _mm512_mask_storeu_ps(p, low_mask(len) as __mmask16, v.into()) }
}

/// `−a` (`f64`).
///
/// # Safety
/// The CPU has AVX-512F.
#[inline(always)]
unsafe fn neg_pd(a: __m512d) -> __m512d {
    // SAFETY: the caller guarantees the CPU feature.
    unsafe { _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(a), _mm512_set1_epi64(i64::MIN))) }
}

/// `max_nan` lane-wise (`f64`), as [`max_ps`].
///
/// # Safety
/// The CPU has AVX-512F.
#[inline(always)]
unsafe fn max_pd(a: __m512d, b: __m512d) -> __m512d {
    // SAFETY: the caller guarantees the CPU feature.
    unsafe { _mm512_mask_mov_pd(_mm512_max_pd(a, b), _mm512_cmp_pd_mask::<_CMP_UNORD_Q>(a, a), a) }
}

/// Loads `len <= 8` elements, as [`load_partial_ps`].
///
/// # Safety
/// The CPU has AVX-512F; `p` is valid for `len` reads.
#[inline(always)]
unsafe fn load_partial_pd(p: *const f64, len: usize) -> f64x8 {
    // SAFETY: as for f32: masked lanes are not touched.
    unsafe { _mm512_maskz_loadu_pd(low_mask(len) as __mmask8, p).into() }
}

/// Stores the first `len <= 8` lanes, as [`store_partial_ps`].
///
/// # Safety
/// The CPU has AVX-512F; `p` is valid for `len` writes.
#[inline(always)]
unsafe fn store_partial_pd(p: *mut f64, len: usize, v: f64x8) {
    // SAFETY: as for f32: masked lanes are not touched.
    unsafe { _mm512_mask_storeu_pd(p, low_mask(len) as __mmask8, v.into()) }
}

super::entry::x86_lanes!(
    Avx512,
    f32,
    f32x16,
    __m512,
    16,
    _mm512_set1_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_add_ps,
    _mm512_sub_ps,
    _mm512_mul_ps,
    _mm512_div_ps,
    _mm512_sqrt_ps,
    neg_ps,
    _mm512_abs_ps,
    max_ps,
    sign_ps,
    load_partial_ps,
    store_partial_ps,
);

super::entry::x86_lanes!(
    Avx512,
    f64,
    f64x8,
    __m512d,
    8,
    _mm512_set1_pd,
    _mm512_loadu_pd,
    _mm512_storeu_pd,
    _mm512_add_pd,
    _mm512_sub_pd,
    _mm512_mul_pd,
    _mm512_div_pd,
    _mm512_sqrt_pd,
    neg_pd,
    _mm512_abs_pd,
    max_pd,
    sign_pd,
    load_partial_pd,
    store_partial_pd,
);

// SAFETY: each method is the named AVX-512F integer intrinsic (wrapping),
// a bit cast, or AVX-512F's exact f16 conversion with round-to-nearest-even.
unsafe impl HalfLanes for Avx512 {
    type U = __m512i;

    #[inline(always)]
    unsafe fn to_bits(v: f32x16) -> __m512i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm512_castps_si512(v.into()) }
    }
    #[inline(always)]
    unsafe fn from_bits(u: __m512i) -> f32x16 {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm512_castsi512_ps(u).into() }
    }
    #[inline(always)]
    unsafe fn splat_u(x: u32) -> __m512i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm512_set1_epi32(x as i32) }
    }
    #[inline(always)]
    unsafe fn iota() -> __m512i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) }
    }
    #[inline(always)]
    unsafe fn add_u(a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm512_add_epi32(a, b) }
    }
    #[inline(always)]
    unsafe fn mul_u(a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm512_mullo_epi32(a, b) }
    }
    #[inline(always)]
    unsafe fn xor_u(a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm512_xor_si512(a, b) }
    }
    #[inline(always)]
    unsafe fn and_u(a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm512_and_si512(a, b) }
    }
    #[inline(always)]
    unsafe fn or_u(a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm512_or_si512(a, b) }
    }
    #[inline(always)]
    unsafe fn shr15(a: __m512i) -> __m512i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm512_srli_epi32::<15>(a) }
    }
    #[inline(always)]
    unsafe fn shr16(a: __m512i) -> __m512i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm512_srli_epi32::<16>(a) }
    }
    #[inline(always)]
    unsafe fn shl16(a: __m512i) -> __m512i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm512_slli_epi32::<16>(a) }
    }
    #[inline(always)]
    unsafe fn sub_u(a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm512_sub_epi32(a, b) }
    }
    #[inline(always)]
    unsafe fn min_u(a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm512_min_epu32(a, b) }
    }
    #[inline(always)]
    unsafe fn max_u(a: __m512i, b: __m512i) -> __m512i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm512_max_epu32(a, b) }
    }
    #[inline(always)]
    unsafe fn shr_u<const S: u32>(a: __m512i) -> __m512i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm512_srli_epi32::<S>(a) }
    }
    #[inline(always)]
    unsafe fn sra_u<const S: u32>(a: __m512i) -> __m512i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm512_srai_epi32::<S>(a) }
    }
    #[inline(always)]
    unsafe fn shl_u<const S: u32>(a: __m512i) -> __m512i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm512_slli_epi32::<S>(a) }
    }
    #[inline(always)]
    unsafe fn where_nonzero(test: f32x16, x: __m512i) -> __m512i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe {
            _mm512_maskz_mov_epi32(_mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(test.into(), _mm512_setzero_ps()), x)
        }
    }
    #[inline(always)]
    unsafe fn select_nan(v: f32x16, if_nan: __m512i, other: __m512i) -> __m512i {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe {
            let v: __m512 = v.into();
            _mm512_mask_mov_epi32(other, _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v), if_nan)
        }
    }
    #[inline(always)]
    unsafe fn any_non_finite(v: f32x16) -> bool {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe {
            let exponent = _mm512_set1_epi32(0x7F80_0000);
            let top = _mm512_and_si512(_mm512_castps_si512(v.into()), exponent);
            _mm512_cmpeq_epi32_mask(top, exponent) != 0
        }
    }
    #[inline(always)]
    unsafe fn load_u16(p: *const u16) -> __m512i {
        // SAFETY: the caller guarantees the CPU feature and 16 readable values.
        unsafe { _mm512_cvtepu16_epi32(_mm256_loadu_si256(p.cast())) }
    }
    #[inline(always)]
    unsafe fn store_u16(p: *mut u16, u: __m512i) {
        // SAFETY: the caller guarantees the CPU feature and 16 writable values.
        unsafe { _mm256_storeu_si256(p.cast(), _mm512_cvtepi32_epi16(u)) }
    }
    #[inline(always)]
    unsafe fn load_u8(p: *const u8) -> __m512i {
        // SAFETY: the caller guarantees the CPU feature and 16 readable bytes.
        unsafe { _mm512_cvtepu8_epi32(_mm_loadu_si128(p.cast())) }
    }
    #[inline(always)]
    unsafe fn store_u8(p: *mut u8, u: __m512i) {
        // SAFETY: the caller guarantees the CPU feature and 16 writable
        // bytes; every lane is below 2^8, so the truncation is exact.
        unsafe { _mm_storeu_si128(p.cast(), _mm512_cvtepi32_epi8(u)) }
    }
    #[inline(always)]
    unsafe fn load_f16(p: *const u16) -> f32x16 {
        // SAFETY: the caller guarantees the CPU feature and 16 readable values.
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p.cast())).into() }
    }
    #[inline(always)]
    unsafe fn store_f16(p: *mut u16, v: f32x16) {
        // SAFETY: the caller guarantees the CPU feature and 16 writable values.
        unsafe { _mm256_storeu_si256(p.cast(), _mm512_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(v.into())) }
    }
}

// SAFETY: 16 f32 lanes and 8 f64 lanes; `vcvtps2pd` (AVX-512F) converts each
// f32 lane of a 256-bit half exactly; the high half is reached by AVX-512F's
// `vextractf64x4` on the same bits.
unsafe impl WidenLanes for Avx512 {
    #[inline(always)]
    unsafe fn widen_low(v: f32x16) -> f64x8 {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe { _mm512_cvtps_pd(_mm512_castps512_ps256(v.into())).into() }
    }
    #[inline(always)]
    unsafe fn widen_high(v: f32x16) -> f64x8 {
        // SAFETY: the caller guarantees the CPU feature.
        unsafe {
            let high = _mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v.into()));
            _mm512_cvtps_pd(_mm256_castpd_ps(high)).into()
        }
    }
}
