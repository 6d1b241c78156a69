//! The portable tier: `wide`'s own 128-bit operators.

use crate::lanes::{Enter, Lanes, Token, Variant, WidenLanes};
use crate::narrow::HalfLanes;
use half::f16;
use wide::{f32x4, f64x2, i32x4, u32x4};

/// Lanes lowered by `wide` for the compile-time target: SSE2 on x86-64, NEON
/// on aarch64, plain arrays elsewhere. Always available: [`Portable::new`].
#[derive(Clone, Copy, Debug)]
pub struct Portable(());

// Tokens are deliberately not `Default` (a default token of another tier
// would prove nothing); the portable one says so by its name.
#[allow(clippy::new_without_default)]
impl Portable {
    /// The portable token (it needs nothing beyond the build's baseline).
    pub const fn new() -> Portable {
        Portable(())
    }
}

// SAFETY: the portable tier uses only the build's baseline instruction set,
// which every CPU that runs the build has.
unsafe impl Token for Portable {
    const FEATURES: &'static str = "";

    fn try_new() -> Option<Portable> {
        Some(Portable::new())
    }

    unsafe fn new_unchecked() -> Portable {
        Portable::new()
    }
}

// SAFETY: nothing needs enabling for the baseline instruction set.
unsafe impl Enter for Portable {
    #[inline(always)]
    fn enter<V: Variant<Self>>(self, v: V) -> V::Output {
        enter_portable(v)
    }
}

/// One kernel variant in a function of its own, as the x86 tiers have (see
/// [`Variant`]): not inlined into the selection in an unoptimised build.
fn enter_portable<V: Variant<Portable>>(v: V) -> V::Output {
    // SAFETY: the portable tier's features are the build's baseline, which
    // this CPU has (it runs the build).
    unsafe { v.run() }
}

macro_rules! portable_lanes {
    ($t:ty, $v:ty, $n:literal) => {
        // SAFETY: `wide`'s `+ - * /`, `sqrt`, `neg` and `abs` are the IEEE
        // operations lane-wise on every back end (`sqrtps`/`vsqrtq`, sign-bit
        // `xor`/`and`); `max` is built from a compare and two selects to the
        // rule of `max_nan`, `sign` from two compares and three selects to
        // the rule of `sign_nan`. 16 bytes <= MAX_VECTOR_BYTES.
        unsafe impl Lanes<$t> for Portable {
            type V = $v;
            const N: usize = $n;
            const UNROLL: usize = 2;

            #[inline(always)]
            unsafe fn splat(x: $t) -> $v {
                <$v>::splat(x)
            }
            #[inline(always)]
            unsafe fn load(p: *const $t) -> $v {
                // SAFETY: the caller guarantees `N` readable elements; `$v` is
                // a plain array of `N` lanes and any bit pattern is valid.
                unsafe { core::ptr::read_unaligned(p.cast::<$v>()) }
            }
            #[inline(always)]
            unsafe fn store(p: *mut $t, v: $v) {
                // SAFETY: the caller guarantees `N` writable elements.
                unsafe { core::ptr::write_unaligned(p.cast::<$v>(), v) }
            }
            #[inline(always)]
            unsafe fn add(a: $v, b: $v) -> $v {
                a + b
            }
            #[inline(always)]
            unsafe fn sub(a: $v, b: $v) -> $v {
                a - b
            }
            #[inline(always)]
            unsafe fn mul(a: $v, b: $v) -> $v {
                a * b
            }
            #[inline(always)]
            unsafe fn div(a: $v, b: $v) -> $v {
                a / b
            }
            #[inline(always)]
            unsafe fn sqrt(a: $v) -> $v {
                a.sqrt()
            }
            #[inline(always)]
            unsafe fn neg(a: $v) -> $v {
                -a
            }
            #[inline(always)]
            unsafe fn abs(a: $v) -> $v {
                a.abs()
            }
            #[inline(always)]
            unsafe fn max(a: $v, b: $v) -> $v {
                // `a > b ? a : b` (false for NaN, so NaN `b` comes out), then
                // `a` wherever `a` is NaN.
                let larger = a.simd_gt(b).select(a, b);
                a.is_nan().select(a, larger)
            }
            #[inline(always)]
            unsafe fn sign(a: $v) -> $v {
                // `+1` where `a > 0`, `−1` where `a < 0`, `+0` elsewhere
                // (both compares are false for ±0 and NaN), then `a`
                // wherever `a` is NaN.
                let (zero, one) = (<$v>::splat(0.0), <$v>::splat(1.0));
                let positive = a.simd_gt(zero).select(one, zero);
                let signed = a.simd_lt(zero).select(-one, positive);
                a.is_nan().select(a, signed)
            }
        }
    };
}

portable_lanes!(f32, f32x4, 4);
portable_lanes!(f64, f64x2, 2);

// SAFETY: 4 f32 lanes and 2 f64 lanes; each half converted lane by lane
// with `as f64`, which is exact.
unsafe impl WidenLanes for Portable {
    #[inline(always)]
    unsafe fn widen_low(v: f32x4) -> f64x2 {
        let a = v.to_array();
        f64x2::from([a[0] as f64, a[1] as f64])
    }
    #[inline(always)]
    unsafe fn widen_high(v: f32x4) -> f64x2 {
        let a = v.to_array();
        f64x2::from([a[2] as f64, a[3] as f64])
    }
}

// SAFETY: `wide`'s `u32x4` operators are the wrapping lane-wise integer
// operations; bit casts are `bytemuck` casts between 16-byte plain types; the
// f16 conversions are `half`'s exact software ones, lane by lane.
unsafe impl HalfLanes for Portable {
    type U = u32x4;

    #[inline(always)]
    unsafe fn to_bits(v: f32x4) -> u32x4 {
        bytemuck::cast(v)
    }
    #[inline(always)]
    unsafe fn from_bits(u: u32x4) -> f32x4 {
        bytemuck::cast(u)
    }
    #[inline(always)]
    unsafe fn splat_u(x: u32) -> u32x4 {
        u32x4::splat(x)
    }
    #[inline(always)]
    unsafe fn iota() -> u32x4 {
        u32x4::from([0, 1, 2, 3])
    }
    #[inline(always)]
    unsafe fn add_u(a: u32x4, b: u32x4) -> u32x4 {
        a + b
    }
    #[inline(always)]
    unsafe fn mul_u(a: u32x4, b: u32x4) -> u32x4 {
        a * b
    }
    #[inline(always)]
    unsafe fn xor_u(a: u32x4, b: u32x4) -> u32x4 {
        a ^ b
    }
    #[inline(always)]
    unsafe fn and_u(a: u32x4, b: u32x4) -> u32x4 {
        a & b
    }
    #[inline(always)]
    unsafe fn or_u(a: u32x4, b: u32x4) -> u32x4 {
        a | b
    }
    #[inline(always)]
    unsafe fn shr15(a: u32x4) -> u32x4 {
        a >> 15
    }
    #[inline(always)]
    unsafe fn shr16(a: u32x4) -> u32x4 {
        a >> 16
    }
    #[inline(always)]
    unsafe fn shl16(a: u32x4) -> u32x4 {
        a << 16
    }
    #[inline(always)]
    unsafe fn sub_u(a: u32x4, b: u32x4) -> u32x4 {
        a - b
    }
    #[inline(always)]
    unsafe fn min_u(a: u32x4, b: u32x4) -> u32x4 {
        a.min(b)
    }
    #[inline(always)]
    unsafe fn max_u(a: u32x4, b: u32x4) -> u32x4 {
        a.max(b)
    }
    #[inline(always)]
    unsafe fn shr_u<const S: u32>(a: u32x4) -> u32x4 {
        a >> S
    }
    #[inline(always)]
    unsafe fn sra_u<const S: u32>(a: u32x4) -> u32x4 {
        bytemuck::cast::<i32x4, u32x4>(bytemuck::cast::<u32x4, i32x4>(a) >> S)
    }
    #[inline(always)]
    unsafe fn shl_u<const S: u32>(a: u32x4) -> u32x4 {
        a << S
    }
    #[inline(always)]
    unsafe fn where_nonzero(test: f32x4, x: u32x4) -> u32x4 {
        x & bytemuck::cast::<f32x4, u32x4>(test.simd_ne(f32x4::ZERO))
    }
    #[inline(always)]
    unsafe fn select_nan(v: f32x4, if_nan: u32x4, other: u32x4) -> u32x4 {
        let nan: u32x4 = bytemuck::cast(v.is_nan());
        (if_nan & nan) | (other & !nan)
    }
    #[inline(always)]
    unsafe fn any_non_finite(v: f32x4) -> bool {
        let exponent: [u32; 4] =
            bytemuck::cast(bytemuck::cast::<f32x4, u32x4>(v) & u32x4::splat(0x7F80_0000));
        exponent.contains(&0x7F80_0000)
    }
    #[inline(always)]
    unsafe fn load_u16(p: *const u16) -> u32x4 {
        // SAFETY: the caller guarantees 4 readable values.
        let a = unsafe { core::ptr::read_unaligned(p.cast::<[u16; 4]>()) };
        u32x4::from(a.map(u32::from))
    }
    #[inline(always)]
    unsafe fn store_u16(p: *mut u16, u: u32x4) {
        let a: [u32; 4] = bytemuck::cast(u);
        // SAFETY: the caller guarantees 4 writable values.
        unsafe { core::ptr::write_unaligned(p.cast::<[u16; 4]>(), a.map(|x| x as u16)) }
    }
    #[inline(always)]
    unsafe fn load_u8(p: *const u8) -> u32x4 {
        // SAFETY: the caller guarantees 4 readable bytes.
        let a = unsafe { core::ptr::read_unaligned(p.cast::<[u8; 4]>()) };
        u32x4::from(a.map(u32::from))
    }
    #[inline(always)]
    unsafe fn store_u8(p: *mut u8, u: u32x4) {
        let a: [u32; 4] = bytemuck::cast(u);
        // SAFETY: the caller guarantees 4 writable bytes.
        unsafe { core::ptr::write_unaligned(p.cast::<[u8; 4]>(), a.map(|x| x as u8)) }
    }
    #[inline(always)]
    unsafe fn load_f16(p: *const u16) -> f32x4 {
        // SAFETY: the caller guarantees 4 readable values.
        let a = unsafe { core::ptr::read_unaligned(p.cast::<[u16; 4]>()) };
        f32x4::from(a.map(|b| f16::from_bits(b).to_f32()))
    }
    #[inline(always)]
    unsafe fn store_f16(p: *mut u16, v: f32x4) {
        let a: [f32; 4] = v.to_array();
        // SAFETY: the caller guarantees 4 writable values.
        unsafe { core::ptr::write_unaligned(p.cast::<[u16; 4]>(), a.map(|x| f16::from_f32(x).to_bits())) }
    }
}
