//! Mixed precision: a step over `bf16`/`f16` storage with `f32` arithmetic,
//! and the fused extras of a training step, for every algorithm with a
//! mixed-precision kernel ([`MixedKernel`]: Adam / AdamW / AMSGrad, Lion, SGD).
//!
//! A framework training in reduced precision runs, around each optimizer
//! step, an unscale pass over the gradients (loss scaling), a check for
//! overflow (`found_inf`), the step, a pass that zeroes the gradients, and a
//! pass that copies the new `f32` master weights to `bf16`/`f16` for the
//! device. The step is memory-bound, so each pass costs about what the step
//! itself costs per byte. [`step_mixed`] (for Adam, [`adam_step_mixed`])
//! does the whole phase in two passes:
//!
//! 1. **The check** ([`MixedOptions::skip_non_finite`]): one read-only pass
//!    over the gradients, which multiplies each by `1/loss_scale` and looks
//!    for an infinity or a NaN. If it finds one, the step is skipped:
//!    nothing is written (parameters, state, gradient, copy) and the result
//!    is [`StepOutcome::SkippedNonFinite`]. Checking first is what makes the
//!    skip exact: the step updates in place, so a problem found half-way
//!    could not be undone.
//! 2. **The step**: the algorithm's update with the gradient unscaled inside
//!    (`g·(1/loss_scale)`, the factor computed in `f64` and rounded to `f32`,
//!    as PyTorch's `GradScaler` multiplies), the gradient zeroed as it is
//!    read ([`MixedOptions::zero_grad`]), the parameters and state stored in
//!    their own types (stochastically rounded to `bf16` with
//!    [`MixedOptions::stochastic_rounding`]), and the new parameters also
//!    written to a narrow copy ([`MixedBuffers::param_copy`]).
//!
//! The kernel's formula, op order and layouts are in
//! [`fused_optim_kernels::spec::mixed`](mod@fused_optim_kernels::spec::mixed).
//! [`MixedBuffers`] holds the state buffers in the algorithm's order
//! ([`Algorithm::STATE`]); [`MixedAdamBuffers`] names Adam's.
//!
//! ```
//! use fused_optim::mixed::{adam_step_mixed, bf16, MixedAdamBuffers, MixedOptions, MixedSlice, StepOutcome};
//! use fused_optim::{AdamConfig, Parallelism};
//! // f32 master weights, bf16 gradients scaled by 1024, a bf16 copy for the device.
//! let mut master = vec![1.0f32; 8];
//! let mut grad = vec![bf16::from_f32(0.5 * 1024.0); 8];
//! let (mut m, mut v) = (vec![0.0f32; 8], vec![0.0f32; 8]);
//! let mut copy = vec![bf16::ZERO; 8];
//! let buffers = MixedAdamBuffers {
//!     param: MixedSlice::F32(&mut master),
//!     grad: MixedSlice::Bf16(&mut grad),
//!     exp_avg: MixedSlice::F32(&mut m),
//!     exp_avg_sq: MixedSlice::F32(&mut v),
//!     max_exp_avg_sq: None,
//!     param_copy: Some(MixedSlice::Bf16(&mut copy)),
//!     position: 0,
//! };
//! let options = MixedOptions { loss_scale: 1024.0, zero_grad: true, ..MixedOptions::default() };
//! let outcome = adam_step_mixed(&AdamConfig::default(), 1, buffers, &options, &Parallelism::Global)?;
//! assert_eq!(outcome, StepOutcome::Applied);
//! assert!((master[0] - 0.999).abs() < 1e-6);          // the first step moves by lr·sign(g)
//! assert_eq!(copy[0], bf16::from_f32(master[0]));      // the copy is the new master, rounded
//! assert!(grad.iter().all(|g| g.to_f32() == 0.0));     // the gradient was consumed
//! # Ok::<(), fused_optim::Error>(())
//! ```

use crate::algorithms::{AdamConfig, Algorithm, LionConfig, SgdConfig, check_state_buffers};
use crate::clip::{ClipGradNorm, ClipReport};
use crate::parallel::sum_squares_many;
use crate::parallel::{Parallelism, drive_many};
use crate::{Error, KernelBuffers};
use fused_optim_kernels::narrow::stochastic_key;
use fused_optim_kernels::{Checked, MAX_MIXED_STATE, MIXED_STATE_SLOTS, MixedError, NormSlice, Reborrow};
pub use fused_optim_kernels::{
    Dtype, MixedAdamBuffers, MixedAdamCoefficients, MixedBuffers, MixedCoefficients, MixedKernel,
    MixedLayout, MixedSlice, MixedUpdate, StochasticKeys, bf16, f16,
};
use std::sync::atomic::{AtomicBool, Ordering};

/// The fused extras of a mixed-precision step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MixedOptions {
    /// The loss scale the gradients carry (finite, `> 0`): the step uses
    /// `g·(1/loss_scale)`. Default `1.0`.
    pub loss_scale: f64,
    /// The `found_inf` protocol: check the unscaled gradients first and skip
    /// the whole step, writing nothing, if any is infinite or NaN. Default on.
    /// Off, a non-finite gradient propagates into the outputs it touches.
    pub skip_non_finite: bool,
    /// Write zero to the gradient as the step reads it (the framework's
    /// `zero_grad`, without its pass). Default off.
    pub zero_grad: bool,
    /// Round `bf16` parameter and state stores stochastically, from this seed
    /// (reproducible: the same seed, step and position give the same bits on
    /// every tier and thread count). Default `None`: round to nearest even.
    ///
    /// The random value of an element depends on the seed, the step, the
    /// buffer's role and the element's position ([`MixedBuffers::position`],
    /// plus the lengths of the tensors before it in a multi-tensor call). So
    /// tensors stepped by separate calls with the same seed and positions draw
    /// the same values: give each its own seed, or its own range of positions;
    /// and a tensor draws differently alone than inside a list.
    pub stochastic_rounding: Option<u64>,
}

impl Default for MixedOptions {
    fn default() -> Self {
        MixedOptions { loss_scale: 1.0, skip_non_finite: true, zero_grad: false, stochastic_rounding: None }
    }
}

/// What a mixed-precision step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a skipped step must not advance the step count"]
pub enum StepOutcome {
    /// The step ran: the step count advances.
    Applied,
    /// A gradient was infinite or NaN after unscaling: nothing was written,
    /// and the step count must not advance (a framework lowers its loss scale).
    SkippedNonFinite,
}

/// The kernel's scalars for step `t` of the algorithm `config` describes,
/// after checking the hyperparameters and options.
pub fn mixed_coefficients<A: Algorithm>(
    config: &A,
    t: u64,
    options: &MixedOptions,
) -> Result<MixedCoefficients<A::Coefficients<f32>>, Error>
where
    A::Coefficients<f32>: MixedKernel,
{
    let algorithm = config.coefficients::<f32>(t)?;
    let scale = options.loss_scale;
    let grad_scale = (1.0 / scale) as f32;
    if !(scale.is_finite() && scale > 0.0 && grad_scale.is_normal()) {
        return Err(Error::InvalidHyperparameter {
            name: "loss_scale",
            value: scale,
            expected: "finite and > 0, with 1/loss_scale a normal f32 (loss_scale from about 3e-39 to 8e37)",
        });
    }
    // Buffer 0 is the parameter, 1 + i state slot i.
    let stochastic = options.stochastic_rounding.map(|seed| StochasticKeys {
        param: stochastic_key(seed, t, 0),
        state: std::array::from_fn(|i| stochastic_key(seed, t, 1 + i as u32)),
    });
    Ok(MixedCoefficients { algorithm, grad_scale, zero_grad: options.zero_grad, stochastic })
}

/// Bytes one element's step reads and writes for this layout, this number
/// of state buffers and these options: parameter and state read and
/// written, gradient read (and written with `zero_grad`), the copy written.
pub fn mixed_bytes_per_element(layout: &MixedLayout, state_buffers: usize, zero_grad: bool) -> usize {
    let state = layout.state.bytes() * 2 * state_buffers;
    let grad = layout.grad.bytes() * if zero_grad { 2 } else { 1 };
    2 * layout.param.bytes() + grad + state + layout.copy.map_or(0, Dtype::bytes)
}

/// Equal lengths, one state type and a supported layout (checked once, by
/// the kernels' [`Checked`], which keeps the layout), and the state buffers
/// the options keep, exactly; errors name the buffers by `A`'s names.
fn check<'a, A: Algorithm>(config: &A, b: MixedBuffers<'a>) -> Result<Checked<MixedBuffers<'a>>, Error> {
    let name = |slot: usize| A::STATE.get(slot).map_or(MIXED_STATE_SLOTS[slot], |s| s.name);
    let checked = Checked::new(b).map_err(|e| match e {
        MixedError::Length(mut e) => {
            if let Some(slot) = MIXED_STATE_SLOTS.iter().position(|&s| s == e.buffer) {
                e.buffer = name(slot);
            }
            crate::error::length_mismatch(e)
        }
        MixedError::StateType(slot) => Error::StateTypeMismatch { buffer: name(slot) },
        MixedError::Unsupported(layout) => Error::UnsupportedLayout(layout),
    })?;
    let given = checked.get().given();
    if let Some(slot) = (A::STATE.len()..MAX_MIXED_STATE).find(|&i| given[i]) {
        return Err(Error::UnexpectedState { buffer: MIXED_STATE_SLOTS[slot], option: A::NAME });
    }
    check_state_buffers(config, given)?;
    Ok(checked)
}

/// One buffer the `found_inf` check reads, split like any kernel's.
struct GradCheck<'a>(MixedSlice<'a>);

impl KernelBuffers for GradCheck<'_> {
    const ALGORITHM: &'static str = "gradient check";
    fn len(&self) -> usize {
        self.0.len()
    }
    fn length_mismatch(&self) -> Option<(&'static str, usize)> {
        None
    }
    fn split_at(self, mid: usize) -> (Self, Self) {
        let (a, b) = self.0.split_at(mid);
        (GradCheck(a), GradCheck(b))
    }
    fn anchor(&self) -> usize {
        self.0.address()
    }
    fn anchor_element_bytes(&self) -> usize {
        self.0.dtype().bytes()
    }
}

/// True if any gradient of `tensors`, times `scale`, is infinite or NaN.
fn any_non_finite(tensors: &mut [Checked<MixedBuffers<'_>>], scale: f32, parallelism: &Parallelism) -> bool {
    let total = tensors.iter().map(|b| b.len()).sum();
    let read_bytes = tensors.iter().map(|b| b.facts().grad.bytes()).max().unwrap_or(4);
    let grads = tensors.iter_mut().map(|b| b.reborrow().into_inner().grad);
    any_grad_non_finite(grads, total, read_bytes, scale, parallelism)
}

/// The `found_inf` check over gradients of `total` elements in all (each
/// element at most `read_bytes`), split across threads like a step: true if
/// any element times `scale` is infinite or NaN.
pub(crate) fn any_grad_non_finite<'a>(
    grads: impl Iterator<Item = MixedSlice<'a>>,
    total: usize,
    read_bytes: usize,
    scale: f32,
    parallelism: &Parallelism,
) -> bool {
    let found = AtomicBool::new(false);
    drive_many(grads.map(GradCheck), total, read_bytes, parallelism, |g| {
        if !found.load(Ordering::Relaxed) && fused_optim_kernels::grad_non_finite(&g.0, scale) {
            found.store(true, Ordering::Relaxed);
        }
    });
    found.into_inner()
}

/// One mixed-precision step of the algorithm `config` describes (see [the
/// module](self)): check the gradients if asked, then the fused step. On
/// error, and when the step is skipped, nothing is written.
pub fn step_mixed<A: Algorithm>(
    config: &A,
    t: u64,
    mut buffers: MixedBuffers<'_>,
    options: &MixedOptions,
    parallelism: &Parallelism,
) -> Result<StepOutcome, Error>
where
    A::Coefficients<f32>: MixedKernel,
{
    step_mixed_many(config, t, std::slice::from_mut(&mut buffers), options, parallelism)
        .map_err(Error::without_tensor)
}

/// One mixed-precision step over a list of tensors, balanced across
/// threads by elements; the `found_inf` check covers every tensor before any
/// is written. Tensor `i`'s stochastic-rounding positions follow those of the
/// tensors before it (its `position` plus their total length), so the list
/// draws what one concatenated tensor would.
pub fn step_mixed_many<A: Algorithm>(
    config: &A,
    t: u64,
    tensors: &mut [MixedBuffers<'_>],
    options: &MixedOptions,
    parallelism: &Parallelism,
) -> Result<StepOutcome, Error>
where
    A::Coefficients<f32>: MixedKernel,
{
    let coefficients = mixed_coefficients(config, t, options)?;
    step_mixed_many_with(config, &coefficients, tensors, options, parallelism)
}

/// [`step_mixed_many`] with the step's coefficients already computed by
/// [`mixed_coefficients`] from the same `config` and `options` (the C ABI's
/// path: it validates them before it reads any pointer).
pub fn step_mixed_many_with<A: Algorithm>(
    config: &A,
    coefficients: &MixedCoefficients<A::Coefficients<f32>>,
    tensors: &mut [MixedBuffers<'_>],
    options: &MixedOptions,
    parallelism: &Parallelism,
) -> Result<StepOutcome, Error>
where
    A::Coefficients<f32>: MixedKernel,
{
    step_mixed_many_clipped_with(config, coefficients, None, tensors, options, parallelism)
        .map(|(outcome, _)| outcome)
}

/// [`step_mixed_many`] with the gradients clipped by their global norm
/// first (see [`crate::clip`]), as a framework's AMP step does: unscale,
/// `clip_grad_norm_`, step. For every algorithm with a mixed-precision step
/// (Adam: [`adam_step_mixed_many_clipped`]).
///
/// The norm is that of the unscaled gradients, computed as the norm of the
/// stored gradients (widened to `f64`, in the fixed order of the kernels'
/// [`spec::grad_norm`](mod@fused_optim_kernels::spec::grad_norm)) times the
/// unscale factor `s = f32(1/loss_scale)` in `f64` (exactly the norm of the
/// unscaled values when `s` is a power of two, as dynamic loss scaling's
/// are). The step then multiplies each gradient by `f32(s·coef)`: `s` and the
/// coefficient multiplied in `f64`, rounded to `f32` once (maximize still
/// negates after, as without clipping).
///
/// With [`MixedOptions::skip_non_finite`], the `found_inf` check runs first
/// and a skipped step reports no norm (`None`). Otherwise a non-finite norm
/// does what `clip.non_finite` says: [`NonFinite::Skip`](crate::clip::NonFinite::Skip)
/// skips the step ([`StepOutcome::SkippedNonFinite`], nothing written).
///
/// ```
/// use fused_optim::clip::ClipGradNorm;
/// use fused_optim::mixed::{step_mixed_many_clipped, bf16, MixedBuffers, MixedOptions, MixedSlice, StepOutcome};
/// use fused_optim::{LionConfig, Parallelism};
/// let (mut p, mut m) = (vec![1.0f32; 2], vec![0.0f32; 2]);
/// let mut g = vec![bf16::from_f32(3.0 * 256.0), bf16::from_f32(4.0 * 256.0)]; // loss scale 256
/// let buffers = MixedBuffers { param: MixedSlice::F32(&mut p), grad: MixedSlice::Bf16(&mut g),
///     state: [Some(MixedSlice::F32(&mut m)), None, None], param_copy: None, position: 0 };
/// let options = MixedOptions { loss_scale: 256.0, ..MixedOptions::default() };
/// let (outcome, report) = step_mixed_many_clipped(&LionConfig::default(), 1, &ClipGradNorm::new(1.0),
///     &mut [buffers], &options, &Parallelism::Serial)?;
/// assert_eq!((outcome, report.unwrap().norm), (StepOutcome::Applied, 5.0));
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub fn step_mixed_many_clipped<A: Algorithm>(
    config: &A,
    t: u64,
    clip: &ClipGradNorm,
    tensors: &mut [MixedBuffers<'_>],
    options: &MixedOptions,
    parallelism: &Parallelism,
) -> Result<(StepOutcome, Option<ClipReport>), Error>
where
    A::Coefficients<f32>: MixedKernel,
{
    clip.validate()?;
    let coefficients = mixed_coefficients(config, t, options)?;
    step_mixed_many_clipped_with(config, &coefficients, Some(clip), tensors, options, parallelism)
}

/// The mixed step with the coefficients already computed by
/// [`mixed_coefficients`], clipped by `clip` (validated by the caller) or
/// not: the checks, the `found_inf` check, the norm, the step (the C ABI's
/// path).
pub fn step_mixed_many_clipped_with<A: Algorithm>(
    config: &A,
    coefficients: &MixedCoefficients<A::Coefficients<f32>>,
    clip: Option<&ClipGradNorm>,
    tensors: &mut [MixedBuffers<'_>],
    options: &MixedOptions,
    parallelism: &Parallelism,
) -> Result<(StepOutcome, Option<ClipReport>), Error>
where
    A::Coefficients<f32>: MixedKernel,
{
    // Tensor `i`'s stochastic-rounding positions continue those of the tensors before it.
    let mut offset = 0u64;
    let mut checked = Vec::with_capacity(tensors.len());
    for (index, b) in tensors.iter_mut().enumerate() {
        let mut piece = b.reborrow();
        piece.position = piece.position.wrapping_add(offset);
        offset = offset.wrapping_add(piece.len() as u64);
        checked.push(check(config, piece).map_err(|e| Error::Tensor { index, error: Box::new(e) })?);
    }
    if options.skip_non_finite && any_non_finite(&mut checked, coefficients.grad_scale, parallelism) {
        return Ok((StepOutcome::SkippedNonFinite, None));
    }
    let mut clipped = *coefficients;
    let report = match clip {
        Some(clip) => {
            let grads: Vec<NormSlice<'_>> = checked.iter().map(|b| NormSlice::from(&b.get().grad)).collect();
            let unscale = f64::from(coefficients.grad_scale);
            let report = ClipReport::new(clip, sum_squares_many(&grads, parallelism).sqrt() * unscale);
            if report.skipped {
                return Ok((StepOutcome::SkippedNonFinite, Some(report)));
            }
            clipped.grad_scale = (unscale * report.coefficient) as f32;
            Some(report)
        }
        None => None,
    };
    let coefficients = &clipped;
    let total: usize = checked.iter().map(|b| b.len()).sum();
    let kept = (0..A::STATE.len()).filter(|&i| config.keeps(i)).count();
    // The traffic of the heaviest layout: the driver's split decision only needs its order of magnitude.
    let traffic = checked
        .iter()
        .map(|b| mixed_bytes_per_element(&b.facts(), kept, options.zero_grad))
        .max()
        .unwrap_or(0);
    drive_many(checked, total, traffic, parallelism, |b| fused_optim_kernels::mixed_checked(b, coefficients));
    Ok((StepOutcome::Applied, report))
}

/// One mixed-precision Adam step ([`step_mixed`] over Adam's named buffers).
pub fn adam_step_mixed(
    config: &AdamConfig,
    t: u64,
    buffers: MixedAdamBuffers<'_>,
    options: &MixedOptions,
    parallelism: &Parallelism,
) -> Result<StepOutcome, Error> {
    step_mixed(config, t, buffers.into(), options, parallelism)
}

/// One mixed-precision Adam step over a list of tensors ([`step_mixed_many`]
/// over Adam's named buffers).
pub fn adam_step_mixed_many(
    config: &AdamConfig,
    t: u64,
    tensors: &mut [MixedAdamBuffers<'_>],
    options: &MixedOptions,
    parallelism: &Parallelism,
) -> Result<StepOutcome, Error> {
    let coefficients = mixed_coefficients(config, t, options)?;
    adam_step_mixed_many_with(config, &coefficients, tensors, options, parallelism)
}

/// [`adam_step_mixed_many`] with the step's coefficients already computed
/// by [`mixed_coefficients`] ([`step_mixed_many_with`] over Adam's named
/// buffers).
pub fn adam_step_mixed_many_with(
    config: &AdamConfig,
    coefficients: &MixedAdamCoefficients,
    tensors: &mut [MixedAdamBuffers<'_>],
    options: &MixedOptions,
    parallelism: &Parallelism,
) -> Result<StepOutcome, Error> {
    let mut tensors: Vec<MixedBuffers<'_>> = tensors.iter_mut().map(|b| b.reborrow().into()).collect();
    step_mixed_many_with(config, coefficients, &mut tensors, options, parallelism)
}

/// [`adam_step_mixed_many`] with the gradients clipped by their global norm
/// first: [`step_mixed_many_clipped`] over Adam's named buffers (the norm,
/// the unscale factor and the step's gradient scale as documented there).
///
/// ```
/// use fused_optim::clip::ClipGradNorm;
/// use fused_optim::mixed::{adam_step_mixed_many_clipped, bf16, MixedAdamBuffers, MixedOptions, MixedSlice, StepOutcome};
/// use fused_optim::{AdamConfig, Parallelism};
/// let (mut p, mut m, mut v) = (vec![1.0f32; 2], vec![0.0f32; 2], vec![0.0f32; 2]);
/// let mut g = vec![bf16::from_f32(3.0 * 256.0), bf16::from_f32(4.0 * 256.0)]; // loss scale 256
/// let buffers = MixedAdamBuffers { param: MixedSlice::F32(&mut p), grad: MixedSlice::Bf16(&mut g),
///     exp_avg: MixedSlice::F32(&mut m), exp_avg_sq: MixedSlice::F32(&mut v), max_exp_avg_sq: None,
///     param_copy: None, position: 0 };
/// let options = MixedOptions { loss_scale: 256.0, ..MixedOptions::default() };
/// let (outcome, report) = adam_step_mixed_many_clipped(&AdamConfig::default(), 1, &ClipGradNorm::new(1.0),
///     &mut [buffers], &options, &Parallelism::Serial)?;
/// assert_eq!((outcome, report.unwrap().norm), (StepOutcome::Applied, 5.0));
/// # Ok::<(), fused_optim::Error>(())
/// ```
pub fn adam_step_mixed_many_clipped(
    config: &AdamConfig,
    t: u64,
    clip: &ClipGradNorm,
    tensors: &mut [MixedAdamBuffers<'_>],
    options: &MixedOptions,
    parallelism: &Parallelism,
) -> Result<(StepOutcome, Option<ClipReport>), Error> {
    let mut tensors: Vec<MixedBuffers<'_>> = tensors.iter_mut().map(|b| b.reborrow().into()).collect();
    step_mixed_many_clipped(config, t, clip, &mut tensors, options, parallelism)
}

/// [`adam_step_mixed_many_clipped`] with the coefficients already computed
/// by [`mixed_coefficients`] and `clip` validated by the caller, or no clip
/// ([`step_mixed_many_clipped_with`] over Adam's named buffers).
pub fn adam_step_mixed_many_clipped_with(
    config: &AdamConfig,
    coefficients: &MixedAdamCoefficients,
    clip: Option<&ClipGradNorm>,
    tensors: &mut [MixedAdamBuffers<'_>],
    options: &MixedOptions,
    parallelism: &Parallelism,
) -> Result<(StepOutcome, Option<ClipReport>), Error> {
    let mut tensors: Vec<MixedBuffers<'_>> = tensors.iter_mut().map(|b| b.reborrow().into()).collect();
    step_mixed_many_clipped_with(config, coefficients, clip, &mut tensors, options, parallelism)
}

/// One mixed-precision Lion step: [`step_mixed`] for a [`LionConfig`], the
/// state slot 0 being `exp_avg` (lists of tensors: [`step_mixed_many`]).
pub fn lion_step_mixed(
    config: &LionConfig,
    t: u64,
    buffers: MixedBuffers<'_>,
    options: &MixedOptions,
    parallelism: &Parallelism,
) -> Result<StepOutcome, Error> {
    step_mixed(config, t, buffers, options, parallelism)
}

/// One mixed-precision SGD step: [`step_mixed`] for an [`SgdConfig`], the
/// state slot 0 being `momentum_buffer` (given exactly when momentum is on;
/// on step `t = 1` it is written, not read; lists of tensors:
/// [`step_mixed_many`]).
pub fn sgd_step_mixed(
    config: &SgdConfig,
    t: u64,
    buffers: MixedBuffers<'_>,
    options: &MixedOptions,
    parallelism: &Parallelism,
) -> Result<StepOutcome, Error> {
    step_mixed(config, t, buffers, options, parallelism)
}

/// How an optimizer stores each of its state buffers (`exp_avg`,
/// `exp_avg_sq`, ...): the arithmetic is `f32` in every format, the format
/// is what the buffers keep between steps, and so what they cost in memory
/// ([`bytes_per_slot`](Self::bytes_per_slot), [`state_bytes_per_param`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StateFormat {
    /// `f32` elements: 4 bytes per element and buffer.
    F32,
    /// `bf16` elements (issue 18's lean state): 2 bytes per element and
    /// buffer, rounded to nearest even or stochastically
    /// ([`MixedOptions::stochastic_rounding`]).
    Bf16,
    /// 8-bit blockwise quantization ([`crate::quantized`]): one byte per
    /// element and an `f32` scale per block of
    /// [`QUANT_BLOCK`](crate::quantized::QUANT_BLOCK) elements, `1 + 4/256`
    /// bytes per element and buffer.
    Int8,
}

impl StateFormat {
    /// Every format, in declaration order.
    pub const ALL: [StateFormat; 3] = [StateFormat::F32, StateFormat::Bf16, StateFormat::Int8];

    /// Bytes one element of one state buffer takes, scales included: 4, 2,
    /// `1 + 4/QUANT_BLOCK`.
    pub fn bytes_per_slot(self) -> f64 {
        match self {
            StateFormat::F32 => 4.0,
            StateFormat::Bf16 => 2.0,
            StateFormat::Int8 => 1.0 + 4.0 / fused_optim_kernels::QUANT_BLOCK as f64,
        }
    }

    /// The storage type of a mixed-precision step's state buffers in this
    /// format (`None` for [`StateFormat::Int8`], which is no element type).
    pub fn dtype(self) -> Option<Dtype> {
        match self {
            StateFormat::F32 => Some(Dtype::F32),
            StateFormat::Bf16 => Some(Dtype::Bf16),
            StateFormat::Int8 => None,
        }
    }

    /// The format whose buffers hold elements of `dtype` (`None` for `f16`:
    /// no step keeps its state in `f16`).
    pub fn from_dtype(dtype: Dtype) -> Option<StateFormat> {
        match dtype {
            Dtype::F32 => Some(StateFormat::F32),
            Dtype::Bf16 => Some(StateFormat::Bf16),
            Dtype::F16 => None,
        }
    }

    /// Lower-case name: `"f32"`, `"bf16"`, `"int8"`.
    pub fn name(self) -> &'static str {
        match self {
            StateFormat::F32 => "f32",
            StateFormat::Bf16 => "bf16",
            StateFormat::Int8 => "int8",
        }
    }
}

impl std::fmt::Display for StateFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// State bytes per parameter of the algorithm `config` describes, its state
/// buffers kept in `format`: the number of buffers its options keep times
/// [`StateFormat::bytes_per_slot`]. Adam: 8 in `f32`, 4 in `bf16`,
/// `2 + 8/256` in 8-bit (AMSGrad: 12, 6, `3 + 12/256`); Lion: 4, 2, `1 + 4/256`.
///
/// ```
/// use fused_optim::mixed::{state_bytes_per_param, StateFormat};
/// use fused_optim::{AdamConfig, LionConfig};
/// assert_eq!(state_bytes_per_param(&AdamConfig::adamw(), StateFormat::F32), 8.0);
/// assert_eq!(state_bytes_per_param(&AdamConfig::adamw(), StateFormat::Bf16), 4.0);
/// assert_eq!(state_bytes_per_param(&AdamConfig::adamw(), StateFormat::Int8), 2.0 + 8.0 / 256.0);
/// assert_eq!(state_bytes_per_param(&LionConfig::default(), StateFormat::Bf16), 2.0);
/// ```
pub fn state_bytes_per_param<A: Algorithm>(config: &A, format: StateFormat) -> f64 {
    let kept = (0..A::STATE.len()).filter(|&i| config.keeps(i)).count();
    kept as f64 * format.bytes_per_slot()
}

/// One owned state buffer of a mixed-precision optimizer.
#[derive(Clone, Debug, PartialEq)]
pub enum StateBuffer {
    /// `f32` elements.
    F32(Vec<f32>),
    /// `bf16` elements.
    Bf16(Vec<bf16>),
    /// `f16` elements.
    F16(Vec<f16>),
}

impl StateBuffer {
    /// `len` zeros of `dtype`.
    pub fn zeros(dtype: Dtype, len: usize) -> StateBuffer {
        match dtype {
            Dtype::F32 => StateBuffer::F32(vec![0.0; len]),
            Dtype::Bf16 => StateBuffer::Bf16(vec![bf16::ZERO; len]),
            Dtype::F16 => StateBuffer::F16(vec![f16::ZERO; len]),
        }
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        match self {
            StateBuffer::F32(_) => Dtype::F32,
            StateBuffer::Bf16(_) => Dtype::Bf16,
            StateBuffer::F16(_) => Dtype::F16,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            StateBuffer::F32(v) => v.len(),
            StateBuffer::Bf16(v) => v.len(),
            StateBuffer::F16(v) => v.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements, as a kernel buffer.
    pub fn slice(&mut self) -> MixedSlice<'_> {
        match self {
            StateBuffer::F32(v) => MixedSlice::F32(v),
            StateBuffer::Bf16(v) => MixedSlice::Bf16(v),
            StateBuffer::F16(v) => MixedSlice::F16(v),
        }
    }
}

/// Mixed-precision Adam owning its state (in `f32` or `bf16`) and counting
/// its steps: a step the `found_inf` check skips does not count. Any
/// supported layout of parameter and gradient steps it: `f32` master
/// weights and gradients with `bf16` state (half the state's bytes, see
/// [`state_bytes_per_param`](Self::state_bytes_per_param)) as well as `bf16`
/// parameters. Checkpoints: [`save`](Self::save), [`load`](Self::load).
///
/// ```
/// use fused_optim::mixed::{bf16, Dtype, MixedAdam, MixedOptions, MixedSlice, StepOutcome};
/// use fused_optim::AdamConfig;
/// let options = MixedOptions { loss_scale: 256.0, ..MixedOptions::default() };
/// let mut opt = MixedAdam::new(AdamConfig::adamw(), options, Dtype::F32, 4)?;
/// let mut master = vec![1.0f32; 4];
/// let mut grad = vec![bf16::from_f32(256.0); 4];
/// assert_eq!(opt.step(MixedSlice::F32(&mut master), MixedSlice::Bf16(&mut grad), None)?, StepOutcome::Applied);
/// grad[2] = bf16::INFINITY; // an overflowed gradient: the step is skipped and not counted
/// let before = master.clone();
/// assert_eq!(opt.step(MixedSlice::F32(&mut master), MixedSlice::Bf16(&mut grad), None)?, StepOutcome::SkippedNonFinite);
/// assert_eq!((opt.steps(), master), (1, before));
/// # Ok::<(), fused_optim::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct MixedAdam {
    pub(crate) config: AdamConfig,
    pub(crate) options: MixedOptions,
    pub(crate) exp_avg: StateBuffer,
    pub(crate) exp_avg_sq: StateBuffer,
    pub(crate) max_exp_avg_sq: Option<StateBuffer>,
    pub(crate) len: usize,
    pub(crate) steps: u64,
    pub(crate) parallelism: Parallelism,
    pub(crate) clip: Option<ClipGradNorm>,
    pub(crate) last_clip: Option<ClipReport>,
}

impl MixedAdam {
    /// An optimizer for `len` parameters with zeroed state of `state` type
    /// (`f32` or `bf16`: no layout keeps its state in `f16`).
    pub fn new(config: AdamConfig, options: MixedOptions, state: Dtype, len: usize) -> Result<Self, Error> {
        mixed_coefficients(&config, 1, &options)?;
        if state == Dtype::F16 {
            return Err(Error::UnsupportedStateType(state));
        }
        Ok(MixedAdam {
            config,
            options,
            exp_avg: StateBuffer::zeros(state, len),
            exp_avg_sq: StateBuffer::zeros(state, len),
            max_exp_avg_sq: config.amsgrad.then(|| StateBuffer::zeros(state, len)),
            len,
            steps: 0,
            parallelism: Parallelism::default(),
            clip: None,
            last_clip: None,
        })
    }

    /// Clips every step's unscaled gradient by its norm first (see
    /// [`adam_step_mixed_many_clipped`]), or, with `None`, stops clipping.
    ///
    /// ```
    /// use fused_optim::clip::ClipGradNorm;
    /// use fused_optim::mixed::{bf16, Dtype, MixedAdam, MixedOptions, MixedSlice};
    /// use fused_optim::AdamConfig;
    /// let options = MixedOptions { loss_scale: 256.0, ..MixedOptions::default() };
    /// let mut opt = MixedAdam::new(AdamConfig::default(), options, Dtype::F32, 2)?;
    /// opt.set_clip(Some(ClipGradNorm::new(1.0)))?;
    /// let mut master = vec![1.0f32; 2];
    /// let mut grad = vec![bf16::from_f32(3.0 * 256.0), bf16::from_f32(4.0 * 256.0)];
    /// opt.step(MixedSlice::F32(&mut master), MixedSlice::Bf16(&mut grad), None)?;
    /// assert_eq!(opt.last_clip().unwrap().norm, 5.0);
    /// # Ok::<(), fused_optim::Error>(())
    /// ```
    pub fn set_clip(&mut self, clip: Option<ClipGradNorm>) -> Result<(), Error> {
        if let Some(c) = &clip {
            c.validate()?;
        }
        self.clip = clip;
        Ok(())
    }

    /// The clipping the steps apply, if any.
    pub fn clip(&self) -> Option<&ClipGradNorm> {
        self.clip.as_ref()
    }

    /// What the last successful step's clipping found (`None` without
    /// clipping, and when the `found_inf` check skipped the step before the norm).
    pub fn last_clip(&self) -> Option<ClipReport> {
        self.last_clip
    }

    /// Sets the threads the steps may use (default: [`Parallelism::Global`]).
    pub fn with_parallelism(mut self, parallelism: Parallelism) -> Self {
        self.parallelism = parallelism;
        self
    }

    /// Sets the options (a new loss scale after an overflow, say).
    pub fn set_options(&mut self, options: MixedOptions) -> Result<(), Error> {
        mixed_coefficients(&self.config, self.steps.max(1), &options)?;
        self.options = options;
        Ok(())
    }

    /// The options.
    pub fn options(&self) -> &MixedOptions {
        &self.options
    }

    /// The hyperparameters.
    pub fn config(&self) -> &AdamConfig {
        &self.config
    }

    /// Steps applied so far (skipped steps do not count).
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Number of parameters the state is for.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an optimizer of no parameters.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The state buffers' storage type (`f32` or `bf16`).
    pub fn state_dtype(&self) -> Dtype {
        self.exp_avg.dtype()
    }

    /// The state buffers' format ([`StateFormat::F32`] or [`StateFormat::Bf16`]).
    pub fn state_format(&self) -> StateFormat {
        StateFormat::from_dtype(self.state_dtype()).expect("new refuses f16 state")
    }

    /// State bytes per parameter: 8 with `f32` state, 4 with `bf16`
    /// (AMSGrad: 12, 6); see [`state_bytes_per_param`](fn@state_bytes_per_param).
    ///
    /// ```
    /// use fused_optim::mixed::{Dtype, MixedAdam, MixedOptions};
    /// use fused_optim::AdamConfig;
    /// let lean = MixedAdam::new(AdamConfig::adamw(), MixedOptions::default(), Dtype::Bf16, 10)?;
    /// assert_eq!(lean.state_bytes_per_param(), 4.0);
    /// # Ok::<(), fused_optim::Error>(())
    /// ```
    pub fn state_bytes_per_param(&self) -> f64 {
        state_bytes_per_param(&self.config, self.state_format())
    }

    /// The state buffers: `exp_avg`, `exp_avg_sq` and, with AMSGrad, `max_exp_avg_sq`.
    pub fn state(&self) -> (&StateBuffer, &StateBuffer, Option<&StateBuffer>) {
        (&self.exp_avg, &self.exp_avg_sq, self.max_exp_avg_sq.as_ref())
    }

    /// One step: step number `steps() + 1`, counted only when applied. On
    /// error and when skipped nothing is written.
    pub fn step(
        &mut self,
        param: MixedSlice<'_>,
        grad: MixedSlice<'_>,
        param_copy: Option<MixedSlice<'_>>,
    ) -> Result<StepOutcome, Error> {
        let t = self.steps.checked_add(1).ok_or(Error::StepCountOverflow)?;
        let buffers = MixedAdamBuffers {
            param,
            grad,
            exp_avg: self.exp_avg.slice(),
            exp_avg_sq: self.exp_avg_sq.slice(),
            max_exp_avg_sq: self.max_exp_avg_sq.as_mut().map(StateBuffer::slice),
            param_copy,
            position: 0,
        };
        let outcome = match &self.clip {
            Some(clip) => {
                let tensors = &mut [buffers];
                let (outcome, report) = adam_step_mixed_many_clipped(
                    &self.config,
                    t,
                    clip,
                    tensors,
                    &self.options,
                    &self.parallelism,
                )
                .map_err(Error::without_tensor)?;
                self.last_clip = report;
                outcome
            }
            None => {
                self.last_clip = None;
                adam_step_mixed(&self.config, t, buffers, &self.options, &self.parallelism)?
            }
        };
        if outcome == StepOutcome::Applied {
            self.steps = t;
        }
        Ok(outcome)
    }
}
