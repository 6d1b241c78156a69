//! The pointer checks every step runs before it builds a slice.

use super::status::fo_status;

pub(super) use fused_optim_core::foreign::Span;

/// Checks one buffer of `n` elements of `T` ([`Span::of`]), as a status.
pub(super) fn span<T>(ptr: *const T, n: usize) -> Result<Span, fo_status> {
    Span::of(ptr, n).map_err(fo_status::from)
}

/// `FO_ERROR_OVERLAP` if a written span shares a byte with any other span
/// ([`fused_optim_core::foreign::disjoint`]).
pub(super) fn disjoint(spans: &mut [Span]) -> Result<(), fo_status> {
    fused_optim_core::foreign::disjoint(spans).map_err(fo_status::from)
}

/// Copies a caller's array of `count` values (pointers, lengths) after
/// checking it, so no reference into the caller's memory outlives this call.
///
/// # Safety
/// `array` is null or valid for reads of `count` values.
pub(super) unsafe fn copy_array<T: Copy>(array: *const T, count: usize) -> Result<Vec<T>, fo_status> {
    span(array, count)?;
    // SAFETY: checked non-null, aligned and within isize::MAX bytes; valid
    // for `count` reads by the caller's contract. The slice lives only for
    // the copy.
    Ok(unsafe { std::slice::from_raw_parts(array, count) }.to_vec())
}
