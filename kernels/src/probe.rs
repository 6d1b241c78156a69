//! The bandwidth probe: a kernel's access pattern with trivial arithmetic.
//!
//! A step of Adam reads four streams (p, g, m, v) and writes three of them
//! back in place; AdaMax the same; AMSGrad reads five and writes four. The
//! probe does exactly that with trivial arithmetic, `z = g − g` and then
//! `x = x + z` per written stream, through the same lane types, tiers,
//! dispatch and (in the root crate) threads. For finite `g`, `z` is `+0` and
//! the probe leaves every finite, non-`−0` value as it was, so it can be timed
//! interleaved with a kernel on the same buffers without drifting them. It is the roofline: the fastest a step of that shape can
//! go on this machine. A kernel that beats its probe means the probe is
//! wrong, not the kernel fast.
//!
//! Same tail handling as the kernels (unrolled vectors, single vectors, one
//! partial vector).

use crate::lanes::{Block, Enter, Lanes, Variant, for_each_block, load_n, store_n};
use crate::{Float, KernelBuffers};

/// `W` streams read and written in place, and one stream only read.
#[derive(Debug)]
pub struct ProbeBuffers<'a, T, const W: usize> {
    /// Read and written in place (p, m, v for Adam).
    pub written: [&'a mut [T]; W],
    /// Only read (the gradient).
    pub read: &'a [T],
}

impl<'a, T, const W: usize> ProbeBuffers<'a, T, W> {
    /// Number of elements (the read stream's length).
    pub fn len(&self) -> usize {
        self.read.len()
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.read.is_empty()
    }

    /// The first written stream whose length differs from the read stream's.
    pub fn length_mismatch(&self) -> Option<(&'static str, usize)> {
        self.written.iter().find(|s| s.len() != self.read.len()).map(|s| ("written", s.len()))
    }

    /// Splits every stream at `mid` (which must be `<= len`).
    ///
    /// # Panics
    /// If `mid > len` (as `slice::split_at`).
    pub fn split_at(self, mid: usize) -> (Self, Self) {
        let mut halves = self.written.map(|s| {
            let (a, b) = s.split_at_mut(mid);
            (Some(a), Some(b))
        });
        let left = core::array::from_fn(|i| halves[i].0.take().expect("each half taken once"));
        let right = core::array::from_fn(|i| halves[i].1.take().expect("each half taken once"));
        let (r0, r1) = self.read.split_at(mid);
        (ProbeBuffers { written: left, read: r0 }, ProbeBuffers { written: right, read: r1 })
    }
}

impl<T, const W: usize> crate::buffers::KernelBuffers for ProbeBuffers<'_, T, W> {
    const ALGORITHM: &'static str = "probe";
    fn len(&self) -> usize {
        self.read.len()
    }
    fn length_mismatch(&self) -> Option<(&'static str, usize)> {
        ProbeBuffers::length_mismatch(self)
    }
    fn split_at(self, mid: usize) -> (Self, Self) {
        ProbeBuffers::split_at(self, mid)
    }
    fn anchor(&self) -> usize {
        self.written.first().map_or(self.read.as_ptr() as usize, |s| s.as_ptr() as usize)
    }
    fn anchor_element_bytes(&self) -> usize {
        core::mem::size_of::<T>()
    }
}

struct ProbeBody<I: Lanes<T>, T: Float, const W: usize> {
    written: [*mut T; W],
    read: *const T,
    _lanes: core::marker::PhantomData<I>,
}

impl<I: Lanes<T>, T: Float, const W: usize> Block for ProbeBody<I, T, W> {
    #[inline(always)]
    unsafe fn run(&self, o: usize, n: usize) {
        // SAFETY: `o + n` is within every stream; the tier is available.
        unsafe {
            let g = load_n::<I, T>(self.read.add(o), n);
            let zero = I::sub(g, g);
            // All loads, then all stores, as the kernels do: storing each
            // stream right after loading it measured 5% slower than the Adam
            // kernel at 2^24 elements (DRAM), so it was no roof.
            let mut x = [zero; W];
            for (x, &p) in x.iter_mut().zip(&self.written) {
                *x = load_n::<I, T>(p.add(o), n);
            }
            for (x, &p) in x.iter().zip(&self.written) {
                store_n::<I, T>(p.add(o), n, I::add(*x, zero));
            }
        }
    }
}

/// One probe call (see [`Variant`]).
struct ProbeVariant<'a, T, const W: usize>(ProbeBuffers<'a, T, W>);

impl<I: Lanes<T>, T: Float, const W: usize> Variant<I> for ProbeVariant<'_, T, W> {
    type Output = ();

    #[inline(always)]
    unsafe fn run(self) {
        let ProbeVariant(b) = self;
        let n = b.len();
        let body = ProbeBody::<I, T, W> {
            written: b.written.map(|s| s.as_mut_ptr()),
            read: b.read.as_ptr(),
            _lanes: core::marker::PhantomData,
        };
        // SAFETY: forwarded from the caller; `for_each_block` stays inside `0..n`.
        unsafe { for_each_block::<I, T, _>(n, &body) }
    }
}

/// Runs the probe on the tier `I`.
///
/// # Safety
/// Lengths are equal (checked by the caller); the tier `I` is available.
pub(crate) unsafe fn run<I: Lanes<T> + Enter, T: Float, const W: usize>(b: ProbeBuffers<'_, T, W>) {
    // SAFETY: forwarded from the caller.
    unsafe { I::enter(ProbeVariant(b)) }
}

/// Probe shapes with a kernel behind them: 2, 3 or 4 written streams.
pub trait ProbeShape<T: Float>: Sized {
    /// The dispatched table's entry for this shape.
    #[doc(hidden)]
    fn entry(k: &crate::dispatch::TypedKernels<T>) -> unsafe fn(Self);
}

macro_rules! shapes {
    ($($w:literal => $field:ident),*) => {$(
        impl<'a, T: Float> ProbeShape<T> for ProbeBuffers<'a, T, $w> {
            fn entry(k: &crate::dispatch::TypedKernels<T>) -> unsafe fn(Self) {
                k.$field
            }
        }
    )*};
}
shapes!(2 => probe2, 3 => probe3, 4 => probe4);

/// One probe pass on the dispatched tier.
///
/// # Panics
/// If the streams' lengths differ.
pub fn probe<'b, T: Float, const W: usize>(buffers: ProbeBuffers<'b, T, W>)
where
    ProbeBuffers<'b, T, W>: ProbeShape<T>,
{
    buffers.assert_lengths();
    let entry = <ProbeBuffers<'b, T, W> as ProbeShape<T>>::entry(crate::dispatch::dispatched::<T>());
    // SAFETY: the dispatched table belongs to an available tier; lengths are equal.
    unsafe { entry(buffers) }
}

/// One probe pass on a forced tier, or an error if the CPU lacks it.
///
/// # Panics
/// If the streams' lengths differ.
pub fn probe_on<'b, T: Float, const W: usize>(
    tier: crate::Tier,
    buffers: ProbeBuffers<'b, T, W>,
) -> Result<(), crate::TierUnavailable>
where
    ProbeBuffers<'b, T, W>: ProbeShape<T>,
{
    buffers.assert_lengths();
    let entry = <ProbeBuffers<'b, T, W> as ProbeShape<T>>::entry(crate::dispatch::forced::<T>(tier)?);
    // SAFETY: `forced` only returns the table of an available tier; lengths are equal.
    unsafe { entry(buffers) };
    Ok(())
}
