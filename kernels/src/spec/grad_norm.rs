//! The gradient norm of clipping by global norm: one read-only pass over
//! every gradient of a step, the same bits on every tier and thread count.
//!
//! # Formula
//!
//! PyTorch's `clip_grad_norm_(params, max_norm, norm_type=2)`:
//!
//! ```text
//! norm = √(Σ over every tensor, every element of g²)
//! coef = min(1, max_norm/(norm + 1e-6))
//! ```
//!
//! and the step then uses `g·coef` (each algorithm's `grad_scale`, applied to
//! the gradient as its very first operation).
//!
//! # Summation order
//!
//! A sum of squares in floating point depends on its order, so the order is
//! part of the specification, chosen so that every tier can follow it at
//! full width and any thread can take any run of blocks:
//!
//! 1. **Squares.** Each element is widened to `f64` (exact for `f32`,
//!    `bf16`, `f16` and `f64`) and squared in `f64`: exact for the narrow
//!    types (at most 24 significant bits, 48 in the square), correctly
//!    rounded for `f64`. Accumulating in `f64` keeps `f32` gradients from
//!    overflowing: an `f32` sum of squares overflows for norms above about
//!    1.8·10¹⁹; the `f64` one cannot for any `f32` input (each square is
//!    below 1.2·10⁷⁷).
//! 2. **Blocks.** Each tensor is cut into blocks of [`NORM_BLOCK`] = 4096
//!    elements from its element 0 (the last block may be shorter). Within a
//!    block there are 8 partial sums `s0 … s7`, each starting at `+0`;
//!    partial `j` takes the squares of the elements `i ≡ j (mod 8)` of the
//!    block, in order (`s_j = s_j + x_i²`). The block's sum is
//!    `((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))`. Eight partials fit
//!    every tier: one `f64x8` accumulator (AVX-512), two `f64x4` (AVX2),
//!    four `f64x2` (portable), lane `l` of accumulator `k` being partial
//!    `k·N + l`. A short last block is summed as if padded with `+0`, which
//!    changes no partial (`s + (+0) = s` for every `s ≥ +0`, `+∞`, NaN).
//! 3. **Blocks of one tensor.** The block sums are the leaves of the
//!    perfect binary tree over block indices `0, 1, …, 2^L − 1` (`2^L` ≥ the
//!    number of blocks), missing leaves `+0`; each inner node is
//!    `left + right`; the tensor's sum is the root. Since adding `+0`
//!    changes nothing, the root is the right fold `n0 + (n1 + (… + nk))` of
//!    the maximal aligned subtrees the blocks decompose into (the binary
//!    decomposition of the block count, largest first): what
//!    [`SumTree::root`] computes. A run of blocks `[a, b)` is summed into its
//!    own aligned subtrees ([`SumTree`], a binary counter of at most 128
//!    nodes, no allocation), and runs appended in order merge into exactly
//!    the nodes of the whole: so the driver may cut a tensor into pieces at
//!    any block boundary, and any number of threads gives the same bits.
//! 4. **Tensors.** The tensors' sums are added in tensor order, from `+0`:
//!    `((0 + t0) + t1) + …`. Then `norm = √total` (`f64`, correctly rounded).
//!
//! # The coefficient
//!
//! [`clip_coefficient`]: `c = max_norm/(norm + 1e-6)` in `f64`, then
//! `min(1, c)` with PyTorch's `clamp(max=1)` NaN rule (a NaN `c` stays NaN);
//! the root crate rounds it once to the element type. A NaN norm gives a NaN
//! coefficient (the step writes NaN, as PyTorch does with
//! `error_if_nonfinite=False`); an infinite norm gives `c = 0` (finite
//! gradients become `+0`/`−0`, infinite ones NaN, again as PyTorch). The root
//! crate can instead skip a step whose norm is not finite.
//!
//! # NaN rule
//!
//! A NaN gradient makes its partial, its block, its tree nodes and the norm
//! NaN; an infinite one (or an `f64` square that overflows) makes them `+∞`,
//! unless a NaN is also present. The payload of a NaN is not part of the
//! contract.

use crate::operands::{NORM_BLOCK, NormElement, SumTree};

/// The sum of squares of one block (`block.len() <= NORM_BLOCK`): eight
/// partials over the residues mod 8, combined pairwise.
pub fn block_sum_squares<T: NormElement>(block: &[T]) -> f64 {
    debug_assert!(block.len() <= NORM_BLOCK);
    let mut s = [0.0f64; 8];
    for (i, &x) in block.iter().enumerate() {
        let x = x.widen_f64();
        s[i % 8] += x * x;
    }
    ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}

/// The blocks of `grad` as a run of the tensor's tree starting at block
/// `first_block`: `grad` begins at element `first_block·NORM_BLOCK` of its
/// tensor, and its length is a multiple of [`NORM_BLOCK`] unless it runs to
/// the tensor's end.
pub fn sum_squares_blocks<T: NormElement>(grad: &[T], first_block: u64) -> SumTree {
    let mut tree = SumTree::starting_at(first_block);
    for block in grad.chunks(NORM_BLOCK) {
        tree.push_block(block_sum_squares(block));
    }
    tree
}

/// The sum of squares of one tensor: the root of its block tree.
pub fn sum_squares<T: NormElement>(grad: &[T]) -> f64 {
    sum_squares_blocks(grad, 0).root()
}

/// The 2-norm of every tensor of `grads` together: the tensors' sums added
/// in order, then the square root.
pub fn grad_norm<T: NormElement>(grads: &[&[T]]) -> f64 {
    let mut total = 0.0f64;
    for g in grads {
        total += sum_squares(g);
    }
    total.sqrt()
}

/// PyTorch's clip coefficient, `min(1, max_norm/(norm + 1e-6))`, in `f64`;
/// NaN when the quotient is NaN (`clamp`'s rule).
pub fn clip_coefficient(norm: f64, max_norm: f64) -> f64 {
    let c = max_norm / (norm + 1e-6);
    if c.is_nan() || c < 1.0 { c } else { 1.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::narrow::{bf16, f16};

    /// A small deterministic generator (xorshift64*).
    fn values(n: usize, seed: u64, scale: f64) -> Vec<f64> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                let u = (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
                (u - 0.5) * scale
            })
            .collect()
    }

    #[test]
    fn a_run_split_anywhere_gives_the_whole_runs_nodes() {
        let blocks: Vec<f64> = values(300, 7, 10.0).iter().map(|x| x * x).collect();
        let mut whole = SumTree::starting_at(0);
        blocks.iter().for_each(|&b| whole.push_block(b));
        for cuts in [vec![1], vec![3, 17], vec![64, 65, 200], vec![5, 6, 7, 8, 255, 256, 299]] {
            let mut bounds = vec![0];
            bounds.extend(cuts);
            bounds.push(blocks.len());
            let mut joined = SumTree::starting_at(0);
            for w in bounds.windows(2) {
                let mut piece = SumTree::starting_at(w[0] as u64);
                blocks[w[0]..w[1]].iter().for_each(|&b| piece.push_block(b));
                assert!(piece.nodes().count() <= 2 * 9);
                joined.append(&piece);
            }
            assert_eq!(joined.end(), 300);
            assert_eq!(joined.root().to_bits(), whole.root().to_bits());
            assert!(joined.nodes().eq(whole.nodes()));
        }
    }

    /// The perfect binary tree with `+0` leaves, written recursively.
    fn perfect(leaves: &[f64], size: usize) -> f64 {
        if size == 1 {
            return leaves.first().copied().unwrap_or(0.0);
        }
        let half = size / 2;
        let (l, r) = leaves.split_at(half.min(leaves.len()));
        perfect(l, half) + perfect(r, half)
    }

    #[test]
    fn the_root_is_the_perfect_tree_with_zero_leaves() {
        for n in 0..70usize {
            let blocks: Vec<f64> = values(n, n as u64 + 3, 3.0).iter().map(|x| x * x).collect();
            let mut tree = SumTree::starting_at(0);
            blocks.iter().for_each(|&b| tree.push_block(b));
            let size = n.next_power_of_two().max(1);
            assert_eq!(tree.root().to_bits(), perfect(&blocks, size).to_bits(), "n = {n}");
            assert_eq!(tree.nodes().count(), n.count_ones() as usize);
        }
    }

    #[test]
    fn the_norm_is_close_to_the_exact_one() {
        // f32 squares are exact in f64; the sum's error is at most about
        // (log2 blocks + 9 + 4096/8) ulps relative, far less in practice.
        for n in [0usize, 1, 7, 8, 9, 4095, 4096, 4097, 3 * 4096 + 5, 40_000] {
            let g: Vec<f32> = values(n, n as u64 + 11, 4.0).iter().map(|&x| x as f32).collect();
            let got = sum_squares(&g);
            let mut exact = 0.0f64; // Kahan-compensated reference
            let mut c = 0.0f64;
            for &x in &g {
                let y = (x as f64) * (x as f64) - c;
                let t = exact + y;
                c = (t - exact) - y;
                exact = t;
            }
            assert!((got - exact).abs() <= exact * 2e-13, "n = {n}: {got} vs {exact}");
        }
    }

    #[test]
    fn large_f32_values_do_not_overflow() {
        let g = vec![1e30f32; 10_000];
        let norm = grad_norm(&[&g[..]]);
        let want = 1e30f32 as f64 * 100.0;
        assert!(norm.is_finite() && (norm / want - 1.0).abs() < 1e-12, "{norm}");
    }

    #[test]
    fn narrow_gradients_sum_as_their_f32_values() {
        let v = values(9000, 5, 100.0);
        let b: Vec<bf16> = v.iter().map(|&x| bf16::from_f64(x)).collect();
        let h: Vec<f16> = v.iter().map(|&x| f16::from_f64(x)).collect();
        let bw: Vec<f32> = b.iter().map(|x| x.to_f32()).collect();
        let hw: Vec<f32> = h.iter().map(|x| x.to_f32()).collect();
        assert_eq!(sum_squares(&b).to_bits(), sum_squares(&bw).to_bits());
        assert_eq!(sum_squares(&h).to_bits(), sum_squares(&hw).to_bits());
    }

    #[test]
    fn non_finite_values_and_the_coefficient() {
        assert!(sum_squares(&[1.0f32, f32::NAN, f32::INFINITY]).is_nan());
        assert_eq!(sum_squares(&[1.0f32, f32::INFINITY]), f64::INFINITY);
        assert_eq!(sum_squares(&[1e200f64, 1.0]), f64::INFINITY);
        assert_eq!(sum_squares::<f32>(&[]).to_bits(), 0.0f64.to_bits());
        assert!(clip_coefficient(f64::NAN, 1.0).is_nan());
        assert_eq!(clip_coefficient(f64::INFINITY, 1.0), 0.0);
        assert_eq!(clip_coefficient(0.5, 1.0), 1.0);
        assert_eq!(clip_coefficient(4.0, 1.0), 1.0 / (4.0 + 1e-6));
        assert_eq!(clip_coefficient(0.0, 0.0), 0.0);
    }
}
