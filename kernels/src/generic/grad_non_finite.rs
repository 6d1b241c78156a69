//! The `found_inf` scan over the lane trait: is any element of a gradient,
//! multiplied by the unscale factor, infinite or NaN? Reads only; one pass
//! of full vectors and one partial vector, for every storage type.

use crate::lanes::{Enter, Variant};
use crate::narrow::{HalfLanes, Storage};
use crate::operands::MixedSlice;

/// True if any element of `grad`, multiplied by `scale`, is infinite or NaN
/// (the `found_inf` check), on the token's tier.
pub(crate) fn grad_non_finite<I: HalfLanes + Enter>(token: I, grad: &MixedSlice<'_>, scale: f32) -> bool {
    match grad {
        MixedSlice::F32(s) => token.enter(NonFiniteVariant { grad: s, scale }),
        MixedSlice::Bf16(s) => token.enter(NonFiniteVariant { grad: s, scale }),
        MixedSlice::F16(s) => token.enter(NonFiniteVariant { grad: s, scale }),
    }
}

/// The `found_inf` scan of one gradient type (see [`Variant`]).
struct NonFiniteVariant<'a, T> {
    grad: &'a [T],
    scale: f32,
}

impl<I: HalfLanes, T: Storage> Variant<I> for NonFiniteVariant<'_, T> {
    type Output = bool;

    #[inline(always)]
    unsafe fn run(self) -> bool {
        let (n, p) = (self.grad.len(), self.grad.as_ptr());
        // SAFETY: every range read lies inside `0..n`; the tier is available.
        unsafe {
            let scale = I::splat(self.scale);
            let mut found = false;
            let mut i = 0;
            while i + I::N <= n {
                found |= I::any_non_finite(I::mul(T::load::<I>(p.add(i), I::N), scale));
                i += I::N;
            }
            if i < n {
                found |= I::any_non_finite(I::mul(T::load::<I>(p.add(i), n - i), scale));
            }
            found
        }
    }
}
