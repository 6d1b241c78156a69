//! Clipping through the C ABI: `fo_grad_norm_*` is the Rust norm's bits;
//! an armed clip reaches every algorithm's single- and multi-tensor entry
//! point and gives the Rust clipped step's bits; it is taken by exactly one
//! call (even a refused one), on the calling thread only; a bad clip is
//! refused; the mixed step clips its unscaled gradients.

use fused_optim_capi::*;
use fused_optim_core::clip::{ClipGradNorm, step_many_clipped};
use fused_optim_core::kernels::spec;
use fused_optim_core::{
    AdaGradBuffers, AdaGradConfig, AdamBuffers, AdamConfig, Parallelism, RmsPropBuffers, RmsPropConfig,
};
use std::ptr::{null, null_mut};

fn grads(n: usize, seed: u32) -> Vec<f32> {
    (0..n).map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 100.0 - 5.0).collect()
}

#[test]
fn the_c_norm_is_the_rust_norm() {
    let (a, b) = (grads(10_000, 1), grads(3, 2));
    let ptrs = [a.as_ptr(), b.as_ptr()];
    let lens = [a.len(), b.len()];
    let mut norm = 0.0;
    assert_eq!(unsafe { fo_grad_norm_f32(ptrs.as_ptr(), lens.as_ptr(), 2, &mut norm) }, fo_status::FO_OK);
    assert_eq!(norm.to_bits(), spec::grad_norm(&[&a[..], &b[..]]).to_bits());
    let d: Vec<f64> = a.iter().map(|&x| x as f64 * 1.5).collect();
    assert_eq!(unsafe { fo_grad_norm_f64(&d.as_ptr(), &d.len(), 1, &mut norm) }, fo_status::FO_OK);
    assert_eq!(norm.to_bits(), spec::grad_norm(&[&d[..]]).to_bits());
    // Nothing to sum: 0; bad pointers refused.
    assert_eq!(unsafe { fo_grad_norm_f32(null(), null(), 0, &mut norm) }, fo_status::FO_OK);
    assert_eq!(norm, 0.0);
    assert_eq!(
        unsafe { fo_grad_norm_f32(ptrs.as_ptr(), lens.as_ptr(), 2, null_mut()) },
        fo_status::FO_ERROR_NULL_POINTER
    );
    let null_grad = [null::<f32>()];
    assert_eq!(
        unsafe { fo_grad_norm_f32(null_grad.as_ptr(), &5, 1, &mut norm) },
        fo_status::FO_ERROR_NULL_POINTER
    );
}

#[test]
fn an_armed_clip_reaches_the_many_tensor_step_once() {
    let g = [grads(37, 3), grads(5000, 4)];
    let config = fo_adam_config_default();
    let clip = fo_clip_config { max_norm: 1.0, skip_non_finite: 0 };
    let run = |armed: bool| {
        let mut p = [vec![1.0f32; 37], vec![1.0f32; 5000]];
        let mut m = [vec![0.0f32; 37], vec![0.0f32; 5000]];
        let mut v = m.clone();
        if armed {
            assert_eq!(unsafe { fo_clip_next_step(&clip) }, fo_status::FO_OK);
        }
        let (pp, gp) = ([p[0].as_mut_ptr(), p[1].as_mut_ptr()], [g[0].as_ptr(), g[1].as_ptr()]);
        let (mp, vp) = ([m[0].as_mut_ptr(), m[1].as_mut_ptr()], [v[0].as_mut_ptr(), v[1].as_mut_ptr()]);
        let lens = [37usize, 5000];
        let status = unsafe {
            fo_adam_step_many_f32(
                pp.as_ptr(),
                gp.as_ptr(),
                mp.as_ptr(),
                vp.as_ptr(),
                null(),
                lens.as_ptr(),
                2,
                &config,
                1,
            )
        };
        assert_eq!(status, fo_status::FO_OK);
        (p, fo_last_clip_report())
    };
    let (clipped, report) = run(true);
    // The Rust clipped step's bits.
    let mut want = [vec![1.0f32; 37], vec![1.0f32; 5000]];
    let mut m = [vec![0.0f32; 37], vec![0.0f32; 5000]];
    let mut v = m.clone();
    let [w0, w1] = &mut want;
    let [m0, m1] = &mut m;
    let [v0, v1] = &mut v;
    let mut tensors = [
        AdamBuffers { param: w0, grad: &g[0], exp_avg: m0, exp_avg_sq: v0, max_exp_avg_sq: None },
        AdamBuffers { param: w1, grad: &g[1], exp_avg: m1, exp_avg_sq: v1, max_exp_avg_sq: None },
    ];
    let rust = step_many_clipped(
        &AdamConfig::default(),
        1,
        &ClipGradNorm::new(1.0),
        &mut tensors,
        &Parallelism::Serial,
    )
    .unwrap();
    assert_eq!(clipped, want);
    assert_eq!(report.clipped, 1);
    assert_eq!((report.norm, report.coefficient, report.skipped), (rust.norm, rust.coefficient, 0));
    // Taken by that call: the next one does not clip.
    let (unclipped, report) = run(false);
    assert_ne!(unclipped, clipped);
    assert_eq!(report.clipped, 0);
    assert!(report.norm.is_nan());
}

#[test]
fn every_algorithm_and_the_one_tensor_form_clip() {
    let g = grads(100, 5);
    let clip = fo_clip_config { max_norm: 0.5, skip_non_finite: 0 };
    let norm = spec::grad_norm(&[&g[..]]);
    // AdaGrad, one tensor.
    let mut p = vec![1.0f32; 100];
    let mut s = vec![0.0f32; 100];
    assert_eq!(unsafe { fo_clip_next_step(&clip) }, fo_status::FO_OK);
    let config = fo_adagrad_config_default();
    assert_eq!(
        unsafe { fo_adagrad_step_f32(p.as_mut_ptr(), g.as_ptr(), s.as_mut_ptr(), 100, &config, 1) },
        fo_status::FO_OK
    );
    let mut want = (vec![1.0f32; 100], vec![0.0f32; 100]);
    fused_optim_core::clip::step_clipped(
        &AdaGradConfig::default(),
        1,
        &ClipGradNorm::new(0.5),
        AdaGradBuffers { param: &mut want.0, grad: &g, sum: &mut want.1 },
        &Parallelism::Serial,
    )
    .unwrap();
    assert_eq!((p, s), want);
    assert_eq!(fo_last_clip_report().norm, norm);
    // RMSprop, f64, one tensor.
    let g64: Vec<f64> = g.iter().map(|&x| x as f64).collect();
    let mut p = vec![1.0f64; 100];
    let mut sq = vec![0.0f64; 100];
    let config = fo_rmsprop_config_default();
    assert_eq!(unsafe { fo_clip_next_step(&clip) }, fo_status::FO_OK);
    let status = unsafe {
        fo_rmsprop_step_f64(
            p.as_mut_ptr(),
            g64.as_ptr(),
            sq.as_mut_ptr(),
            null_mut(),
            null_mut(),
            100,
            &config,
            1,
        )
    };
    assert_eq!(status, fo_status::FO_OK);
    let mut want = (vec![1.0f64; 100], vec![0.0f64; 100]);
    let b = RmsPropBuffers {
        param: &mut want.0,
        grad: &g64,
        square_avg: &mut want.1,
        momentum_buffer: None,
        grad_avg: None,
    };
    fused_optim_core::clip::step_clipped(
        &RmsPropConfig::default(),
        1,
        &ClipGradNorm::new(0.5),
        b,
        &Parallelism::Serial,
    )
    .unwrap();
    assert_eq!((p, sq), want);
}

#[test]
fn a_refused_step_takes_the_clip_and_a_bad_clip_is_refused() {
    let bad = fo_clip_config { max_norm: -1.0, skip_non_finite: 0 };
    assert_eq!(unsafe { fo_clip_next_step(&bad) }, fo_status::FO_ERROR_HYPERPARAMETER);
    let nan = fo_clip_config { max_norm: f64::NAN, skip_non_finite: 1 };
    assert_eq!(unsafe { fo_clip_next_step(&nan) }, fo_status::FO_ERROR_HYPERPARAMETER);
    assert_eq!(unsafe { fo_clip_next_step(null()) }, fo_status::FO_OK);
    // Armed, then a refused call (step 0): taken, nothing written.
    let clip = fo_clip_config { max_norm: 1.0, skip_non_finite: 0 };
    assert_eq!(unsafe { fo_clip_next_step(&clip) }, fo_status::FO_OK);
    let g = grads(8, 6);
    let (mut p, mut s) = (vec![1.0f32; 8], vec![0.0f32; 8]);
    let config = fo_adagrad_config_default();
    assert_eq!(
        unsafe { fo_adagrad_step_f32(p.as_mut_ptr(), g.as_ptr(), s.as_mut_ptr(), 8, &config, 0) },
        fo_status::FO_ERROR_STEP
    );
    assert_eq!(fo_last_clip_report().clipped, 0);
    assert_eq!(
        unsafe { fo_adagrad_step_f32(p.as_mut_ptr(), g.as_ptr(), s.as_mut_ptr(), 8, &config, 1) },
        fo_status::FO_OK
    );
    assert_eq!(fo_last_clip_report().clipped, 0, "the refused call took the clip");
}

#[test]
fn a_clip_is_armed_for_the_calling_thread_only_and_skips_non_finite_norms() {
    let clip = fo_clip_config { max_norm: 1.0, skip_non_finite: 1 };
    assert_eq!(unsafe { fo_clip_next_step(&clip) }, fo_status::FO_OK);
    std::thread::spawn(|| {
        let g = grads(8, 7);
        let (mut p, mut s) = (vec![1.0f32; 8], vec![0.0f32; 8]);
        let config = fo_adagrad_config_default();
        assert_eq!(
            unsafe { fo_adagrad_step_f32(p.as_mut_ptr(), g.as_ptr(), s.as_mut_ptr(), 8, &config, 1) },
            fo_status::FO_OK
        );
        assert_eq!(fo_last_clip_report().clipped, 0, "another thread's clip");
    })
    .join()
    .unwrap();
    let mut g = grads(8, 7);
    g[2] = f32::NAN;
    let (mut p, mut s) = (vec![1.0f32; 8], vec![0.0f32; 8]);
    let config = fo_adagrad_config_default();
    assert_eq!(
        unsafe { fo_adagrad_step_f32(p.as_mut_ptr(), g.as_ptr(), s.as_mut_ptr(), 8, &config, 1) },
        fo_status::FO_OK
    );
    let report = fo_last_clip_report();
    assert_eq!((report.clipped, report.skipped), (1, 1));
    assert!(report.norm.is_nan());
    assert!(p.iter().all(|&x| x == 1.0) && s.iter().all(|&x| x == 0.0), "skipped: nothing written");
}

#[test]
fn the_mixed_step_clips_its_unscaled_gradients() {
    use fused_optim_core::kernels::bf16;
    let g: Vec<bf16> = grads(300, 8).iter().map(|&x| bf16::from_f32(x * 256.0)).collect();
    let mut g_c = g.clone();
    let (mut p, mut m, mut v) = (vec![1.0f32; 300], vec![0.0f32; 300], vec![0.0f32; 300]);
    let tensor = fo_mixed_tensor {
        param: p.as_mut_ptr().cast(),
        grad: g_c.as_mut_ptr().cast(),
        exp_avg: m.as_mut_ptr().cast(),
        exp_avg_sq: v.as_mut_ptr().cast(),
        max_exp_avg_sq: null_mut(),
        param_copy: null_mut(),
        len: 300,
        position: 0,
        param_dtype: FO_DTYPE_F32,
        grad_dtype: FO_DTYPE_BF16,
        state_dtype: FO_DTYPE_F32,
        copy_dtype: FO_DTYPE_F32,
    };
    let mut options = fo_mixed_options_default();
    options.loss_scale = 256.0;
    let config = fo_adam_config_default();
    let clip = fo_clip_config { max_norm: 1.0, skip_non_finite: 0 };
    assert_eq!(unsafe { fo_clip_next_step(&clip) }, fo_status::FO_OK);
    let mut skipped = true;
    assert_eq!(
        unsafe { fo_adam_step_mixed_many(&tensor, 1, &config, &options, 1, &mut skipped) },
        fo_status::FO_OK
    );
    assert!(!skipped);
    let report = fo_last_clip_report();
    let widened: Vec<f32> = g.iter().map(|x| x.to_f32() / 256.0).collect();
    assert_eq!(report.norm, spec::grad_norm(&[&widened[..]]), "a power-of-two loss scale: exact");
    assert_eq!(report.clipped, 1);
}

/// An armed clip reaches `fo_lion_step_mixed` and `fo_sgd_step_mixed` (the
/// one generic C path): the Rust clipped mixed step's bits and report.
#[test]
fn lion_and_sgd_mixed_steps_take_the_armed_clip() {
    use fused_optim_core::kernels::bf16;
    use fused_optim_core::mixed::{
        MixedBuffers, MixedOptions, MixedSlice, StepOutcome, step_mixed_many_clipped,
    };
    use fused_optim_core::{LionConfig, SgdConfig};
    let g: Vec<bf16> = grads(300, 9).iter().map(|&x| bf16::from_f32(x * 256.0)).collect();
    let options = MixedOptions { loss_scale: 256.0, ..MixedOptions::default() };
    let clip = ClipGradNorm::new(1.0);
    // The Rust step on (param, state): both start at 1 and 0.
    let rust = |step: &dyn Fn(&mut MixedBuffers<'_>) -> f64| {
        let (mut p, mut s, mut g) = (vec![1.0f32; 300], vec![0.0f32; 300], g.clone());
        let mut b = MixedBuffers {
            param: MixedSlice::F32(&mut p),
            grad: MixedSlice::Bf16(&mut g),
            state: [Some(MixedSlice::F32(&mut s)), None, None],
            param_copy: None,
            position: 0,
        };
        let norm = step(&mut b);
        (p, s, norm)
    };
    let lion = LionConfig::default();
    let sgd = SgdConfig { momentum: 0.9, ..SgdConfig::default() };
    let want_lion = rust(&|b| {
        let (o, r) =
            step_mixed_many_clipped(&lion, 1, &clip, std::slice::from_mut(b), &options, &Parallelism::Serial)
                .unwrap();
        assert_eq!(o, StepOutcome::Applied);
        r.unwrap().norm
    });
    let want_sgd = rust(&|b| {
        let (o, r) =
            step_mixed_many_clipped(&sgd, 1, &clip, std::slice::from_mut(b), &options, &Parallelism::Serial)
                .unwrap();
        assert_eq!(o, StepOutcome::Applied);
        r.unwrap().norm
    });
    let widened: Vec<f32> = g.iter().map(|x| x.to_f32() / 256.0).collect();
    assert_eq!(want_lion.2, spec::grad_norm(&[&widened[..]]), "a power-of-two loss scale: exact");
    let mut c_options = fo_mixed_options_default();
    c_options.loss_scale = 256.0;
    let c_clip = fo_clip_config { max_norm: 1.0, skip_non_finite: 0 };
    for (which, want) in [("lion", &want_lion), ("sgd", &want_sgd)] {
        let (mut p, mut s, mut g_c) = (vec![1.0f32; 300], vec![0.0f32; 300], g.clone());
        let (pp, gp, sp) = (p.as_mut_ptr().cast(), g_c.as_mut_ptr().cast(), s.as_mut_ptr().cast());
        let (f32_, bf16_) = (FO_DTYPE_F32, FO_DTYPE_BF16);
        let (lion_config, sgd_config) = (fo_lion_config::from(lion), fo_sgd_config::from(sgd));
        // One mixed C step of this case's algorithm at step `t`.
        let call = |t: u64, skipped: *mut bool| {
            // SAFETY: the buffers hold 300 elements of the tagged types, the
            // configs and options are valid, and `skipped` is null or points
            // to a live bool.
            unsafe {
                if which == "lion" {
                    fo_lion_step_mixed(
                        pp,
                        f32_,
                        gp,
                        bf16_,
                        sp,
                        f32_,
                        null_mut(),
                        f32_,
                        300,
                        0,
                        &lion_config,
                        &c_options,
                        t,
                        skipped,
                    )
                } else {
                    fo_sgd_step_mixed(
                        pp,
                        f32_,
                        gp,
                        bf16_,
                        sp,
                        f32_,
                        null_mut(),
                        f32_,
                        300,
                        0,
                        &sgd_config,
                        &c_options,
                        t,
                        skipped,
                    )
                }
            }
        };
        assert_eq!(unsafe { fo_clip_next_step(&c_clip) }, fo_status::FO_OK);
        let mut skipped = true;
        let status = call(1, &mut skipped);
        assert_eq!(status, fo_status::FO_OK, "{which}");
        assert!(!skipped, "{which}");
        let report = fo_last_clip_report();
        assert_eq!((report.clipped, report.norm.to_bits()), (1, want.2.to_bits()), "{which}");
        assert!(report.coefficient < 1.0, "{which}: the clip binds");
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&p), bits(&want.0), "{which}: param");
        assert_eq!(bits(&s), bits(&want.1), "{which}: state");
        // Taken by that call: the next one does not clip.
        assert_eq!(call(2, null_mut()), fo_status::FO_OK);
        assert_eq!(fo_last_clip_report().clipped, 0, "{which}: the clip was taken once");
    }
}
