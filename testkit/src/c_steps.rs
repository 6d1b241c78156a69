//! The C ABI's f32/f64 step entry points as one table per element type, so
//! code generic over the element type calls `T::ADAM`, `T::ADAGRAD_MANY`, …
//! Used by the C-ABI tests (`capi/tests/ffi*.rs`) and the C-ABI fuzz case
//! ([`crate::fuzz_capi`]).

use fused_optim::Float;
use fused_optim_capi::*;

pub type AdamOne<T> = unsafe extern "C" fn(
    *mut T,
    *const T,
    *mut T,
    *mut T,
    *mut T,
    usize,
    *const fo_adam_config,
    u64,
) -> fo_status;
pub type AdamMany<T> = unsafe extern "C" fn(
    *const *mut T,
    *const *const T,
    *const *mut T,
    *const *mut T,
    *const *mut T,
    *const usize,
    usize,
    *const fo_adam_config,
    u64,
) -> fo_status;
pub type AdaMaxOne<T> =
    unsafe extern "C" fn(*mut T, *const T, *mut T, *mut T, usize, *const fo_adamax_config, u64) -> fo_status;
pub type AdaMaxMany<T> = unsafe extern "C" fn(
    *const *mut T,
    *const *const T,
    *const *mut T,
    *const *mut T,
    *const usize,
    usize,
    *const fo_adamax_config,
    u64,
) -> fo_status;
pub type AdaGradOne<T> =
    unsafe extern "C" fn(*mut T, *const T, *mut T, usize, *const fo_adagrad_config, u64) -> fo_status;
pub type AdaGradMany<T> = unsafe extern "C" fn(
    *const *mut T,
    *const *const T,
    *const *mut T,
    *const usize,
    usize,
    *const fo_adagrad_config,
    u64,
) -> fo_status;
pub type RmsPropOne<T> = unsafe extern "C" fn(
    *mut T,
    *const T,
    *mut T,
    *mut T,
    *mut T,
    usize,
    *const fo_rmsprop_config,
    u64,
) -> fo_status;
pub type RmsPropMany<T> = unsafe extern "C" fn(
    *const *mut T,
    *const *const T,
    *const *mut T,
    *const *mut T,
    *const *mut T,
    *const usize,
    usize,
    *const fo_rmsprop_config,
    u64,
) -> fo_status;
pub type AdaDeltaOne<T> = unsafe extern "C" fn(
    *mut T,
    *const T,
    *mut T,
    *mut T,
    usize,
    *const fo_adadelta_config,
    u64,
) -> fo_status;
pub type AdaDeltaMany<T> = unsafe extern "C" fn(
    *const *mut T,
    *const *const T,
    *const *mut T,
    *const *mut T,
    *const usize,
    usize,
    *const fo_adadelta_config,
    u64,
) -> fo_status;
pub type SgdOne<T> =
    unsafe extern "C" fn(*mut T, *const T, *mut T, usize, *const fo_sgd_config, u64) -> fo_status;
pub type SgdMany<T> = unsafe extern "C" fn(
    *const *mut T,
    *const *const T,
    *const *mut T,
    *const usize,
    usize,
    *const fo_sgd_config,
    u64,
) -> fo_status;

pub type LionOne<T> =
    unsafe extern "C" fn(*mut T, *const T, *mut T, usize, *const fo_lion_config, u64) -> fo_status;
pub type LionMany<T> = unsafe extern "C" fn(
    *const *mut T,
    *const *const T,
    *const *mut T,
    *const usize,
    usize,
    *const fo_lion_config,
    u64,
) -> fo_status;

/// The C entry points of one element type.
pub trait Api: Float {
    const ADAM: AdamOne<Self>;
    const ADAM_MANY: AdamMany<Self>;
    const ADAMAX: AdaMaxOne<Self>;
    const ADAMAX_MANY: AdaMaxMany<Self>;
    const ADAGRAD: AdaGradOne<Self>;
    const ADAGRAD_MANY: AdaGradMany<Self>;
    const RMSPROP: RmsPropOne<Self>;
    const RMSPROP_MANY: RmsPropMany<Self>;
    const ADADELTA: AdaDeltaOne<Self>;
    const ADADELTA_MANY: AdaDeltaMany<Self>;
    const SGD: SgdOne<Self>;
    const SGD_MANY: SgdMany<Self>;
    const LION: LionOne<Self>;
    const LION_MANY: LionMany<Self>;
}

impl Api for f32 {
    const ADAM: AdamOne<f32> = fo_adam_step_f32;
    const ADAM_MANY: AdamMany<f32> = fo_adam_step_many_f32;
    const ADAMAX: AdaMaxOne<f32> = fo_adamax_step_f32;
    const ADAMAX_MANY: AdaMaxMany<f32> = fo_adamax_step_many_f32;
    const ADAGRAD: AdaGradOne<f32> = fo_adagrad_step_f32;
    const ADAGRAD_MANY: AdaGradMany<f32> = fo_adagrad_step_many_f32;
    const RMSPROP: RmsPropOne<f32> = fo_rmsprop_step_f32;
    const RMSPROP_MANY: RmsPropMany<f32> = fo_rmsprop_step_many_f32;
    const ADADELTA: AdaDeltaOne<f32> = fo_adadelta_step_f32;
    const ADADELTA_MANY: AdaDeltaMany<f32> = fo_adadelta_step_many_f32;
    const SGD: SgdOne<f32> = fo_sgd_step_f32;
    const SGD_MANY: SgdMany<f32> = fo_sgd_step_many_f32;
    const LION: LionOne<f32> = fo_lion_step_f32;
    const LION_MANY: LionMany<f32> = fo_lion_step_many_f32;
}

impl Api for f64 {
    const ADAM: AdamOne<f64> = fo_adam_step_f64;
    const ADAM_MANY: AdamMany<f64> = fo_adam_step_many_f64;
    const ADAMAX: AdaMaxOne<f64> = fo_adamax_step_f64;
    const ADAMAX_MANY: AdaMaxMany<f64> = fo_adamax_step_many_f64;
    const ADAGRAD: AdaGradOne<f64> = fo_adagrad_step_f64;
    const ADAGRAD_MANY: AdaGradMany<f64> = fo_adagrad_step_many_f64;
    const RMSPROP: RmsPropOne<f64> = fo_rmsprop_step_f64;
    const RMSPROP_MANY: RmsPropMany<f64> = fo_rmsprop_step_many_f64;
    const ADADELTA: AdaDeltaOne<f64> = fo_adadelta_step_f64;
    const ADADELTA_MANY: AdaDeltaMany<f64> = fo_adadelta_step_many_f64;
    const SGD: SgdOne<f64> = fo_sgd_step_f64;
    const SGD_MANY: SgdMany<f64> = fo_sgd_step_many_f64;
    const LION: LionOne<f64> = fo_lion_step_f64;
    const LION_MANY: LionMany<f64> = fo_lion_step_many_f64;
}

/// `fo_adam_step_mixed` with the fields of one `fo_mixed_tensor` as its
/// arguments: the one-tensor mixed-precision call, as the tests and the
/// C-ABI fuzz case make it.
///
/// # Safety
/// As for `fo_adam_step_mixed` with those arguments.
pub unsafe fn adam_step_mixed_of(
    x: &fo_mixed_tensor,
    config: *const fo_adam_config,
    options: *const fo_mixed_options,
    step: u64,
    skipped: *mut bool,
) -> fo_status {
    // SAFETY: forwarded from the caller.
    unsafe {
        fo_adam_step_mixed(
            x.param,
            x.param_dtype,
            x.grad,
            x.grad_dtype,
            x.exp_avg,
            x.exp_avg_sq,
            x.max_exp_avg_sq,
            x.state_dtype,
            x.param_copy,
            x.copy_dtype,
            x.len,
            x.position,
            config,
            options,
            step,
            skipped,
        )
    }
}
