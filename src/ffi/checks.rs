//! The pointer checks every step runs before it builds a slice.

use super::fo_status;
use std::mem::{align_of, size_of};

/// A caller's buffer: where it starts and how many bytes it spans.
#[derive(Clone, Copy)]
pub(super) struct Span {
    start: usize,
    bytes: usize,
}

/// Checks one buffer of `n` elements of `T`: not null, aligned, and its byte
/// size within `isize::MAX` (what `slice::from_raw_parts` requires).
pub(super) fn span<T>(ptr: *const T, n: usize) -> Result<Span, fo_status> {
    if ptr.is_null() {
        return Err(fo_status::FO_ERROR_NULL_POINTER);
    }
    if !(ptr as usize).is_multiple_of(align_of::<T>()) {
        return Err(fo_status::FO_ERROR_ALIGNMENT);
    }
    let bytes = n.checked_mul(size_of::<T>()).filter(|&b| b <= isize::MAX as usize);
    let bytes = bytes.ok_or(fo_status::FO_ERROR_LENGTH)?;
    if (ptr as usize).checked_add(bytes).is_none() {
        return Err(fo_status::FO_ERROR_LENGTH);
    }
    Ok(Span { start: ptr as usize, bytes })
}

/// `FO_ERROR_OVERLAP` if any two of the spans share a byte.
pub(super) fn disjoint(spans: &[Span]) -> Result<(), fo_status> {
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            if a.start < b.start + b.bytes && b.start < a.start + a.bytes {
                return Err(fo_status::FO_ERROR_OVERLAP);
            }
        }
    }
    Ok(())
}
