//! The operands of an 8-bit-state step, for every algorithm with a
//! mixed-precision update (the essay, the code and the reference:
//! [`crate::spec::quantized`](mod@crate::spec::quantized)): the buffers
//! ([`QuantizedBuffers`], each state buffer a [`QuantizedSlot`] of code bytes
//! and per-block scales), the per-step scalars ([`QuantizedCoefficients`]) and
//! the check ([`QuantizedError`]).

use super::buffers::{Check, KernelBuffers, LengthMismatch, Piece, Reborrow};
use super::mixed::{MAX_MIXED_STATE, MixedUpdate};
use core::fmt;

/// Elements per quantization block.
pub const QUANT_BLOCK: usize = 256;

/// The names the length check gives the state slots' code buffers.
pub const QUANTIZED_CODE_SLOTS: [&str; MAX_MIXED_STATE] =
    ["state[0].codes", "state[1].codes", "state[2].codes"];

/// Number of blocks (and so of scales per state slot) of `len` elements:
/// `len.div_ceil(QUANT_BLOCK)`.
pub const fn quant_blocks(len: usize) -> usize {
    len.div_ceil(QUANT_BLOCK)
}

/// One 8-bit state buffer: one code byte per element, one f32 scale (the
/// block's absmax) per block of [`QUANT_BLOCK`] elements counted from element
/// 0 (the last block may be short).
///
/// A fresh (all-zero) state is all codes 0 and all scales 0.
#[derive(Debug)]
pub struct QuantizedSlot<'a> {
    /// One code per element (signed or unsigned code: the algorithm's
    /// [`MixedUpdate::SIGNED`] for the slot).
    pub codes: &'a mut [u8],
    /// One scale per block: `codes.len().div_ceil(QUANT_BLOCK)` of them.
    pub scales: &'a mut [f32],
}

impl<'a> QuantizedSlot<'a> {
    /// A shorter-lived view of the same buffer.
    pub fn reborrow(&mut self) -> QuantizedSlot<'_> {
        QuantizedSlot { codes: self.codes, scales: self.scales }
    }

    /// `[0, mid)` and `[mid, len)`: the codes at `mid`, the scales at
    /// `mid.div_ceil(QUANT_BLOCK)`.
    ///
    /// # Panics
    /// If `mid` is neither a multiple of [`QUANT_BLOCK`] nor the length, or
    /// out of range.
    pub fn split_at(self, mid: usize) -> (QuantizedSlot<'a>, QuantizedSlot<'a>) {
        assert_block_cut(mid, self.codes.len());
        let (c0, c1) = self.codes.split_at_mut(mid);
        let (s0, s1) = self.scales.split_at_mut(quant_blocks(mid).min(self.scales.len()));
        (QuantizedSlot { codes: c0, scales: s0 }, QuantizedSlot { codes: c1, scales: s1 })
    }
}

impl Piece for QuantizedSlot<'_> {
    fn split_at(self, mid: usize) -> (Self, Self) {
        QuantizedSlot::split_at(self, mid)
    }
}

/// Panics unless `mid` cuts at a block boundary (or at the end).
#[track_caller]
fn assert_block_cut(mid: usize, len: usize) {
    assert!(
        mid.is_multiple_of(QUANT_BLOCK) || mid == len,
        "8-bit state step: split at {mid}, neither a multiple of {QUANT_BLOCK} nor the length {len}"
    );
}

/// The buffers of one 8-bit-state step, all of one length: the `f32`
/// parameter and gradient and the algorithm's state buffers in its order
/// ([`MixedUpdate::STATE`]; `None` where one is not kept).
#[derive(Debug)]
pub struct QuantizedBuffers<'a> {
    /// Parameters, updated in place.
    pub param: &'a mut [f32],
    /// Gradient: read, and set to zero with `zero_grad`.
    pub grad: &'a mut [f32],
    /// The state buffers in the algorithm's order, updated in place.
    pub state: [Option<QuantizedSlot<'a>>; MAX_MIXED_STATE],
}

impl QuantizedBuffers<'_> {
    /// Which state slots hold a buffer.
    pub fn given(&self) -> [bool; MAX_MIXED_STATE] {
        self.state.each_ref().map(Option::is_some)
    }

    /// The first state slot the algorithm `U` needs (for the buffers given:
    /// [`MixedUpdate::needed`]) that holds no buffer.
    pub fn missing<U: MixedUpdate>(&self) -> Option<usize> {
        let (given, needed) = (self.given(), U::needed(self.given()));
        (0..MAX_MIXED_STATE).find(|&k| needed[k] && !given[k])
    }

    /// [`Check::check`], and every state slot the algorithm `U` needs given.
    pub fn check_for<U: MixedUpdate>(&self) -> Result<(), QuantizedError> {
        self.check()?;
        match self.missing::<U>() {
            Some(slot) => {
                Err(QuantizedError::Missing { algorithm: U::NAME, slot, name: slot_name::<U>(slot) })
            }
            None => Ok(()),
        }
    }
}

/// The algorithm's name of state slot `slot`.
fn slot_name<U: MixedUpdate>(slot: usize) -> &'static str {
    U::STATE.get(slot).copied().unwrap_or("state")
}

impl KernelBuffers for QuantizedBuffers<'_> {
    const ALGORITHM: &'static str = "8-bit state step";

    fn len(&self) -> usize {
        self.param.len()
    }

    /// The gradient and the state slots' codes (named by
    /// [`QUANTIZED_CODE_SLOTS`]); the scales' counts are [`Check`]'s.
    fn length_mismatch(&self) -> Option<(&'static str, usize)> {
        let n = self.len();
        if self.grad.len() != n {
            return Some(("grad", self.grad.len()));
        }
        QUANTIZED_CODE_SLOTS
            .into_iter()
            .zip(self.state.iter())
            .find_map(|(name, s)| s.as_ref().filter(|s| s.codes.len() != n).map(|s| (name, s.codes.len())))
    }

    /// Every buffer split at `mid`, the scales at `mid / QUANT_BLOCK`.
    ///
    /// # Panics
    /// If `mid` is neither a multiple of [`QUANT_BLOCK`] nor the length
    /// (a cut inside a block would give both halves a share of one scale),
    /// or `mid > len`.
    #[track_caller]
    fn split_at(self, mid: usize) -> (Self, Self) {
        assert_block_cut(mid, self.len());
        let QuantizedBuffers { param, grad, state } = self;
        let ((p0, p1), (g0, g1), (s0, s1)) =
            (param.split_at_mut(mid), grad.split_at_mut(mid), state.split_at(mid));
        (
            QuantizedBuffers { param: p0, grad: g0, state: s0 },
            QuantizedBuffers { param: p1, grad: g1, state: s1 },
        )
    }

    fn anchor(&self) -> usize {
        self.param.as_ptr() as usize
    }

    fn anchor_element_bytes(&self) -> usize {
        4
    }

    fn split_granule(&self) -> usize {
        QUANT_BLOCK
    }
}

impl Check for QuantizedBuffers<'_> {
    type Facts = ();
    type Error = QuantizedError;

    /// Equal lengths (param, grad, every given slot's codes) and
    /// `len.div_ceil(QUANT_BLOCK)` scales per given slot. (Which slots the
    /// algorithm's options need: [`QuantizedBuffers::check_for`], which the
    /// entry points run.)
    fn check(&self) -> Result<(), QuantizedError> {
        self.check_lengths().map_err(QuantizedError::Length)?;
        let expected = quant_blocks(self.len());
        for (slot, s) in self.state.iter().enumerate() {
            if let Some(s) = s.as_ref().filter(|s| s.scales.len() != expected) {
                return Err(QuantizedError::Scales { slot, len: s.scales.len(), expected });
            }
        }
        Ok(())
    }
}

impl Reborrow for QuantizedBuffers<'_> {
    type Short<'b>
        = QuantizedBuffers<'b>
    where
        Self: 'b;

    fn reborrow(&mut self) -> QuantizedBuffers<'_> {
        QuantizedBuffers {
            param: self.param,
            grad: self.grad,
            state: self.state.each_mut().map(|s| s.as_mut().map(QuantizedSlot::reborrow)),
        }
    }
}

/// 8-bit-state buffers a kernel cannot run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantizedError {
    /// Buffers of unequal lengths (a slot's codes named by [`QUANTIZED_CODE_SLOTS`]).
    Length(LengthMismatch),
    /// A state slot's scales are not one per block.
    Scales {
        /// The state slot.
        slot: usize,
        /// Its number of scales.
        len: usize,
        /// `len.div_ceil(QUANT_BLOCK)`.
        expected: usize,
    },
    /// A state slot the algorithm's options need holds no buffer.
    Missing {
        /// The algorithm's name.
        algorithm: &'static str,
        /// The slot.
        slot: usize,
        /// The algorithm's name of the slot (`"exp_avg_sq"`).
        name: &'static str,
    },
}

impl fmt::Display for QuantizedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantizedError::Length(e) => e.fmt(f),
            QuantizedError::Scales { slot, len, expected } => write!(
                f,
                "8-bit state step: state[{slot}] has {len} scales, expected {expected} \
                 (one per block of {QUANT_BLOCK} elements)"
            ),
            QuantizedError::Missing { algorithm, slot, name } => {
                write!(f, "8-bit {algorithm} step: state[{slot}] (`{name}`) is needed but not given")
            }
        }
    }
}

impl std::error::Error for QuantizedError {}

/// The per-step scalars of an 8-bit-state step: the algorithm's own `f32`
/// scalars `U` and the fused extras.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantizedCoefficients<U> {
    /// The algorithm's scalars in `f32`. Its `maximize` folds into the
    /// gradient scale; its own `grad_scale` is not read (the step's
    /// multiplier is [`grad_scale`](Self::grad_scale)).
    pub algorithm: U,
    /// The gradient's multiplier: `1/loss_scale`, or a clip coefficient (1
    /// for unscaled gradients).
    pub grad_scale: f32,
    /// Write zero to the gradient as the step reads it.
    pub zero_grad: bool,
}
