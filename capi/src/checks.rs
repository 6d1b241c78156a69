//! The pointer checks every step runs before it builds a slice.

use super::status::fo_status;
use std::mem::{align_of, size_of};

/// A caller's buffer: where it starts, how many bytes it spans, and whether
/// the step writes it.
#[derive(Clone, Copy)]
pub(super) struct Span {
    start: usize,
    bytes: usize,
    written: bool,
}

impl Span {
    /// The same buffer, written by the step.
    pub(super) fn written(self) -> Span {
        Span { written: true, ..self }
    }
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
    Ok(Span { start: ptr as usize, bytes, written: false })
}

/// `FO_ERROR_OVERLAP` if a written span shares a byte with any other span.
/// Spans that are only read may overlap (several tensors may share one
/// gradient). Sorts, then sweeps once: O(n log n), so a multi-tensor step of
/// thousands of buffers checks fast.
pub(super) fn disjoint(spans: &mut [Span]) -> Result<(), fo_status> {
    spans.sort_unstable_by_key(|s| s.start);
    let (mut end_of_any, mut end_of_written) = (0usize, 0usize);
    for s in spans.iter().filter(|s| s.bytes > 0) {
        if s.start < end_of_written || (s.written && s.start < end_of_any) {
            return Err(fo_status::FO_ERROR_OVERLAP);
        }
        end_of_any = end_of_any.max(s.start + s.bytes);
        if s.written {
            end_of_written = end_of_written.max(s.start + s.bytes);
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: usize, bytes: usize, written: bool) -> Span {
        Span { start, bytes, written }
    }

    #[test]
    fn only_written_spans_may_not_overlap() {
        let ok = |spans: &mut [Span]| disjoint(spans).is_ok();
        assert!(ok(&mut [at(0, 8, true), at(8, 8, true)]));
        assert!(!ok(&mut [at(0, 9, true), at(8, 8, true)]));
        assert!(ok(&mut [at(0, 16, false), at(8, 16, false)]), "shared reads are fine");
        assert!(!ok(&mut [at(0, 16, false), at(8, 4, true)]), "a write inside a read");
        assert!(!ok(&mut [at(8, 4, false), at(0, 16, true)]), "a read inside a write");
        assert!(!ok(&mut [at(0, 100, true), at(200, 8, false), at(50, 4, false)]), "found past a gap");
        assert!(ok(&mut [at(4, 0, true), at(0, 8, true)]), "empty spans overlap nothing");
    }
}
