//! Conversion kernels between storage types over the lane trait:
//! `dst = narrow(widen(src)·scale)`, and the in-place
//! `x = narrow(widen(x)·scale)`.
//!
//! They are the single-purpose passes a framework runs around an optimizer
//! step when nothing is fused (unscale the gradient, copy the new parameters
//! to `bf16`), which the benches time against the fused step; and they expose
//! each tier's narrowing and widening ([`crate::narrow`]) to the tests, which
//! compare them with `half`'s over every rounding boundary. With `scale = 1`
//! a conversion is exact widening or RNE narrowing (`x·1 = x` exactly, NaN
//! stays NaN).

use crate::lanes::{Block, Enter, Variant, for_each_block};
use crate::narrow::{HalfLanes, Storage};
use crate::operands::MixedSlice;

struct Convert<I: HalfLanes, A, B> {
    src: *const A,
    dst: *mut B,
    scale: I::V,
}

impl<I: HalfLanes, A: Storage, B: Storage> Block for Convert<I, A, B> {
    #[inline(always)]
    unsafe fn run(&self, o: usize, n: usize) {
        // SAFETY: `o + n` is within both buffers; the tier is available.
        unsafe {
            let x = I::mul(A::load::<I>(self.src.add(o), n), self.scale);
            B::store::<I>(self.dst.add(o), n, x);
        }
    }
}

/// One conversion from `A` to `B` (see [`Variant`]): `n` elements from
/// `src` to `dst`, in place when they are equal (each block reads before it
/// writes).
struct ConvertVariant<A, B> {
    src: *const A,
    dst: *mut B,
    n: usize,
    scale: f32,
}

impl<I: HalfLanes, A: Storage, B: Storage> Variant<I> for ConvertVariant<A, B> {
    type Output = ();

    #[inline(always)]
    unsafe fn run(self) {
        // SAFETY: `n` elements at both pointers (where the variant is built,
        // from slices of at least `n`), and the caller guarantees the tier.
        unsafe {
            let body = Convert::<I, A, B> { src: self.src, dst: self.dst, scale: I::splat(self.scale) };
            for_each_block::<I, f32, _>(self.n, &body);
        }
    }
}

/// The conversion from `A` to `dst`'s type: `n` elements from `src`.
#[inline(always)]
fn to_dst<I: HalfLanes + Enter, A: Storage>(
    token: I,
    src: *const A,
    dst: &mut MixedSlice<'_>,
    n: usize,
    scale: f32,
) {
    debug_assert!(n <= dst.len());
    match dst {
        MixedSlice::F32(d) => token.enter(ConvertVariant { src, dst: d.as_mut_ptr(), n, scale }),
        MixedSlice::Bf16(d) => token.enter(ConvertVariant { src, dst: d.as_mut_ptr(), n, scale }),
        MixedSlice::F16(d) => token.enter(ConvertVariant { src, dst: d.as_mut_ptr(), n, scale }),
    }
}

/// `dst = narrow(widen(src)·scale)` over the first `min(len)` elements (the
/// entry point has checked the lengths equal), on the token's tier.
pub(crate) fn convert<I: HalfLanes + Enter>(
    token: I,
    src: &MixedSlice<'_>,
    dst: &mut MixedSlice<'_>,
    scale: f32,
) {
    let n = src.len().min(dst.len());
    match src {
        MixedSlice::F32(s) => to_dst(token, s.as_ptr(), dst, n, scale),
        MixedSlice::Bf16(s) => to_dst(token, s.as_ptr(), dst, n, scale),
        MixedSlice::F16(s) => to_dst(token, s.as_ptr(), dst, n, scale),
    }
}

/// `x = narrow(widen(x)·scale)` in place, on the token's tier: source and
/// destination are one pointer, taken once from the `&mut` slice (each block
/// loads before it stores).
pub(crate) fn scale_in_place<I: HalfLanes + Enter>(token: I, x: &mut MixedSlice<'_>, scale: f32) {
    fn same<A: Storage>(s: &mut [A], scale: f32) -> ConvertVariant<A, A> {
        let p = s.as_mut_ptr();
        ConvertVariant { src: p, dst: p, n: s.len(), scale }
    }
    match x {
        MixedSlice::F32(s) => token.enter(same(s, scale)),
        MixedSlice::Bf16(s) => token.enter(same(s, scale)),
        MixedSlice::F16(s) => token.enter(same(s, scale)),
    }
}
