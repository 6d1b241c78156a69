//! The bandwidth probe's operands (what it does: [`crate::probe()`]).

use super::buffers::{Check, KernelBuffers, LengthMismatch, Piece, Reborrow};

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
