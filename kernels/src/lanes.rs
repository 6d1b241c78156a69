//! The lane trait: the only vocabulary the kernel bodies speak.
//!
//! An ISA token (a zero-sized type in [`crate::arch`]) implements
//! [`Lanes<T>`] for each element type. Its vector values are `wide` types
//! (`f32x16`, `f64x4`, …); the token decides how each operation lowers: through
//! `wide`'s own operators (the portable tier) or through `core::arch`
//! intrinsics of a wider instruction set (AVX2, AVX-512). `wide` alone cannot
//! give run-time dispatch, because its representation is fixed by the
//! compile-time `target_feature` set; the token is what lets one generic body
//! become 512-bit code inside a `#[target_feature(enable = "avx512f,…")]`
//! function of a baseline x86-64 build: one such function per kernel
//! variant, through [`Enter`] and [`Variant`].
//!
//! Every operation here is IEEE-754 exact and lane-wise: `+ − × ÷ √` are
//! correctly rounded, `neg`/`abs` touch only the sign bit, and `max` follows
//! the rule of [`crate::max_nan`], `sign` that of [`crate::sign_nan`]. There is deliberately no FMA and no
//! approximate reciprocal: a body written over this trait computes, lane by
//! lane, exactly what the scalar reference computes.

use crate::float::Float;

/// Widest vector any tier uses, in bytes (one AVX-512 register, one cache line).
pub const MAX_VECTOR_BYTES: usize = 64;

/// Lane-wise arithmetic on vectors of `T`, for one instruction set.
///
/// # Safety
///
/// Implementors promise that every method computes, lane by lane, the same
/// IEEE-754 result as the scalar operation it is named after (`max` as
/// [`crate::max_nan`], `sign` as [`crate::sign_nan`]), and that `N * size_of::<T>() <= MAX_VECTOR_BYTES`.
///
/// Callers of the `unsafe` methods promise that the CPU supports the
/// instruction set of the token (a value of the token exists: see
/// [`Token`]), and, for loads and stores, that the pointers are valid for `N`
/// elements (`len` elements for the partial forms). No alignment is required.
pub unsafe trait Lanes<T: Float>: Copy + 'static {
    /// The vector value: a `wide` type of `N` lanes.
    type V: Copy;
    /// Lanes per vector.
    const N: usize;
    /// Vectors handled per iteration of a kernel's main loop.
    ///
    /// 2 on every tier. Measured at 4096 elements (in cache, where the loop
    /// is bound by the divide/square-root unit), unroll 1, 2 and 4 were within
    /// 3% of each other on every tier and kernel, inside the noise: the
    /// out-of-order core already overlaps independent iterations.
    const UNROLL: usize;

    /// Every lane set to `x`.
    ///
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn splat(x: T) -> Self::V;
    /// Loads `N` elements from `p` (unaligned).
    ///
    /// # Safety
    /// See the trait.
    unsafe fn load(p: *const T) -> Self::V;
    /// Stores `N` elements to `p` (unaligned).
    ///
    /// # Safety
    /// See the trait.
    unsafe fn store(p: *mut T, v: Self::V);

    /// Loads `len < N` elements from `p`; the other lanes are zero.
    ///
    /// # Safety
    /// See the trait; `len <= N`.
    #[inline(always)]
    unsafe fn load_partial(p: *const T, len: usize) -> Self::V {
        // SAFETY: forwarded from the caller.
        unsafe { load_partial_buffered::<Self, T>(p, len) }
    }
    /// Stores the first `len < N` lanes of `v` to `p`, leaving memory past them alone.
    ///
    /// # Safety
    /// See the trait; `len <= N`.
    #[inline(always)]
    unsafe fn store_partial(p: *mut T, len: usize, v: Self::V) {
        // SAFETY: forwarded from the caller.
        unsafe { store_partial_buffered::<Self, T>(p, len, v) }
    }

    /// `a + b`.
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    /// `a − b`.
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    /// `a × b` (never fused with a neighbouring add).
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    /// `a ÷ b`, correctly rounded (never a reciprocal approximation).
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn div(a: Self::V, b: Self::V) -> Self::V;
    /// `√a`, correctly rounded.
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn sqrt(a: Self::V) -> Self::V;
    /// `−a` (flips the sign bit).
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn neg(a: Self::V) -> Self::V;
    /// `|a|` (clears the sign bit).
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn abs(a: Self::V) -> Self::V;
    /// [`crate::max_nan`] lane-wise: `a` if `a` is NaN or `a > b`, else `b`.
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn max(a: Self::V, b: Self::V) -> Self::V;
    /// [`crate::sign_nan`] lane-wise: `+1` where `a > 0`, `−1` where `a < 0`,
    /// `+0` where `a` is `±0`, `a` where `a` is NaN (exact: a select, no arithmetic).
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn sign(a: Self::V) -> Self::V;
}

/// `f32` lanes widened to `f64` lanes, exactly: the gradient norm's way from
/// `f32` (and `bf16`/`f16`) gradients to its `f64` sums.
///
/// # Safety
///
/// Implementors promise that `Lanes<f32>::N == 2 · Lanes<f64>::N`, that
/// [`widen_low`](WidenLanes::widen_low) returns lanes `0 .. N64` of its
/// argument and [`widen_high`](WidenLanes::widen_high) lanes `N64 .. 2·N64`,
/// each converted to `f64` (exact: every `f32` is an `f64`; a NaN stays a
/// NaN). Callers promise that the CPU supports the token's instruction set.
pub unsafe trait WidenLanes: Lanes<f32> + Lanes<f64> {
    /// The low half of the lanes, as `f64`.
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn widen_low(v: <Self as Lanes<f32>>::V) -> <Self as Lanes<f64>>::V;
    /// The high half of the lanes, as `f64`.
    /// # Safety
    /// The CPU supports the token's instruction set.
    unsafe fn widen_high(v: <Self as Lanes<f32>>::V) -> <Self as Lanes<f64>>::V;
}

/// Proof that the CPU has an instruction set: an ISA token.
///
/// A token has a private field and is not `Default`: the only ways to get
/// one are [`Token::try_new`], which detects exactly [`Token::FEATURES`] at
/// run time, and the `unsafe` [`Token::new_unchecked`]. So holding a token
/// proves that its [`Lanes`] methods may run (as memchr's and pulp's tokens
/// do).
///
/// # Safety
/// Implementors return `Some` from `try_new` only where the CPU has every
/// feature its `Lanes` and [`HalfLanes`](crate::HalfLanes) methods use.
pub unsafe trait Token: Copy + Send + Sync + core::fmt::Debug + 'static {
    /// The CPU features the token's code needs beyond the build's baseline,
    /// comma-separated, as `#[target_feature(enable = …)]` and
    /// `is_x86_feature_detected!` name them (empty: none).
    const FEATURES: &'static str;

    /// The token, if this CPU has every one of [`Token::FEATURES`].
    fn try_new() -> Option<Self>;

    /// The token, without detection.
    ///
    /// # Safety
    /// The CPU has every one of [`Token::FEATURES`].
    unsafe fn new_unchecked() -> Self;
}

/// One kernel call whose options are fixed at compile time (const generics):
/// the buffers and coefficients it runs on, and, in [`Variant::run`],
/// everything that runs on the tier `I`: splatting the coefficients and the
/// loop over blocks.
///
/// A variant is only ever run through [`Enter::enter`], which gives each one
/// its own `#[target_feature]` function. The selection of the variant (a
/// `match` on the options) stays outside, in plain code. Had every variant
/// been inlined into one wrapper, an unoptimised build would keep the locals
/// of all of them in one frame: 8.9 MB for mixed-precision Adam on AVX-512
/// (its 72 variants), enough to overflow any thread's stack.
///
/// `run`'s only precondition is the tier's instruction set: what else its
/// body relies on (equal lengths, a matched layout) its fields prove by their
/// types ([`Checked`](crate::Checked)).
pub(crate) trait Variant<I> {
    /// What the call returns.
    type Output;

    /// Runs the call.
    ///
    /// # Safety
    /// The CPU supports the tier `I` (a token of `I` exists).
    unsafe fn run(self) -> Self::Output;
}

/// An ISA token's way into its instruction set: runs a [`Variant`] inside a
/// function compiled with the tier's target features.
///
/// # Safety
/// Implementors run `v` with every target feature that the token's
/// [`Lanes`] and [`HalfLanes`](crate::HalfLanes) methods use enabled, and
/// those are among the [`Token::FEATURES`] that constructing the token proves.
pub(crate) unsafe trait Enter: Token {
    /// Runs `v` with the tier's target features enabled: sound because `self`
    /// proves the CPU has them.
    fn enter<V: Variant<Self>>(self, v: V) -> V::Output;
}

/// A kernel call with two boolean options still to be fixed as const flags
/// (most algorithms' `L2` and `MAXIMIZE`), so that the loop over elements
/// holds no branch on them. [`by_flags`] picks the instantiation.
pub(crate) trait TwoFlags {
    /// What the call returns.
    type Output;

    /// Runs the call with the options `A` and `B`.
    fn run<const A: bool, const B: bool>(self) -> Self::Output;
}

/// Runs `call` with `a` and `b` as const flags.
#[inline(always)]
pub(crate) fn by_flags<F: TwoFlags>(call: F, a: bool, b: bool) -> F::Output {
    match (a, b) {
        (false, false) => call.run::<false, false>(),
        (false, true) => call.run::<false, true>(),
        (true, false) => call.run::<true, false>(),
        (true, true) => call.run::<true, true>(),
    }
}

/// [`Lanes::load_partial`] through a zeroed stack buffer: the default for
/// tiers without masked loads.
///
/// # Safety
/// As [`Lanes::load_partial`].
#[inline(always)]
pub(crate) unsafe fn load_partial_buffered<I: Lanes<T>, T: Float>(p: *const T, len: usize) -> I::V {
    debug_assert!(len <= I::N);
    let mut buf = [T::ZERO; MAX_VECTOR_BYTES / 4];
    // SAFETY: `p` is valid for `len <= N <= buf.len()` reads, and `buf` is
    // valid for `N` reads, as `load` needs.
    unsafe {
        core::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), len);
        I::load(buf.as_ptr())
    }
}

/// [`Lanes::store_partial`] through a stack buffer: the default for tiers
/// without masked stores.
///
/// # Safety
/// As [`Lanes::store_partial`].
#[inline(always)]
pub(crate) unsafe fn store_partial_buffered<I: Lanes<T>, T: Float>(p: *mut T, len: usize, v: I::V) {
    debug_assert!(len <= I::N);
    let mut buf = [T::ZERO; MAX_VECTOR_BYTES / 4];
    // SAFETY: `buf` is valid for `N` writes; `p` is valid for `len` writes.
    unsafe {
        I::store(buf.as_mut_ptr(), v);
        core::ptr::copy_nonoverlapping(buf.as_ptr(), p, len);
    }
}

/// Loads `len` elements, `len == N` taking the full-width path (the check folds
/// away where `len` is the constant `N`).
///
/// # Safety
/// As [`Lanes::load`] / [`Lanes::load_partial`].
#[inline(always)]
pub(crate) unsafe fn load_n<I: Lanes<T>, T: Float>(p: *const T, len: usize) -> I::V {
    // SAFETY: forwarded from the caller.
    unsafe { if len == I::N { I::load(p) } else { I::load_partial(p, len) } }
}

/// Stores `len` lanes, the counterpart of [`load_n`].
///
/// # Safety
/// As [`Lanes::store`] / [`Lanes::store_partial`].
#[inline(always)]
pub(crate) unsafe fn store_n<I: Lanes<T>, T: Float>(p: *mut T, len: usize, v: I::V) {
    // SAFETY: forwarded from the caller.
    unsafe { if len == I::N { I::store(p, v) } else { I::store_partial(p, len, v) } }
}

/// One step of a kernel over `lanes <= N` consecutive elements at `offset`.
///
/// A kernel body is a struct holding its pointers and splatted coefficients;
/// this `#[inline(always)]` method is its per-vector update. (A closure would
/// not do: closures do not carry `#[inline(always)]` on stable Rust, and one
/// left out of line would be compiled without the tier's target features.)
pub(crate) trait Block {
    /// Updates elements `offset .. offset + lanes`.
    ///
    /// # Safety
    /// The range is in bounds of every buffer the block holds, and the CPU
    /// supports the block's instruction set.
    unsafe fn run(&self, offset: usize, lanes: usize);
}

/// Runs `block` over `0..n`: unrolled full-width blocks of `N × UNROLL`
/// elements, then single vectors, then one partial vector for the last
/// `n mod N` elements. Each element is visited exactly once, and through the
/// same lane operations wherever it falls, which is what makes the tail
/// bit-identical to the body.
///
/// # Safety
/// As [`Block::run`] for every range `0..n` is split into.
#[inline(always)]
pub(crate) unsafe fn for_each_block<I: Lanes<T>, T: Float, B: Block>(n: usize, block: &B) {
    let step = I::N * I::UNROLL;
    let mut i = 0;
    // SAFETY: every range passed lies inside `0..n`; the caller vouches for
    // the buffers and the instruction set.
    unsafe {
        while i + step <= n {
            for u in 0..I::UNROLL {
                block.run(i + u * I::N, I::N);
            }
            i += step;
        }
        while i + I::N <= n {
            block.run(i, I::N);
            i += I::N;
        }
        if i < n {
            block.run(i, n - i);
        }
    }
}
