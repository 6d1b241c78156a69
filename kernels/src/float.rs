//! The element types the kernels run on.
//!
//! [`Float`] is sealed: it is implemented for `f32` and `f64` only. It carries
//! what the scalar reference needs (the five IEEE operations through the
//! `core::ops` traits, `sqrt`, `abs`, NaN tests) and the conversion the
//! per-step scalars go through: every hyperparameter is computed in `f64` and
//! rounded once, to nearest, into the element type by [`Float::from_f64`].

use core::fmt::Debug;
use core::ops::{Add, Div, Mul, Neg, Sub};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A table with one row per element type (each tier's kernel table, in
/// `dispatch`): what [`Float::row`] picks from, so generic code reaches the
/// row of its `T` without knowing which tables exist.
#[doc(hidden)]
pub trait ByFloat {
    /// The row of element type `T`.
    type Row<T: Float>;
    /// The `f32` row.
    fn f32_row(&self) -> &Self::Row<f32>;
    /// The `f64` row.
    fn f64_row(&self) -> &Self::Row<f64>;
}

/// An IEEE-754 binary floating-point element type: `f32` or `f64`.
pub trait Float:
    sealed::Sealed
    + crate::operands::NormElement
    + Copy
    + Default
    + Debug
    + PartialEq
    + PartialOrd
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// Size of one element in bytes.
    const BYTES: usize;
    /// Type name as users write it (`"f32"`).
    const NAME: &'static str;
    /// `+0.0`.
    const ZERO: Self;
    /// `1.0`.
    const ONE: Self;

    /// Rounds an `f64` to this type, to nearest, ties to even (exact for `f64`).
    fn from_f64(x: f64) -> Self;
    /// Widens to `f64` (exact).
    fn to_f64(self) -> f64;
    /// Correctly rounded square root.
    fn sqrt(self) -> Self;
    /// Absolute value (clears the sign bit, NaN included).
    fn abs(self) -> Self;
    /// True for any NaN.
    fn is_nan(self) -> bool;
    /// The bit pattern, widened to `u64`.
    fn to_bits_u64(self) -> u64;
    /// This type's row of `table`.
    #[doc(hidden)]
    fn row<B: ByFloat + ?Sized>(table: &B) -> &B::Row<Self>;
    /// True when `self` and `other` have the same bits, or are both NaN.
    ///
    /// This is the equality of the numerics contract: a NaN result must be a
    /// NaN in every implementation, but its payload and sign are not part of
    /// the contract (LLVM does not preserve them through commuted operands).
    #[inline]
    fn same_bits(self, other: Self) -> bool {
        self.to_bits_u64() == other.to_bits_u64() || (self.is_nan() && other.is_nan())
    }
}

macro_rules! impl_float {
    ($t:ty, $name:literal, $row:ident) => {
        impl Float for $t {
            const BYTES: usize = core::mem::size_of::<$t>();
            const NAME: &'static str = $name;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;

            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline(always)]
            fn to_bits_u64(self) -> u64 {
                self.to_bits() as u64
            }
            #[inline(always)]
            fn row<B: ByFloat + ?Sized>(table: &B) -> &B::Row<Self> {
                table.$row()
            }
        }
    };
}

impl_float!(f32, "f32", f32_row);
impl_float!(f64, "f64", f64_row);

/// The maximum of the numerics contract: NaN-propagating, ties to `b`.
///
/// `max(a, b)` is `a` when `a` is NaN, else `a` when `a > b`, else `b`. So a
/// NaN in either operand comes out (AdaMax and AMSGrad must not silently drop
/// a NaN gradient, as PyTorch's `torch.maximum` does not), and of two equal
/// values (`+0.0` and `-0.0` included) the second is returned. This is exactly
/// x86's `maxps(a, b)` followed by "take `a` where `a` is NaN", which is how
/// the SIMD tiers compute it.
#[inline(always)]
pub fn max_nan<T: Float>(a: T, b: T) -> T {
    if a.is_nan() || a > b { a } else { b }
}

/// The sign of the numerics contract (Lion's `sign(c)`): `+1` for `x > 0`,
/// `−1` for `x < 0`, `+0` for `x = ±0`, and `x` itself for a NaN.
///
/// Infinities have the sign of their direction (`±inf → ±1`), subnormals
/// likewise (no flush to zero). Both zeros give `+0`, so that `p − lr·sign(0)`
/// is `p − (+0)`, which leaves every `p` as it was, `−0` included. A NaN comes
/// out as a NaN (unlike `torch.sign`, which maps NaN to 0, pytorch/pytorch#41245,
/// and so lets `p − lr·sign(NaN)` hide a NaN momentum). The SIMD tiers compute
/// it as `copysign(1, x)` kept where `x ≠ 0` (an ordered compare: false for
/// zeros and NaN), then `x` wherever `x` is NaN.
#[inline(always)]
pub fn sign_nan<T: Float>(x: T) -> T {
    if x > T::ZERO {
        T::ONE
    } else if x < T::ZERO {
        -T::ONE
    } else if x.is_nan() {
        x
    } else {
        T::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_nan_rule() {
        assert_eq!(sign_nan(2.5f32).to_bits(), 1.0f32.to_bits());
        assert_eq!(sign_nan(-2.5f64).to_bits(), (-1.0f64).to_bits());
        assert_eq!(sign_nan(0.0f32).to_bits(), 0.0f32.to_bits());
        assert_eq!(sign_nan(-0.0f32).to_bits(), 0.0f32.to_bits());
        assert_eq!(sign_nan(-0.0f64).to_bits(), 0.0f64.to_bits());
        assert_eq!(sign_nan(f32::INFINITY), 1.0);
        assert_eq!(sign_nan(f64::NEG_INFINITY), -1.0);
        assert_eq!(sign_nan(f32::from_bits(1)), 1.0);
        assert_eq!(sign_nan(-f64::from_bits(1)), -1.0);
        assert!(sign_nan(f32::NAN).is_nan());
        assert!(sign_nan(-f64::NAN).is_nan());
    }

    #[test]
    fn max_nan_rule() {
        assert!(max_nan(f32::NAN, 1.0).is_nan());
        assert!(max_nan(1.0, f32::NAN).is_nan());
        assert_eq!(max_nan(2.0f32, 1.0), 2.0);
        assert_eq!(max_nan(1.0f64, 2.0), 2.0);
        assert_eq!(max_nan(0.0f32, -0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(max_nan(-0.0f64, 0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(max_nan(f32::NEG_INFINITY, f32::INFINITY), f32::INFINITY);
    }

    #[test]
    fn same_bits_treats_nans_alike() {
        assert!(f32::NAN.same_bits(-f32::NAN));
        assert!(!0.0f32.same_bits(-0.0));
        assert!(1.5f64.same_bits(1.5));
    }
}
