//! Where a step is cut: one kernel call per piece, on cache-line-aligned
//! pieces, claimed by the calling thread and the pool's threads.
//!
//! The step is element-wise, so any split gives the serial bits; what the
//! driver decides is only *when* to split and *where*:
//!
//! - **When.** Below [`serial_threshold`] bytes of memory traffic per call
//!   (512 KiB by default) the step runs on the calling thread: handing work
//!   to another thread costs microseconds, more than a small step takes.
//! - **Where.** Into a few pieces per thread (at least 1 MiB of traffic
//!   each, at most 32), claimed one at a time by the calling thread and the
//!   pool's threads (see [`super::claims`]). Every cut is moved to a 64-byte
//!   boundary of the parameter buffer (one AVX-512 vector, one cache line), so
//!   no two threads write the same parameter cache line and every piece but
//!   the last runs whole vectors.
//!
//! The buffers arrive checked (equal lengths, see
//! [`crate::algorithms::Validated::check`]); cutting keeps them equal, so no piece is
//! checked again.

use super::claims::run_claimed;
use super::threads::{Parallelism, serial_threshold};
use fused_optim_kernels::{KernelBuffers, MAX_VECTOR_BYTES};
use std::sync::Mutex;

/// A set of equally long buffers the driver can cut: every kernel's buffer
/// struct, through the kernels crate's [`KernelBuffers`].
pub(crate) trait Split: KernelBuffers + Send {}

impl<B: KernelBuffers + Send> Split for B {}

/// Most pieces one step is cut into.
pub(super) const MAX_PIECES: usize = 32;

/// Pieces per thread: a few, so a thread that starts late or runs slow (a
/// shared VM) leaves pieces for the others instead of holding up the end.
pub(super) const PIECES_PER_THREAD: usize = 4;

/// Least traffic of one piece: smaller pieces cost more in claiming than
/// they gain in balance.
pub(super) const MIN_PIECE_BYTES: usize = 1 << 20;

/// Runs `kernel` over `buffers`, split across the threads `parallelism`
/// allows when the step moves at least [`serial_threshold`] bytes
/// (`bytes_per_element` is the traffic of one element: reads plus writes).
pub(crate) fn drive<B: Split>(
    buffers: B,
    bytes_per_element: usize,
    parallelism: &Parallelism,
    kernel: impl Fn(B) + Sync,
) {
    let n = buffers.len();
    drive_many(std::iter::once(buffers), n, bytes_per_element, parallelism, kernel);
}

/// Runs `kernel` over every tensor of `tensors` (`total` elements in all),
/// split across the threads `parallelism` allows when the whole set moves at
/// least [`serial_threshold`] bytes.
///
/// The tensors are laid end to end and the element space is cut into a few
/// pieces per thread of about equal size: a large tensor is split across
/// pieces (at 64-byte boundaries of its own anchor buffer), small ones are
/// grouped into one piece, so thread hand-offs follow the work, not the
/// tensor count. The pieces are claimed one at a time by the calling thread
/// and by pool threads ([`run_claimed`]): the caller works from the start and
/// takes every piece no pool thread has reached, so a split step is never
/// much slower than a serial one, however late the pool wakes up.
pub(crate) fn drive_many<B: Split>(
    tensors: impl IntoIterator<Item = B>,
    total: usize,
    bytes_per_element: usize,
    parallelism: &Parallelism,
    kernel: impl Fn(B) + Sync,
) {
    let traffic = total.saturating_mul(bytes_per_element);
    let threads = if traffic < serial_threshold() || matches!(parallelism, Parallelism::Serial) {
        1 // before `threads()`: a small step never starts a pool
    } else {
        parallelism.threads()
    };
    if threads <= 1 {
        return tensors.into_iter().for_each(kernel);
    }
    let pieces = (threads * PIECES_PER_THREAD)
        .min(traffic / MIN_PIECE_BYTES)
        .clamp(threads.min(MAX_PIECES), MAX_PIECES);
    let slots: Vec<Mutex<Vec<B>>> =
        cut_into_pieces(tensors, total, pieces).into_iter().map(Mutex::new).collect();
    run_claimed(pieces, threads - 1, parallelism, &|i| {
        for segment in std::mem::take(&mut *lock(&slots[i])) {
            kernel(segment);
        }
    });
}

/// Lays `tensors` (`total` elements) end to end and cuts them into `pieces`
/// runs: piece `k` ends at element [`piece_end`]`(k)` of the whole, or just
/// before it, where a tensor crossing that point is split at the nearest
/// 64-byte boundary of its anchor buffer below it (and to a multiple of its
/// [`split_granule`](KernelBuffers::split_granule)). The last piece takes
/// whatever is left. Empty segments are dropped.
///
/// The ends are fixed points of the whole element space, so a cut moved
/// down only lengthens the next piece: the position reached never passes the
/// current piece's end (`start <= piece_end(piece)` below), and nothing is
/// computed from a piece's remaining room that could go negative.
fn cut_into_pieces<B: Split>(
    tensors: impl IntoIterator<Item = B>,
    total: usize,
    pieces: usize,
) -> Vec<Vec<B>> {
    let mut out: Vec<Vec<B>> = (0..pieces).map(|_| Vec::new()).collect();
    // `start`: the index, in the whole, of the current tensor's element 0.
    let (mut piece, mut start) = (0, 0usize);
    for mut tensor in tensors {
        loop {
            let last = piece + 1 == pieces;
            let end = piece_end(piece, total, pieces);
            if last || start + tensor.len() <= end {
                start += tensor.len();
                if tensor.len() > 0 {
                    out[piece].push(tensor);
                }
                break;
            }
            // Not the last piece, so `start <= end`: see the function's note.
            let cut =
                aligned_split(tensor.anchor(), tensor.len(), end - start, tensor.anchor_element_bytes());
            // Down to the tensor's granule too (the 8-bit state's blocks).
            let cut = cut - cut % tensor.split_granule();
            let (head, tail) = tensor.split_at(cut);
            start += cut;
            if head.len() > 0 {
                out[piece].push(head);
            }
            (piece, tensor) = (piece + 1, tail);
        }
    }
    out
}

/// Where piece `k` of `pieces` ends in a whole of `total` elements, before
/// alignment: `⌊total·(k+1)/pieces⌋` (non-decreasing in `k`; `total` at the last).
pub(super) fn piece_end(k: usize, total: usize, pieces: usize) -> usize {
    (total as u128 * (k as u128 + 1) / pieces as u128) as usize
}

/// Locks a slot; a poisoned lock (a kernel panicked while holding it, which
/// the kernels do not do) still yields its contents.
pub(super) fn lock<T>(slot: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Moves the split index `mid` down to the nearest index whose address
/// (`anchor + index·element_bytes`) is a multiple of 64 bytes, within `0..=n`.
fn aligned_split(anchor: usize, n: usize, mid: usize, element_bytes: usize) -> usize {
    let address = anchor + mid * element_bytes;
    let back = (address % MAX_VECTOR_BYTES) / element_bytes;
    mid.saturating_sub(back).min(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel-buffer stand-in: `len` elements of `bytes` each at `address`.
    #[derive(Debug, PartialEq)]
    struct Span {
        address: usize,
        len: usize,
        bytes: usize,
    }

    impl KernelBuffers for Span {
        const ALGORITHM: &'static str = "span";
        fn len(&self) -> usize {
            self.len
        }
        fn length_mismatch(&self) -> Option<(&'static str, usize)> {
            None
        }
        fn split_at(self, mid: usize) -> (Self, Self) {
            assert!(mid <= self.len);
            let head = Span { len: mid, ..self };
            (head, Span { address: self.address + mid * self.bytes, len: self.len - mid, bytes: self.bytes })
        }
        fn anchor(&self) -> usize {
            self.address
        }
        fn anchor_element_bytes(&self) -> usize {
            self.bytes
        }
    }

    /// Cuts `tensors` (address offset, length, element bytes) and checks that
    /// every element lands in exactly one piece, in order, and that every cut
    /// inside a tensor is on a 64-byte boundary of that tensor's own elements.
    fn check_cuts(tensors: &[(usize, usize, usize)], pieces: usize) {
        let spans = tensors.iter().map(|&(address, len, bytes)| Span { address, len, bytes });
        let total = tensors.iter().map(|t| t.1).sum();
        let out = cut_into_pieces(spans, total, pieces);
        assert_eq!(out.len(), pieces);
        let segments: Vec<&Span> = out.iter().flatten().collect();
        let mut next = tensors.iter().filter(|t| t.1 > 0).map(|&(a, _, _)| a).peekable();
        let mut covered: Vec<(usize, usize)> = Vec::new();
        for s in &segments {
            assert!(s.len > 0, "empty segment kept: {tensors:?}");
            if let Some(last) = covered.last_mut()
                && s.address == last.1
            {
                // A tensor continues in the next piece: the cut is aligned.
                assert_eq!(
                    s.address % MAX_VECTOR_BYTES,
                    0,
                    "{tensors:?} pieces={pieces}: cut at {:#x}",
                    s.address
                );
                last.1 += s.len * s.bytes;
                continue;
            }
            assert_eq!(Some(s.address), next.next(), "{tensors:?}: segments out of order");
            covered.push((s.address, s.address + s.len * s.bytes));
        }
        let want: Vec<(usize, usize)> =
            tensors.iter().filter(|t| t.1 > 0).map(|&(a, l, b)| (a, a + l * b)).collect();
        assert_eq!(covered, want, "pieces={pieces}");
    }

    #[test]
    fn cuts_cover_every_element_once_whatever_the_lengths() {
        // The audit's case: two f32 tensors of 118 and 2 elements in 2
        // pieces; the first cut moves down to a cache line, so the last piece
        // holds more than its share (once an unsigned underflow).
        check_cuts(&[(0x1000, 118, 4), (0x2000, 2, 4)], 2);
        // Fewer shapes under Miri, which runs this at about 1/1000 of the speed.
        let (pieces, a_lens, b_lens, c_lens): (usize, &[usize], &[usize], &[usize]) = if cfg!(miri) {
            (4, &[0, 17, 118], &[2, 40], &[5])
        } else {
            (9, &[0, 1, 2, 15, 16, 17, 118, 1000], &[0, 1, 2, 3, 40, 333], &[0, 5, 64])
        };
        for pieces in 1..=pieces {
            for &a in a_lens {
                for &b in b_lens {
                    for &c in c_lens {
                        check_cuts(&[(0x10_0000, a, 4), (0x20_0004, b, 4), (0x30_0000, c, 8)], pieces);
                        // Mixed element sizes: f32 and bf16 parameters, each
                        // cut on a cache line of its own elements.
                        check_cuts(&[(0x10_0000, a, 4), (0x20_0002, b, 2), (0x30_0000, c, 2)], pieces);
                    }
                }
            }
        }
    }

    #[test]
    fn split_points_land_on_cache_lines() {
        for anchor in (0..256).step_by(4) {
            for mid in 0..100 {
                let s = aligned_split(anchor, 100, mid, 4);
                assert!(s <= mid && mid - s < 16);
                if s > 0 {
                    assert_eq!((anchor + s * 4) % 64, 0, "anchor {anchor} mid {mid}");
                }
            }
        }
        assert_eq!(aligned_split(8, 10, 7, 8), 7);
        assert_eq!(aligned_split(8, 10, 8, 8), 7);
    }
}
