//! Edge inputs (empty and one-element buffers, zero ε with zero state,
//! subnormals, the largest step number, unequal lengths at the kernels'
//! entry points, …): for each, what comes out and why, pinned by a test. (Unequal lengths, bad hyperparameters, t = 0
//! and the AMSGrad buffer rules are in `errors.rs`; special values on every
//! tier in `differential.rs`.)

use fused_optim::kernels::{self, spec};
use fused_optim::{
    AdaDeltaBuffers, AdaDeltaConfig, AdaGradBuffers, AdaGradConfig, AdaMaxBuffers, AdaMaxConfig, AdamBuffers,
    AdamConfig, Error, LionBuffers, LionConfig, Parallelism, RmsPropBuffers, RmsPropConfig, SgdBuffers,
    SgdConfig, WeightDecay, adagrad_step, adam_step, adamax_step, lion_step,
};
use fused_optim_testkit::{
    Fill, Offset, Tensor, TestAlgorithm, assert_matches_reference, kernel_implementations, rng,
};

fn adam_once<T: fused_optim::Float>(c: &AdamConfig, t: u64, p: &mut [T], g: &[T], m: &mut [T], v: &mut [T]) {
    let b = AdamBuffers { param: p, grad: g, exp_avg: m, exp_avg_sq: v, max_exp_avg_sq: None };
    adam_step(c, t, b, &Parallelism::Serial).unwrap();
}

/// Empty slices are a valid step of nothing; the owning optimizer counts it.
#[test]
fn empty_slices_are_a_valid_step() {
    let mut e: [f32; 0] = [];
    let (mut m, mut v, mut x) = ([0.0f32; 0], [0.0f32; 0], [0.0f32; 0]);
    let c = AdamConfig { amsgrad: true, ..AdamConfig::default() };
    let b = AdamBuffers {
        param: &mut e,
        grad: &[],
        exp_avg: &mut m,
        exp_avg_sq: &mut v,
        max_exp_avg_sq: Some(&mut x),
    };
    assert_eq!(adam_step(&c, 1, b, &Parallelism::Global), Ok(()));
    let mut u = [0.0f64; 0];
    let b = AdaMaxBuffers { param: &mut [], grad: &[], exp_avg: &mut [], exp_inf: &mut u };
    assert_eq!(adamax_step(&AdaMaxConfig::default(), 1, b, &Parallelism::Global), Ok(()));
    let mut opt = fused_optim::Adam::<f64>::new(AdamConfig::default(), 0).unwrap();
    opt.step(&mut [], &[]).unwrap();
    assert!(opt.is_empty() && opt.steps() == 1);
    // A length mismatch against an empty parameter is still a mismatch.
    let b = AdamBuffers {
        param: &mut e,
        grad: &[1.0],
        exp_avg: &mut m,
        exp_avg_sq: &mut v,
        max_exp_avg_sq: None,
    };
    assert_eq!(
        adam_step(&AdamConfig::default(), 1, b, &Parallelism::Serial),
        Err(Error::LengthMismatch { buffer: "grad", len: 1, expected: 0 })
    );
}

/// One element goes through the partial-vector path of every tier alone.
#[test]
fn length_one_matches_reference_everywhere() {
    let implementations = kernel_implementations();
    for config in AdamConfig::configs() {
        for seed in 0..20 {
            let start =
                Tensor::<AdamConfig, f32>::new(&config, &mut rng(seed), Fill::Special, 1, seed as usize % 3);
            assert_matches_reference::<AdamConfig, f32>(&config, &start, &implementations, &"len=1");
        }
    }
}

/// t = u64::MAX: β^t underflows to 0, both bias corrections are 1, and the
/// step is plain `lr·m/(√v + ε)`; finite, and the same on every tier.
#[test]
fn largest_step_number() {
    let c = AdamConfig::default();
    let k = c.coefficients::<f32>(u64::MAX).unwrap();
    assert_eq!((k.step_size, k.eps_hat), (1e-3f32, 1e-8f32));
    let k1 = c.coefficients::<f64>(1).unwrap();
    assert!((k1.step_size - 1e-3 * 0.001f64.sqrt() / 0.1).abs() < 1e-18);
    let (mut p, g, mut m, mut v) = ([1.0f32, -1.0], [0.5f32, 0.5], [0.1f32, 0.1], [0.01f32, 0.01]);
    adam_once(&c, u64::MAX, &mut p, &g, &mut m, &mut v);
    assert!(p.iter().all(|x| x.is_finite()));
    let mut opt = fused_optim::AdaMax::<f32>::new(AdaMaxConfig::default(), 1).unwrap();
    opt.set_steps(u64::MAX - 1);
    opt.step(&mut [1.0], &[1.0]).unwrap();
    assert_eq!(opt.step(&mut [1.0], &[1.0]), Err(Error::StepCountOverflow));
}

/// β = 0 keeps no memory: m = g, v = g², and every step is lr·g/(|g| + ε).
/// β just below 1 is valid: the bias corrections are tiny but positive and
/// the step stays finite. (In f32, 1 − 2⁻⁵³ rounds to β = 1.0 exactly, so
/// the moments keep their old value plus (1 − β)·g with 1 − β = 2⁻⁵³ in f64,
/// rounded to f32 on its own.)
#[test]
fn betas_zero_and_just_below_one() {
    let c = AdamConfig { betas: (0.0, 0.0), ..AdamConfig::default() };
    for t in [1, 2, 50] {
        let (mut p, g, mut m, mut v) = ([1.0f64], [-0.25f64], [9.0f64], [9.0f64]);
        adam_once(&c, t, &mut p, &g, &mut m, &mut v);
        assert_eq!((m[0], v[0]), (-0.25, 0.0625));
        assert!((p[0] - (1.0 + 1e-3 * 0.25 / (0.25 + 1e-8))).abs() < 1e-15, "{}", p[0]);
    }
    let below = 1.0 - f64::EPSILON / 2.0;
    let c = AdamConfig { betas: (below, below), ..AdamConfig::default() };
    let k = c.coefficients::<f32>(1).unwrap();
    assert_eq!(k.beta1, 1.0f32);
    assert_eq!(k.one_minus_beta1, (f64::EPSILON / 2.0) as f32);
    for t in [1u64, 2, 1 << 40] {
        let (mut p, g, mut m, mut v) = ([1.0f32], [0.5f32], [0.0f32], [0.0f32]);
        adam_once(&c, t, &mut p, &g, &mut m, &mut v);
        assert!(p[0].is_finite() && m[0] > 0.0 && v[0] > 0.0, "t={t}: {p:?} {m:?} {v:?}");
    }
}

/// lr = 0: every finite update is multiplied by zero and the parameters keep
/// their bits (the moments still move). lr = ±inf or NaN is refused.
#[test]
fn learning_rate_zero_inf_nan() {
    let c = AdamConfig { lr: 0.0, ..AdamConfig::adamw() };
    let mut r = rng(3);
    let p0: Vec<f32> = fused_optim_testkit::values(&mut r, Fill::Random, 300, false);
    let g: Vec<f32> = fused_optim_testkit::values(&mut r, Fill::Random, 300, false);
    let (mut p, mut m, mut v) = (p0.clone(), vec![0.0f32; 300], vec![0.0f32; 300]);
    for t in 1..4 {
        adam_once(&c, t, &mut p, &g, &mut m, &mut v);
    }
    assert_eq!(p, p0);
    assert!(m.iter().zip(&g).all(|(m, g)| m.signum() == g.signum()));
    for lr in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
        let c = AdamConfig { lr, ..AdamConfig::default() };
        let b = AdamBuffers {
            param: &mut p,
            grad: &g,
            exp_avg: &mut m,
            exp_avg_sq: &mut v,
            max_exp_avg_sq: None,
        };
        assert!(matches!(
            adam_step(&c, 1, b, &Parallelism::Serial),
            Err(Error::InvalidHyperparameter { name: "lr", .. })
        ));
    }
}

/// ε = 0 with zero state: where the gradient is zero, m = v = 0 and the
/// update is 0/0 = NaN, exactly as the formula (and PyTorch) computes it.
/// Where the gradient is not zero, v > 0 and the step is the usual one.
/// Choose ε > 0 (the default 1e-8) unless every gradient is nonzero.
#[test]
fn eps_zero_with_zero_state() {
    let c = AdamConfig { eps: 0.0, ..AdamConfig::default() };
    let (mut p, g, mut m, mut v) = ([1.0f32, 1.0], [0.0f32, 3.0], [0.0f32; 2], [0.0f32; 2]);
    adam_once(&c, 1, &mut p, &g, &mut m, &mut v);
    assert!(p[0].is_nan());
    assert!((p[1] - (1.0 - 1e-3)).abs() < 1e-6);
    // The same bits on every tier (the NaN included).
    let implementations = kernel_implementations();
    let mut start = Tensor::<AdamConfig, f32>::new(&c, &mut rng(1), Fill::ZeroGrad, 40, 1);
    for b in &mut start.state[..2] {
        *b = Some(Offset::new(&[0.0; 40], 1));
    }
    assert_matches_reference::<AdamConfig, f32>(&c, &start, &implementations, &"eps=0, zero state");
}

/// Weight decay with maximize: the gradient is negated first, then the
/// decay is added (PyTorch's order), so decay still shrinks |p| when
/// maximizing; with a zero gradient, maximize changes nothing.
#[test]
fn weight_decay_with_maximize() {
    for decay in [WeightDecay::L2(0.5), WeightDecay::Decoupled(0.5)] {
        let mut out = Vec::new();
        for maximize in [false, true] {
            let c = AdamConfig { lr: 0.1, weight_decay: decay, maximize, ..AdamConfig::default() };
            let (mut p, g, mut m, mut v) = ([2.0f64, -2.0], [0.0f64; 2], [0.0f64; 2], [0.0f64; 2]);
            for t in 1..=3 {
                adam_once(&c, t, &mut p, &g, &mut m, &mut v);
            }
            assert!(p[0] < 2.0 && p[1] > -2.0, "{decay:?} maximize={maximize}: {p:?}");
            out.push(p);
        }
        assert_eq!(out[0], out[1], "{decay:?}: maximize with a zero gradient changed the step");
    }
}

/// Subnormal parameters, gradients and moments: handled at full IEEE
/// precision (no flush to zero) and bit-identically on every tier.
#[test]
fn subnormal_inputs() {
    let implementations = kernel_implementations();
    let sub = f32::from_bits(0x0000_0400);
    for config in AdamConfig::configs() {
        let mut start = Tensor::<AdamConfig, f32>::new(&config, &mut rng(5), Fill::Random, 50, 0);
        let all = vec![sub; 50];
        start.grad = Offset::new(&all, 0);
        start.param = Offset::new(&all, 0);
        *start.state_mut("exp_avg") = Some(Offset::new(&all, 0));
        assert_matches_reference::<AdamConfig, f32>(&config, &start, &implementations, &"subnormal");
    }
    // The first moment of a subnormal gradient is itself subnormal, not zero.
    let (mut p, g, mut m, mut v) = ([1.0f32], [sub], [0.0f32], [0.0f32]);
    adam_once(&AdamConfig::default(), 1, &mut p, &g, &mut m, &mut v);
    assert!(m[0] != 0.0 && m[0].is_subnormal());
}

// A caller's flush-to-zero (FTZ/DAZ in MXCSR) is outside the contract, and
// deliberately untested: Rust and LLVM assume the default floating-point
// environment, and Rust documents changing those flags as undefined
// behaviour, so no test could set them soundly. See the crate docs.

/// The kernels crate's entry points take no `Result`: on unequal lengths they
/// panic (documented under "Panics"), before writing anything, on every tier.
#[test]
fn kernel_entry_points_panic_before_writing() {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    let k = AdamConfig::default().coefficients::<f32>(1).unwrap();
    let g = [1.0f32; 9];
    let (mut p, mut m, mut v) = ([2.0f32; 10], [3.0f32; 10], [4.0f32; 10]);
    type Call<'k> = Box<dyn FnMut(AdamBuffers<'_, f32>) + 'k>;
    let mut calls: Vec<Call<'_>> = vec![Box::new(|b| kernels::adam(b, &k)), Box::new(|b| spec::adam(b, &k))];
    for tier in kernels::ALL_TIERS.into_iter().filter(|t| t.is_available()) {
        calls.push(Box::new(move |b| kernels::adam_on(tier, b, &k).unwrap()));
    }
    for call in &mut calls {
        let b = AdamBuffers {
            param: &mut p,
            grad: &g,
            exp_avg: &mut m,
            exp_avg_sq: &mut v,
            max_exp_avg_sq: None,
        };
        let message = catch_unwind(AssertUnwindSafe(|| call(b))).expect_err("unequal lengths must panic");
        let text = message.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(text.contains("`grad` has 9 elements, `param` has 10"), "{text}");
        assert_eq!((p, m, v), ([2.0; 10], [3.0; 10], [4.0; 10]));
    }
    let ka = AdaMaxConfig::default().coefficients::<f64>(1).unwrap();
    let (mut p, mut m, mut u) = ([2.0f64; 4], [3.0f64; 4], [4.0f64; 3]);
    let b = AdaMaxBuffers { param: &mut p, grad: &[1.0; 4], exp_avg: &mut m, exp_inf: &mut u };
    assert!(catch_unwind(AssertUnwindSafe(|| kernels::adamax(b, &ka))).is_err());
    assert_eq!((p, m, u), ([2.0; 4], [3.0; 4], [4.0; 3]));
}

/// Every algorithm: an empty step is valid, one element matches the reference
/// on every tier, and the largest step number is a valid step (its per-step
/// scalars are finite: bias corrections 1, AdaGrad's decayed rate ≥ 0).
fn edges_of<A: TestAlgorithm>() {
    let implementations = kernel_implementations();
    for config in A::configs() {
        let mut empty = Tensor::<A, f64>::new(&config, &mut rng(1), Fill::Random, 0, 0);
        assert_eq!(empty.api_step(&config, 1, &Parallelism::Global), Ok(()), "{}", A::NAME);
        for seed in 0..10 {
            let start = Tensor::<A, f32>::new(&config, &mut rng(seed), Fill::Special, 1, seed as usize % 3);
            assert_matches_reference::<A, f32>(&config, &start, &implementations, &"len=1");
        }
        let mut s = Tensor::<A, f32>::new(&config, &mut rng(2), Fill::Random, 33, 1);
        assert_eq!(s.api_step(&config, u64::MAX, &Parallelism::Serial), Ok(()), "{}", A::NAME);
    }
}

#[test]
fn empty_one_element_and_largest_step_for_every_algorithm() {
    edges_of::<AdaMaxConfig>();
    edges_of::<AdaGradConfig>();
    edges_of::<RmsPropConfig>();
    edges_of::<AdaDeltaConfig>();
    edges_of::<SgdConfig>();
    edges_of::<LionConfig>();
}

/// Lion's sign, through the public step: a zero `c` leaves the parameter's
/// bits (`−0` included), subnormals and infinities move it by exactly `lr`,
/// and a NaN gradient reaches the parameter (lion-pytorch's `torch.sign`
/// would give 0 and leave it where it was).
#[test]
fn lion_sign_edges() {
    let c = LionConfig { lr: 0.5, ..LionConfig::default() };
    let sub = f32::from_bits(0x40_0000); // a subnormal whose (1−β1)· and (1−β2)· stay nonzero
    let tiny = f32::from_bits(1); // the smallest subnormal: (1−β1)·tiny rounds to 0
    let g = [0.0f32, -0.0, 0.0, sub, -sub, f32::INFINITY, f32::NEG_INFINITY, tiny, f32::NAN];
    let mut p = [-0.0f32, 0.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
    let mut m = [0.0f32, -0.0, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    lion_step(&c, 1, LionBuffers { param: &mut p, grad: &g, exp_avg: &mut m }, &Parallelism::Serial).unwrap();
    let want = [-0.0f32, 0.0, 2.0, 0.5, 1.5, 0.5, 1.5, 1.0];
    assert_eq!(p[..8].iter().map(|x| x.to_bits()).collect::<Vec<_>>(), want.map(f32::to_bits));
    assert!(p[8].is_nan() && m[8].is_nan());
    assert_eq!(m[5..7], [f32::INFINITY, f32::NEG_INFINITY]);
    assert!(m[3] > 0.0 && m[3] < f32::MIN_POSITIVE && m[4] == -m[3]);
    assert_eq!(m[7].to_bits(), 0.0f32.to_bits());

    // A momentum that went NaN keeps the parameter NaN too (not frozen).
    let (mut p, mut m) = ([1.0f64], [f64::NAN]);
    lion_step(&c, 7, LionBuffers { param: &mut p, grad: &[1.0], exp_avg: &mut m }, &Parallelism::Serial)
        .unwrap();
    assert!(p[0].is_nan() && m[0].is_nan());

    // Decay applies where the sign is 0; maximize flips the step.
    let c = LionConfig { lr: 0.25, weight_decay: 1.0, maximize: true, ..LionConfig::default() };
    let (mut p, mut m) = ([2.0f64, 2.0], [0.0f64, 0.0]);
    lion_step(&c, 1, LionBuffers { param: &mut p, grad: &[0.0, 1.0], exp_avg: &mut m }, &Parallelism::Serial)
        .unwrap();
    assert_eq!(p, [1.5, 1.75]); // 2·(1 − 0.25) = 1.5, then + lr for the ascent
}

/// AdaGrad's `lr_decay` at a huge step: `1 + (t−1)·lr_decay` overflows to
/// inf, so `clr = 0` and the parameters keep their bits (the sum still grows).
#[test]
fn adagrad_lr_decay_at_huge_steps_stops_the_parameters() {
    let c = AdaGradConfig { lr_decay: 1e300, ..AdaGradConfig::default() };
    let (mut p, g, mut s) = ([1.5f32, -2.0], [1.0f32, 3.0], [0.0f32; 2]);
    let b = AdaGradBuffers { param: &mut p, grad: &g, sum: &mut s };
    adagrad_step(&c, u64::MAX, b, &Parallelism::Serial).unwrap();
    assert_eq!((p, s), ([1.5, -2.0], [1.0, 9.0]));
}

/// The new kernels' entry points panic on unequal lengths before writing, as Adam's do.
#[test]
fn family_kernel_entry_points_panic_before_writing() {
    use std::panic::{AssertUnwindSafe, catch_unwind};
    let (mut p, mut a, mut b) = ([1.0f32; 5], [2.0f32; 5], [3.0f32; 4]);
    let k = AdaGradConfig::default().coefficients::<f32>(1).unwrap();
    let call = catch_unwind(AssertUnwindSafe(|| {
        kernels::adagrad(AdaGradBuffers { param: &mut p, grad: &[1.0; 5], sum: &mut b }, &k)
    }));
    assert!(call.is_err() && p == [1.0; 5] && b == [3.0; 4]);
    let k = RmsPropConfig::default().coefficients::<f32>(1).unwrap();
    let call = catch_unwind(AssertUnwindSafe(|| {
        let buffers = RmsPropBuffers {
            param: &mut p,
            grad: &[1.0; 5],
            square_avg: &mut a,
            momentum_buffer: None,
            grad_avg: Some(&mut b),
        };
        kernels::rmsprop(buffers, &k)
    }));
    let text = call.expect_err("unequal lengths").downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.contains("RMSprop: `grad_avg` has 4 elements, `param` has 5"), "{text}");
    assert!(p == [1.0; 5] && a == [2.0; 5] && b == [3.0; 4]);
    let k = AdaDeltaConfig::default().coefficients::<f32>(1).unwrap();
    let call = catch_unwind(AssertUnwindSafe(|| {
        let buffers =
            AdaDeltaBuffers { param: &mut p, grad: &[1.0; 5], square_avg: &mut a, acc_delta: &mut b };
        kernels::adadelta_on(kernels::Tier::Portable, buffers, &k)
    }));
    assert!(call.is_err() && p == [1.0; 5] && a == [2.0; 5] && b == [3.0; 4]);
    let k = SgdConfig { momentum: 0.9, ..SgdConfig::default() }.coefficients::<f32>(2).unwrap();
    let call = catch_unwind(AssertUnwindSafe(|| {
        kernels::sgd(SgdBuffers { param: &mut p, grad: &[1.0; 5], momentum_buffer: Some(&mut b) }, &k)
    }));
    let text = call.expect_err("unequal lengths").downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.contains("SGD: `momentum_buffer` has 4 elements, `param` has 5"), "{text}");
    assert!(p == [1.0; 5] && b == [3.0; 4]);
    let k = LionConfig::default().coefficients::<f32>(1).unwrap();
    let call = catch_unwind(AssertUnwindSafe(|| {
        kernels::lion(LionBuffers { param: &mut p, grad: &[1.0; 5], exp_avg: &mut b }, &k)
    }));
    let text = call.expect_err("unequal lengths").downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.contains("Lion: `exp_avg` has 4 elements, `param` has 5"), "{text}");
    assert!(p == [1.0; 5] && b == [3.0; 4]);
}

/// SGD's first step (`t == 1`) never reads the momentum buffer: NaN and inf
/// left in it do not reach the parameters, on any tier; the buffer then
/// holds the gradient (Nesterov: the step is `d + μ·d`).
#[test]
fn sgd_first_step_ignores_the_momentum_buffer() {
    for nesterov in [false, true] {
        let c = SgdConfig { lr: 0.5, momentum: 0.5, nesterov, ..SgdConfig::default() };
        let implementations = kernel_implementations();
        for with in std::iter::once(&fused_optim_testkit::Implementation::Reference).chain(&implementations) {
            let (mut p, g) = (vec![1.0f32; 37], vec![0.5f32; 37]);
            let mut b: Vec<f32> = (0..37).map(|i| [f32::NAN, f32::INFINITY, -7.0][i % 3]).collect();
            let buffers = SgdBuffers { param: &mut p, grad: &g, momentum_buffer: Some(&mut b) };
            fused_optim_testkit::harness::run_step(&c, 1, buffers, with);
            let want = if nesterov { 1.0 - 0.5 * (0.5 + 0.5 * 0.5) } else { 0.75 };
            assert!(p.iter().all(|&x| x == want), "{with} nesterov={nesterov}: {p:?}");
            assert!(b.iter().all(|&x| x == 0.5), "{with} nesterov={nesterov}: {b:?}");
            // The same buffer at t = 2 is read: b = 0.5·0.5 + 0.5.
            let buffers = SgdBuffers { param: &mut p, grad: &g, momentum_buffer: Some(&mut b) };
            fused_optim_testkit::harness::run_step(&c, 2, buffers, with);
            assert!(b.iter().all(|&x| x == 0.75), "{with} nesterov={nesterov}: {b:?}");
        }
    }
}
