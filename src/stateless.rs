//! The stateless step, written once for every algorithm.
//!
//! Each algorithm's config implements [`Stateless`]: how it turns
//! hyperparameters and a step number into the kernel's per-step scalars,
//! which optional buffers its options need, how many bytes an element's step
//! moves, and which kernel runs. [`step`] and [`step_many`] then do the same
//! for all of them: compute and check the scalars, check every buffer of
//! every tensor, and only then run the kernel through the driver. So on error
//! nothing is written, for every algorithm alike.

use crate::driver::{Parallelism, Split, drive, drive_many};
use crate::error::check_lengths;
use crate::{Error, Float};
use fused_optim_kernels::KernelBuffers;

/// What the stateless steps need of an algorithm's hyperparameters.
pub(crate) trait Stateless {
    /// The kernel's buffer set.
    type Buffers<'a, T: Float>: Split;
    /// The kernel's per-step scalars.
    type Coefficients<T: Float>: Sync;

    /// The per-step scalars for step `t`, after checking the hyperparameters.
    fn coefficients<T: Float>(&self, t: u64) -> Result<Self::Coefficients<T>, Error>;

    /// Optional buffers given exactly when their options are on.
    fn check_options<T: Float>(&self, _buffers: &Self::Buffers<'_, T>) -> Result<(), Error> {
        Ok(())
    }

    /// Bytes one element's step reads and writes.
    fn traffic<T: Float>(&self) -> usize;

    /// A shorter-lived view of a tensor's buffers.
    fn reborrow<'s, T: Float>(buffers: &'s mut Self::Buffers<'_, T>) -> Self::Buffers<'s, T>;

    /// The dispatched kernel.
    fn kernel<T: Float>(buffers: Self::Buffers<'_, T>, coefficients: &Self::Coefficients<T>);
}

/// Equal lengths, and the optional buffers the options need.
fn check<A: Stateless, T: Float>(config: &A, buffers: &A::Buffers<'_, T>) -> Result<(), Error> {
    check_lengths(buffers.length_mismatch(), buffers.len())?;
    config.check_options(buffers)
}

/// One step over one tensor's buffers. On error nothing is written.
pub(crate) fn step<A: Stateless, T: Float>(
    config: &A,
    t: u64,
    buffers: A::Buffers<'_, T>,
    parallelism: &Parallelism,
) -> Result<(), Error> {
    let coefficients = config.coefficients::<T>(t)?;
    check(config, &buffers)?;
    drive(buffers, config.traffic::<T>(), parallelism, |b| A::kernel(b, &coefficients));
    Ok(())
}

/// One step over a list of tensors, balanced across threads by elements.
/// Every tensor is checked before any is written; an error names the first
/// bad tensor ([`Error::Tensor`]).
pub(crate) fn step_many<A: Stateless, T: Float>(
    config: &A,
    t: u64,
    tensors: &mut [A::Buffers<'_, T>],
    parallelism: &Parallelism,
) -> Result<(), Error> {
    let coefficients = config.coefficients::<T>(t)?;
    for (index, buffers) in tensors.iter().enumerate() {
        check(config, buffers).map_err(|e| Error::Tensor { index, error: Box::new(e) })?;
    }
    let total = tensors.iter().map(|b| b.len()).sum();
    let pieces = tensors.iter_mut().map(|b| A::reborrow(b));
    drive_many(pieces, total, config.traffic::<T>(), parallelism, |b| A::kernel(b, &coefficients));
    Ok(())
}

/// An optional buffer must be given exactly when its option is on.
pub(crate) fn option_buffer(
    option: &'static str,
    on: bool,
    buffer: &'static str,
    given: bool,
) -> Result<(), Error> {
    match (on, given) {
        (true, false) => Err(Error::MissingState { buffer, option }),
        (false, true) => Err(Error::UnexpectedState { buffer, option }),
        _ => Ok(()),
    }
}

/// Implements [`Stateless`] for a config from its buffer and coefficient
/// types, its kernel, and (optionally) its option check.
macro_rules! stateless {
    ($config:ty, $buffers:ident, $coefficients:ident, $kernel:path $(, check: $check:expr)?) => {
        impl crate::stateless::Stateless for $config {
            type Buffers<'a, T: crate::Float> = fused_optim_kernels::$buffers<'a, T>;
            type Coefficients<T: crate::Float> = fused_optim_kernels::$coefficients<T>;
            fn coefficients<T: crate::Float>(&self, t: u64) -> Result<Self::Coefficients<T>, crate::Error> {
                <$config>::coefficients(self, t)
            }
            $(
            fn check_options<T: crate::Float>(&self, b: &Self::Buffers<'_, T>) -> Result<(), crate::Error> {
                let check: fn(&Self, &Self::Buffers<'_, T>) -> Result<(), crate::Error> = $check;
                check(self, b)
            }
            )?
            fn traffic<T: crate::Float>(&self) -> usize {
                self.bytes_per_element::<T>()
            }
            fn reborrow<'s, T: crate::Float>(b: &'s mut Self::Buffers<'_, T>) -> Self::Buffers<'s, T> {
                fused_optim_kernels::Reborrow::reborrow(b)
            }
            fn kernel<T: crate::Float>(b: Self::Buffers<'_, T>, c: &Self::Coefficients<T>) {
                $kernel(b, c)
            }
        }
    };
}

pub(crate) use stateless;
