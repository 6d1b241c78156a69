//! 8-bit blockwise optimizer state: one byte per element and one `f32`
//! scale per block of [`QUANT_BLOCK`] elements for each state buffer, `f32`
//! parameters and gradients, `f32` arithmetic; for every algorithm with a
//! mixed-precision update (Adam / AdamW / AMSGrad, Lion, SGD with momentum).
//!
//! Adam's two `f32` moments take 8 bytes per parameter; here they take
//! `2 + 8/256` ([`state_bytes_per_param`] with [`StateFormat::Int8`]). The step is memory-bound, so the
//! smaller state is also a faster step: per element it moves 16 bytes
//! (parameter read and written, gradient read, two code bytes read and
//! written) instead of 28.
//!
//! The codes, the block size, the rounding and the NaN rules are the
//! kernels' [`spec::quantized`](mod@fused_optim_kernels::spec::quantized):
//! each step decodes a block, updates it in `f32`, finds the block's new
//! absmax and encodes it again, in one pass over memory, with the same bytes
//! on every tier and thread count (threads cut the tensors only at block
//! boundaries).
//!
//! The options are [`MixedOptions`]: a loss scale the gradients carry, the
//! `found_inf` check (skip the step, write nothing), zero-grad.
//! Stochastic rounding is refused: the codes round to nearest.
//!
//! ```
//! use fused_optim::quantized::QuantizedAdam;
//! use fused_optim::mixed::{state_bytes_per_param, MixedOptions, StateFormat, StepOutcome};
//! use fused_optim::AdamConfig;
//! let mut opt = QuantizedAdam::new(AdamConfig::adamw(), MixedOptions::default(), 1000)?;
//! let mut param = vec![1.0f32; 1000];
//! let mut grad = vec![0.5f32; 1000];
//! assert_eq!(opt.step(&mut param, &mut grad)?, StepOutcome::Applied);
//! assert!((param[0] - 0.99899).abs() < 1e-5);            // lr·(1 + wd) on the first step
//! let exp_avg = opt.state()[0].unwrap().dequantize();
//! assert_eq!(exp_avg[0], 0.05);                         // (1 − β1)·g, stored exactly
//! assert_eq!(state_bytes_per_param(opt.config(), StateFormat::Int8), 2.0 + 8.0 / 256.0);
//! assert_eq!(opt.state_bytes_per_param(), 2.0 + 8.0 / 256.0);
//! # Ok::<(), fused_optim::Error>(())
//! ```

use crate::Error;
use crate::algorithms::{AdamConfig, Algorithm, check_state_buffers};
use crate::clip::{ClipGradNorm, ClipReport};
use crate::mixed::{
    MixedOptions, StateFormat, StepOutcome, any_grad_non_finite, mixed_coefficients, state_bytes_per_param,
};
use crate::parallel::{Parallelism, drive_many, sum_squares_many};
use fused_optim_kernels::Reborrow;
pub use fused_optim_kernels::spec::quantized::{dequantize, quantize};
use fused_optim_kernels::{MAX_MIXED_STATE, MixedCoefficients, MixedKernel, MixedSlice, NormSlice};
pub use fused_optim_kernels::{
    MixedUpdate, QUANT_BLOCK, QuantizedBuffers, QuantizedCoefficients, QuantizedKernel, QuantizedSlot,
};

/// Scales one 8-bit state buffer of `len` elements keeps: one per block.
pub fn scales_len(len: usize) -> usize {
    len.div_ceil(QUANT_BLOCK)
}

/// Bytes one element's step reads and writes with `slots` 8-bit state
/// buffers: the parameter read and written, the gradient read (and written
/// with `zero_grad`), each code byte read and written (the scales, 8 bytes
/// per block and slot, are left out: 3% of the codes' traffic).
pub fn quantized_bytes_per_element(slots: usize, zero_grad: bool) -> usize {
    8 + if zero_grad { 8 } else { 4 } + 2 * slots
}

/// One owned 8-bit state buffer: the codes and the scales of its blocks.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizedState {
    codes: Vec<u8>,
    scales: Vec<f32>,
    signed: bool,
}

impl QuantizedState {
    /// The state of `len` zeros (every code 0, every scale 0), in the signed
    /// code (a moment such as `exp_avg`) or the unsigned one (`exp_avg_sq`).
    pub fn zeros(len: usize, signed: bool) -> Self {
        QuantizedState { codes: vec![0; len], scales: vec![0.0; scales_len(len)], signed }
    }

    /// `values` encoded as a step stores its state (block absmax, then the
    /// nearest code: [`spec::quantized::quantize`](fused_optim_kernels::spec::quantized::quantize)):
    /// how an `f32` state (a torch checkpoint's) is loaded.
    pub fn quantize(values: &[f32], signed: bool) -> Self {
        let mut state = QuantizedState::zeros(values.len(), signed);
        quantize(values, &mut state.codes, &mut state.scales, signed);
        state
    }

    /// Codes and scales as they are (a checkpoint's): the lengths must fit.
    pub fn from_parts(codes: Vec<u8>, scales: Vec<f32>, signed: bool) -> Result<Self, Error> {
        if scales.len() != scales_len(codes.len()) {
            return Err(Error::LengthMismatch {
                buffer: "scales",
                len: scales.len(),
                expected: scales_len(codes.len()),
            });
        }
        Ok(QuantizedState { codes, scales, signed })
    }

    /// The values the state holds, decoded to `f32` (`code value · scale`):
    /// what a torch checkpoint's `exp_avg` would hold.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.codes.len()];
        dequantize(&self.codes, &self.scales, self.signed, &mut out);
        out
    }

    /// One code byte per element.
    pub fn codes(&self) -> &[u8] {
        &self.codes
    }

    /// One scale (the block's absmax) per block of [`QUANT_BLOCK`] elements.
    pub fn scales(&self) -> &[f32] {
        &self.scales
    }

    /// True for the signed code.
    pub fn signed(&self) -> bool {
        self.signed
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// The state as a kernel buffer.
    pub fn slot(&mut self) -> QuantizedSlot<'_> {
        QuantizedSlot { codes: &mut self.codes, scales: &mut self.scales }
    }
}

/// The kernel's scalars for step `t`: those of the mixed-precision step
/// ([`mixed_coefficients`]), which must not ask for stochastic rounding.
pub fn quantized_coefficients<A: Algorithm>(
    config: &A,
    t: u64,
    options: &MixedOptions,
) -> Result<QuantizedCoefficients<A::Coefficients<f32>>, Error>
where
    A::Coefficients<f32>: MixedKernel + QuantizedKernel,
{
    if let Some(seed) = options.stochastic_rounding {
        return Err(Error::InvalidHyperparameter {
            name: "stochastic_rounding",
            value: seed as f64,
            expected: "None: 8-bit state rounds to the nearest code",
        });
    }
    let MixedCoefficients { algorithm, grad_scale, zero_grad, .. } = mixed_coefficients(config, t, options)?;
    Ok(QuantizedCoefficients { algorithm, grad_scale, zero_grad })
}

/// Equal lengths, the scales' lengths, and exactly the state buffers the
/// options keep; errors name the buffers by `A`'s names.
fn check<A: Algorithm>(config: &A, b: &QuantizedBuffers<'_>) -> Result<(), Error> {
    let n = b.param.len();
    let mismatch =
        |buffer: &'static str, len: usize, expected: usize| Error::LengthMismatch { buffer, len, expected };
    if b.grad.len() != n {
        return Err(mismatch("grad", b.grad.len(), n));
    }
    let mut given = [false; MAX_MIXED_STATE];
    for (slot, s) in b.state.iter().enumerate() {
        let Some(s) = s else { continue };
        given[slot] = true;
        let name = A::STATE.get(slot).map_or("state", |s| s.name);
        if slot >= A::STATE.len() {
            return Err(Error::UnexpectedState { buffer: name, option: A::NAME });
        }
        if s.codes.len() != n {
            return Err(mismatch(name, s.codes.len(), n));
        }
        if s.scales.len() != scales_len(n) {
            return Err(mismatch("scales", s.scales.len(), scales_len(n)));
        }
    }
    check_state_buffers(config, given)
}

/// One 8-bit-state step of the algorithm `config` describes over one
/// tensor ([`step_quantized_many`]).
pub fn step_quantized<A: Algorithm>(
    config: &A,
    t: u64,
    mut buffers: QuantizedBuffers<'_>,
    options: &MixedOptions,
    parallelism: &Parallelism,
) -> Result<StepOutcome, Error>
where
    A::Coefficients<f32>: MixedKernel + QuantizedKernel,
{
    step_quantized_many(config, t, None, std::slice::from_mut(&mut buffers), options, parallelism)
        .map(|(outcome, _)| outcome)
        .map_err(Error::without_tensor)
}

/// One 8-bit-state step over a list of tensors, balanced across threads by
/// whole blocks; optionally clipped by the gradients' global norm first
/// (see [`crate::clip`]: the norm of the unscaled gradients, the step then
/// scales each gradient by the coefficient inside). With
/// [`MixedOptions::skip_non_finite`] the `found_inf` check covers every
/// tensor before any is written. On error and when skipped nothing is written.
pub fn step_quantized_many<A: Algorithm>(
    config: &A,
    t: u64,
    clip: Option<&ClipGradNorm>,
    tensors: &mut [QuantizedBuffers<'_>],
    options: &MixedOptions,
    parallelism: &Parallelism,
) -> Result<(StepOutcome, Option<ClipReport>), Error>
where
    A::Coefficients<f32>: MixedKernel + QuantizedKernel,
{
    if let Some(clip) = clip {
        clip.validate()?;
    }
    let coefficients = quantized_coefficients(config, t, options)?;
    step_quantized_many_with(config, &coefficients, clip, tensors, options, parallelism)
}

/// [`step_quantized_many`] with the coefficients already computed by
/// [`quantized_coefficients`] and the clip (if any) validated (the C ABI's path).
pub fn step_quantized_many_with<A: Algorithm>(
    config: &A,
    coefficients: &QuantizedCoefficients<A::Coefficients<f32>>,
    clip: Option<&ClipGradNorm>,
    tensors: &mut [QuantizedBuffers<'_>],
    options: &MixedOptions,
    parallelism: &Parallelism,
) -> Result<(StepOutcome, Option<ClipReport>), Error>
where
    A::Coefficients<f32>: MixedKernel + QuantizedKernel,
{
    for (index, b) in tensors.iter().enumerate() {
        check(config, b).map_err(|e| Error::Tensor { index, error: Box::new(e) })?;
    }
    let scale = coefficients.grad_scale;
    if options.skip_non_finite && any_non_finite(tensors, scale, parallelism) {
        return Ok((StepOutcome::SkippedNonFinite, None));
    }
    let mut scaled = *coefficients;
    let report = match clip {
        Some(clip) => {
            let grads: Vec<NormSlice<'_>> = tensors.iter().map(|b| NormSlice::F32(b.grad)).collect();
            let unscale = f64::from(scale);
            let report = ClipReport::new(clip, sum_squares_many(&grads, parallelism).sqrt() * unscale);
            if report.skipped {
                return Ok((StepOutcome::SkippedNonFinite, Some(report)));
            }
            scaled.grad_scale = (unscale * report.coefficient) as f32;
            Some(report)
        }
        None => None,
    };
    let slots = (0..A::STATE.len()).filter(|&i| config.keeps(i)).count();
    let total = tensors.iter().map(|b| b.param.len()).sum();
    let pieces = tensors.iter_mut().map(|b| b.reborrow());
    let coefficients = &scaled;
    drive_many(pieces, total, quantized_bytes_per_element(slots, options.zero_grad), parallelism, |b| {
        fused_optim_kernels::quantized(b, coefficients)
    });
    Ok((StepOutcome::Applied, report))
}

/// True if any gradient of `tensors`, times `scale`, is infinite or NaN.
fn any_non_finite(tensors: &mut [QuantizedBuffers<'_>], scale: f32, parallelism: &Parallelism) -> bool {
    let total = tensors.iter().map(|b| b.param.len()).sum();
    let grads = tensors.iter_mut().map(|b| MixedSlice::F32(&mut *b.grad));
    any_grad_non_finite(grads, total, 4, scale, parallelism)
}

/// Adam (AdamW, AMSGrad) with 8-bit blockwise state, owning its state and
/// counting its steps: a step the `found_inf` check skips does not count.
#[derive(Clone, Debug)]
pub struct QuantizedAdam {
    config: AdamConfig,
    options: MixedOptions,
    state: [Option<QuantizedState>; MAX_MIXED_STATE],
    len: usize,
    steps: u64,
    parallelism: Parallelism,
    clip: Option<ClipGradNorm>,
    last_clip: Option<ClipReport>,
}

impl QuantizedAdam {
    /// An optimizer for `len` parameters with zeroed state: `exp_avg` in the
    /// signed code, `exp_avg_sq` (and AMSGrad's `max_exp_avg_sq`) in the unsigned one.
    pub fn new(config: AdamConfig, options: MixedOptions, len: usize) -> Result<Self, Error> {
        quantized_coefficients(&config, 1, &options)?;
        let state = [
            Some(QuantizedState::zeros(len, true)),
            Some(QuantizedState::zeros(len, false)),
            config.amsgrad.then(|| QuantizedState::zeros(len, false)),
        ];
        Ok(QuantizedAdam {
            config,
            options,
            state,
            len,
            steps: 0,
            parallelism: Parallelism::default(),
            clip: None,
            last_clip: None,
        })
    }

    /// Sets the threads the steps may use (default: [`Parallelism::Global`]).
    pub fn with_parallelism(mut self, parallelism: Parallelism) -> Self {
        self.parallelism = parallelism;
        self
    }

    /// Clips every step's unscaled gradient by its norm first, or, with `None`, stops clipping.
    pub fn set_clip(&mut self, clip: Option<ClipGradNorm>) -> Result<(), Error> {
        if let Some(c) = &clip {
            c.validate()?;
        }
        self.clip = clip;
        Ok(())
    }

    /// What the last successful step's clipping found.
    pub fn last_clip(&self) -> Option<ClipReport> {
        self.last_clip
    }

    /// Sets the options (a new loss scale after an overflow, say).
    pub fn set_options(&mut self, options: MixedOptions) -> Result<(), Error> {
        quantized_coefficients(&self.config, self.steps.max(1), &options)?;
        self.options = options;
        Ok(())
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

    /// State bytes per parameter: `2 + 8/256`, with AMSGrad `3 + 12/256`.
    pub fn state_bytes_per_param(&self) -> f64 {
        state_bytes_per_param(&self.config, StateFormat::Int8)
    }

    /// The state buffers: `exp_avg`, `exp_avg_sq` and, with AMSGrad, `max_exp_avg_sq`.
    pub fn state(&self) -> [Option<&QuantizedState>; MAX_MIXED_STATE] {
        self.state.each_ref().map(Option::as_ref)
    }

    /// One step: step number `steps() + 1`, counted only when applied. On
    /// error and when skipped nothing is written.
    pub fn step(&mut self, param: &mut [f32], grad: &mut [f32]) -> Result<StepOutcome, Error> {
        let t = self.steps.checked_add(1).ok_or(Error::StepCountOverflow)?;
        let buffers = QuantizedBuffers {
            param,
            grad,
            state: self.state.each_mut().map(|s| s.as_mut().map(QuantizedState::slot)),
        };
        let (outcome, report) = step_quantized_many(
            &self.config,
            t,
            self.clip.as_ref(),
            &mut [buffers],
            &self.options,
            &self.parallelism,
        )
        .map_err(Error::without_tensor)?;
        self.last_clip = report;
        if outcome == StepOutcome::Applied {
            self.steps = t;
        }
        Ok(outcome)
    }
}
