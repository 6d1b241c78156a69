//! Adam / AdamW / AMSGrad and AdaMax (the paper's two algorithms), and SGD
//! with momentum: the C entry points.

// A C step takes one pointer per buffer, the count, the config and the step:
// up to nine arguments, by design of the ABI.
#![allow(clippy::too_many_arguments)]

use super::configs::{fo_adam_config, fo_adamax_config, fo_sgd_config};
use super::many;
use super::status::fo_status;

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
    param: *mut f32, grad: *const f32, exp_avg: *mut f32, exp_avg_sq: *mut f32, max_exp_avg_sq: *mut f32,
    n: usize, config: *const fo_adam_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step(config, step, param, grad, [exp_avg, exp_avg_sq, max_exp_avg_sq], n) }
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
    param: *mut f32, grad: *const f32, exp_avg: *mut f32, exp_inf: *mut f32, n: usize,
    config: *const fo_adamax_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step(config, step, param, grad, [exp_avg, exp_inf], n) }
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
    param: *mut f64, grad: *const f64, exp_avg: *mut f64, exp_avg_sq: *mut f64, max_exp_avg_sq: *mut f64,
    n: usize, config: *const fo_adam_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step(config, step, param, grad, [exp_avg, exp_avg_sq, max_exp_avg_sq], n) }
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
    param: *mut f64, grad: *const f64, exp_avg: *mut f64, exp_inf: *mut f64, n: usize,
    config: *const fo_adamax_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step(config, step, param, grad, [exp_avg, exp_inf], n) }
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
    params: *const *mut f32, grads: *const *const f32, exp_avgs: *const *mut f32,
    exp_avg_sqs: *const *mut f32, max_exp_avg_sqs: *const *mut f32, lens: *const usize, count: usize,
    config: *const fo_adam_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe {
        many::step_many(config, step, params, grads, [exp_avgs, exp_avg_sqs, max_exp_avg_sqs], lens, count)
    }
}

/// One AdaMax step over `count` tensors of f32 in one call (see
/// `fo_adam_step_many_f32`). Returns `FO_OK`, or an error status and writes nothing.
///
/// # Safety
/// As for `fo_adam_step_many_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_adamax_step_many_f32(
    params: *const *mut f32, grads: *const *const f32, exp_avgs: *const *mut f32, exp_infs: *const *mut f32,
    lens: *const usize, count: usize, config: *const fo_adamax_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step_many(config, step, params, grads, [exp_avgs, exp_infs], lens, count) }
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
    params: *const *mut f64, grads: *const *const f64, exp_avgs: *const *mut f64,
    exp_avg_sqs: *const *mut f64, max_exp_avg_sqs: *const *mut f64, lens: *const usize, count: usize,
    config: *const fo_adam_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe {
        many::step_many(config, step, params, grads, [exp_avgs, exp_avg_sqs, max_exp_avg_sqs], lens, count)
    }
}

/// One AdaMax step over `count` tensors of f64 in one call (see
/// `fo_adam_step_many_f64`). Returns `FO_OK`, or an error status and writes nothing.
///
/// # Safety
/// As for `fo_adam_step_many_f64`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_adamax_step_many_f64(
    params: *const *mut f64, grads: *const *const f64, exp_avgs: *const *mut f64, exp_infs: *const *mut f64,
    lens: *const usize, count: usize, config: *const fo_adamax_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step_many(config, step, params, grads, [exp_avgs, exp_infs], lens, count) }
}

/// One SGD step of `n` elements of f32 (`torch.optim.SGD`): `param` (and
/// `momentum_buffer` when `config->momentum > 0`; null otherwise) is updated
/// in place from `grad`. `step` is the step number, from 1, and decides the
/// first step: at step 1 `momentum_buffer` is set to the gradient (what it
/// held is not read), at every later step it is decayed. Mirroring
/// PyTorch's state, pass 1 for a parameter without a buffer and 2
/// otherwise. Returns `FO_OK`, or an error status and writes nothing
/// (`FO_ERROR_STATE_BUFFER` for a `momentum_buffer` missing or given against
/// `config->momentum`; `FO_ERROR_HYPERPARAMETER` for Nesterov without
/// momentum or with dampening).
///
/// # Safety
/// As for `fo_adam_step_f32`: each non-null pointer valid for `n` elements,
/// `config` null or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_sgd_step_f32(
    param: *mut f32, grad: *const f32, momentum_buffer: *mut f32, n: usize, config: *const fo_sgd_config,
    step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step(config, step, param, grad, [momentum_buffer], n) }
}

/// One SGD step of `n` elements of f64 (see `fo_sgd_step_f32`).
///
/// # Safety
/// As for `fo_sgd_step_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_sgd_step_f64(
    param: *mut f64, grad: *const f64, momentum_buffer: *mut f64, n: usize, config: *const fo_sgd_config,
    step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step(config, step, param, grad, [momentum_buffer], n) }
}

/// One SGD step over `count` tensors of f32 in one call: tensor `i` has
/// `lens[i]` elements in `params[i]`, `grads[i]` (and `momentum_buffers[i]`
/// when `config->momentum > 0`; pass a null array otherwise). One config
/// and step number for all (step 1 is every tensor's first step, see
/// `fo_sgd_step_f32`); the same bits as stepping each tensor alone. Returns
/// `FO_OK`, or an error status and writes nothing.
///
/// # Safety
/// As for `fo_adam_step_many_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_sgd_step_many_f32(
    params: *const *mut f32, grads: *const *const f32, momentum_buffers: *const *mut f32, lens: *const usize,
    count: usize, config: *const fo_sgd_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step_many(config, step, params, grads, [momentum_buffers], lens, count) }
}

/// One SGD step over `count` tensors of f64 (see `fo_sgd_step_many_f32`).
///
/// # Safety
/// As for `fo_sgd_step_many_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_sgd_step_many_f64(
    params: *const *mut f64, grads: *const *const f64, momentum_buffers: *const *mut f64, lens: *const usize,
    count: usize, config: *const fo_sgd_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step_many(config, step, params, grads, [momentum_buffers], lens, count) }
}
