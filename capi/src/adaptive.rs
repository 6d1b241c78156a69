//! AdaGrad, RMSprop, AdaDelta and Lion: the C entry points.

// A C step takes one pointer per buffer, the count, the config and the step:
// up to nine arguments, by design of the ABI.
#![allow(clippy::too_many_arguments)]

use super::configs::{fo_adadelta_config, fo_adagrad_config, fo_lion_config, fo_rmsprop_config};
use super::many;
use super::status::fo_status;

/// One AdaGrad step of `n` elements of f32: `param` and `sum` are updated in
/// place from `grad` (fill `sum` with `initial_accumulator_value` before the
/// first step). `step` is the step number, from 1 (it sets the `lr_decay`
/// schedule). Returns `FO_OK`, or an error status and writes nothing.
///
/// # Safety
/// Each non-null pointer must be valid for reads and writes of `n` elements
/// (`grad`: reads) for the whole call, and `config` must be null or point to
/// a valid config. Null, misaligned, overlapping and oversized buffers are
/// detected and refused.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_adagrad_step_f32(
    param: *mut f32, grad: *const f32, sum: *mut f32, n: usize, config: *const fo_adagrad_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step(config, step, param, grad, [sum], n) }
}

/// One AdaGrad step of `n` elements of f64 (see `fo_adagrad_step_f32`).
///
/// # Safety
/// As for `fo_adagrad_step_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_adagrad_step_f64(
    param: *mut f64, grad: *const f64, sum: *mut f64, n: usize, config: *const fo_adagrad_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step(config, step, param, grad, [sum], n) }
}

/// One RMSprop step of `n` elements of f32: `param` and `square_avg` (and
/// `momentum_buffer` when `config->momentum > 0`, `grad_avg` when
/// `config->centered`; null otherwise) are updated in place from `grad`.
/// `step` is the step number, from 1 (RMSprop only checks it). Returns
/// `FO_OK`, or an error status and writes nothing (`FO_ERROR_STATE_BUFFER`
/// for an optional buffer missing or given against its option).
///
/// # Safety
/// As for `fo_adagrad_step_f32`: each non-null pointer valid for `n`
/// elements, `config` null or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_rmsprop_step_f32(
    param: *mut f32, grad: *const f32, square_avg: *mut f32, momentum_buffer: *mut f32, grad_avg: *mut f32,
    n: usize, config: *const fo_rmsprop_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step(config, step, param, grad, [square_avg, momentum_buffer, grad_avg], n) }
}

/// One RMSprop step of `n` elements of f64 (see `fo_rmsprop_step_f32`).
///
/// # Safety
/// As for `fo_rmsprop_step_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_rmsprop_step_f64(
    param: *mut f64, grad: *const f64, square_avg: *mut f64, momentum_buffer: *mut f64, grad_avg: *mut f64,
    n: usize, config: *const fo_rmsprop_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step(config, step, param, grad, [square_avg, momentum_buffer, grad_avg], n) }
}

/// One AdaDelta step of `n` elements of f32: `param`, `square_avg` and
/// `acc_delta` are updated in place from `grad`. `step` is the step number,
/// from 1 (AdaDelta only checks it). Returns `FO_OK`, or an error status and
/// writes nothing.
///
/// # Safety
/// As for `fo_adagrad_step_f32`: each non-null pointer valid for `n`
/// elements, `config` null or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_adadelta_step_f32(
    param: *mut f32, grad: *const f32, square_avg: *mut f32, acc_delta: *mut f32, n: usize,
    config: *const fo_adadelta_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step(config, step, param, grad, [square_avg, acc_delta], n) }
}

/// One AdaDelta step of `n` elements of f64 (see `fo_adadelta_step_f32`).
///
/// # Safety
/// As for `fo_adadelta_step_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_adadelta_step_f64(
    param: *mut f64, grad: *const f64, square_avg: *mut f64, acc_delta: *mut f64, n: usize,
    config: *const fo_adadelta_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step(config, step, param, grad, [square_avg, acc_delta], n) }
}

/// One AdaGrad step over `count` tensors of f32 in one call: tensor `i` has
/// `lens[i]` elements in `params[i]`, `grads[i]` and `sums[i]`. One config
/// and step number for all; the same bits as stepping each tensor alone.
/// Returns `FO_OK`, or an error status and writes nothing (no buffer of any
/// tensor may overlap another).
///
/// # Safety
/// Each array must be valid for `count` reads; each non-null buffer pointer
/// valid for `lens[i]` elements; `config` null or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_adagrad_step_many_f32(
    params: *const *mut f32, grads: *const *const f32, sums: *const *mut f32, lens: *const usize,
    count: usize, config: *const fo_adagrad_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step_many(config, step, params, grads, [sums], lens, count) }
}

/// One AdaGrad step over `count` tensors of f64 (see `fo_adagrad_step_many_f32`).
///
/// # Safety
/// As for `fo_adagrad_step_many_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_adagrad_step_many_f64(
    params: *const *mut f64, grads: *const *const f64, sums: *const *mut f64, lens: *const usize,
    count: usize, config: *const fo_adagrad_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step_many(config, step, params, grads, [sums], lens, count) }
}

/// One RMSprop step over `count` tensors of f32 in one call: tensor `i` has
/// `lens[i]` elements in `params[i]`, `grads[i]`, `square_avgs[i]` (and
/// `momentum_buffers[i]` when `config->momentum > 0`, `grad_avgs[i]` when
/// `config->centered`; pass a null array for an option that is off). One
/// config and step number for all; the same bits as stepping each tensor
/// alone. Returns `FO_OK`, or an error status and writes nothing.
///
/// # Safety
/// As for `fo_adagrad_step_many_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_rmsprop_step_many_f32(
    params: *const *mut f32, grads: *const *const f32, square_avgs: *const *mut f32,
    momentum_buffers: *const *mut f32, grad_avgs: *const *mut f32, lens: *const usize, count: usize,
    config: *const fo_rmsprop_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe {
        many::step_many(config, step, params, grads, [square_avgs, momentum_buffers, grad_avgs], lens, count)
    }
}

/// One RMSprop step over `count` tensors of f64 (see `fo_rmsprop_step_many_f32`).
///
/// # Safety
/// As for `fo_adagrad_step_many_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_rmsprop_step_many_f64(
    params: *const *mut f64, grads: *const *const f64, square_avgs: *const *mut f64,
    momentum_buffers: *const *mut f64, grad_avgs: *const *mut f64, lens: *const usize, count: usize,
    config: *const fo_rmsprop_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe {
        many::step_many(config, step, params, grads, [square_avgs, momentum_buffers, grad_avgs], lens, count)
    }
}

/// One AdaDelta step over `count` tensors of f32 in one call: tensor `i` has
/// `lens[i]` elements in `params[i]`, `grads[i]`, `square_avgs[i]` and
/// `acc_deltas[i]`. One config and step number for all; the same bits as
/// stepping each tensor alone. Returns `FO_OK`, or an error status and
/// writes nothing.
///
/// # Safety
/// As for `fo_adagrad_step_many_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_adadelta_step_many_f32(
    params: *const *mut f32, grads: *const *const f32, square_avgs: *const *mut f32,
    acc_deltas: *const *mut f32, lens: *const usize, count: usize, config: *const fo_adadelta_config,
    step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step_many(config, step, params, grads, [square_avgs, acc_deltas], lens, count) }
}

/// One AdaDelta step over `count` tensors of f64 (see `fo_adadelta_step_many_f32`).
///
/// # Safety
/// As for `fo_adagrad_step_many_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_adadelta_step_many_f64(
    params: *const *mut f64, grads: *const *const f64, square_avgs: *const *mut f64,
    acc_deltas: *const *mut f64, lens: *const usize, count: usize, config: *const fo_adadelta_config,
    step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step_many(config, step, params, grads, [square_avgs, acc_deltas], lens, count) }
}

/// One Lion step of `n` elements of f32: `param` and `exp_avg` are updated
/// in place from `grad`. `step` is the step number, from 1 (Lion only checks
/// it). Returns `FO_OK`, or an error status and writes nothing.
///
/// # Safety
/// As for `fo_adagrad_step_f32`: each non-null pointer valid for `n`
/// elements, `config` null or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_lion_step_f32(
    param: *mut f32, grad: *const f32, exp_avg: *mut f32, n: usize, config: *const fo_lion_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step(config, step, param, grad, [exp_avg], n) }
}

/// One Lion step of `n` elements of f64 (see `fo_lion_step_f32`).
///
/// # Safety
/// As for `fo_lion_step_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_lion_step_f64(
    param: *mut f64, grad: *const f64, exp_avg: *mut f64, n: usize, config: *const fo_lion_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step(config, step, param, grad, [exp_avg], n) }
}

/// One Lion step over `count` tensors of f32 in one call: tensor `i` has
/// `lens[i]` elements in `params[i]`, `grads[i]` and `exp_avgs[i]`. One
/// config and step number for all; the same bits as stepping each tensor
/// alone. Returns `FO_OK`, or an error status and writes nothing.
///
/// # Safety
/// As for `fo_adagrad_step_many_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_lion_step_many_f32(
    params: *const *mut f32, grads: *const *const f32, exp_avgs: *const *mut f32, lens: *const usize,
    count: usize, config: *const fo_lion_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step_many(config, step, params, grads, [exp_avgs], lens, count) }
}

/// One Lion step over `count` tensors of f64 (see `fo_lion_step_many_f32`).
///
/// # Safety
/// As for `fo_adagrad_step_many_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_lion_step_many_f64(
    params: *const *mut f64, grads: *const *const f64, exp_avgs: *const *mut f64, lens: *const usize,
    count: usize, config: *const fo_lion_config, step: u64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { many::step_many(config, step, params, grads, [exp_avgs], lens, count) }
}
