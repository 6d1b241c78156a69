//! The gradient norm's operands: the element types it reads
//! ([`NormElement`], [`NormSlice`]), its block length ([`NORM_BLOCK`]) and
//! the fixed tree its block sums are combined in ([`SumTree`]). The essay:
//! [`crate::spec::grad_norm`](mod@crate::spec::grad_norm).

use crate::narrow::{bf16, f16};

/// Elements per block of the norm's summation, counted from element 0 of
/// each tensor (part of the specification: a different block length gives
/// different bits).
pub const NORM_BLOCK: usize = 4096;

/// A gradient the norm pass reads: `f32`, `f64`, or `bf16`/`f16` storage.
#[derive(Clone, Copy, Debug)]
pub enum NormSlice<'a> {
    /// `f32` elements.
    F32(&'a [f32]),
    /// `f64` elements.
    F64(&'a [f64]),
    /// `bf16` elements.
    Bf16(&'a [bf16]),
    /// `f16` elements.
    F16(&'a [f16]),
}

impl NormSlice<'_> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            NormSlice::F32(s) => s.len(),
            NormSlice::F64(s) => s.len(),
            NormSlice::Bf16(s) => s.len(),
            NormSlice::F16(s) => s.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements `start .. end` of the same gradient.
    ///
    /// # Panics
    /// If the range is out of bounds, as slicing does.
    pub fn range(&self, start: usize, end: usize) -> Self {
        match self {
            NormSlice::F32(s) => NormSlice::F32(&s[start..end]),
            NormSlice::F64(s) => NormSlice::F64(&s[start..end]),
            NormSlice::Bf16(s) => NormSlice::Bf16(&s[start..end]),
            NormSlice::F16(s) => NormSlice::F16(&s[start..end]),
        }
    }
}

/// An element type the norm reads: widened exactly to `f64`, then squared.
///
/// Sealed: implemented for `f32`, `f64`, [`bf16`] and [`struct@f16`].
pub trait NormElement: sealed::Sealed + Copy + Send + Sync + 'static {
    /// The value as `f64` (exact).
    fn widen_f64(self) -> f64;

    /// The slice as a [`NormSlice`].
    #[doc(hidden)]
    fn norm_slice(s: &[Self]) -> NormSlice<'_>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for super::bf16 {}
    impl Sealed for super::f16 {}
}

macro_rules! norm_element {
    ($t:ty, $variant:ident, |$x:ident| $widen:expr) => {
        impl NormElement for $t {
            #[inline(always)]
            fn widen_f64(self) -> f64 {
                let $x = self;
                $widen
            }
            fn norm_slice(s: &[Self]) -> NormSlice<'_> {
                NormSlice::$variant(s)
            }
        }
    };
}

norm_element!(f32, F32, |x| x as f64);
norm_element!(f64, F64, |x| x);
norm_element!(bf16, Bf16, |x| x.to_f32() as f64);
norm_element!(f16, F16, |x| x.to_f32() as f64);

/// Most nodes a [`SumTree`] holds: the aligned decomposition of any range of
/// `u64` block indices has at most two nodes per level (one on the way up,
/// one on the way down), 64 levels each.
const CAPACITY: usize = 128;

/// Block sums combined in the fixed tree of the specification: the perfect
/// binary tree over block indices `0, 1, 2, …` (missing leaves `+0`), of
/// which this value holds the part covering blocks `first .. next`.
///
/// Blocks (or whole aligned subtrees) are pushed in order; two siblings are
/// added as soon as both are known, left + right, so what is held is the
/// run's decomposition into maximal aligned subtrees: a binary counter, at
/// most 128 nodes, no allocation. A run split anywhere into pieces
/// whose trees are [`append`](SumTree::append)ed in order gives the same
/// nodes, bit for bit, as the whole run pushed block by block, because every
/// node's value is the sum its subtree defines, whoever computed it. For a
/// run from block 0, [`root`](SumTree::root) is the tree's root.
#[derive(Clone, Copy, Debug)]
pub struct SumTree {
    first: u64,
    next: u64,
    len: usize,
    levels: [u8; CAPACITY],
    values: [f64; CAPACITY],
}

impl SumTree {
    /// An empty run starting at block `first`.
    pub const fn starting_at(first: u64) -> SumTree {
        SumTree { first, next: first, len: 0, levels: [0; CAPACITY], values: [0.0; CAPACITY] }
    }

    /// The first block of the run.
    pub fn first(&self) -> u64 {
        self.first
    }

    /// One past the last block of the run.
    pub fn end(&self) -> u64 {
        self.next
    }

    /// Appends the next block's sum.
    #[inline]
    pub fn push_block(&mut self, value: f64) {
        self.push_node(0, value);
    }

    /// Appends the aligned subtree of `2^level` blocks starting at
    /// [`end`](SumTree::end), whose sum is `value`, merging siblings.
    ///
    /// # Panics
    /// If the subtree is not aligned (`end` not a multiple of `2^level`) or
    /// the block index overflows.
    pub fn push_node(&mut self, level: u8, value: f64) {
        assert!(level < 64 && self.next.trailing_zeros() >= u32::from(level), "misaligned subtree");
        let end = self.next.checked_add(1 << level).expect("block index overflow");
        let (mut level, mut value) = (level, value);
        // The top node and this one are siblings when they have one level and
        // the top one starts on a boundary of their parent: `end` is then a
        // multiple of the parent's size.
        while self.len > 0 && self.levels[self.len - 1] == level && end.trailing_zeros() > u32::from(level) {
            self.len -= 1;
            // Left + right, as the tree reads (IEEE addition commutes anyway).
            #[allow(clippy::assign_op_pattern)]
            {
                value = self.values[self.len] + value;
            }
            level += 1;
        }
        // Never full: what is held is a decomposition of a `u64` range (see CAPACITY).
        self.levels[self.len] = level;
        self.values[self.len] = value;
        self.len += 1;
        self.next = end;
    }

    /// Appends another run that starts where this one ends.
    ///
    /// # Panics
    /// If `other` does not start at [`end`](SumTree::end).
    pub fn append(&mut self, other: &SumTree) {
        assert_eq!(other.first, self.next, "runs appended out of order");
        for k in 0..other.len {
            self.push_node(other.levels[k], other.values[k]);
        }
    }

    /// The run's nodes, `(level, sum)` in block order.
    pub fn nodes(&self) -> impl Iterator<Item = (u8, f64)> + '_ {
        self.levels[..self.len].iter().copied().zip(self.values[..self.len].iter().copied())
    }

    /// The held nodes folded from the right: `n0 + (n1 + (… + nk))` (`+0`
    /// for an empty run). For a run from block 0 of `b` blocks, the nodes are
    /// the binary decomposition of `b` (largest first), and this is the root
    /// of the perfect tree over them with `+0` leaves past `b`: adding `+0`
    /// to a sum of squares (`≥ +0`, `+∞` or NaN) changes nothing.
    pub fn root(&self) -> f64 {
        let mut total = 0.0;
        for k in (0..self.len).rev() {
            total = if k + 1 == self.len { self.values[k] } else { self.values[k] + total };
        }
        total
    }
}
