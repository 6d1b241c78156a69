//! The roofline of a step: the bandwidth probe through the same driver.
//!
//! [`probe_step`] moves exactly the bytes a kernel of the same shape moves
//! (`W` streams read and written in place, one only read), with one addition
//! of zero per written element instead of the optimizer's arithmetic, on the same
//! tier and the same threads. Timed in the same process at the same size, it
//! is the fastest a step of that shape can go here: the roof the roofline
//! report and the benches measure kernels against.

use crate::parallel::{Parallelism, drive};
use crate::{Error, Float};
use fused_optim_kernels::ProbeShape;
use fused_optim_kernels::{Check, Checked, LengthMismatch, ProbeBuffers, StateProbeBuffers};

/// Bytes one element of a `W`-stream probe moves: `W + 1` read, `W` written.
pub const fn probe_bytes_per_element<T: Float, const W: usize>() -> usize {
    (2 * W + 1) * T::BYTES
}

/// One probe pass (`x += g − g` on each written stream: reads and writes
/// every byte, changes no finite value) through the driver.
///
/// `W = 3` has Adam's and AdaMax's shape, `W = 4` AMSGrad's.
///
/// ```
/// use fused_optim::{probe_step, Parallelism, ProbeBuffers};
/// let g = vec![1.0f32; 100];
/// let (mut p, mut m, mut v) = (vec![0.0f32; 100], vec![1.0f32; 100], vec![2.0f32; 100]);
/// probe_step(ProbeBuffers { written: [&mut p, &mut m, &mut v], read: &g }, &Parallelism::Global)?;
/// assert_eq!((p[99], m[0], v[50]), (0.0, 1.0, 2.0));
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub fn probe_step<'b, T: Float, const W: usize>(
    buffers: ProbeBuffers<'b, T, W>,
    parallelism: &Parallelism,
) -> Result<(), Error>
where
    ProbeBuffers<'b, T, W>: ProbeShape<T> + Check<Facts = (), Error = LengthMismatch>,
{
    let buffers = Checked::new(buffers).map_err(crate::error::length_mismatch)?;
    drive(buffers, probe_bytes_per_element::<T, W>(), parallelism, fused_optim_kernels::probe_checked);
    Ok(())
}

/// One pass of the probe of a lean-state step ([`StateProbeBuffers`]: the
/// `f32` parameter and gradient, two state streams of bf16 words or of
/// 8-bit codes with their per-block scales) through the driver: the roof of
/// the bf16-state and the 8-bit-state steps. Reads and writes every byte
/// those steps do (20 bytes per element with bf16 state, 16 and the scales
/// with 8-bit state; [`StateProbeBuffers::bytes_per_element`]) and changes
/// no finite value. With 8-bit state the threads' pieces are whole blocks.
///
/// ```
/// use fused_optim::{probe_state_step, Parallelism, ProbeState, StateProbeBuffers};
/// use fused_optim::quantized::QuantizedState;
/// let (mut p, g) = (vec![1.0f32; 1000], vec![0.5f32; 1000]);
/// let mut m = QuantizedState::quantize(&vec![0.25f32; 1000], true);
/// let mut v = QuantizedState::quantize(&vec![2.0f32; 1000], false);
/// let before = (m.codes().to_vec(), v.scales().to_vec());
/// let state = ProbeState::Codes([m.slot(), v.slot()]);
/// probe_state_step(StateProbeBuffers { param: &mut p, grad: &g, state }, &Parallelism::Global)?;
/// assert_eq!((p[999], m.codes(), v.scales()), (1.0, &before.0[..], &before.1[..]));
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub fn probe_state_step(buffers: StateProbeBuffers<'_>, parallelism: &Parallelism) -> Result<(), Error> {
    let bytes = buffers.bytes_per_element();
    let buffers = Checked::new(buffers).map_err(crate::error::length_mismatch)?;
    drive(buffers, bytes, parallelism, fused_optim_kernels::probe_state_checked);
    Ok(())
}
