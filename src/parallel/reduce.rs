//! The gradient norm's read-only pass through the driver: the same pieces,
//! claims and executors as a step, cut at block boundaries so that every
//! thread count gives the serial bits.
//!
//! A step is element-wise, so any cut gives the same bits; a sum is not.
//! The kernels fix the norm's order ([`spec::grad_norm`](mod@fused_optim_kernels::spec::grad_norm)):
//! blocks of [`NORM_BLOCK`] elements from each tensor's start, a fixed tree
//! over each tensor's blocks, tensors in order. So here every cut inside a
//! tensor falls on a block boundary of that tensor; each piece sums its runs
//! of blocks into [`SumTree`]s (one per tensor it touches); and the caller
//! appends the runs of each tensor in order, which gives the same tree nodes
//! as the tensor summed whole, then adds the tensors' roots in order.

use super::claims::run_claimed;
use super::pieces::{MAX_PIECES, MIN_PIECE_BYTES, PIECES_PER_THREAD, lock, piece_end};
use super::threads::{Parallelism, serial_threshold};
use fused_optim_kernels::{NORM_BLOCK, NormSlice, SumTree, grad_sum_squares_blocks};
use std::sync::Mutex;

/// Bytes per element of a gradient the norm reads.
fn element_bytes(g: &NormSlice<'_>) -> usize {
    match g {
        NormSlice::F64(_) => 8,
        NormSlice::F32(_) => 4,
        NormSlice::Bf16(_) | NormSlice::F16(_) => 2,
    }
}

/// The sum of squares of every gradient of `grads` (the norm's square, in
/// the specification's order), split across the threads `parallelism`
/// allows when the pass reads at least [`serial_threshold`] bytes.
pub(crate) fn sum_squares_many(grads: &[NormSlice<'_>], parallelism: &Parallelism) -> f64 {
    let total: usize = grads.iter().map(NormSlice::len).sum();
    let traffic: usize = grads.iter().map(|g| g.len().saturating_mul(element_bytes(g))).sum();
    let threads = if traffic < serial_threshold() || matches!(parallelism, Parallelism::Serial) {
        1 // before `threads()`: a small pass never starts a pool
    } else {
        parallelism.threads()
    };
    if threads <= 1 {
        return grads.iter().fold(0.0, |sum, g| sum + grad_sum_squares_blocks(g, 0).root());
    }
    let pieces = (threads * PIECES_PER_THREAD)
        .min(traffic / MIN_PIECE_BYTES)
        .clamp(threads.min(MAX_PIECES), MAX_PIECES);
    let lens: Vec<usize> = grads.iter().map(NormSlice::len).collect();
    let plan = cut_at_blocks(&lens, total, pieces);
    let runs: Vec<Mutex<Vec<(usize, SumTree)>>> = (0..pieces).map(|_| Mutex::new(Vec::new())).collect();
    run_claimed(pieces, threads - 1, parallelism, &|i| {
        let done: Vec<(usize, SumTree)> = plan[i]
            .iter()
            .map(|&(t, start, end)| {
                let first = (start / NORM_BLOCK) as u64;
                (t, grad_sum_squares_blocks(&grads[t].range(start, end), first))
            })
            .collect();
        *lock(&runs[i]) = done;
    });
    // Each tensor's runs, appended in order (the first starts at block 0),
    // then the tensors' roots added in order.
    let mut sum = 0.0f64;
    let mut current: Option<(usize, SumTree)> = None;
    for (t, run) in runs.into_iter().flat_map(|slot| slot.into_inner().unwrap_or_else(|p| p.into_inner())) {
        match &mut current {
            Some((tensor, tree)) if *tensor == t => tree.append(&run),
            _ => {
                if let Some((_, tree)) = current.replace((t, run)) {
                    sum += tree.root();
                }
            }
        }
    }
    if let Some((_, tree)) = current {
        sum += tree.root();
    }
    sum
}

/// Lays tensors of `lens` elements end to end and cuts them into `pieces`
/// runs, as the step's driver does, but with every cut inside a tensor moved
/// down to a multiple of [`NORM_BLOCK`] of that tensor: piece `k` gets the
/// segments `(tensor, start, end)` it sums. Empty segments are dropped.
fn cut_at_blocks(lens: &[usize], total: usize, pieces: usize) -> Vec<Vec<(usize, usize, usize)>> {
    let mut out: Vec<Vec<(usize, usize, usize)>> = (0..pieces).map(|_| Vec::new()).collect();
    // `start`: the index, in the whole, of the current tensor's element `at`.
    let (mut piece, mut start) = (0, 0usize);
    for (t, &len) in lens.iter().enumerate() {
        let mut at = 0;
        loop {
            let last = piece + 1 == pieces;
            let end = piece_end(piece, total, pieces);
            if last || start + (len - at) <= end {
                if len > at {
                    out[piece].push((t, at, len));
                }
                start += len - at;
                break;
            }
            // Not the last piece, so `start <= end` (a cut moved down only
            // lengthens the next piece).
            let cut = ((at + (end - start)) / NORM_BLOCK * NORM_BLOCK).max(at);
            if cut > at {
                out[piece].push((t, at, cut));
            }
            start += cut - at;
            at = cut;
            piece += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_cover_every_element_once_on_block_boundaries() {
        let b = NORM_BLOCK;
        for lens in [vec![0], vec![1], vec![10 * b + 3], vec![b, 0, 2 * b + 1, 5, 7 * b], vec![3, 4, 5]] {
            let total: usize = lens.iter().sum();
            for pieces in 1..=9 {
                let plan = cut_at_blocks(&lens, total, pieces);
                assert_eq!(plan.len(), pieces);
                let mut next = vec![0usize; lens.len()];
                let mut order = Vec::new();
                for &(t, start, end) in plan.iter().flatten() {
                    assert!(start < end && end <= lens[t]);
                    assert_eq!(start, next[t], "{lens:?} pieces={pieces}");
                    assert!(start % b == 0, "a cut inside a tensor is on a block boundary");
                    next[t] = end;
                    order.push(t);
                }
                assert_eq!(next, lens);
                assert!(order.windows(2).all(|w| w[0] <= w[1]), "tensors in order");
            }
        }
    }
}
