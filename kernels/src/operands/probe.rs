//! The bandwidth probes' operands (what they do: [`crate::probe()`], and for
//! the lean-state steps' mixed-width streams [`crate::probe_state()`]).

use super::buffers::{Check, KernelBuffers, LengthMismatch, Piece, Reborrow};
use super::quantized::{QUANT_BLOCK, QuantizedSlot, quant_blocks};
use crate::narrow::bf16;

/// `W` streams read and written in place, and one stream only read.
#[derive(Debug)]
pub struct ProbeBuffers<'a, T, const W: usize> {
    /// Read and written in place (p, m, v for Adam).
    pub written: [&'a mut [T]; W],
    /// Only read (the gradient).
    pub read: &'a [T],
}

impl<T, const W: usize> KernelBuffers for ProbeBuffers<'_, T, W> {
    const ALGORITHM: &'static str = "probe";

    /// Number of elements (the read stream's length).
    fn len(&self) -> usize {
        self.read.len()
    }

    fn length_mismatch(&self) -> Option<(&'static str, usize)> {
        self.written.iter().find(|s| s.len() != self.read.len()).map(|s| ("written", s.len()))
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        let ((w0, w1), (r0, r1)) = (self.written.split_at(mid), self.read.split_at(mid));
        (ProbeBuffers { written: w0, read: r0 }, ProbeBuffers { written: w1, read: r1 })
    }

    fn anchor(&self) -> usize {
        self.written.first().map_or(self.read.as_ptr() as usize, |s| s.as_ptr() as usize)
    }

    fn anchor_element_bytes(&self) -> usize {
        core::mem::size_of::<T>()
    }
}

impl<T, const W: usize> Check for ProbeBuffers<'_, T, W> {
    type Facts = ();
    type Error = LengthMismatch;

    fn check(&self) -> Result<(), LengthMismatch> {
        self.check_lengths()
    }
}

impl<T, const W: usize> Reborrow for ProbeBuffers<'_, T, W> {
    type Short<'b>
        = ProbeBuffers<'b, T, W>
    where
        Self: 'b;

    fn reborrow(&mut self) -> ProbeBuffers<'_, T, W> {
        ProbeBuffers { written: self.written.each_mut().map(|s| &mut **s), read: self.read }
    }
}

/// The state streams of a [`StateProbeBuffers`]: the lean steps' two state
/// buffers (Adam's `exp_avg`, `exp_avg_sq`), in one of the layouts the lean
/// steps keep.
#[derive(Debug)]
pub enum ProbeState<'a> {
    /// Two `bf16` buffers (the bf16-state step: 2 bytes per element each).
    Bf16([&'a mut [bf16]; 2]),
    /// Two 8-bit buffers: one code byte per element and one `f32` scale per
    /// block of [`QUANT_BLOCK`] elements each (the 8-bit-state step).
    Codes([QuantizedSlot<'a>; 2]),
}

/// The buffers of the probe of a lean-state step ([`crate::probe_state()`]):
/// the `f32` parameter read and written, the `f32` gradient read, and two
/// state streams of narrow words (with their scales) read and written, all
/// of one length.
#[derive(Debug)]
pub struct StateProbeBuffers<'a> {
    /// Read and written in place.
    pub param: &'a mut [f32],
    /// Only read.
    pub grad: &'a [f32],
    /// Read and written in place.
    pub state: ProbeState<'a>,
}

/// The names the length check gives the state streams.
const STATE_NAMES: [&str; 2] = ["state[0]", "state[1]"];

impl StateProbeBuffers<'_> {
    /// Bytes one element moves (reads plus writes, the scales not counted):
    /// 20 with bf16 state, 16 with 8-bit state.
    pub fn bytes_per_element(&self) -> usize {
        match self.state {
            ProbeState::Bf16(_) => 20,
            ProbeState::Codes(_) => 16,
        }
    }
}

impl KernelBuffers for StateProbeBuffers<'_> {
    const ALGORITHM: &'static str = "state probe";

    /// Number of elements (the parameter's length).
    fn len(&self) -> usize {
        self.param.len()
    }

    /// The gradient and the state streams (codes for 8-bit state; the
    /// scales' counts are [`Check`]'s).
    fn length_mismatch(&self) -> Option<(&'static str, usize)> {
        let n = self.len();
        let lens = match &self.state {
            ProbeState::Bf16(w) => w.each_ref().map(|w| w.len()),
            ProbeState::Codes(s) => s.each_ref().map(|s| s.codes.len()),
        };
        core::iter::once(("grad", self.grad.len()))
            .chain(STATE_NAMES.into_iter().zip(lens))
            .find(|&(_, len)| len != n)
    }

    /// Every stream split at `mid`; 8-bit state's scales at
    /// `mid / QUANT_BLOCK`.
    ///
    /// # Panics
    /// With 8-bit state, if `mid` is neither a multiple of [`QUANT_BLOCK`]
    /// nor the length; if `mid > len`.
    #[track_caller]
    fn split_at(self, mid: usize) -> (Self, Self) {
        let StateProbeBuffers { param, grad, state } = self;
        let ((p0, p1), (g0, g1)) = (param.split_at_mut(mid), grad.split_at(mid));
        let (s0, s1) = match state {
            ProbeState::Bf16(w) => {
                let (w0, w1) = Piece::split_at(w, mid);
                (ProbeState::Bf16(w0), ProbeState::Bf16(w1))
            }
            ProbeState::Codes(s) => {
                let (s0, s1) = Piece::split_at(s, mid);
                (ProbeState::Codes(s0), ProbeState::Codes(s1))
            }
        };
        (
            StateProbeBuffers { param: p0, grad: g0, state: s0 },
            StateProbeBuffers { param: p1, grad: g1, state: s1 },
        )
    }

    fn anchor(&self) -> usize {
        self.param.as_ptr() as usize
    }

    fn anchor_element_bytes(&self) -> usize {
        4
    }

    /// [`QUANT_BLOCK`] with 8-bit state (a block's scale is one value), else 1.
    fn split_granule(&self) -> usize {
        match self.state {
            ProbeState::Bf16(_) => 1,
            ProbeState::Codes(_) => QUANT_BLOCK,
        }
    }
}

impl Check for StateProbeBuffers<'_> {
    type Facts = ();
    type Error = LengthMismatch;

    /// Equal lengths and, with 8-bit state, `len.div_ceil(QUANT_BLOCK)`
    /// scales per state stream (a wrong count is reported as the length of
    /// `state[k].scales`).
    fn check(&self) -> Result<(), LengthMismatch> {
        self.check_lengths()?;
        if let ProbeState::Codes(slots) = &self.state {
            let expected = quant_blocks(self.len());
            let names = ["state[0].scales", "state[1].scales"];
            for (buffer, s) in names.into_iter().zip(slots) {
                if s.scales.len() != expected {
                    let len = s.scales.len();
                    return Err(LengthMismatch { algorithm: Self::ALGORITHM, buffer, len, expected });
                }
            }
        }
        Ok(())
    }
}

impl Reborrow for StateProbeBuffers<'_> {
    type Short<'b>
        = StateProbeBuffers<'b>
    where
        Self: 'b;

    fn reborrow(&mut self) -> StateProbeBuffers<'_> {
        let state = match &mut self.state {
            ProbeState::Bf16(w) => ProbeState::Bf16(w.each_mut().map(|w| &mut **w)),
            ProbeState::Codes(s) => ProbeState::Codes(s.each_mut().map(QuantizedSlot::reborrow)),
        };
        StateProbeBuffers { param: self.param, grad: self.grad, state }
    }
}
