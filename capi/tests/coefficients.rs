//! A C step computes its step's coefficients once: the C layer validates
//! the config and the step number before it reads any pointer, and hands
//! the validated value to the step, which does not compute it again, on the
//! calling thread or on any pool thread.
//!
//! The count is process-wide, so this binary holds this one test alone.

use fused_optim_capi::*;
use fused_optim_core::algorithms::coefficient_computations;
use std::ffi::c_void;
use std::ptr::null_mut;

/// Several pieces' worth on any thread count: the step is split.
const N: usize = 300_000;

/// The coefficient computations `f` makes.
fn counted(f: impl FnOnce() -> fo_status) -> (fo_status, u64) {
    let before = coefficient_computations();
    let status = f();
    (status, coefficient_computations() - before)
}

#[test]
fn a_c_call_computes_its_coefficients_once() {
    assert_eq!(fo_set_threads(2), fo_status::FO_OK);
    let (mut p, g) = (vec![1.0f32; N], vec![0.5f32; N]);
    let (mut m, mut v) = (vec![0.0f32; N], vec![0.0f32; N]);
    let c = fo_adam_config_default();
    // SAFETY: every buffer holds N elements; config is valid.
    let step = counted(|| unsafe {
        fo_adam_step_f32(p.as_mut_ptr(), g.as_ptr(), m.as_mut_ptr(), v.as_mut_ptr(), null_mut(), N, &c, 1)
    });
    assert_eq!(step, (fo_status::FO_OK, 1), "fo_adam_step_f32");
    let (mut p2, mut m2, mut v2) = (p.clone(), m.clone(), v.clone());
    let params = [p.as_mut_ptr(), p2.as_mut_ptr()];
    let grads = [g.as_ptr(), g.as_ptr()];
    let (exp_avgs, exp_avg_sqs) = ([m.as_mut_ptr(), m2.as_mut_ptr()], [v.as_mut_ptr(), v2.as_mut_ptr()]);
    let lens = [N, N];
    // SAFETY: every array holds two pointers, each valid for N elements; config is valid.
    let many = counted(|| unsafe {
        fo_adam_step_many_f32(
            params.as_ptr(),
            grads.as_ptr(),
            exp_avgs.as_ptr(),
            exp_avg_sqs.as_ptr(),
            std::ptr::null(),
            lens.as_ptr(),
            2,
            &c,
            2,
        )
    });
    assert_eq!(many, (fo_status::FO_OK, 1), "fo_adam_step_many_f32 over two tensors");
    let mut grad_bf16 = vec![0x3f00u16; N]; // bf16 0.5
    let (config, options) = (fo_adam_config_default(), fo_mixed_options_default());
    // SAFETY: every buffer holds N elements of its type; config and options are valid.
    let mixed = counted(|| unsafe {
        fo_adam_step_mixed(
            p.as_mut_ptr().cast::<c_void>(),
            FO_DTYPE_F32,
            grad_bf16.as_mut_ptr().cast::<c_void>(),
            FO_DTYPE_BF16,
            m.as_mut_ptr().cast::<c_void>(),
            v.as_mut_ptr().cast::<c_void>(),
            null_mut(),
            FO_DTYPE_F32,
            null_mut(),
            FO_DTYPE_BF16,
            N,
            0,
            &config,
            &options,
            3,
            null_mut(),
        )
    });
    assert_eq!(mixed, (fo_status::FO_OK, 1), "fo_adam_step_mixed");
}
