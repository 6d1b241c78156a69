//! What a binding checks before it makes slices of a foreign caller's
//! memory: each buffer's span (not null, aligned, its byte size within
//! `isize::MAX`) and that no buffer a step writes shares a byte with any
//! other buffer of the step.
//!
//! The C ABI (`fused-optim-capi`) and the Python package (`python/`) both
//! receive addresses and lengths, not Rust slices; these two checks are what
//! `slice::from_raw_parts_mut` needs of them besides validity of the memory
//! itself, which only the caller can vouch for. No `unsafe` here: spans are
//! addresses and sizes, never dereferenced.
//!
//! ```
//! use fused_optim::foreign::{disjoint, Span, SpanError};
//! let a = [0.0f32; 8];
//! let whole = Span::of(a.as_ptr(), 8)?.written();
//! let tail = Span::of(a[4..].as_ptr(), 4)?;
//! assert_eq!(disjoint(&mut [whole, tail]), Err(SpanError::Overlap)); // a write over a read
//! assert!(disjoint(&mut [Span::of(a.as_ptr(), 4)?, tail]).is_ok());  // two reads may share
//! # Ok::<(), SpanError>(())
//! ```

use std::mem::{align_of, size_of};

/// Why a foreign buffer cannot become a slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanError {
    /// The address is null.
    Null,
    /// The address is not a multiple of the element type's alignment.
    Alignment,
    /// The byte size passes `isize::MAX` or the end of the address space.
    Length,
    /// A buffer the step writes shares a byte with another buffer of the step.
    Overlap,
}

impl std::fmt::Display for SpanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SpanError::Null => "a buffer's address is null",
            SpanError::Alignment => "a buffer's address is not aligned for its element type",
            SpanError::Length => "a buffer's byte size passes isize::MAX or the end of the address space",
            SpanError::Overlap => "a buffer the step writes overlaps another buffer of the step",
        })
    }
}

impl std::error::Error for SpanError {}

/// A caller's buffer: where it starts, how many bytes it spans, and whether
/// the step writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    start: usize,
    bytes: usize,
    written: bool,
}

impl Span {
    /// Checks one buffer of `n` elements of `T` at `ptr`: not null, aligned,
    /// and its byte size within `isize::MAX` and the address space (what
    /// `slice::from_raw_parts` requires besides valid memory). Read-only until
    /// [`Span::written`].
    pub fn of<T>(ptr: *const T, n: usize) -> Result<Span, SpanError> {
        if ptr.is_null() {
            return Err(SpanError::Null);
        }
        let start = ptr as usize;
        if !start.is_multiple_of(align_of::<T>()) {
            return Err(SpanError::Alignment);
        }
        let bytes = n.checked_mul(size_of::<T>()).filter(|&b| b <= isize::MAX as usize);
        let bytes = bytes.ok_or(SpanError::Length)?;
        if start.checked_add(bytes).is_none() {
            return Err(SpanError::Length);
        }
        Ok(Span { start, bytes, written: false })
    }

    /// The same buffer, written by the step.
    pub fn written(self) -> Span {
        Span { written: true, ..self }
    }
}

/// [`SpanError::Overlap`] if a written span shares a byte with any other
/// span. Spans that are only read may overlap (several tensors may share one
/// gradient); empty spans overlap nothing. Sorts, then sweeps once:
/// O(n log n), so a multi-tensor step of thousands of buffers checks fast.
pub fn disjoint(spans: &mut [Span]) -> Result<(), SpanError> {
    spans.sort_unstable_by_key(|s| s.start);
    let (mut end_of_any, mut end_of_written) = (0usize, 0usize);
    for s in spans.iter().filter(|s| s.bytes > 0) {
        if s.start < end_of_written || (s.written && s.start < end_of_any) {
            return Err(SpanError::Overlap);
        }
        end_of_any = end_of_any.max(s.start + s.bytes);
        if s.written {
            end_of_written = end_of_written.max(s.start + s.bytes);
        }
    }
    Ok(())
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

    #[test]
    fn spans_refuse_what_from_raw_parts_refuses() {
        assert_eq!(Span::of(std::ptr::null::<f32>(), 1), Err(SpanError::Null));
        assert_eq!(Span::of(std::ptr::without_provenance::<f32>(2), 1), Err(SpanError::Alignment));
        assert_eq!(Span::of(std::ptr::without_provenance::<f32>(8), usize::MAX / 2), Err(SpanError::Length));
        assert_eq!(Span::of(std::ptr::without_provenance::<u8>(usize::MAX), 2), Err(SpanError::Length));
        assert!(Span::of(std::ptr::without_provenance::<f32>(8), 0).is_ok());
    }
}
