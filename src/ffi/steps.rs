//! The step functions and their configs.

// A C step takes one pointer per buffer, the count, the config and the step:
// eight arguments for Adam, by design of the ABI.
#![allow(clippy::too_many_arguments)]

use super::checks::{copy_array, disjoint, span};
use super::{fo_status, guard, parallelism};
use crate::{
    AdaMaxBuffers, AdaMaxConfig, AdamBuffers, AdamConfig, Float, WeightDecay, adam_step_many,
    adamax_step_many,
};
use std::slice::{from_raw_parts, from_raw_parts_mut};

/// `fo_adam_config.weight_decay_mode`: no weight decay.
pub const FO_WEIGHT_DECAY_NONE: u32 = 0;
/// `fo_adam_config.weight_decay_mode`: L2 penalty added to the gradient (Adam).
pub const FO_WEIGHT_DECAY_L2: u32 = 1;
/// `fo_adam_config.weight_decay_mode`: decoupled decay `p *= 1 − lr·wd` (AdamW).
pub const FO_WEIGHT_DECAY_DECOUPLED: u32 = 2;

/// Hyperparameters of Adam / AdamW / AMSGrad (see `fo_adam_config_default`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct fo_adam_config {
    /// Learning rate (finite, >= 0).
    pub lr: f64,
    /// β1, in [0, 1).
    pub beta1: f64,
    /// β2, in [0, 1).
    pub beta2: f64,
    /// ε (finite, >= 0).
    pub eps: f64,
    /// Weight decay coefficient (finite, >= 0), applied as `weight_decay_mode` says.
    pub weight_decay: f64,
    /// `FO_WEIGHT_DECAY_NONE`, `FO_WEIGHT_DECAY_L2` or `FO_WEIGHT_DECAY_DECOUPLED`.
    pub weight_decay_mode: u32,
    /// AMSGrad: the step needs a `max_exp_avg_sq` buffer.
    pub amsgrad: bool,
    /// Maximize instead of minimize.
    pub maximize: bool,
}

/// Hyperparameters of AdaMax (see `fo_adamax_config_default`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct fo_adamax_config {
    /// Learning rate (finite, >= 0).
    pub lr: f64,
    /// β1, in [0, 1).
    pub beta1: f64,
    /// β2, in [0, 1).
    pub beta2: f64,
    /// ε (finite, >= 0); 0 gives the paper's Algorithm 2.
    pub eps: f64,
    /// L2 weight decay coefficient (finite, >= 0).
    pub weight_decay: f64,
    /// Maximize instead of minimize.
    pub maximize: bool,
}

impl From<AdamConfig> for fo_adam_config {
    fn from(c: AdamConfig) -> Self {
        let (weight_decay, weight_decay_mode) = match c.weight_decay {
            WeightDecay::None => (0.0, FO_WEIGHT_DECAY_NONE),
            WeightDecay::L2(wd) => (wd, FO_WEIGHT_DECAY_L2),
            WeightDecay::Decoupled(wd) => (wd, FO_WEIGHT_DECAY_DECOUPLED),
        };
        fo_adam_config {
            lr: c.lr,
            beta1: c.betas.0,
            beta2: c.betas.1,
            eps: c.eps,
            weight_decay,
            weight_decay_mode,
            amsgrad: c.amsgrad,
            maximize: c.maximize,
        }
    }
}

impl TryFrom<fo_adam_config> for AdamConfig {
    type Error = fo_status;
    fn try_from(c: fo_adam_config) -> Result<Self, fo_status> {
        let weight_decay = match c.weight_decay_mode {
            FO_WEIGHT_DECAY_NONE => WeightDecay::None,
            FO_WEIGHT_DECAY_L2 => WeightDecay::L2(c.weight_decay),
            FO_WEIGHT_DECAY_DECOUPLED => WeightDecay::Decoupled(c.weight_decay),
            _ => return Err(fo_status::FO_ERROR_HYPERPARAMETER),
        };
        Ok(AdamConfig {
            lr: c.lr,
            betas: (c.beta1, c.beta2),
            eps: c.eps,
            weight_decay,
            amsgrad: c.amsgrad,
            maximize: c.maximize,
            ..AdamConfig::default()
        })
    }
}

impl From<AdaMaxConfig> for fo_adamax_config {
    fn from(c: AdaMaxConfig) -> Self {
        fo_adamax_config {
            lr: c.lr,
            beta1: c.betas.0,
            beta2: c.betas.1,
            eps: c.eps,
            weight_decay: c.weight_decay,
            maximize: c.maximize,
        }
    }
}

impl From<fo_adamax_config> for AdaMaxConfig {
    fn from(c: fo_adamax_config) -> Self {
        AdaMaxConfig {
            lr: c.lr,
            betas: (c.beta1, c.beta2),
            eps: c.eps,
            weight_decay: c.weight_decay,
            maximize: c.maximize,
            ..AdaMaxConfig::default()
        }
    }
}

/// PyTorch's `Adam` defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no weight decay.
#[unsafe(no_mangle)]
pub extern "C" fn fo_adam_config_default() -> fo_adam_config {
    AdamConfig::default().into()
}

/// PyTorch's `AdamW` defaults: Adam's, with decoupled weight decay 1e-2.
#[unsafe(no_mangle)]
pub extern "C" fn fo_adamw_config_default() -> fo_adam_config {
    AdamConfig::adamw().into()
}

/// PyTorch's `Adamax` defaults: lr 2e-3, betas (0.9, 0.999), eps 1e-8, no weight decay.
#[unsafe(no_mangle)]
pub extern "C" fn fo_adamax_config_default() -> fo_adamax_config {
    AdaMaxConfig::default().into()
}

/// Reads the config, or `FO_ERROR_NULL_POINTER`.
///
/// # Safety
/// `config` is null or points to a valid value.
unsafe fn read<C: Copy>(config: *const C) -> Result<C, fo_status> {
    // SAFETY: non-null, and valid by the caller's contract.
    unsafe { config.as_ref() }.copied().ok_or(fo_status::FO_ERROR_NULL_POINTER)
}

fn status(result: Result<(), fo_status>) -> fo_status {
    result.err().unwrap_or(fo_status::FO_OK)
}

/// One tensor's step is the multi-tensor step of a list of one: the same
/// checks, the same slices, the same bits.
///
/// # Safety
/// See `fo_adam_step_f32`.
unsafe fn adam<T: Float>(
    param: *mut T,
    grad: *const T,
    exp_avg: *mut T,
    exp_avg_sq: *mut T,
    max_exp_avg_sq: *mut T,
    n: usize,
    config: *const fo_adam_config,
    step: u64,
) -> fo_status {
    let max = [max_exp_avg_sq];
    // A null AMSGrad pointer is a null AMSGrad array: "no buffer".
    let max = if max_exp_avg_sq.is_null() { std::ptr::null() } else { max.as_ptr() };
    // SAFETY: each array holds one pointer with the caller's contract for `n` elements.
    unsafe { adam_many(&param, &grad, &exp_avg, &exp_avg_sq, max, &n, 1, config, step) }
}

/// As `adam`: the multi-tensor step of a list of one.
///
/// # Safety
/// See `fo_adamax_step_f32`.
unsafe fn adamax<T: Float>(
    param: *mut T,
    grad: *const T,
    exp_avg: *mut T,
    exp_inf: *mut T,
    n: usize,
    config: *const fo_adamax_config,
    step: u64,
) -> fo_status {
    // SAFETY: each array holds one pointer with the caller's contract for `n` elements.
    unsafe { adamax_many(&param, &grad, &exp_avg, &exp_inf, &n, 1, config, step) }
}

/// A slice from a checked pointer, empty (and unread) for `n == 0`.
///
/// # Safety
/// For `n > 0`, `ptr` passed `span` and is valid for `n` elements, with no
/// other live reference to that memory.
unsafe fn slice_mut<'a, T>(ptr: *mut T, n: usize) -> &'a mut [T] {
    // SAFETY: the caller's contract.
    if n == 0 { &mut [] } else { unsafe { from_raw_parts_mut(ptr, n) } }
}

/// # Safety
/// See `slice_mut`; shared.
unsafe fn slice<'a, T>(ptr: *const T, n: usize) -> &'a [T] {
    // SAFETY: the caller's contract.
    if n == 0 { &[] } else { unsafe { from_raw_parts(ptr, n) } }
}

/// # Safety
/// See `fo_adam_step_many_f32`.
unsafe fn adam_many<T: Float>(
    params: *const *mut T,
    grads: *const *const T,
    exp_avgs: *const *mut T,
    exp_avg_sqs: *const *mut T,
    max_exp_avg_sqs: *const *mut T,
    lens: *const usize,
    count: usize,
    config: *const fo_adam_config,
    step: u64,
) -> fo_status {
    guard(|| {
        status((|| {
            // SAFETY: forwarded from the caller.
            let config = AdamConfig::try_from(unsafe { read(config) }?)?;
            config.coefficients::<T>(step)?;
            if config.amsgrad == max_exp_avg_sqs.is_null() {
                return Err(fo_status::FO_ERROR_AMSGRAD_BUFFER);
            }
            if count == 0 {
                return Ok(());
            }
            // SAFETY: each array is valid for `count` reads (the caller's contract).
            let (p, g, m, v, lens) = unsafe {
                (
                    copy_array(params, count)?,
                    copy_array(grads, count)?,
                    copy_array(exp_avgs, count)?,
                    copy_array(exp_avg_sqs, count)?,
                    copy_array(lens, count)?,
                )
            };
            // SAFETY: as above, when AMSGrad is on (the array is then non-null).
            let x = if config.amsgrad { unsafe { copy_array(max_exp_avg_sqs, count)? } } else { Vec::new() };
            let mut spans = Vec::with_capacity(count * 5);
            for (i, &n) in lens.iter().enumerate().filter(|(_, n)| **n > 0) {
                spans.extend([
                    span(p[i], n)?.written(),
                    span(g[i], n)?,
                    span(m[i], n)?.written(),
                    span(v[i], n)?.written(),
                ]);
                if config.amsgrad {
                    spans.push(span(x[i], n)?.written());
                }
            }
            disjoint(&mut spans)?;
            // SAFETY: every nonempty buffer is non-null, aligned, in range
            // (checked above) and valid for `n` elements (the caller's
            // contract), and no two buffers of any tensors overlap.
            let mut tensors: Vec<AdamBuffers<'_, T>> = (0..count)
                .map(|i| unsafe {
                    AdamBuffers {
                        param: slice_mut(p[i], lens[i]),
                        grad: slice(g[i], lens[i]),
                        exp_avg: slice_mut(m[i], lens[i]),
                        exp_avg_sq: slice_mut(v[i], lens[i]),
                        max_exp_avg_sq: config.amsgrad.then(|| slice_mut(x[i], lens[i])),
                    }
                })
                .collect();
            adam_step_many(&config, step, &mut tensors, &parallelism()).map_err(fo_status::from)
        })())
    })
}

/// # Safety
/// See `fo_adamax_step_many_f32`.
unsafe fn adamax_many<T: Float>(
    params: *const *mut T,
    grads: *const *const T,
    exp_avgs: *const *mut T,
    exp_infs: *const *mut T,
    lens: *const usize,
    count: usize,
    config: *const fo_adamax_config,
    step: u64,
) -> fo_status {
    guard(|| {
        status((|| {
            // SAFETY: forwarded from the caller.
            let config = AdaMaxConfig::from(unsafe { read(config) }?);
            config.coefficients::<T>(step)?;
            if count == 0 {
                return Ok(());
            }
            // SAFETY: each array is valid for `count` reads (the caller's contract).
            let (p, g, m, u, lens) = unsafe {
                (
                    copy_array(params, count)?,
                    copy_array(grads, count)?,
                    copy_array(exp_avgs, count)?,
                    copy_array(exp_infs, count)?,
                    copy_array(lens, count)?,
                )
            };
            let mut spans = Vec::with_capacity(count * 4);
            for (i, &n) in lens.iter().enumerate().filter(|(_, n)| **n > 0) {
                spans.extend([
                    span(p[i], n)?.written(),
                    span(g[i], n)?,
                    span(m[i], n)?.written(),
                    span(u[i], n)?.written(),
                ]);
            }
            disjoint(&mut spans)?;
            // SAFETY: as in `adam_many`.
            let mut tensors: Vec<AdaMaxBuffers<'_, T>> = (0..count)
                .map(|i| unsafe {
                    AdaMaxBuffers {
                        param: slice_mut(p[i], lens[i]),
                        grad: slice(g[i], lens[i]),
                        exp_avg: slice_mut(m[i], lens[i]),
                        exp_inf: slice_mut(u[i], lens[i]),
                    }
                })
                .collect();
            adamax_step_many(&config, step, &mut tensors, &parallelism()).map_err(fo_status::from)
        })())
    })
}

// Written out per type (no macro): cbindgen reads these signatures as they stand.

/// One Adam / AdamW / AMSGrad step of `n` elements of f32: `param`,
/// `exp_avg`, `exp_avg_sq` (and `max_exp_avg_sq` with AMSGrad; null
/// without) are updated in place from `grad`. `step` is the step number,
/// from 1. Returns `FO_OK`, or an error status and writes nothing.
///
/// # Safety
/// Each non-null pointer must be valid for reads and writes of `n` elements
/// (`grad`: reads) for the whole call, and `config` must be null or point to
/// a valid `fo_adam_config`. Null, misaligned, overlapping and oversized
/// buffers are detected and refused.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_adam_step_f32(
    param: *mut f32,
    grad: *const f32,
    exp_avg: *mut f32,
    exp_avg_sq: *mut f32,
    max_exp_avg_sq: *mut f32,
    n: usize,
    config: *const fo_adam_config,
    step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { adam::<f32>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n, config, step) }
}

/// One AdaMax step of `n` elements of f32: `param`, `exp_avg` and `exp_inf`
/// are updated in place from `grad`. `step` is the step number, from 1.
/// Returns `FO_OK`, or an error status and writes nothing.
///
/// # Safety
/// As for `fo_adam_step_f32`: each non-null pointer valid for `n` elements,
/// `config` null or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_adamax_step_f32(
    param: *mut f32,
    grad: *const f32,
    exp_avg: *mut f32,
    exp_inf: *mut f32,
    n: usize,
    config: *const fo_adamax_config,
    step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { adamax::<f32>(param, grad, exp_avg, exp_inf, n, config, step) }
}

/// One Adam / AdamW / AMSGrad step of `n` elements of f64: `param`,
/// `exp_avg`, `exp_avg_sq` (and `max_exp_avg_sq` with AMSGrad; null
/// without) are updated in place from `grad`. `step` is the step number,
/// from 1. Returns `FO_OK`, or an error status and writes nothing.
///
/// # Safety
/// Each non-null pointer must be valid for reads and writes of `n` elements
/// (`grad`: reads) for the whole call, and `config` must be null or point to
/// a valid `fo_adam_config`. Null, misaligned, overlapping and oversized
/// buffers are detected and refused.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_adam_step_f64(
    param: *mut f64,
    grad: *const f64,
    exp_avg: *mut f64,
    exp_avg_sq: *mut f64,
    max_exp_avg_sq: *mut f64,
    n: usize,
    config: *const fo_adam_config,
    step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { adam::<f64>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n, config, step) }
}

/// One AdaMax step of `n` elements of f64: `param`, `exp_avg` and `exp_inf`
/// are updated in place from `grad`. `step` is the step number, from 1.
/// Returns `FO_OK`, or an error status and writes nothing.
///
/// # Safety
/// As for `fo_adam_step_f64`: each non-null pointer valid for `n` elements,
/// `config` null or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_adamax_step_f64(
    param: *mut f64,
    grad: *const f64,
    exp_avg: *mut f64,
    exp_inf: *mut f64,
    n: usize,
    config: *const fo_adamax_config,
    step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { adamax::<f64>(param, grad, exp_avg, exp_inf, n, config, step) }
}

/// One Adam / AdamW / AMSGrad step over `count` tensors of f32 in one call:
/// tensor `i` has `lens[i]` elements in `params[i]`, `grads[i]`,
/// `exp_avgs[i]`, `exp_avg_sqs[i]` (and `max_exp_avg_sqs[i]` with AMSGrad;
/// pass a null array without). One config and step number for all. The same
/// bits as stepping each tensor alone; the work is balanced across threads by
/// elements. Returns `FO_OK`, or an error status and writes nothing (no
/// buffer of any tensor may overlap another).
///
/// # Safety
/// Each array must be valid for `count` reads; each non-null buffer pointer
/// valid for `lens[i]` elements; `config` null or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_adam_step_many_f32(
    params: *const *mut f32,
    grads: *const *const f32,
    exp_avgs: *const *mut f32,
    exp_avg_sqs: *const *mut f32,
    max_exp_avg_sqs: *const *mut f32,
    lens: *const usize,
    count: usize,
    config: *const fo_adam_config,
    step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe {
        adam_many::<f32>(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, lens, count, config, step)
    }
}

/// One AdaMax step over `count` tensors of f32 in one call (see
/// `fo_adam_step_many_f32`). Returns `FO_OK`, or an error status and writes nothing.
///
/// # Safety
/// As for `fo_adam_step_many_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_adamax_step_many_f32(
    params: *const *mut f32,
    grads: *const *const f32,
    exp_avgs: *const *mut f32,
    exp_infs: *const *mut f32,
    lens: *const usize,
    count: usize,
    config: *const fo_adamax_config,
    step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { adamax_many::<f32>(params, grads, exp_avgs, exp_infs, lens, count, config, step) }
}

/// One Adam / AdamW / AMSGrad step over `count` tensors of f64 in one call:
/// tensor `i` has `lens[i]` elements in `params[i]`, `grads[i]`,
/// `exp_avgs[i]`, `exp_avg_sqs[i]` (and `max_exp_avg_sqs[i]` with AMSGrad;
/// pass a null array without). One config and step number for all. The same
/// bits as stepping each tensor alone; the work is balanced across threads by
/// elements. Returns `FO_OK`, or an error status and writes nothing (no
/// buffer of any tensor may overlap another).
///
/// # Safety
/// Each array must be valid for `count` reads; each non-null buffer pointer
/// valid for `lens[i]` elements; `config` null or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_adam_step_many_f64(
    params: *const *mut f64,
    grads: *const *const f64,
    exp_avgs: *const *mut f64,
    exp_avg_sqs: *const *mut f64,
    max_exp_avg_sqs: *const *mut f64,
    lens: *const usize,
    count: usize,
    config: *const fo_adam_config,
    step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe {
        adam_many::<f64>(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, lens, count, config, step)
    }
}

/// One AdaMax step over `count` tensors of f64 in one call (see
/// `fo_adam_step_many_f64`). Returns `FO_OK`, or an error status and writes nothing.
///
/// # Safety
/// As for `fo_adam_step_many_f64`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_adamax_step_many_f64(
    params: *const *mut f64,
    grads: *const *const f64,
    exp_avgs: *const *mut f64,
    exp_infs: *const *mut f64,
    lens: *const usize,
    count: usize,
    config: *const fo_adamax_config,
    step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { adamax_many::<f64>(params, grads, exp_avgs, exp_infs, lens, count, config, step) }
}
