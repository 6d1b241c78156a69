//! The bandwidth probe of the lean-state steps: the `f32` parameter read and
//! written, the `f32` gradient read, two state streams of narrow words (bf16
//! bits, or 8-bit codes with one `f32` scale per [`QUANT_BLOCK`] elements)
//! read and written, with trivial arithmetic: `z = g − g`, `p = p + z`, each
//! word xor-ed with the low bits of `z` (zero for finite `g`, but not a zero
//! the compiler can see, so no load/store pair is elided), each scale
//! `s + z` once per block. Finite data is left as it was.
//!
//! The same lane types as the steps: [`Lanes<f32>`](crate::Lanes) for the
//! `f32` streams and [`HalfLanes`]' zero-extending word loads and narrowing
//! stores for the state, through the same tail handling (unrolled vectors,
//! single vectors, one partial vector) and, for 8-bit state, the same walk
//! block by block.

use crate::lanes::{Block, Enter, Variant, for_each_block, load_n, store_n};
use crate::narrow::{HalfLanes, bf16, load_u8_n, load_u16_n, store_u8_n, store_u16_n};
use crate::operands::{Checked, ProbeState, QUANT_BLOCK, StateProbeBuffers};

/// A state word the probe reads and writes back: held zero-extended in a
/// `u32` lane.
trait Word: Copy {
    /// The bits of a lane that are the word's.
    const MASK: u32;

    /// Loads `len <= N` words.
    ///
    /// # Safety
    /// `p` is valid for `len` reads; the tier `I` is available.
    unsafe fn load<I: HalfLanes>(p: *const Self, len: usize) -> I::U;

    /// Stores the first `len <= N` lanes (each below `MASK + 1`).
    ///
    /// # Safety
    /// `p` is valid for `len` writes; the tier `I` is available.
    unsafe fn store<I: HalfLanes>(p: *mut Self, len: usize, u: I::U);
}

impl Word for bf16 {
    const MASK: u32 = 0xFFFF;

    #[inline(always)]
    unsafe fn load<I: HalfLanes>(p: *const bf16, len: usize) -> I::U {
        // SAFETY: forwarded from the caller; `bf16` is a transparent `u16`.
        unsafe { load_u16_n::<I>(p.cast(), len) }
    }

    #[inline(always)]
    unsafe fn store<I: HalfLanes>(p: *mut bf16, len: usize, u: I::U) {
        // SAFETY: forwarded from the caller; `bf16` is a transparent `u16`.
        unsafe { store_u16_n::<I>(p.cast(), len, u) }
    }
}

impl Word for u8 {
    const MASK: u32 = 0xFF;

    #[inline(always)]
    unsafe fn load<I: HalfLanes>(p: *const u8, len: usize) -> I::U {
        // SAFETY: forwarded from the caller.
        unsafe { load_u8_n::<I>(p, len) }
    }

    #[inline(always)]
    unsafe fn store<I: HalfLanes>(p: *mut u8, len: usize, u: I::U) {
        // SAFETY: forwarded from the caller.
        unsafe { store_u8_n::<I>(p, len, u) }
    }
}

/// The per-vector probe over `f32` parameter and gradient and two streams of
/// words `S`, at pointers already offset to the range's start.
struct StateProbeBody<I, S> {
    param: *mut f32,
    grad: *const f32,
    state: [*mut S; 2],
    _lanes: core::marker::PhantomData<I>,
}

impl<I: HalfLanes, S: Word> Block for StateProbeBody<I, S> {
    #[inline(always)]
    unsafe fn run(&self, o: usize, n: usize) {
        // SAFETY: `o + n` is within every stream (the caller's range); the
        // tier is available.
        unsafe {
            let g = load_n::<I, f32>(self.grad.add(o), n);
            let z = I::sub(g, g);
            // The word's bits of `z`: 0 for finite `g`; masked so a lane
            // stays a word whatever `g` holds (the narrowing stores need it).
            let zw = I::and_u(I::to_bits(z), I::splat_u(S::MASK));
            // All loads, then all stores, as the steps do.
            let p = load_n::<I, f32>(self.param.add(o), n);
            let w = [S::load::<I>(self.state[0].add(o), n), S::load::<I>(self.state[1].add(o), n)];
            store_n::<I, f32>(self.param.add(o), n, I::add(p, z));
            for (&s, w) in self.state.iter().zip(w) {
                S::store::<I>(s.add(o), n, I::xor_u(w, zw));
            }
        }
    }
}

impl<I: HalfLanes, S: Word> StateProbeBody<I, S> {
    /// The body over `start..`.
    ///
    /// # Safety
    /// `start` is within every stream.
    #[inline(always)]
    unsafe fn at(&self, start: usize) -> Self {
        // SAFETY: forwarded from the caller.
        unsafe {
            StateProbeBody {
                param: self.param.add(start),
                grad: self.grad.add(start),
                state: [self.state[0].add(start), self.state[1].add(start)],
                _lanes: core::marker::PhantomData,
            }
        }
    }
}

/// One state-probe call (see [`Variant`]).
struct StateProbeVariant<'a>(Checked<StateProbeBuffers<'a>>);

impl<I: HalfLanes> Variant<I> for StateProbeVariant<'_> {
    type Output = ();

    #[inline(always)]
    unsafe fn run(self) {
        let (b, ()) = self.0.into_parts();
        let n = b.param.len();
        let (param, grad) = (b.param.as_mut_ptr(), b.grad.as_ptr());
        match b.state {
            ProbeState::Bf16(words) => {
                let state = words.map(<[bf16]>::as_mut_ptr);
                let body =
                    StateProbeBody::<I, bf16> { param, grad, state, _lanes: core::marker::PhantomData };
                // SAFETY: the buffers are `Checked` (one length `n`),
                // `for_each_block` stays inside `0..n`, and the caller
                // guarantees the tier.
                unsafe { for_each_block::<I, f32, _>(n, &body) }
            }
            ProbeState::Codes(mut slots) => {
                let state = slots.each_mut().map(|s| s.codes.as_mut_ptr());
                let scales = slots.each_mut().map(|s| s.scales.as_mut_ptr());
                let body = StateProbeBody::<I, u8> { param, grad, state, _lanes: core::marker::PhantomData };
                let (mut start, mut j) = (0, 0);
                while start < n {
                    let len = QUANT_BLOCK.min(n - start);
                    // SAFETY: the buffers are `Checked`: one length `n` for
                    // parameter, gradient and codes, and `n.div_ceil(QUANT_BLOCK)`
                    // scales per slot, so block `j` (`start < n`) has scale
                    // `j`; `start + len <= n`; the caller guarantees the tier.
                    unsafe {
                        for_each_block::<I, f32, _>(len, &body.at(start));
                        let z = *grad.add(start) - *grad.add(start);
                        for s in scales {
                            *s.add(j) += z;
                        }
                    }
                    start += len;
                    j += 1;
                }
            }
        }
    }
}

/// One state-probe pass on the token's tier.
pub(crate) fn probe_state<I: HalfLanes + Enter>(token: I, b: Checked<StateProbeBuffers<'_>>) {
    token.enter(StateProbeVariant(b))
}
