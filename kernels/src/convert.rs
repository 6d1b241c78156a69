//! Conversion kernels between storage types: `dst = narrow(widen(src)·scale)`,
//! and the in-place `x = narrow(widen(x)·scale)`.
//!
//! They are the single-purpose passes a framework runs around an optimizer
//! step when nothing is fused (unscale the gradient, copy the new parameters
//! to `bf16`), which the benches time against the fused step; and they expose
//! each tier's narrowing and widening ([`crate::narrow`]) to the tests, which
//! compare them with `half`'s over every rounding boundary. With `scale = 1`
//! a conversion is exact widening or RNE narrowing (`x·1 = x` exactly, NaN
//! stays NaN).

use crate::adam_mixed::MixedSlice;
use crate::lanes::{Block, Enter, Variant, for_each_block};
use crate::narrow::{HalfLanes, Storage, bf16, f16};

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
        // SAFETY: the caller guarantees `n` elements at both pointers and the tier.
        unsafe {
            let body = Convert::<I, A, B> { src: self.src, dst: self.dst, scale: I::splat(self.scale) };
            for_each_block::<I, f32, _>(self.n, &body);
        }
    }
}

/// # Safety
/// `n` elements at both pointers (in place when they are equal); the tier `I` is available.
#[inline(always)]
unsafe fn convert_typed<I: HalfLanes + Enter, A: Storage, B: Storage>(
    src: *const A,
    dst: *mut B,
    n: usize,
    scale: f32,
) {
    // SAFETY: forwarded from the caller.
    unsafe { I::enter(ConvertVariant { src, dst, n, scale }) }
}

/// `dst = narrow(widen(src)·scale)`.
///
/// # Safety
/// Equal lengths (checked by the caller); the tier `I` is available.
pub(crate) unsafe fn run<I: HalfLanes + Enter>(src: &MixedSlice<'_>, dst: &mut MixedSlice<'_>, scale: f32) {
    let n = src.len();
    /// Matches the destination's type for a source of type `$a` at `$s`.
    macro_rules! to_dst {
        ($s:expr, $a:ty) => {
            match dst {
                // SAFETY: both slices hold `n` elements; the tier is available.
                MixedSlice::F32(d) => unsafe { convert_typed::<I, $a, f32>($s, d.as_mut_ptr(), n, scale) },
                // SAFETY: as above.
                MixedSlice::Bf16(d) => unsafe { convert_typed::<I, $a, bf16>($s, d.as_mut_ptr(), n, scale) },
                // SAFETY: as above.
                MixedSlice::F16(d) => unsafe { convert_typed::<I, $a, f16>($s, d.as_mut_ptr(), n, scale) },
            }
        };
    }
    match src {
        MixedSlice::F32(s) => to_dst!(s.as_ptr(), f32),
        MixedSlice::Bf16(s) => to_dst!(s.as_ptr(), bf16),
        MixedSlice::F16(s) => to_dst!(s.as_ptr(), f16),
    }
}

/// `x = narrow(widen(x)·scale)` in place.
///
/// # Safety
/// The tier `I` is available.
pub(crate) unsafe fn run_in_place<I: HalfLanes + Enter>(x: &mut MixedSlice<'_>, scale: f32) {
    let n = x.len();
    // SAFETY: source and destination are the same `n` elements, through one
    // pointer taken once from the `&mut` slice (each block loads before it
    // stores); the tier is available.
    unsafe {
        match x {
            MixedSlice::F32(s) => {
                let p = s.as_mut_ptr();
                convert_typed::<I, f32, f32>(p, p, n, scale)
            }
            MixedSlice::Bf16(s) => {
                let p = s.as_mut_ptr();
                convert_typed::<I, bf16, bf16>(p, p, n, scale)
            }
            MixedSlice::F16(s) => {
                let p = s.as_mut_ptr();
                convert_typed::<I, f16, f16>(p, p, n, scale)
            }
        }
    }
}

/// `dst = narrow(widen(src)·scale)` on the dispatched tier (`scale = 1`: a
/// plain conversion, exact or rounded to nearest even).
///
/// # Panics
/// If the lengths differ.
pub fn convert(src: &MixedSlice<'_>, dst: &mut MixedSlice<'_>, scale: f32) {
    assert_eq!(src.len(), dst.len(), "convert: unequal lengths");
    // SAFETY: the dispatched table belongs to an available tier; lengths are equal.
    unsafe { (crate::dispatch::dispatched_table().convert)(src, dst, scale) }
}

/// [`convert`] on a forced tier.
///
/// # Panics
/// If the lengths differ.
pub fn convert_on(
    tier: crate::Tier,
    src: &MixedSlice<'_>,
    dst: &mut MixedSlice<'_>,
    scale: f32,
) -> Result<(), crate::TierUnavailable> {
    assert_eq!(src.len(), dst.len(), "convert: unequal lengths");
    let table = crate::dispatch::forced_table(tier)?;
    // SAFETY: `forced_table` only returns the table of an available tier; lengths are equal.
    unsafe { (table.convert)(src, dst, scale) };
    Ok(())
}

/// `x = narrow(widen(x)·scale)` in place, on the dispatched tier (the
/// framework's separate unscale pass).
pub fn scale_in_place(x: &mut MixedSlice<'_>, scale: f32) {
    // SAFETY: the dispatched table belongs to an available tier.
    unsafe { (crate::dispatch::dispatched_table().scale_in_place)(x, scale) }
}
