//! The portable tier: `wide`'s own 128-bit operators.

use crate::lanes::Lanes;
use wide::{f32x4, f64x2};

/// Lanes lowered by `wide` for the compile-time target: SSE2 on x86-64, NEON
/// on aarch64, plain arrays elsewhere. Always available.
#[derive(Clone, Copy, Debug, Default)]
pub struct Portable;

macro_rules! portable_lanes {
    ($t:ty, $v:ty, $n:literal) => {
        // SAFETY: `wide`'s `+ - * /`, `sqrt`, `neg` and `abs` are the IEEE
        // operations lane-wise on every back end (`sqrtps`/`vsqrtq`, sign-bit
        // `xor`/`and`); `max` is built from a compare and two selects to the
        // rule of `max_nan`. 16 bytes <= MAX_VECTOR_BYTES.
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
        }
    };
}

portable_lanes!(f32, f32x4, 4);
portable_lanes!(f64, f64x2, 2);
