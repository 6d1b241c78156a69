//! The x86-64 tiers: `wide` values, `core::arch` intrinsics.
//!
//! Each op is one intrinsic (two for `max`, three for `neg` on AVX-512F,
//! which has no floating-point `xor`). Every method is `#[inline(always)]`
//! and is only ever inlined into a `#[target_feature]` function of the
//! matching tier (one per kernel variant, see `x86_entry!`), where the
//! intrinsics become single `ymm`/`zmm` instructions.

use crate::lanes::{Enter, Lanes, Variant};
use crate::narrow::HalfLanes;
use core::arch::x86_64::*;
use wide::{f32x8, f32x16, f64x4, f64x8};

/// 256-bit AVX2 lanes (`f32x8`, `f64x4`). Needs the `avx2` CPU feature, and
/// `f16c` for its f16 conversions ([`HalfLanes`]); the tier requires both.
#[derive(Clone, Copy, Debug, Default)]
pub struct Avx2;

/// 512-bit AVX-512F lanes (`f32x16`, `f64x8`). Its code also uses 256-bit
/// AVX loads and stores (16-bit storage), and a `#[target_feature(enable =
/// "avx512f")]` function may use whatever `avx512f` implies (AVX2, FMA,
/// F16C): the tier requires all of them, so that a hypervisor exposing
/// AVX-512F with AVX2 masked gets the AVX2 or portable tier, not SIGILL.
#[derive(Clone, Copy, Debug, Default)]
pub struct Avx512;

/// Gives a token its target features, written once: the `FEATURES` constant
/// that [`crate::Tier::is_available`] checks and the `#[target_feature]`
/// function that [`Enter::enter`] runs every kernel variant in are the same
/// literal.
macro_rules! x86_entry {
    ($token:ident, $entry:ident, $features:literal) => {
        impl $token {
            /// The CPU features the tier's code needs, comma-separated, as
            /// `#[target_feature(enable = …)]` and `is_x86_feature_detected!` name them.
            pub const FEATURES: &'static str = $features;
        }

        // SAFETY: `enter` runs the variant inside `$entry`, compiled with
        // `FEATURES`, the features the token's methods use; the tier is
        // available only where the CPU has every one of them.
        unsafe impl Enter for $token {
            #[inline(always)]
            unsafe fn enter<V: Variant<Self>>(v: V) -> V::Output {
                // SAFETY: forwarded from the caller (the tier is available).
                unsafe { $entry(v) }
            }
        }

        /// One kernel variant, compiled with the tier's target features (one
        /// function per variant: see [`Variant`]).
        ///
        /// # Safety
        /// The CPU has `FEATURES`; `v`'s own contract holds.
        #[target_feature(enable = $features)]
        unsafe fn $entry<V: Variant<$token>>(v: V) -> V::Output {
            // SAFETY: forwarded from the caller.
            unsafe { v.run() }
        }
    };
}

x86_entry!(Avx2, enter_avx2, "avx2,f16c");
x86_entry!(Avx512, enter_avx512, "avx512f,avx2,fma,f16c");

/// Implements `Lanes<$t>` for `$token`, given the raw vector type and the
/// intrinsics of one element width; the lane-specific pieces (`neg`, `abs`,
/// `max`, partial loads) come in as small blocks.
macro_rules! x86_lanes {
    (
        $token:ty, $t:ty, $v:ty, $raw:ty, $n:literal, unroll = $unroll:literal,
        set1 = $set1:ident, loadu = $loadu:ident, storeu = $storeu:ident,
        add = $add:ident, sub = $sub:ident, mul = $mul:ident, div = $div:ident, sqrt = $sqrt:ident,
        neg = |$na:ident| $neg:block,
        abs = |$aa:ident| $abs:block,
        max = |$ma:ident, $mb:ident| $max:block
        $(, $partial:item)* $(,)?
    ) => {
        // SAFETY: each method is the single IEEE-exact intrinsic named after
        // it (max: `maxp` then NaN-fix-up, the rule of `max_nan`; neg/abs:
        // sign-bit logic). `$n` lanes of `$t` fit in MAX_VECTOR_BYTES.
        unsafe impl Lanes<$t> for $token {
            type V = $v;
            const N: usize = $n;
            const UNROLL: usize = $unroll;

            #[inline(always)]
            unsafe fn splat(x: $t) -> $v {
                // SAFETY: the caller guarantees the CPU feature.
                unsafe { $set1(x).into() }
            }
            #[inline(always)]
            unsafe fn load(p: *const $t) -> $v {
                // SAFETY: the caller guarantees the CPU feature and `N` readable elements.
                unsafe { $loadu(p).into() }
            }
            #[inline(always)]
            unsafe fn store(p: *mut $t, v: $v) {
                // SAFETY: the caller guarantees the CPU feature and `N` writable elements.
                unsafe { $storeu(p, v.into()) }
            }
            #[inline(always)]
            unsafe fn add(a: $v, b: $v) -> $v {
                // SAFETY: the caller guarantees the CPU feature.
                unsafe { $add(a.into(), b.into()).into() }
            }
            #[inline(always)]
            unsafe fn sub(a: $v, b: $v) -> $v {
                // SAFETY: the caller guarantees the CPU feature.
                unsafe { $sub(a.into(), b.into()).into() }
            }
            #[inline(always)]
            unsafe fn mul(a: $v, b: $v) -> $v {
                // SAFETY: the caller guarantees the CPU feature.
                unsafe { $mul(a.into(), b.into()).into() }
            }
            #[inline(always)]
            unsafe fn div(a: $v, b: $v) -> $v {
                // SAFETY: the caller guarantees the CPU feature.
                unsafe { $div(a.into(), b.into()).into() }
            }
            #[inline(always)]
            unsafe fn sqrt(a: $v) -> $v {
                // SAFETY: the caller guarantees the CPU feature.
                unsafe { $sqrt(a.into()).into() }
            }
            #[inline(always)]
            unsafe fn neg(a: $v) -> $v {
                let $na: $raw = a.into();
                // SAFETY: the caller guarantees the CPU feature.
                unsafe { $neg.into() }
            }
            #[inline(always)]
            unsafe fn abs(a: $v) -> $v {
                let $aa: $raw = a.into();
                // SAFETY: the caller guarantees the CPU feature.
                unsafe { $abs.into() }
            }
            #[inline(always)]
            unsafe fn max(a: $v, b: $v) -> $v {
                let ($ma, $mb): ($raw, $raw) = (a.into(), b.into());
                // SAFETY: the caller guarantees the CPU feature.
                unsafe { $max.into() }
            }
            $($partial)*
        }
    };
}

x86_lanes!(
    Avx2,
    f32,
    f32x8,
    __m256,
    8,
    unroll = 2,
    set1 = _mm256_set1_ps,
    loadu = _mm256_loadu_ps,
    storeu = _mm256_storeu_ps,
    add = _mm256_add_ps,
    sub = _mm256_sub_ps,
    mul = _mm256_mul_ps,
    div = _mm256_div_ps,
    sqrt = _mm256_sqrt_ps,
    neg = |a| { _mm256_xor_ps(a, _mm256_set1_ps(-0.0)) },
    abs = |a| { _mm256_andnot_ps(_mm256_set1_ps(-0.0), a) },
    max = |a, b| {
        // maxps(a, b) = a > b ? a : b; then a wherever a is NaN.
        _mm256_blendv_ps(_mm256_max_ps(a, b), a, _mm256_cmp_ps::<_CMP_UNORD_Q>(a, a))
    },
);

x86_lanes!(
    Avx2,
    f64,
    f64x4,
    __m256d,
    4,
    unroll = 2,
    set1 = _mm256_set1_pd,
    loadu = _mm256_loadu_pd,
    storeu = _mm256_storeu_pd,
    add = _mm256_add_pd,
    sub = _mm256_sub_pd,
    mul = _mm256_mul_pd,
    div = _mm256_div_pd,
    sqrt = _mm256_sqrt_pd,
    neg = |a| { _mm256_xor_pd(a, _mm256_set1_pd(-0.0)) },
    abs = |a| { _mm256_andnot_pd(_mm256_set1_pd(-0.0), a) },
    max = |a, b| { _mm256_blendv_pd(_mm256_max_pd(a, b), a, _mm256_cmp_pd::<_CMP_UNORD_Q>(a, a)) },
);

/// All-ones in the low `len` bits: the lane mask of a partial AVX-512 access.
#[inline(always)]
fn low_mask(len: usize) -> u32 {
    debug_assert!(len <= 16);
    ((1u64 << len) - 1) as u32
}

x86_lanes!(
    Avx512,
    f32,
    f32x16,
    __m512,
    16,
    unroll = 2,
    set1 = _mm512_set1_ps,
    loadu = _mm512_loadu_ps,
    storeu = _mm512_storeu_ps,
    add = _mm512_add_ps,
    sub = _mm512_sub_ps,
    mul = _mm512_mul_ps,
    div = _mm512_div_ps,
    sqrt = _mm512_sqrt_ps,
    neg = |a| { _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32(i32::MIN))) },
    abs = |a| { _mm512_abs_ps(a) },
    max = |a, b| { _mm512_mask_mov_ps(_mm512_max_ps(a, b), _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, a), a) },
    #[inline(always)]
    unsafe fn load_partial(p: *const f32, len: usize) -> f32x16 {
        // SAFETY: masked-off lanes are neither read nor faulted on; the caller
        // guarantees `len` readable elements and the CPU feature.
        unsafe { _mm512_maskz_loadu_ps(low_mask(len) as __mmask16, p).into() }
    },
    #[inline(always)]
    unsafe fn store_partial(p: *mut f32, len: usize, v: f32x16) {
        // SAFETY: masked-off lanes are not written; the caller guarantees
        // `len` writable elements and the CPU feature.
        unsafe { _mm512_mask_storeu_ps(p, low_mask(len) as __mmask16, v.into()) }
    }
);

x86_lanes!(
    Avx512,
    f64,
    f64x8,
    __m512d,
    8,
    unroll = 2,
    set1 = _mm512_set1_pd,
    loadu = _mm512_loadu_pd,
    storeu = _mm512_storeu_pd,
    add = _mm512_add_pd,
    sub = _mm512_sub_pd,
    mul = _mm512_mul_pd,
    div = _mm512_div_pd,
    sqrt = _mm512_sqrt_pd,
    neg = |a| { _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(a), _mm512_set1_epi64(i64::MIN))) },
    abs = |a| { _mm512_abs_pd(a) },
    max = |a, b| { _mm512_mask_mov_pd(_mm512_max_pd(a, b), _mm512_cmp_pd_mask::<_CMP_UNORD_Q>(a, a), a) },
    #[inline(always)]
    unsafe fn load_partial(p: *const f64, len: usize) -> f64x8 {
        // SAFETY: as for f32: masked lanes are not touched.
        unsafe { _mm512_maskz_loadu_pd(low_mask(len) as __mmask8, p).into() }
    },
    #[inline(always)]
    unsafe fn store_partial(p: *mut f64, len: usize, v: f64x8) {
        // SAFETY: as for f32: masked lanes are not touched.
        unsafe { _mm512_mask_storeu_pd(p, low_mask(len) as __mmask8, v.into()) }
    }
);

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
