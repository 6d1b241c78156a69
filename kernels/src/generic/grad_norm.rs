//! The gradient norm's sum of squares over the lane trait (the order is
//! [`crate::spec::grad_norm`]'s): read only, one pass.
//!
//! The 8 partial sums of a block live in `8/N` `f64` accumulators of `N`
//! lanes (one on AVX-512, two on AVX2, four on the portable tier), lane `l`
//! of accumulator `k` being partial `k·N + l`; so a block is read in units
//! of `N` elements, unit `u` added to accumulator `u mod (8/N)`, and each
//! partial still takes its elements in order. `f32` (and `bf16`/`f16`,
//! widened to `f32` first) are loaded as `f32` vectors of `2N` lanes and
//! widened to two `f64` vectors ([`WidenLanes`]). A block shorter than the
//! unrolled step reads its tail with partial loads, whose zero lanes add
//! `+0` to their partial (no change). At the end of each block the
//! accumulators are stored to eight scalars and combined as the reference
//! does, then pushed into the tensor's [`SumTree`].

use crate::lanes::{Enter, Lanes, Variant, WidenLanes, load_n};
use crate::narrow::{HalfLanes, Storage};
use crate::operands::{NORM_BLOCK, NormSlice, SumTree};

/// The blocks of `grad` as a run of its tensor's tree from `first_block`,
/// on the token's tier.
pub(crate) fn sum_squares<I: WidenLanes + HalfLanes + Enter>(
    token: I,
    grad: &NormSlice<'_>,
    first_block: u64,
) -> SumTree {
    match *grad {
        NormSlice::F64(s) => token.enter(F64Variant { grad: s, first_block }),
        NormSlice::F32(s) => token.enter(NarrowVariant { grad: s, first_block }),
        NormSlice::Bf16(s) => token.enter(NarrowVariant { grad: s, first_block }),
        NormSlice::F16(s) => token.enter(NarrowVariant { grad: s, first_block }),
    }
}

/// The eight partials of the accumulators combined as the reference does.
///
/// # Safety
/// The CPU supports the tier `I`; `8 % N == 0`.
#[inline(always)]
unsafe fn combine<I: Lanes<f64>>(acc: &[<I as Lanes<f64>>::V; 8]) -> f64 {
    let mut s = [0.0f64; 8];
    // SAFETY: `k·N + N <= 8` for every `k < 8/N`, so each store is inside `s`.
    unsafe {
        for (k, a) in acc.iter().enumerate().take(8 / I::N) {
            I::store(s.as_mut_ptr().add(k * I::N), *a);
        }
    }
    ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}

/// `acc + x·x`.
///
/// # Safety
/// The CPU supports the tier `I`.
#[inline(always)]
unsafe fn add_square<I: Lanes<f64>>(acc: I::V, x: I::V) -> I::V {
    // SAFETY: forwarded from the caller.
    unsafe { I::add(acc, I::mul(x, x)) }
}

/// The run over `f64` elements (see [`Variant`]).
struct F64Variant<'a> {
    grad: &'a [f64],
    first_block: u64,
}

impl<I: Lanes<f64>> Variant<I> for F64Variant<'_> {
    type Output = SumTree;

    #[inline(always)]
    unsafe fn run(self) -> SumTree {
        const { assert!(I::N <= 8 && 8 % I::N == 0, "8 partials in whole vectors") };
        let (n, p) = (self.grad.len(), self.grad.as_ptr());
        let mut tree = SumTree::starting_at(self.first_block);
        let mut start = 0;
        while start < n {
            let len = NORM_BLOCK.min(n - start);
            // SAFETY: the block `start .. start + len` lies inside `0..n`;
            // the tier is available (the caller's contract).
            tree.push_block(unsafe { block_f64::<I>(p.add(start), len) });
            start += len;
        }
        tree
    }
}

/// One block of `n <= NORM_BLOCK` `f64` elements.
///
/// # Safety
/// `p` is valid for `n` reads; the CPU supports the tier `I`.
#[inline(always)]
unsafe fn block_f64<I: Lanes<f64>>(p: *const f64, n: usize) -> f64 {
    let accumulators = 8 / I::N;
    // SAFETY: every load reads `min(N, n − start)` elements from `start < n`,
    // inside `0..n`; the tier is available.
    unsafe {
        let mut acc = [I::splat(0.0); 8];
        let mut i = 0;
        while i + 8 <= n {
            for (k, a) in acc.iter_mut().enumerate().take(accumulators) {
                *a = add_square::<I>(*a, I::load(p.add(i + k * I::N)));
            }
            i += 8;
        }
        if i < n {
            for (k, a) in acc.iter_mut().enumerate().take(accumulators) {
                let start = i + k * I::N;
                if start < n {
                    *a = add_square::<I>(*a, load_n::<I, f64>(p.add(start), I::N.min(n - start)));
                }
            }
        }
        combine::<I>(&acc)
    }
}

/// The run over `f32`, `bf16` or `f16` elements, widened (see [`Variant`]).
struct NarrowVariant<'a, T> {
    grad: &'a [T],
    first_block: u64,
}

impl<I: WidenLanes + HalfLanes, T: Storage> Variant<I> for NarrowVariant<'_, T> {
    type Output = SumTree;

    #[inline(always)]
    unsafe fn run(self) -> SumTree {
        const {
            assert!(
                <I as Lanes<f64>>::N <= 8 && 8 % <I as Lanes<f64>>::N == 0,
                "8 partials in whole vectors"
            );
            assert!(<I as Lanes<f32>>::N == 2 * <I as Lanes<f64>>::N, "one f32 vector widens to two");
        };
        let (n, p) = (self.grad.len(), self.grad.as_ptr());
        let mut tree = SumTree::starting_at(self.first_block);
        let mut start = 0;
        while start < n {
            let len = NORM_BLOCK.min(n - start);
            // SAFETY: the block lies inside `0..n`; the tier is available.
            tree.push_block(unsafe { block_narrow::<I, T>(p.add(start), len) });
            start += len;
        }
        tree
    }
}

/// One block of `n <= NORM_BLOCK` elements stored as `T`, widened to `f64`.
///
/// # Safety
/// `p` is valid for `n` reads; the CPU supports the tier `I`.
#[inline(always)]
unsafe fn block_narrow<I: WidenLanes + HalfLanes, T: Storage>(p: *const T, n: usize) -> f64 {
    let wide = <I as Lanes<f32>>::N;
    // One step covers whole rows of 8 and whole f32 vectors: 8 or 16.
    let step = wide.max(8);
    // SAFETY: every load reads `min(2N, n − start)` elements from
    // `start < n`, inside `0..n`; the tier is available.
    unsafe {
        let mut acc = [<I as Lanes<f64>>::splat(0.0); 8];
        let mut i = 0;
        while i + step <= n {
            let mut j = 0;
            while j < step {
                add_widened::<I>(&mut acc, j, T::load::<I>(p.add(i + j), wide));
                j += wide;
            }
            i += step;
        }
        if i < n {
            let mut j = 0;
            while j < step && i + j < n {
                add_widened::<I>(&mut acc, j, T::load::<I>(p.add(i + j), wide.min(n - i - j)));
                j += wide;
            }
        }
        combine::<I>(&acc)
    }
}

/// Adds the squares of the `f32` vector at offset `j` of a step to the
/// accumulators: its low half is unit `j/N` of the block, its high half unit
/// `j/N + 1`, modulo the accumulator count `8/N` (a step starts on a
/// multiple of 8 elements, a whole round of the accumulators).
///
/// # Safety
/// The CPU supports the tier `I`.
#[inline(always)]
unsafe fn add_widened<I: WidenLanes>(acc: &mut [<I as Lanes<f64>>::V; 8], j: usize, x: <I as Lanes<f32>>::V) {
    let half = <I as Lanes<f64>>::N;
    let accumulators = 8 / half;
    let (low, high) = ((j / half) % accumulators, (j / half + 1) % accumulators);
    // SAFETY: forwarded from the caller.
    unsafe {
        acc[low] = add_square::<I>(acc[low], I::widen_low(x));
        acc[high] = add_square::<I>(acc[high], I::widen_high(x));
    }
}
