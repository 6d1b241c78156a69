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
use fused_optim_kernels::{Check, Checked, LengthMismatch, ProbeBuffers};

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
