//! Narrow storage: `bf16` and `f16` buffers with `f32` arithmetic.
//!
//! A mixed-precision kernel keeps its arithmetic in `f32` lanes and converts
//! at the loads and stores. Widening (`bf16`/`f16` → `f32`) is exact. Narrowing
//! rounds to nearest, ties to even (RNE), with the IEEE rules for NaN (stays a
//! NaN, quieted), infinities (stay infinite), overflow (rounds to infinity
//! past the largest finite value plus half an ulp) and subnormals (kept, not
//! flushed), exactly as `half::bf16::from_f32` / `half::f16::from_f32` do;
//! the tests compare the tiers with them over every rounding boundary.
//!
//! # How each tier converts
//!
//! - `f16`: the CPU's conversion instructions where the tier has them
//!   (`vcvtph2ps`/`vcvtps2ph` with RNE: F16C on the AVX2 tier, AVX-512F on the
//!   AVX-512 tier); `half`'s exact software conversion lane by lane on the
//!   portable tier.
//! - `bf16`: integer lane operations on every tier, written once over
//!   [`HalfLanes`]: widening is a 16-bit shift; RNE narrowing is
//!   `(b + 0x7FFF + ((b >> 16) & 1)) >> 16` on the bits `b`, with NaN lanes
//!   replaced by their quieted top half. AVX-512 BF16's `vcvtneps2bf16` is not
//!   used: it treats subnormal inputs and outputs as zero whatever MXCSR says,
//!   so it would not give the reference's bits, and the integer form is five
//!   lane operations in a memory-bound step.
//!
//! # Stochastic rounding
//!
//! `bf16` stores may round stochastically: `(b + r) >> 16` with `r` a random
//! 16-bit value per element, which rounds up with probability equal to the
//! dropped fraction, so the expected stored value is the `f32` value (and a
//! long run of updates below half a `bf16` ulp still moves the parameter on
//! average, where RNE leaves it stuck). `r` is a hash of a per-step,
//! per-buffer key and the element's position, never of the thread or tier:
//! `r = lowbias32(key ^ position) & 0xFFFF` (Chris Wellons' `lowbias32`
//! integer hash), with the position taken modulo 2³², so the same seed gives
//! the same bits on every tier and thread count. NaN lanes are quieted as for
//! RNE; infinities stay infinite.

use crate::lanes::{Lanes, MAX_VECTOR_BYTES};
pub use half::{bf16, f16};

/// The element types a mixed-precision buffer may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// IEEE binary32.
    F32,
    /// bfloat16: f32's exponent, 8 bits of significand.
    Bf16,
    /// IEEE binary16.
    F16,
}

impl Dtype {
    /// Bytes per element.
    pub const fn bytes(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::Bf16 | Dtype::F16 => 2,
        }
    }

    /// Lower-case name (`"bf16"`).
    pub const fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "f32",
            Dtype::Bf16 => "bf16",
            Dtype::F16 => "f16",
        }
    }
}

impl core::fmt::Display for Dtype {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// `f32` lanes that can also be handled as `u32` bit patterns and converted
/// to and from 16-bit storage.
///
/// # Safety
///
/// Implementors promise that every method does, lane by lane, what its
/// documentation says (the integer operations wrap), that `U` holds `N`
/// lanes, and that `load_f16`/`store_f16` convert exactly (RNE). Callers
/// promise what [`Lanes`] asks: the CPU supports the token, and pointers are
/// valid for `N` elements (`len` for the partial forms).
pub unsafe trait HalfLanes: Lanes<f32> {
    /// `N` lanes of `u32`.
    type U: Copy;

    /// The bits of each lane.
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn to_bits(v: Self::V) -> Self::U;
    /// Lanes with these bits.
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn from_bits(u: Self::U) -> Self::V;
    /// Every lane `x`.
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn splat_u(x: u32) -> Self::U;
    /// Lane `i` holds `i`.
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn iota() -> Self::U;
    /// Wrapping `a + b`.
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn add_u(a: Self::U, b: Self::U) -> Self::U;
    /// Wrapping `a × b` (the low 32 bits).
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn mul_u(a: Self::U, b: Self::U) -> Self::U;
    /// `a ^ b`.
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn xor_u(a: Self::U, b: Self::U) -> Self::U;
    /// `a & b`.
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn and_u(a: Self::U, b: Self::U) -> Self::U;
    /// `a | b`.
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn or_u(a: Self::U, b: Self::U) -> Self::U;
    /// `a >> 15` (logical).
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn shr15(a: Self::U) -> Self::U;
    /// `a >> 16` (logical).
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn shr16(a: Self::U) -> Self::U;
    /// `a << 16`.
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn shl16(a: Self::U) -> Self::U;
    /// Wrapping `a − b`.
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn sub_u(a: Self::U, b: Self::U) -> Self::U;
    /// The smaller of `a` and `b`, as unsigned integers.
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn min_u(a: Self::U, b: Self::U) -> Self::U;
    /// The larger of `a` and `b`, as unsigned integers.
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn max_u(a: Self::U, b: Self::U) -> Self::U;
    /// `a >> S` (logical; `S < 32`).
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn shr_u<const S: u32>(a: Self::U) -> Self::U;
    /// `a >> S` as signed integers: the sign bit copied into the top `S`
    /// bits (`S < 32`).
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn sra_u<const S: u32>(a: Self::U) -> Self::U;
    /// `a << S` (`S < 32`).
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn shl_u<const S: u32>(a: Self::U) -> Self::U;
    /// `x` in the lanes where `test` is not `±0.0` (a NaN is not zero), `0`
    /// elsewhere. (A float compare: integer lanes tested for zero through
    /// their bit patterns, a compiler rewrites byte-sized ones into byte
    /// compares and a widening, several instructions more.)
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn where_nonzero(test: Self::V, x: Self::U) -> Self::U;
    /// `if_nan` in the lanes where `v` is NaN, `other` elsewhere.
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn select_nan(v: Self::V, if_nan: Self::U, other: Self::U) -> Self::U;
    /// True if any lane of `v` is infinite or NaN.
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn any_non_finite(v: Self::V) -> bool;
    /// `N` 16-bit values, zero-extended.
    /// # Safety
    /// See the trait.
    unsafe fn load_u16(p: *const u16) -> Self::U;
    /// The low 16 bits of each lane (every lane holds a value below 2¹⁶).
    /// # Safety
    /// See the trait.
    unsafe fn store_u16(p: *mut u16, u: Self::U);
    /// `N` bytes, zero-extended.
    /// # Safety
    /// See the trait.
    unsafe fn load_u8(p: *const u8) -> Self::U;
    /// The low 8 bits of each lane (every lane holds a value below 2⁸).
    /// # Safety
    /// See the trait.
    unsafe fn store_u8(p: *mut u8, u: Self::U);
    /// `N` `f16` values (as bits), widened exactly.
    /// # Safety
    /// See the trait.
    unsafe fn load_f16(p: *const u16) -> Self::V;
    /// `N` lanes rounded to `f16` (RNE), as bits.
    /// # Safety
    /// See the trait.
    unsafe fn store_f16(p: *mut u16, v: Self::V);
}

/// One element type of a mixed-precision buffer, with its lane conversions.
///
/// Sealed: implemented for `f32`, [`bf16`] and [`struct@f16`].
pub trait Storage: sealed::Sealed + Copy + Default + Send + Sync + core::fmt::Debug + 'static {
    /// The element type's tag.
    const DTYPE: Dtype;

    /// Widens one element to `f32` (exact).
    fn widen(self) -> f32;

    /// Rounds `x` to this type, nearest even (the reference's narrowing).
    fn narrow(x: f32) -> Self;

    /// Rounds `x` with the random value `r` (its low 16 bits): stochastically
    /// for `bf16`, to nearest even for the others.
    fn narrow_stochastic(x: f32, r: u32) -> Self;

    /// Loads `len <= N` elements (the other lanes zero).
    ///
    /// # Safety
    /// As [`Lanes::load_partial`].
    #[doc(hidden)]
    unsafe fn load<I: HalfLanes>(p: *const Self, len: usize) -> I::V;

    /// Stores `len <= N` lanes, rounded to nearest even.
    ///
    /// # Safety
    /// As [`Lanes::store_partial`].
    #[doc(hidden)]
    unsafe fn store<I: HalfLanes>(p: *mut Self, len: usize, v: I::V);

    /// Stores `len <= N` lanes, rounded stochastically with `random` for
    /// `bf16` (to nearest even for the others).
    ///
    /// # Safety
    /// As [`Lanes::store_partial`].
    #[doc(hidden)]
    unsafe fn store_stochastic<I: HalfLanes>(p: *mut Self, len: usize, v: I::V, random: I::U);
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for super::bf16 {}
    impl Sealed for super::f16 {}
}

impl Storage for f32 {
    const DTYPE: Dtype = Dtype::F32;
    fn widen(self) -> f32 {
        self
    }
    fn narrow(x: f32) -> f32 {
        x
    }
    fn narrow_stochastic(x: f32, _: u32) -> f32 {
        x
    }
    #[inline(always)]
    unsafe fn load<I: HalfLanes>(p: *const f32, len: usize) -> I::V {
        // SAFETY: forwarded from the caller.
        unsafe { crate::lanes::load_n::<I, f32>(p, len) }
    }
    #[inline(always)]
    unsafe fn store<I: HalfLanes>(p: *mut f32, len: usize, v: I::V) {
        // SAFETY: forwarded from the caller.
        unsafe { crate::lanes::store_n::<I, f32>(p, len, v) }
    }
    #[inline(always)]
    unsafe fn store_stochastic<I: HalfLanes>(p: *mut f32, len: usize, v: I::V, _: I::U) {
        // SAFETY: forwarded from the caller.
        unsafe { crate::lanes::store_n::<I, f32>(p, len, v) }
    }
}

impl Storage for bf16 {
    const DTYPE: Dtype = Dtype::Bf16;
    fn widen(self) -> f32 {
        f32::from_bits((self.to_bits() as u32) << 16)
    }
    fn narrow(x: f32) -> bf16 {
        bf16::from_bits(bf16_bits_nearest(x))
    }
    fn narrow_stochastic(x: f32, r: u32) -> bf16 {
        bf16::from_bits(bf16_bits_stochastic(x, r))
    }
    #[inline(always)]
    unsafe fn load<I: HalfLanes>(p: *const bf16, len: usize) -> I::V {
        // SAFETY: forwarded from the caller; `bf16` is a transparent `u16`.
        unsafe { I::from_bits(I::shl16(load_u16_n::<I>(p.cast(), len))) }
    }
    #[inline(always)]
    unsafe fn store<I: HalfLanes>(p: *mut bf16, len: usize, v: I::V) {
        // SAFETY: forwarded from the caller; `bf16` is a transparent `u16`.
        unsafe {
            let b = I::to_bits(v);
            let odd = I::and_u(I::shr16(b), I::splat_u(1));
            let rounded = I::shr16(I::add_u(I::add_u(b, I::splat_u(0x7FFF)), odd));
            store_u16_n::<I>(p.cast(), len, I::select_nan(v, quiet_bf16::<I>(b), rounded))
        }
    }
    #[inline(always)]
    unsafe fn store_stochastic<I: HalfLanes>(p: *mut bf16, len: usize, v: I::V, random: I::U) {
        // SAFETY: forwarded from the caller; `bf16` is a transparent `u16`.
        unsafe {
            let b = I::to_bits(v);
            let rounded = I::shr16(I::add_u(b, I::and_u(random, I::splat_u(0xFFFF))));
            store_u16_n::<I>(p.cast(), len, I::select_nan(v, quiet_bf16::<I>(b), rounded))
        }
    }
}

impl Storage for f16 {
    const DTYPE: Dtype = Dtype::F16;
    fn widen(self) -> f32 {
        self.to_f32()
    }
    fn narrow(x: f32) -> f16 {
        f16::from_f32(x)
    }
    fn narrow_stochastic(x: f32, _: u32) -> f16 {
        f16::from_f32(x)
    }
    #[inline(always)]
    unsafe fn load<I: HalfLanes>(p: *const f16, len: usize) -> I::V {
        // SAFETY: forwarded from the caller; `f16` is a transparent `u16`.
        unsafe {
            if len == I::N {
                I::load_f16(p.cast())
            } else {
                let mut buf = [0u16; MAX_VECTOR_BYTES / 4];
                core::ptr::copy_nonoverlapping(p.cast::<u16>(), buf.as_mut_ptr(), len);
                I::load_f16(buf.as_ptr())
            }
        }
    }
    #[inline(always)]
    unsafe fn store<I: HalfLanes>(p: *mut f16, len: usize, v: I::V) {
        // SAFETY: forwarded from the caller; `f16` is a transparent `u16`.
        unsafe {
            if len == I::N {
                I::store_f16(p.cast(), v)
            } else {
                let mut buf = [0u16; MAX_VECTOR_BYTES / 4];
                I::store_f16(buf.as_mut_ptr(), v);
                core::ptr::copy_nonoverlapping(buf.as_ptr(), p.cast::<u16>(), len);
            }
        }
    }
    #[inline(always)]
    unsafe fn store_stochastic<I: HalfLanes>(p: *mut f16, len: usize, v: I::V, _: I::U) {
        // SAFETY: forwarded from the caller.
        unsafe { Self::store::<I>(p, len, v) }
    }
}

/// NaN lanes' bf16: the top half of the bits, quieted.
#[inline(always)]
unsafe fn quiet_bf16<I: HalfLanes>(b: I::U) -> I::U {
    // SAFETY: the caller guarantees the CPU feature.
    unsafe { I::or_u(I::shr16(b), I::splat_u(0x0040)) }
}

/// Loads `len <= N` 16-bit values, zero-extended (the other lanes zero).
///
/// # Safety
/// As [`Lanes::load_partial`].
#[inline(always)]
pub(crate) unsafe fn load_u16_n<I: HalfLanes>(p: *const u16, len: usize) -> I::U {
    // SAFETY: `p` is valid for `len` reads; `buf` for `N`.
    unsafe {
        if len == I::N {
            I::load_u16(p)
        } else {
            let mut buf = [0u16; MAX_VECTOR_BYTES / 4];
            core::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), len);
            I::load_u16(buf.as_ptr())
        }
    }
}

/// Stores the low 16 bits of the first `len <= N` lanes.
///
/// # Safety
/// As [`Lanes::store_partial`].
#[inline(always)]
pub(crate) unsafe fn store_u16_n<I: HalfLanes>(p: *mut u16, len: usize, u: I::U) {
    // SAFETY: `p` is valid for `len` writes; `buf` for `N`.
    unsafe {
        if len == I::N {
            I::store_u16(p, u)
        } else {
            let mut buf = [0u16; MAX_VECTOR_BYTES / 4];
            I::store_u16(buf.as_mut_ptr(), u);
            core::ptr::copy_nonoverlapping(buf.as_ptr(), p, len);
        }
    }
}

/// Loads `len <= N` bytes, zero-extended (the other lanes zero).
///
/// # Safety
/// As [`Lanes::load_partial`].
#[inline(always)]
pub(crate) unsafe fn load_u8_n<I: HalfLanes>(p: *const u8, len: usize) -> I::U {
    // SAFETY: `p` is valid for `len` reads; `buf` for `N <= 16`.
    unsafe {
        if len == I::N {
            I::load_u8(p)
        } else {
            let mut buf = [0u8; MAX_VECTOR_BYTES / 4];
            core::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), len);
            I::load_u8(buf.as_ptr())
        }
    }
}

/// Stores the low 8 bits of the first `len <= N` lanes (each below 2⁸).
///
/// # Safety
/// As [`Lanes::store_partial`].
#[inline(always)]
pub(crate) unsafe fn store_u8_n<I: HalfLanes>(p: *mut u8, len: usize, u: I::U) {
    // SAFETY: `p` is valid for `len` writes; `buf` for `N <= 16`.
    unsafe {
        if len == I::N {
            I::store_u8(p, u)
        } else {
            let mut buf = [0u8; MAX_VECTOR_BYTES / 4];
            I::store_u8(buf.as_mut_ptr(), u);
            core::ptr::copy_nonoverlapping(buf.as_ptr(), p, len);
        }
    }
}

/// `lowbias32(key ^ (first + lane))` for each lane: the random values of
/// stochastic rounding for `N` consecutive positions from `first`.
///
/// # Safety
/// The CPU supports the token's instruction set.
#[inline(always)]
pub(crate) unsafe fn random_lanes<I: HalfLanes>(key: u32, first: u32) -> I::U {
    // SAFETY: the caller guarantees the CPU feature.
    unsafe {
        let x = I::xor_u(I::add_u(I::splat_u(first), I::iota()), I::splat_u(key));
        let x = I::mul_u(I::xor_u(x, I::shr16(x)), I::splat_u(0x7FEB_352D));
        let x = I::mul_u(I::xor_u(x, I::shr15(x)), I::splat_u(0x846C_A68B));
        I::xor_u(x, I::shr16(x))
    }
}

/// The random value of stochastic rounding at one position (the lane form is
/// the same hash): `lowbias32(key ^ position)`.
pub fn random_at(key: u32, position: u32) -> u32 {
    let x = key ^ position;
    let x = (x ^ (x >> 16)).wrapping_mul(0x7FEB_352D);
    let x = (x ^ (x >> 15)).wrapping_mul(0x846C_A68B);
    x ^ (x >> 16)
}

/// `x` rounded to bf16, nearest even, as bits (NaN quieted).
pub fn bf16_bits_nearest(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        return ((b >> 16) | 0x0040) as u16;
    }
    (b.wrapping_add(0x7FFF + ((b >> 16) & 1)) >> 16) as u16
}

/// `x` rounded to bf16 stochastically with the low 16 bits of `r`, as bits
/// (NaN quieted).
pub fn bf16_bits_stochastic(x: f32, r: u32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        return ((b >> 16) | 0x0040) as u16;
    }
    (b.wrapping_add(r & 0xFFFF) >> 16) as u16
}

/// The per-step key of one buffer's stochastic rounding, from the user's
/// seed, the step number and the buffer's number in the kernel
/// (`splitmix64` of each in turn, folded to 32 bits).
pub fn stochastic_key(seed: u64, step: u64, buffer: u32) -> u32 {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let z = mix(mix(mix(seed) ^ step) ^ buffer as u64);
    (z ^ (z >> 32)) as u32
}
