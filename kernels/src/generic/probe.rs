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

use crate::float::Float;
use crate::lanes::{Block, Enter, Lanes, Variant, for_each_block, load_n, store_n};
use crate::operands::{Checked, ProbeBuffers};

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
struct ProbeVariant<'a, T, const W: usize>(Checked<ProbeBuffers<'a, T, W>>);

impl<I: Lanes<T>, T: Float, const W: usize> Variant<I> for ProbeVariant<'_, T, W> {
    type Output = ();

    #[inline(always)]
    unsafe fn run(self) {
        let (b, ()) = self.0.into_parts();
        let n = b.read.len();
        let body = ProbeBody::<I, T, W> {
            written: b.written.map(|s| s.as_mut_ptr()),
            read: b.read.as_ptr(),
            _lanes: core::marker::PhantomData,
        };
        // SAFETY: the buffers are `Checked` (one length `n`), `for_each_block`
        // stays inside `0..n`, and the caller guarantees the tier.
        unsafe { for_each_block::<I, T, _>(n, &body) }
    }
}

/// One probe pass on the token's tier.
pub(crate) fn probe<I: Lanes<T> + Enter, T: Float, const W: usize>(
    token: I,
    b: Checked<ProbeBuffers<'_, T, W>>,
) {
    token.enter(ProbeVariant(b))
}
