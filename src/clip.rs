//! Clipping by global gradient norm, fused into the step.
//!
//! PyTorch's `clip_grad_norm_(params, max_norm)` followed by `step()` reads
//! every gradient twice and writes it once (the norm, the scaling, the
//! step's own read). Here the norm is one read-only pass, and the step
//! scales each gradient element by the clip coefficient as its first
//! operation (every algorithm's `grad_scale`), so clipping costs one read
//! of the gradients and no write:
//!
//! ```text
//! norm = √(Σ over every tensor, every element of g²)      (f64, fixed order)
//! coef = min(1, max_norm/(norm + 1e-6))                    (f64)
//! step with g·T(coef)                                      (coef rounded once to T)
//! ```
//!
//! The norm is the same bits on every tier, every thread count and every
//! executor: its summation order is fixed by the kernels' specification
//! ([`spec::grad_norm`](mod@fused_optim_kernels::spec::grad_norm): `f64`
//! squares, blocks of 4096 elements with 8 partial sums each, a fixed tree
//! over the blocks of a tensor, tensors in order), and the driver cuts the
//! norm pass only at block boundaries (`parallel::reduce`).
//!
//! # A non-finite norm
//!
//! [`NonFinite::Propagate`] (the default) does what PyTorch does with
//! `error_if_nonfinite=False`: a NaN norm gives a NaN coefficient, so the
//! step writes NaN; an infinite norm gives a coefficient of 0 (finite
//! gradients become zeros, infinite ones NaN). [`NonFinite::Skip`] skips
//! the step instead, like the `found_inf` protocol of mixed precision:
//! nothing is written, and the [`ClipReport`] says `skipped`.
//!
//! # Validation
//!
//! Every check (the config, the step number, `max_norm`, every buffer of
//! every tensor) runs before either pass: on error nothing is read past the
//! lengths and nothing is written.

use crate::algorithms::{Algorithm, Validated};
use crate::parallel::{Parallelism, drive, drive_many, sum_squares_many};
use crate::{Error, Float};
use fused_optim_kernels::{NormElement, NormSlice, spec};

/// What a clipped step does when the gradients' norm is NaN or infinite.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NonFinite {
    /// As PyTorch (`error_if_nonfinite=False`): the coefficient comes out
    /// of the formula (NaN for a NaN norm, 0 for an infinite one) and the
    /// step runs with it.
    #[default]
    Propagate,
    /// Skip the step: nothing is written; the report says `skipped`.
    Skip,
}

/// Clipping by global norm: PyTorch's `clip_grad_norm_(…, max_norm,
/// norm_type=2)`, fused into the step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClipGradNorm {
    /// The largest norm the clipped gradients may have: finite and `>= 0`
    /// (PyTorch does not check; 0 zeroes every gradient, as there; a
    /// negative or non-finite value is refused here).
    pub max_norm: f64,
    /// What a NaN or infinite norm does.
    pub non_finite: NonFinite,
}

impl ClipGradNorm {
    /// Clipping to `max_norm`, propagating a non-finite norm as PyTorch does.
    pub const fn new(max_norm: f64) -> Self {
        ClipGradNorm { max_norm, non_finite: NonFinite::Propagate }
    }

    /// The same clipping, skipping steps whose norm is not finite.
    pub const fn skip_non_finite(self) -> Self {
        ClipGradNorm { non_finite: NonFinite::Skip, ..self }
    }

    /// Checks `max_norm`.
    pub fn validate(&self) -> Result<(), Error> {
        if self.max_norm.is_finite() && self.max_norm >= 0.0 {
            Ok(())
        } else {
            Err(Error::InvalidHyperparameter {
                name: "max_norm",
                value: self.max_norm,
                expected: "finite and >= 0",
            })
        }
    }

    /// The coefficient of a norm: `min(1, max_norm/(norm + 1e-6))` in
    /// `f64`, NaN for a NaN quotient (see [`spec::clip_coefficient`]).
    pub fn coefficient(&self, norm: f64) -> f64 {
        spec::clip_coefficient(norm, self.max_norm)
    }
}

/// What a clipped step found and did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClipReport {
    /// The 2-norm of every gradient of the step together (before clipping).
    pub norm: f64,
    /// The clip coefficient in `f64`; the step multiplied each gradient by
    /// it rounded once to the element type.
    pub coefficient: f64,
    /// True when the norm was not finite and the clip said
    /// [`NonFinite::Skip`]: nothing was written.
    pub skipped: bool,
}

impl ClipReport {
    /// The report of `clip` for a norm.
    pub(crate) fn new(clip: &ClipGradNorm, norm: f64) -> Self {
        ClipReport {
            norm,
            coefficient: clip.coefficient(norm),
            skipped: !norm.is_finite() && clip.non_finite == NonFinite::Skip,
        }
    }
}

/// The 2-norm of every gradient of `grads` together, in the fixed order of
/// [`spec::grad_norm`](mod@fused_optim_kernels::spec::grad_norm), split
/// across the threads `parallelism` allows for large gradients: the same
/// bits for every tier, thread count and executor. Reads only.
///
/// ```
/// use fused_optim::{clip::grad_norm, Parallelism};
/// let (a, b) = (vec![3.0f32; 4], vec![4.0f32; 4]);
/// assert_eq!(grad_norm(&[&a[..], &b[..]], &Parallelism::Global), 10.0);
/// ```
pub fn grad_norm<T: NormElement>(grads: &[&[T]], parallelism: &Parallelism) -> f64 {
    let slices: Vec<_> = grads.iter().map(|g| T::norm_slice(g)).collect();
    grad_norm_mixed(&slices, parallelism)
}

/// [`grad_norm`] over gradients of different element types (a bf16 model
/// with f32 layer norms): each tensor's sum of squares in its own type's
/// fixed order, the tensors added in list order, as for one type.
///
/// ```
/// use fused_optim::clip::grad_norm_mixed;
/// use fused_optim::kernels::NormSlice;
/// use fused_optim::mixed::bf16;
/// use fused_optim::Parallelism;
/// let (a, b) = (vec![bf16::from_f32(3.0); 4], vec![4.0f32; 4]);
/// assert_eq!(grad_norm_mixed(&[NormSlice::Bf16(&a), NormSlice::F32(&b)], &Parallelism::Global), 10.0);
/// ```
pub fn grad_norm_mixed(grads: &[NormSlice<'_>], parallelism: &Parallelism) -> f64 {
    sum_squares_many(grads, parallelism).sqrt()
}

/// One step of the algorithm `config` describes, with its gradient clipped
/// to `clip.max_norm` first: the norm pass, then the step with every
/// gradient element multiplied by the coefficient (rounded once to `T`).
/// On error nothing is written; a skipped step writes nothing either.
///
/// ```
/// use fused_optim::clip::{step_clipped, ClipGradNorm};
/// use fused_optim::{AdaGradBuffers, AdaGradConfig, Parallelism};
/// let (mut p, g, mut sum) = (vec![1.0f32; 4], vec![3.0f32; 4], vec![0.0f32; 4]);
/// let b = AdaGradBuffers { param: &mut p, grad: &g, sum: &mut sum };
/// let report = step_clipped(&AdaGradConfig::default(), 1, &ClipGradNorm::new(1.0), b, &Parallelism::Serial)?;
/// assert_eq!(report.norm, 6.0);
/// assert_eq!(sum[0], (3.0 * (1.0 / (6.0 + 1e-6)) as f32).powi(2)); // the clipped gradient, squared
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub fn step_clipped<A: Algorithm, T: Float>(
    config: &A,
    t: u64,
    clip: &ClipGradNorm,
    buffers: A::Buffers<'_, T>,
    parallelism: &Parallelism,
) -> Result<ClipReport, Error> {
    clip.validate()?;
    let mut validated = Validated::<A, T>::new(config, t)?;
    let buffers = validated.check(buffers)?;
    let norm = grad_norm(&[A::grad(buffers.get())], parallelism);
    let report = ClipReport::new(clip, norm);
    if !report.skipped {
        validated.set_grad_scale(T::from_f64(report.coefficient));
        drive(buffers, validated.bytes_per_element(), parallelism, |b| {
            A::kernel(b, validated.coefficients())
        });
    }
    Ok(report)
}

/// One step over a list of tensors with their gradients clipped by their
/// global norm (every tensor's gradient together, as PyTorch's
/// `clip_grad_norm_` over a parameter list). Every tensor is checked before
/// either pass; an error names the first bad tensor ([`Error::Tensor`]) and
/// nothing is written.
///
/// ```
/// use fused_optim::clip::{step_many_clipped, ClipGradNorm};
/// use fused_optim::{AdamBuffers, AdamConfig, Parallelism};
/// let grads = [vec![3.0f32; 1], vec![4.0f32; 1]];
/// let mut params = [vec![1.0f32; 1], vec![1.0f32; 1]];
/// let mut moments = [(vec![0.0f32], vec![0.0f32]), (vec![0.0f32], vec![0.0f32])];
/// let mut tensors: Vec<AdamBuffers<'_, f32>> = params.iter_mut().zip(&grads).zip(&mut moments)
///     .map(|((p, g), (m, v))| AdamBuffers { param: p, grad: g, exp_avg: m, exp_avg_sq: v, max_exp_avg_sq: None })
///     .collect();
/// let report = step_many_clipped(&AdamConfig::default(), 1, &ClipGradNorm::new(1.0), &mut tensors, &Parallelism::Global)?;
/// assert_eq!(report.norm, 5.0);
/// assert!(!report.skipped && (report.coefficient - 0.2).abs() < 1e-6);
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub fn step_many_clipped<A: Algorithm, T: Float>(
    config: &A,
    t: u64,
    clip: &ClipGradNorm,
    tensors: &mut [A::Buffers<'_, T>],
    parallelism: &Parallelism,
) -> Result<ClipReport, Error> {
    let validated = Validated::<A, T>::new(config, t)?;
    step_many_clipped_validated(validated, clip, tensors.iter_mut().map(A::reborrow), parallelism)
}

/// [`step_many_clipped`] with the coefficients already computed (the C
/// ABI's path: it validates the config before it reads any pointer).
pub fn step_many_clipped_validated<'a, A: Algorithm, T: Float>(
    mut validated: Validated<'_, A, T>,
    clip: &ClipGradNorm,
    tensors: impl IntoIterator<Item = A::Buffers<'a, T>>,
    parallelism: &Parallelism,
) -> Result<ClipReport, Error> {
    clip.validate()?;
    let checked = tensors
        .into_iter()
        .enumerate()
        .map(|(index, b)| validated.check(b).map_err(|e| Error::Tensor { index, error: Box::new(e) }))
        .collect::<Result<Vec<_>, _>>()?;
    let grads: Vec<_> = checked.iter().map(|b| T::norm_slice(A::grad(b.get()))).collect();
    let report = ClipReport::new(clip, sum_squares_many(&grads, parallelism).sqrt());
    if report.skipped {
        return Ok(report);
    }
    validated.set_grad_scale(T::from_f64(report.coefficient));
    let total = checked.iter().map(|b| b.len()).sum();
    drive_many(checked, total, validated.bytes_per_element(), parallelism, |b| {
        A::kernel(b, validated.coefficients())
    });
    Ok(report)
}
