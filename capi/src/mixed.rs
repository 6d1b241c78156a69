//! Mixed precision (see [`fused_optim_core::mixed`]): the C entry points of Adam, Lion and SGD over
//! `f32`, `bf16` and `f16` buffers, with loss-scale unscaling, the
//! `found_inf` skip, zero-grad, a narrow copy of the new parameters and
//! stochastic rounding.
//!
//! A buffer is a `void *` with an [`fo_dtype`] tag (a `uint32_t`, so an
//! unknown value is a refusal, `FO_ERROR_DTYPE`, never undefined behaviour).
//! `bf16` and `f16` elements are 16-bit words (`uint16_t` in C): the bits of
//! the value, as `half::bf16` and `half::f16` hold them.
//!
//! The checks, in order (the first failure is returned, nothing written):
//! a null config or options; the config, the loss scale and the step number;
//! then, if `count > 0`: a null tensor array; an unknown type tag; each
//! buffer of each nonempty tensor (null, misaligned for its type,
//! oversized); overlap between any two buffers of any tensors or `skipped`;
//! and last, by the Rust step ([`fused_optim_core::mixed::adam_step_mixed_many_with`]), a
//! combination of types without a kernel (`FO_ERROR_DTYPE`) and the AMSGrad
//! buffer against the option (`FO_ERROR_STATE_BUFFER`). Every buffer counts as written, the gradient included: the
//! step zeroes it with `zero_grad`, and it is handed to the kernels as a
//! mutable slice either way, so two tensors cannot share a gradient.

// The one-tensor C step takes each buffer, its type, the config, the options
// and the step as arguments, like the other one-tensor steps.
#![allow(clippy::too_many_arguments)]

use super::checks::{Span, copy_array, disjoint, span};
use super::clip::{record, take_armed};
use super::configs::{byte, flag, fo_adam_config, fo_lion_config, fo_sgd_config};
use super::many::{read, slice_mut};
use super::status::{fo_status, guard};
use super::threads::parallelism;
use fused_optim_core::clip::ClipReport;
use fused_optim_core::kernels::MAX_MIXED_STATE;
use fused_optim_core::mixed::{
    Dtype, MixedBuffers, MixedKernel, MixedOptions, MixedSlice, StepOutcome, bf16, f16, mixed_coefficients,
    step_mixed_many_clipped_with,
};
use fused_optim_core::{AdamConfig, Algorithm, LionConfig, SgdConfig};
use std::ffi::c_void;
use std::ptr::null_mut;

/// The element type of a mixed-precision buffer: `FO_DTYPE_F32`,
/// `FO_DTYPE_BF16` or `FO_DTYPE_F16`. Any other value is refused with
/// `FO_ERROR_DTYPE`.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct fo_dtype(pub u32);

/// `fo_dtype`: IEEE binary32 (`float`).
pub const FO_DTYPE_F32: fo_dtype = fo_dtype(1);
/// `fo_dtype`: bfloat16, the top 16 bits of a binary32 (`uint16_t` storage).
pub const FO_DTYPE_BF16: fo_dtype = fo_dtype(2);
/// `fo_dtype`: IEEE binary16 (`uint16_t` storage).
pub const FO_DTYPE_F16: fo_dtype = fo_dtype(3);

impl From<Dtype> for fo_dtype {
    fn from(d: Dtype) -> fo_dtype {
        match d {
            Dtype::F32 => FO_DTYPE_F32,
            Dtype::Bf16 => FO_DTYPE_BF16,
            Dtype::F16 => FO_DTYPE_F16,
        }
    }
}

/// `FO_ERROR_DTYPE` for an unknown tag.
impl TryFrom<fo_dtype> for Dtype {
    type Error = fo_status;
    fn try_from(d: fo_dtype) -> Result<Dtype, fo_status> {
        match d {
            FO_DTYPE_F32 => Ok(Dtype::F32),
            FO_DTYPE_BF16 => Ok(Dtype::Bf16),
            FO_DTYPE_F16 => Ok(Dtype::F16),
            _ => Err(fo_status::FO_ERROR_DTYPE),
        }
    }
}

/// The fused extras of a mixed-precision step (see `fo_mixed_options_default`).
/// Its options are `uint8_t` flags, as the configs' are: nonzero is on.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct fo_mixed_options {
    /// The loss scale the gradients carry (finite, > 0, with 1/loss_scale
    /// finite in f32): the step uses `g·(1/loss_scale)`, the factor rounded
    /// to f32.
    pub loss_scale: f64,
    /// The found_inf check (flag: nonzero is on): if any unscaled gradient
    /// of any tensor is infinite or NaN, skip the whole step, write nothing
    /// (not even the zeroed gradient), and report it through `skipped`.
    pub skip_non_finite: u8,
    /// Write +0 to every gradient element as the step reads it (flag:
    /// nonzero is on).
    pub zero_grad: u8,
    /// Round bf16 parameter and state stores stochastically, from `seed`
    /// (flag: nonzero is on; the same seed, step and positions give the same
    /// bits on every tier and thread count); 0: round to nearest even.
    pub stochastic_rounding: u8,
    /// The stochastic-rounding seed (read only with `stochastic_rounding`).
    pub seed: u64,
}

impl From<MixedOptions> for fo_mixed_options {
    fn from(o: MixedOptions) -> Self {
        let MixedOptions { loss_scale, skip_non_finite, zero_grad, stochastic_rounding } = o;
        fo_mixed_options {
            loss_scale,
            skip_non_finite: byte(skip_non_finite),
            zero_grad: byte(zero_grad),
            stochastic_rounding: byte(stochastic_rounding.is_some()),
            seed: stochastic_rounding.unwrap_or(0),
        }
    }
}

impl From<fo_mixed_options> for MixedOptions {
    fn from(o: fo_mixed_options) -> Self {
        let fo_mixed_options { loss_scale, skip_non_finite, zero_grad, stochastic_rounding, seed } = o;
        MixedOptions {
            loss_scale,
            skip_non_finite: flag(skip_non_finite),
            zero_grad: flag(zero_grad),
            stochastic_rounding: flag(stochastic_rounding).then_some(seed),
        }
    }
}

/// One tensor of a mixed-precision step: `len` elements in each buffer, of
/// the buffer's type. Supported types (param, grad, state, copy): f32 master
/// weights with an f32, bf16 or f16 gradient, f32 state and no copy or a
/// bf16 or f16 copy; f32 master weights and f32 gradient with bf16 state
/// and no copy (lean state: half the state's bytes; stochastic rounding
/// applies to the bf16 state); bf16 parameters and gradient with f32 or bf16
/// state; f16 parameters and gradient with f32 state. Other combinations are
/// refused with `FO_ERROR_DTYPE`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct fo_mixed_tensor {
    /// Parameters (`param_dtype`), updated in place.
    pub param: *mut c_void,
    /// Gradient (`grad_dtype`): read, and set to +0 with `zero_grad`.
    pub grad: *mut c_void,
    /// First moment (`state_dtype`), updated in place.
    pub exp_avg: *mut c_void,
    /// Second moment (`state_dtype`), updated in place.
    pub exp_avg_sq: *mut c_void,
    /// AMSGrad's running maximum (`state_dtype`): non-null exactly when the
    /// config's `amsgrad` is on (null means "not given", whatever `len`).
    pub max_exp_avg_sq: *mut c_void,
    /// Written with the new parameters rounded to nearest even
    /// (`copy_dtype`); null for no copy.
    pub param_copy: *mut c_void,
    /// Number of elements of every buffer.
    pub len: usize,
    /// Position of element 0 in the stochastic-rounding stream (0 for a whole
    /// tensor; a shard's offset in its tensor, so shards draw as the whole
    /// would). In a multi-tensor step, tensor `i` draws from `position` plus
    /// the lengths of the tensors before it.
    pub position: u64,
    /// The type of `param`.
    pub param_dtype: fo_dtype,
    /// The type of `grad`.
    pub grad_dtype: fo_dtype,
    /// The type of `exp_avg`, `exp_avg_sq` and `max_exp_avg_sq`.
    pub state_dtype: fo_dtype,
    /// The type of `param_copy` (read only when it is non-null).
    pub copy_dtype: fo_dtype,
}

/// A caller's buffer with a known element type.
#[derive(Clone, Copy)]
struct Buffer {
    ptr: *mut c_void,
    dtype: Dtype,
}

impl Buffer {
    fn new(ptr: *mut c_void, dtype: fo_dtype) -> Result<Buffer, fo_status> {
        Ok(Buffer { ptr, dtype: dtype.try_into()? })
    }

    /// A buffer given exactly when `ptr` is non-null (its type is read only then).
    fn optional(ptr: *mut c_void, dtype: fo_dtype) -> Result<Option<Buffer>, fo_status> {
        (!ptr.is_null()).then(|| Buffer::new(ptr, dtype)).transpose()
    }

    /// The checks of `span` for `n` elements of the buffer's type.
    fn span(self, n: usize) -> Result<Span, fo_status> {
        match self.dtype {
            Dtype::F32 => span(self.ptr.cast::<f32>(), n),
            Dtype::Bf16 => span(self.ptr.cast::<bf16>(), n),
            Dtype::F16 => span(self.ptr.cast::<f16>(), n),
        }
    }

    /// # Safety
    /// As for `many::slice_mut`: for `n > 0`, the buffer passed `span` and is
    /// valid for `n` elements, with no other live reference to that memory.
    unsafe fn slice<'a>(self, n: usize) -> MixedSlice<'a> {
        // SAFETY: the caller's contract; `ptr` holds elements of `dtype`.
        unsafe {
            match self.dtype {
                Dtype::F32 => MixedSlice::F32(slice_mut(self.ptr.cast(), n)),
                Dtype::Bf16 => MixedSlice::Bf16(slice_mut(self.ptr.cast(), n)),
                Dtype::F16 => MixedSlice::F16(slice_mut(self.ptr.cast(), n)),
            }
        }
    }
}

/// One tensor whose element types are known: the parameter, the gradient,
/// the algorithm's state buffers in its order (`None` when null), the copy.
struct Tensor {
    param: Buffer,
    grad: Buffer,
    state: [Option<Buffer>; MAX_MIXED_STATE],
    copy: Option<Buffer>,
    len: usize,
    position: u64,
}

impl Tensor {
    /// Adam's tensor. `FO_ERROR_DTYPE` for an unknown type. (Whether the
    /// combination has a kernel, and the AMSGrad buffer against the option,
    /// are the Rust step's checks, before it writes.)
    fn adam(t: &fo_mixed_tensor) -> Result<Tensor, fo_status> {
        let state = t.state_dtype;
        Ok(Tensor {
            param: Buffer::new(t.param, t.param_dtype)?,
            grad: Buffer::new(t.grad, t.grad_dtype)?,
            state: [
                Some(Buffer::new(t.exp_avg, state)?),
                Some(Buffer::new(t.exp_avg_sq, state)?),
                Buffer::optional(t.max_exp_avg_sq, state)?,
            ],
            copy: Buffer::optional(t.param_copy, t.copy_dtype)?,
            len: t.len,
            position: t.position,
        })
    }

    /// The one tensor of a C call that takes its buffers as arguments:
    /// `FO_ERROR_DTYPE` for an unknown type. `state` holds each slot's
    /// pointer (null for none) and whether the slot is always kept (then a
    /// null pointer is a buffer given as null, refused as such).
    fn one(
        (param, param_dtype): (*mut c_void, fo_dtype), (grad, grad_dtype): (*mut c_void, fo_dtype),
        (state, state_dtype, always): ([*mut c_void; MAX_MIXED_STATE], fo_dtype, [bool; MAX_MIXED_STATE]),
        (copy, copy_dtype): (*mut c_void, fo_dtype), len: usize, position: u64,
    ) -> Result<Vec<Tensor>, fo_status> {
        let mut slots = [None; MAX_MIXED_STATE];
        for (slot, (ptr, always)) in slots.iter_mut().zip(state.into_iter().zip(always)) {
            *slot = if always {
                Some(Buffer::new(ptr, state_dtype)?)
            } else {
                Buffer::optional(ptr, state_dtype)?
            };
        }
        Ok(vec![Tensor {
            param: Buffer::new(param, param_dtype)?,
            grad: Buffer::new(grad, grad_dtype)?,
            state: slots,
            copy: Buffer::optional(copy, copy_dtype)?,
            len,
            position,
        }])
    }

    /// Every buffer of a nonempty tensor, checked, as written spans.
    fn push_spans(&self, spans: &mut Vec<Span>) -> Result<(), fo_status> {
        if self.len > 0 {
            let optional = self.state.iter().chain([&self.copy]).flatten();
            for b in [&self.param, &self.grad].into_iter().chain(optional) {
                spans.push(b.span(self.len)?.written());
            }
        }
        Ok(())
    }

    /// # Safety
    /// Every buffer passed `push_spans`, is valid for `len` elements, and
    /// shares no byte with any other buffer of any live reference.
    unsafe fn buffers<'a>(&self) -> MixedBuffers<'a> {
        let n = self.len;
        // SAFETY: the caller's contract, for each buffer.
        let slice = |b: Buffer| unsafe { b.slice(n) };
        MixedBuffers {
            param: slice(self.param),
            grad: slice(self.grad),
            state: self.state.map(|b| b.map(slice)),
            param_copy: self.copy.map(slice),
            position: self.position,
        }
    }
}

/// One mixed-precision step of `count` tensors, for every algorithm: reads
/// the config (converted to `A` by `to_config`) and the options, validates them, builds
/// the tensors with `tensor` (which reads the caller's descriptions), checks
/// every buffer and their overlap, steps, and writes `skipped`.
///
/// # Safety
/// `config`, `options` null or valid; `skipped` null or valid for a write;
/// `tensors`, given `count`, returns tensors whose every non-null buffer is
/// valid for reads and writes of its tensor's `len` elements of its type.
unsafe fn step_c<C: Copy, A: Algorithm>(
    config: *const C, to_config: fn(C) -> Result<A, fo_status>, options: *const fo_mixed_options, step: u64,
    skipped: *mut bool, tensors: impl FnOnce() -> Result<Vec<Tensor>, fo_status>,
) -> fo_status
where
    A::Coefficients<f32>: MixedKernel,
{
    guard(|| {
        // Clipping armed for this call (`fo_clip_next_step`) is taken now,
        // whatever the call then returns.
        let clip = take_armed();
        let run = || -> Result<StepOutcome, fo_status> {
            // SAFETY: each is null or valid (the caller's contract).
            let (config, options) = unsafe { (read(config)?, read(options)?) };
            let (config, options) = (to_config(config)?, MixedOptions::from(options));
            let coefficients = mixed_coefficients(&config, step, &options)?;
            let tensors = tensors()?;
            let mut spans = Vec::with_capacity((3 + MAX_MIXED_STATE) * tensors.len() + 1);
            if !tensors.is_empty() {
                if !skipped.is_null() {
                    spans.push(span(skipped.cast_const(), 1)?.written());
                }
                for t in &tensors {
                    t.push_spans(&mut spans)?;
                }
                disjoint(&mut spans)?;
            }
            // SAFETY: every buffer of a nonempty tensor passed `span` and is
            // valid for its tensor's length (the caller's contract); no two
            // buffers of any tensors, nor `skipped`, share a byte, so these
            // are the only references to that memory. Empty tensors'
            // pointers are not read.
            let mut buffers: Vec<MixedBuffers<'_>> = tensors.iter().map(|t| unsafe { t.buffers() }).collect();
            // The step, clipped when armed (an empty list too: its norm is
            // 0); a clipped step's report recorded (a `found_inf` skip
            // before the norm: no norm, skipped).
            let (outcome, report) = step_mixed_many_clipped_with(
                &config,
                &coefficients,
                clip.as_ref(),
                &mut buffers,
                &options,
                &parallelism(),
            )?;
            record_clip(clip.is_some(), report);
            Ok(outcome)
        };
        // SAFETY: the caller's contract on `skipped`; `run` has returned, so
        // no slice of the step is alive.
        unsafe { finish(run(), skipped) }
    })
}

/// Records a clipped step's report for `fo_last_clip_report` (`clipped`:
/// clipping was armed; a `found_inf` skip before the norm: no norm, skipped).
pub(super) fn record_clip(clipped: bool, report: Option<ClipReport>) {
    if clipped {
        let skipped_before_norm = ClipReport { norm: f64::NAN, coefficient: f64::NAN, skipped: true };
        record(&report.unwrap_or(skipped_before_norm));
    }
}

/// A step's status: `FO_OK` with `*skipped` written (when non-null) after a
/// step that ran or was skipped, else the refusal's status.
///
/// # Safety
/// `skipped` is null or valid for a write, and no reference into it is alive.
pub(super) unsafe fn finish(result: Result<StepOutcome, fo_status>, skipped: *mut bool) -> fo_status {
    match result {
        Ok(outcome) => {
            if !skipped.is_null() {
                // SAFETY: non-null and valid for a write (the caller's contract).
                unsafe { skipped.write(outcome == StepOutcome::SkippedNonFinite) };
            }
            fo_status::FO_OK
        }
        Err(status) => status,
    }
}

/// The defaults of the fused extras: loss scale 1, the found_inf check on,
/// no zero-grad, round to nearest even.
#[unsafe(no_mangle)]
pub extern "C" fn fo_mixed_options_default() -> fo_mixed_options {
    MixedOptions::default().into()
}

/// One mixed-precision Adam / AdamW / AMSGrad step of `n` elements (the
/// fields of `fo_mixed_tensor`, as arguments): `param`, `exp_avg`,
/// `exp_avg_sq` (and `max_exp_avg_sq` with AMSGrad; null without) are
/// updated in place from `grad`, in f32 arithmetic, each stored in its type;
/// `param_copy` (null for none) receives the new parameters. `step` is the
/// step number, from 1. Returns `FO_OK`, or an error status and writes
/// nothing. On `FO_OK`, `*skipped` (if `skipped` is non-null) says whether
/// the found_inf check skipped the step, in which case nothing was written:
/// a framework then lowers its loss scale and does not advance `step`.
///
/// # Safety
/// Each non-null buffer must be valid for reads and writes of `n` elements
/// of its type for the whole call; `config` and `options` null or valid;
/// `skipped` null or valid for a write. Null, misaligned, overlapping and
/// oversized buffers and unknown types are detected and refused.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_adam_step_mixed(
    param: *mut c_void, param_dtype: fo_dtype, grad: *mut c_void, grad_dtype: fo_dtype, exp_avg: *mut c_void,
    exp_avg_sq: *mut c_void, max_exp_avg_sq: *mut c_void, state_dtype: fo_dtype, param_copy: *mut c_void,
    copy_dtype: fo_dtype, n: usize, position: u64, config: *const fo_adam_config,
    options: *const fo_mixed_options, step: u64, skipped: *mut bool,
) -> fo_status {
    let tensor = fo_mixed_tensor {
        param,
        grad,
        exp_avg,
        exp_avg_sq,
        max_exp_avg_sq,
        param_copy,
        len: n,
        position,
        param_dtype,
        grad_dtype,
        state_dtype,
        copy_dtype,
    };
    // SAFETY: the caller's contract, forwarded: a list of one tensor.
    unsafe { fo_adam_step_mixed_many(&tensor, 1, config, options, step, skipped) }
}

/// One mixed-precision Adam step over `count` tensors in one call (see
/// `fo_adam_step_mixed` and `fo_mixed_tensor`; each tensor has its own
/// types). One config, options and step number for all; the found_inf check
/// covers every tensor before any is written, so `*skipped` is for the whole
/// list. The same bits as stepping each tensor alone with its position
/// advanced by the lengths before it; the work is balanced across threads by
/// elements. Returns `FO_OK`, or an error status and writes nothing (no
/// buffer of any tensor may overlap another).
///
/// With clipping armed on the calling thread (`fo_clip_next_step`), the
/// unscaled gradients of every tensor are clipped by their global norm
/// first (`fused_optim::mixed::adam_step_mixed_many_clipped`, the generic
/// `step_mixed_many_clipped` over Adam's buffers); a step the
/// found_inf check skips reports `skipped` with a NaN norm.
///
/// # Safety
/// `tensors` must be valid for `count` reads; each non-null buffer in it
/// valid for reads and writes of its tensor's `len` elements of its type;
/// `config` and `options` null or valid; `skipped` null or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_adam_step_mixed_many(
    tensors: *const fo_mixed_tensor, count: usize, config: *const fo_adam_config,
    options: *const fo_mixed_options, step: u64, skipped: *mut bool,
) -> fo_status {
    let read_tensors = || -> Result<Vec<Tensor>, fo_status> {
        if count == 0 {
            return Ok(Vec::new());
        }
        // SAFETY: null or valid for `count` reads (the caller's contract);
        // `copy_array` refuses a null or misaligned one.
        let tensors = unsafe { copy_array(tensors, count) }?;
        tensors.iter().map(Tensor::adam).collect()
    };
    // SAFETY: the caller's contract, forwarded; the tensors are read only
    // after the config and the options passed.
    unsafe { step_c(config, AdamConfig::try_from, options, step, skipped, read_tensors) }
}

/// One mixed-precision Lion step of `n` elements, as `fo_adam_step_mixed`
/// with Lion's one state buffer: `param` and `exp_avg` (`state_dtype`) are
/// updated in place from `grad`, in f32 arithmetic, each stored in its
/// type; `param_copy` (null for none) receives the new parameters. The same
/// layouts, options, checks and `skipped` as `fo_adam_step_mixed`; clipping
/// armed on the calling thread (`fo_clip_next_step`) clips the unscaled
/// gradient first, as in `fo_adam_step_mixed_many`
/// (`fused_optim::mixed::step_mixed_many_clipped`).
///
/// # Safety
/// As `fo_adam_step_mixed`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_lion_step_mixed(
    param: *mut c_void, param_dtype: fo_dtype, grad: *mut c_void, grad_dtype: fo_dtype, exp_avg: *mut c_void,
    state_dtype: fo_dtype, param_copy: *mut c_void, copy_dtype: fo_dtype, n: usize, position: u64,
    config: *const fo_lion_config, options: *const fo_mixed_options, step: u64, skipped: *mut bool,
) -> fo_status {
    let state = ([exp_avg, null_mut(), null_mut()], state_dtype, [true, false, false]);
    let tensor = || {
        Tensor::one((param, param_dtype), (grad, grad_dtype), state, (param_copy, copy_dtype), n, position)
    };
    // SAFETY: the caller's contract, forwarded; the buffers are read only
    // after the config and the options passed.
    unsafe { step_c(config, |c| Ok(LionConfig::from(c)), options, step, skipped, tensor) }
}

/// One mixed-precision SGD step of `n` elements, as `fo_adam_step_mixed`
/// with SGD's one optional state buffer: `param` and `momentum_buffer`
/// (`state_dtype`; non-null exactly when the config's momentum is nonzero,
/// and on step 1 written, not read) are updated in place from `grad`, in
/// f32 arithmetic, each stored in its type; `param_copy` (null for none)
/// receives the new parameters. The same layouts, options, checks and
/// `skipped` as `fo_adam_step_mixed`; clipping armed on the calling thread
/// (`fo_clip_next_step`) clips the unscaled gradient first, as in
/// `fo_adam_step_mixed_many` (`fused_optim::mixed::step_mixed_many_clipped`).
///
/// # Safety
/// As `fo_adam_step_mixed`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_sgd_step_mixed(
    param: *mut c_void, param_dtype: fo_dtype, grad: *mut c_void, grad_dtype: fo_dtype,
    momentum_buffer: *mut c_void, state_dtype: fo_dtype, param_copy: *mut c_void, copy_dtype: fo_dtype,
    n: usize, position: u64, config: *const fo_sgd_config, options: *const fo_mixed_options, step: u64,
    skipped: *mut bool,
) -> fo_status {
    let state = ([momentum_buffer, null_mut(), null_mut()], state_dtype, [false; MAX_MIXED_STATE]);
    let tensor = || {
        Tensor::one((param, param_dtype), (grad, grad_dtype), state, (param_copy, copy_dtype), n, position)
    };
    // SAFETY: the caller's contract, forwarded; the buffers are read only
    // after the config and the options passed.
    unsafe { step_c(config, |c| Ok(SgdConfig::from(c)), options, step, skipped, tensor) }
}
