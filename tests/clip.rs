//! Clipping by global norm: the norm is the reference's bits on every
//! thread count and host executor (with every step split, down to pieces of
//! a block, and on buffers large enough to split at the default threshold);
//! a clipped step is the step on the gradient scaled by the reported
//! coefficient, bit for bit, for every algorithm; a non-finite norm writes
//! NaN (propagate) or nothing (skip); a bad clip or buffer writes nothing;
//! the owning optimizer clips; the norm is within a few ulps of an exactly
//! rounded one.

use fused_optim::clip::{ClipGradNorm, ClipReport, NonFinite, grad_norm, step_clipped, step_many_clipped};
use fused_optim::kernels::{NORM_BLOCK, spec};
use fused_optim::{
    AdaDeltaConfig, AdaGradConfig, AdaMaxConfig, AdamBuffers, AdamConfig, Algorithm, Error, LionConfig,
    Parallelism, RmsPropConfig, SgdConfig, set_serial_threshold,
};
use fused_optim_testkit::hosts::host_parallelisms;
use fused_optim_testkit::{Fill, Tensor, TestAlgorithm, TestFloat, assert_same_bits, gradient, rng};
use std::sync::{Arc, Once};

/// Every test of this binary splits every pass (the threshold is process-wide).
fn split_everything() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| set_serial_threshold(0));
}

fn parallelisms() -> Vec<Parallelism> {
    let mut out = vec![Parallelism::Serial, Parallelism::Global];
    for threads in [1, 2, 3, 7] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        out.push(Parallelism::Pool(Arc::new(pool)));
    }
    out.extend(host_parallelisms());
    out
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

fn norm_on_every_executor<T: TestFloat>() {
    split_everything();
    let executors = parallelisms();
    let b = NORM_BLOCK;
    let shapes: &[&[usize]] = &[
        &[],
        &[0],
        &[1],
        &[17, 0, 3],
        &[b - 1, b, b + 1],
        &[40 * b + 7],
        &[5, 9 * b, 1, 33 * b + 100, 2 * b],
        &[300_000, 3, 70_001],
    ];
    for (k, lens) in shapes.iter().enumerate() {
        for fill in [Fill::Random, Fill::Special, Fill::Bits] {
            let mut r = rng(k as u64 * 31 + fill as u64);
            let grads: Vec<Vec<T>> = lens.iter().map(|&n| gradient::<T>(&mut r, fill, n)).collect();
            let refs: Vec<&[T]> = grads.iter().map(Vec::as_slice).collect();
            let want = spec::grad_norm(&refs);
            assert!(same(fused_optim::kernels::grad_norm(&refs), want), "dispatched {lens:?} {fill:?}");
            for p in &executors {
                let got = grad_norm(&refs, p);
                assert!(same(got, want), "{} {lens:?} {fill:?} {p:?}: {got:e} vs {want:e}", T::NAME);
            }
        }
    }
}

#[test]
fn f32_norm_is_the_references_on_every_executor() {
    norm_on_every_executor::<f32>();
}

#[test]
fn f64_norm_is_the_references_on_every_executor() {
    norm_on_every_executor::<f64>();
}

#[test]
fn the_default_threshold_splits_large_norms_alike() {
    // Large enough to split at the default threshold too: the same bits.
    let g: Vec<f32> = gradient::<f32>(&mut rng(3), Fill::Random, 1 << 20);
    let h: Vec<f32> = gradient::<f32>(&mut rng(4), Fill::Random, 300_001);
    let want = spec::grad_norm(&[&g[..], &h[..]]);
    for p in parallelisms() {
        assert!(same(grad_norm(&[&g[..], &h[..]], &p), want), "{p:?}");
    }
}

#[test]
fn the_norm_is_within_a_few_ulps_of_the_exact_one() {
    for (seed, n) in [(1u64, 10usize), (2, 5000), (3, 100_000), (4, 1 << 20)] {
        let g: Vec<f64> = gradient::<f64>(&mut rng(seed), Fill::Random, n);
        // An exact sum of squares of f64 values: each square split into its
        // rounded value and its error (Dekker), both summed with Neumaier's
        // compensation; accurate to far below an ulp of the norm here.
        let (mut s, mut c) = (0.0f64, 0.0f64);
        let mut add = |x: f64| {
            let t = s + x;
            c += if s.abs() >= x.abs() { (s - t) + x } else { (x - t) + s };
            s = t;
        };
        for &x in &g {
            let p = x * x;
            let split = |a: f64| {
                let f = a * 134_217_729.0;
                let hi = f - (f - a);
                (hi, a - hi)
            };
            let (xh, xl) = split(x);
            let err = ((xh * xh - p) + 2.0 * xh * xl) + xl * xl;
            add(p);
            add(err);
        }
        let exact = (s + c).sqrt();
        let got = grad_norm(&[&g[..]], &Parallelism::Serial);
        let ulp = f64::EPSILON * exact;
        assert!((got - exact).abs() <= 4.0 * ulp, "n={n}: {got:e} vs {exact:e}");
    }
}

/// A clipped multi-tensor step equals: the norm, the coefficient in f64
/// from it, each gradient multiplied by the coefficient rounded to `T`, and
/// the plain step on those gradients.
fn clipped_is_scaled_then_stepped<A: TestAlgorithm, T: TestFloat>() {
    split_everything();
    let lens = [0usize, 1, 37, 2 * NORM_BLOCK + 5];
    for (i, config) in A::configs().into_iter().enumerate() {
        for (max_norm, fill) in [(1e-3, Fill::Random), (1e6, Fill::Random), (0.5, Fill::Special)] {
            let mut r = rng(i as u64 * 7 + max_norm as u64);
            let start: Vec<Tensor<A, T>> =
                lens.iter().map(|&n| Tensor::<A, T>::new(&config, &mut r, fill, n, i % 4)).collect();
            let clip = ClipGradNorm::new(max_norm);
            // What clipping must equal.
            let norm = spec::grad_norm(&start.iter().map(|t| t.grad.get()).collect::<Vec<_>>());
            let coefficient = spec::clip_coefficient(norm, max_norm);
            let mut want = start.clone();
            for t in &mut want {
                let scaled: Vec<T> = t.grad.get().iter().map(|&g| g * T::from_f64(coefficient)).collect();
                t.grad.get_mut().copy_from_slice(&scaled);
            }
            let mut wanted: Vec<_> = want.iter_mut().map(Tensor::buffers).collect();
            fused_optim::step_many(&config, 3, &mut wanted, &Parallelism::Serial).unwrap();
            drop(wanted);
            for p in [Parallelism::Serial, Parallelism::with_threads(3).unwrap()] {
                let mut got = start.clone();
                let mut buffers: Vec<_> = got.iter_mut().map(Tensor::buffers).collect();
                let report = step_many_clipped(&config, 3, &clip, &mut buffers, &p).unwrap();
                drop(buffers);
                assert!(same(report.norm, norm) && same(report.coefficient, coefficient));
                assert!(!report.skipped);
                for (g, w) in got.iter().zip(&want) {
                    for ((name, a), (_, b)) in g.outputs().into_iter().zip(w.outputs()) {
                        let what =
                            format!("{} {} {config:?} max_norm={max_norm} {p:?}: {name}", A::NAME, T::NAME);
                        assert_same_bits(a, b, &what);
                    }
                    assert!(g.guards_intact());
                }
            }
        }
    }
}

macro_rules! clipped_tests {
    ($($name:ident: $a:ty, $t:ty;)*) => {$(
        #[test]
        fn $name() {
            clipped_is_scaled_then_stepped::<$a, $t>();
        }
    )*};
}

clipped_tests! {
    adam_f32_clipped_is_scaled_then_stepped: AdamConfig, f32;
    adam_f64_clipped_is_scaled_then_stepped: AdamConfig, f64;
    adamax_f32_clipped_is_scaled_then_stepped: AdaMaxConfig, f32;
    adagrad_f32_clipped_is_scaled_then_stepped: AdaGradConfig, f32;
    rmsprop_f64_clipped_is_scaled_then_stepped: RmsPropConfig, f64;
    adadelta_f32_clipped_is_scaled_then_stepped: AdaDeltaConfig, f32;
    sgd_f32_clipped_is_scaled_then_stepped: SgdConfig, f32;
    sgd_f64_clipped_is_scaled_then_stepped: SgdConfig, f64;
    lion_f32_clipped_is_scaled_then_stepped: LionConfig, f32;
    lion_f64_clipped_is_scaled_then_stepped: LionConfig, f64;
}

/// One f32 Adam tensor of `grad`, stepped with `clip`.
fn adam_clipped(grad: &[f32], clip: &ClipGradNorm) -> (Result<ClipReport, Error>, Vec<f32>, Vec<f32>) {
    let n = grad.len();
    let (mut p, mut m, mut v) = (vec![1.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
    let b = AdamBuffers { param: &mut p, grad, exp_avg: &mut m, exp_avg_sq: &mut v, max_exp_avg_sq: None };
    let report = step_clipped(&AdamConfig::default(), 1, clip, b, &Parallelism::Serial);
    (report, p, m)
}

#[test]
fn a_nan_norm_propagates_or_skips() {
    let mut g = vec![0.5f32; 100];
    g[37] = f32::NAN;
    let (report, p, m) = adam_clipped(&g, &ClipGradNorm::new(1.0));
    let report = report.unwrap();
    assert!(report.norm.is_nan() && report.coefficient.is_nan() && !report.skipped);
    assert!(p.iter().all(|x| x.is_nan()) && m.iter().all(|x| x.is_nan()), "as torch: NaN everywhere");

    let (report, p, m) = adam_clipped(&g, &ClipGradNorm::new(1.0).skip_non_finite());
    let report = report.unwrap();
    assert!(report.norm.is_nan() && report.skipped);
    assert!(p.iter().all(|&x| x == 1.0) && m.iter().all(|&x| x == 0.0), "skipped: nothing written");
}

#[test]
fn an_infinite_norm_gives_a_zero_coefficient_or_skips() {
    let mut g = vec![0.5f32; 10];
    g[3] = f32::INFINITY;
    let (report, p, _) = adam_clipped(&g, &ClipGradNorm::new(1.0));
    let report = report.unwrap();
    assert_eq!((report.norm, report.coefficient, report.skipped), (f64::INFINITY, 0.0, false));
    assert!(p[3].is_nan(), "inf·0");
    assert!(p.iter().enumerate().all(|(i, &x)| i == 3 || x == 1.0), "0·g: no move");
    let (report, p, _) = adam_clipped(&g, &ClipGradNorm { max_norm: 1.0, non_finite: NonFinite::Skip });
    assert!(report.unwrap().skipped && p.iter().all(|&x| x == 1.0));
}

#[test]
fn bad_input_writes_nothing() {
    for max_norm in [-1.0, f64::NAN, f64::INFINITY] {
        let (report, p, m) = adam_clipped(&[1.0; 8], &ClipGradNorm::new(max_norm));
        assert!(matches!(report, Err(Error::InvalidHyperparameter { name: "max_norm", .. })), "{report:?}");
        assert!(p.iter().all(|&x| x == 1.0) && m.iter().all(|&x| x == 0.0));
    }
    // A bad second tensor: the first is not written either.
    let g = [vec![1.0f32; 4], vec![1.0f32; 4]];
    let (mut p0, mut p1) = (vec![1.0f32; 4], vec![1.0f32; 4]);
    let (mut m0, mut v0, mut m1, mut v1) =
        (vec![0.0f32; 4], vec![0.0f32; 4], vec![0.0f32; 4], vec![0.0f32; 3]);
    let mut tensors = [
        AdamBuffers {
            param: &mut p0,
            grad: &g[0],
            exp_avg: &mut m0,
            exp_avg_sq: &mut v0,
            max_exp_avg_sq: None,
        },
        AdamBuffers {
            param: &mut p1,
            grad: &g[1],
            exp_avg: &mut m1,
            exp_avg_sq: &mut v1,
            max_exp_avg_sq: None,
        },
    ];
    let e = step_many_clipped(
        &AdamConfig::default(),
        1,
        &ClipGradNorm::new(1.0),
        &mut tensors,
        &Parallelism::Serial,
    );
    assert!(matches!(e, Err(Error::Tensor { index: 1, .. })), "{e:?}");
    assert!(p0.iter().all(|&x| x == 1.0) && m0.iter().all(|&x| x == 0.0));
}

#[test]
fn max_norm_zero_zeroes_the_gradient() {
    let (report, p, m) = adam_clipped(&[3.0, -4.0], &ClipGradNorm::new(0.0));
    assert_eq!(report.unwrap().coefficient, 0.0);
    assert!(p.iter().all(|&x| x == 1.0) && m.iter().all(|&x| x == 0.0));
}

#[test]
fn the_optimizer_clips_and_a_skipped_step_does_not_count() {
    use fused_optim::Adam;
    let g = [30.0f32, 40.0];
    let mut plain = Adam::<f32>::new(AdamConfig::default(), 2).unwrap();
    let mut clipped =
        Adam::<f32>::new(AdamConfig::default(), 2).unwrap().with_clip(Some(ClipGradNorm::new(1.0)));
    let (mut x, mut y) = (vec![1.0f32; 2], vec![1.0f32; 2]);
    let coefficient = spec::clip_coefficient(50.0, 1.0) as f32;
    plain.step(&mut x, &[g[0] * coefficient, g[1] * coefficient]).unwrap();
    clipped.step(&mut y, &g).unwrap();
    assert_eq!(x, y);
    assert_eq!(clipped.last_clip().unwrap().norm, 50.0);
    assert_eq!(clipped.steps(), 1);

    clipped.set_clip(Some(ClipGradNorm::new(1.0).skip_non_finite())).unwrap();
    clipped.step(&mut y, &[f32::NAN, 1.0]).unwrap();
    assert!(clipped.last_clip().unwrap().skipped);
    assert_eq!((clipped.steps(), &y), (1, &x), "skipped: not counted, nothing written");
    assert!(clipped.set_clip(Some(ClipGradNorm::new(-1.0))).is_err());
    clipped.set_clip(None).unwrap();
    clipped.step(&mut y, &g).unwrap();
    assert_eq!((clipped.steps(), clipped.last_clip()), (2, None));
}

/// The descriptor's gradient accessor is the gradient (for every algorithm).
#[test]
fn every_descriptor_lends_its_gradient() {
    fn check<A: TestAlgorithm>() {
        for config in A::configs() {
            let mut t = Tensor::<A, f32>::new(&config, &mut rng(1), Fill::Random, 5, 0);
            let want: Vec<f32> = t.grad.get().to_vec();
            let b = t.buffers();
            assert_eq!(A::grad(&b), &want[..]);
        }
    }
    check::<AdamConfig>();
    check::<AdaMaxConfig>();
    check::<AdaGradConfig>();
    check::<RmsPropConfig>();
    check::<AdaDeltaConfig>();
    check::<SgdConfig>();
    check::<LionConfig>();
}

#[test]
fn bf16_and_f16_norms_through_the_driver() {
    use fused_optim::kernels::{bf16, f16};
    split_everything();
    let v: Vec<f32> = gradient::<f32>(&mut rng(9), Fill::Random, 3 * NORM_BLOCK + 11);
    let b: Vec<bf16> = v.iter().map(|&x| bf16::from_f32(x)).collect();
    let h: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
    for p in parallelisms() {
        assert!(same(grad_norm(&[&b[..], &b[..7]], &p), spec::grad_norm(&[&b[..], &b[..7]])));
        assert!(same(grad_norm(&[&h[..]], &p), spec::grad_norm(&[&h[..]])));
    }
}

#[test]
fn the_mixed_step_clips_its_unscaled_gradients() {
    use fused_optim::kernels::{bf16, f16};
    use fused_optim::mixed::{
        MixedAdamBuffers, MixedOptions, MixedSlice, StepOutcome, adam_step_mixed_many_clipped,
        mixed_coefficients,
    };
    split_everything();
    let n = 3 * NORM_BLOCK + 5;
    let v: Vec<f32> = gradient::<f32>(&mut rng(12), Fill::Random, n);
    let config = AdamConfig { maximize: true, ..AdamConfig::default() };
    for loss_scale in [1.0, 1024.0, 3.0] {
        for p in [Parallelism::Serial, Parallelism::with_threads(3).unwrap()] {
            let b: Vec<bf16> = v.iter().map(|&x| bf16::from_f32(x * loss_scale as f32)).collect();
            let h: Vec<f16> = v[..100].iter().map(|&x| f16::from_f32(x)).collect();
            let options = MixedOptions { loss_scale, ..MixedOptions::default() };
            let clip = ClipGradNorm::new(0.25);
            // What clipping must equal: the reference on the same buffers
            // with the multiplier f32(s·coef).
            let k = mixed_coefficients(&config, 2, &options).unwrap();
            let s = f64::from(k.grad_scale);
            let norm = (spec::sum_squares(&b) + spec::sum_squares(&h)).sqrt() * s;
            let mut want_k = k;
            want_k.grad_scale = (s * spec::clip_coefficient(norm, 0.25)) as f32;
            let run = |clipped: bool| {
                let (mut p0, mut m0, mut v0) = (vec![1.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
                let (mut p1, mut m1, mut v1) = (vec![1.0f32; 100], vec![0.0f32; 100], vec![0.0f32; 100]);
                let (mut g0, mut g1) = (b.clone(), h.clone());
                let mut tensors = [
                    MixedAdamBuffers {
                        param: MixedSlice::F32(&mut p0),
                        grad: MixedSlice::Bf16(&mut g0),
                        exp_avg: MixedSlice::F32(&mut m0),
                        exp_avg_sq: MixedSlice::F32(&mut v0),
                        max_exp_avg_sq: None,
                        param_copy: None,
                        position: 0,
                    },
                    MixedAdamBuffers {
                        param: MixedSlice::F32(&mut p1),
                        grad: MixedSlice::F16(&mut g1),
                        exp_avg: MixedSlice::F32(&mut m1),
                        exp_avg_sq: MixedSlice::F32(&mut v1),
                        max_exp_avg_sq: None,
                        param_copy: None,
                        position: 0,
                    },
                ];
                let report = if clipped {
                    let (outcome, report) =
                        adam_step_mixed_many_clipped(&config, 2, &clip, &mut tensors, &options, &p).unwrap();
                    assert_eq!(outcome, StepOutcome::Applied);
                    report
                } else {
                    for t in tensors {
                        fused_optim::kernels::spec::mixed(t.into(), &want_k);
                    }
                    None
                };
                (p0, m0, p1, report)
            };
            let (a0, am, a1, report) = run(true);
            let (w0, wm, w1, _) = run(false);
            let report = report.unwrap();
            assert!(same(report.norm, norm), "{loss_scale}: {} vs {norm}", report.norm);
            assert_same_bits(&a0, &w0, &"param 0");
            assert_same_bits(&am, &wm, &"exp_avg 0");
            assert_same_bits(&a1, &w1, &"param 1");
        }
    }
}

/// The state slots `kept` says, from `s`'s buffers, as `f32` mixed slices.
fn mixed_state<'a>(s: &'a mut [Vec<f32>], kept: &[bool]) -> [Option<fused_optim::mixed::MixedSlice<'a>>; 3] {
    let mut it = s.iter_mut().zip(kept);
    std::array::from_fn(|_| {
        let (buf, &keep) = it.next().unwrap();
        keep.then(|| fused_optim::mixed::MixedSlice::F32(&mut buf[..]))
    })
}

/// The generic clipped mixed step of `config`'s algorithm on two tensors
/// (bf16 and f16 gradients, f32 parameters and state, step 2, maximize as
/// the config says) equals the reference's mixed step with the multiplier
/// `f32(s·coef)`, bit for bit, and reports the norm of the unscaled
/// gradients.
fn mixed_clipped_is_scaled_then_stepped<A: Algorithm>(config: A)
where
    A::Coefficients<f32>: fused_optim::mixed::MixedKernel,
{
    use fused_optim::kernels::{bf16, f16};
    use fused_optim::mixed::{
        MixedBuffers, MixedOptions, MixedSlice, StepOutcome, mixed_coefficients, step_mixed_many_clipped,
    };
    split_everything();
    let n = 3 * NORM_BLOCK + 5;
    let v: Vec<f32> = gradient::<f32>(&mut rng(13), Fill::Random, n);
    let kept: Vec<bool> = (0..3).map(|i| i < A::STATE.len() && config.keeps(i)).collect();
    for loss_scale in [1.0, 1024.0, 3.0] {
        for p in [Parallelism::Serial, Parallelism::with_threads(3).unwrap()] {
            let b: Vec<bf16> = v.iter().map(|&x| bf16::from_f32(x * loss_scale as f32)).collect();
            let h: Vec<f16> = v[..100].iter().map(|&x| f16::from_f32(x)).collect();
            let options = MixedOptions { loss_scale, ..MixedOptions::default() };
            let clip = ClipGradNorm::new(0.25);
            let k = mixed_coefficients(&config, 2, &options).unwrap();
            let s = f64::from(k.grad_scale);
            let norm = (spec::sum_squares(&b) + spec::sum_squares(&h)).sqrt() * s;
            let mut want_k = k;
            want_k.grad_scale = (s * spec::clip_coefficient(norm, 0.25)) as f32;
            let run = |clipped: bool| {
                let (mut p0, mut p1) = (vec![1.0f32; n], vec![1.0f32; 100]);
                let mut s0: Vec<Vec<f32>> = (0..3).map(|i| vec![0.01 * i as f32; n]).collect();
                let mut s1: Vec<Vec<f32>> = (0..3).map(|i| vec![0.01 * i as f32; 100]).collect();
                let (mut g0, mut g1) = (b.clone(), h.clone());
                let mut tensors = [
                    MixedBuffers {
                        param: MixedSlice::F32(&mut p0),
                        grad: MixedSlice::Bf16(&mut g0),
                        state: mixed_state(&mut s0, &kept),
                        param_copy: None,
                        position: 0,
                    },
                    MixedBuffers {
                        param: MixedSlice::F32(&mut p1),
                        grad: MixedSlice::F16(&mut g1),
                        state: mixed_state(&mut s1, &kept),
                        param_copy: None,
                        position: 0,
                    },
                ];
                let report = if clipped {
                    let (outcome, report) =
                        step_mixed_many_clipped(&config, 2, &clip, &mut tensors, &options, &p).unwrap();
                    assert_eq!(outcome, StepOutcome::Applied);
                    report
                } else {
                    for t in tensors {
                        spec::mixed(t, &want_k);
                    }
                    None
                };
                (p0, s0, p1, s1, report)
            };
            let (a0, as0, a1, as1, report) = run(true);
            let (w0, ws0, w1, ws1, _) = run(false);
            let report = report.unwrap();
            let ctx = format!("{config:?} loss scale {loss_scale} {p:?}");
            assert!(same(report.norm, norm), "{ctx}: {} vs {norm}", report.norm);
            assert_same_bits(&a0, &w0, &format!("param 0, {ctx}"));
            assert_same_bits(&a1, &w1, &format!("param 1, {ctx}"));
            for i in 0..3 {
                assert_same_bits(&as0[i], &ws0[i], &format!("state {i} of tensor 0, {ctx}"));
                assert_same_bits(&as1[i], &ws1[i], &format!("state {i} of tensor 1, {ctx}"));
            }
        }
    }
}

#[test]
fn the_generic_mixed_step_clips_adam_lion_and_sgd() {
    mixed_clipped_is_scaled_then_stepped(AdamConfig { maximize: true, ..AdamConfig::default() });
    mixed_clipped_is_scaled_then_stepped(AdamConfig { amsgrad: true, ..AdamConfig::default() });
    mixed_clipped_is_scaled_then_stepped(LionConfig::default());
    mixed_clipped_is_scaled_then_stepped(LionConfig {
        maximize: true,
        weight_decay: 0.1,
        ..LionConfig::default()
    });
    mixed_clipped_is_scaled_then_stepped(SgdConfig { momentum: 0.9, ..SgdConfig::default() });
    mixed_clipped_is_scaled_then_stepped(SgdConfig {
        momentum: 0.9,
        nesterov: true,
        maximize: true,
        ..SgdConfig::default()
    });
    mixed_clipped_is_scaled_then_stepped(SgdConfig::default());
}
