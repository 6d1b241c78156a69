//! Bad input gets its documented error, and every buffer is bit-identical to
//! before the call.

use fused_optim::{
    AdaDeltaConfig, AdaGradConfig, AdaMaxConfig, AdamConfig, Error, LionConfig, Optimizer, Parallelism,
    RmsPropConfig, SgdConfig, WeightDecay, adam_step, adamax_step,
};
use fused_optim_testkit::{Fill, Offset, Tensor, TestAlgorithm, rng};

/// Bits of every buffer of a state, to compare before and after.
fn adam_bits(s: &Tensor<AdamConfig, f32>) -> Vec<Vec<u32>> {
    let mut out: Vec<Vec<u32>> =
        s.outputs().iter().map(|(_, b)| b.iter().map(|x| x.to_bits()).collect()).collect();
    out.push(s.grad.get().iter().map(|x| x.to_bits()).collect());
    out
}

fn adamax_bits(s: &Tensor<AdaMaxConfig, f64>) -> Vec<Vec<u64>> {
    let mut out: Vec<Vec<u64>> =
        s.outputs().iter().map(|(_, b)| b.iter().map(|x| x.to_bits()).collect()).collect();
    out.push(s.grad.get().iter().map(|x| x.to_bits()).collect());
    out
}

fn assert_adam_refused(config: AdamConfig, t: u64, amsgrad_buffer: bool, want: Error) {
    let with_buffer = AdamConfig { amsgrad: amsgrad_buffer, ..AdamConfig::default() };
    let mut s = Tensor::<AdamConfig, f32>::new(&with_buffer, &mut rng(1), Fill::Special, 100, 1);
    let before = adam_bits(&s);
    for parallelism in [Parallelism::Serial, Parallelism::Global] {
        let got = adam_step(&config, t, s.buffers(), &parallelism);
        assert_eq!(got, Err(want.clone()), "{config:?} t={t}");
        assert_eq!(adam_bits(&s), before, "{config:?} t={t}: a refused step wrote");
    }
    let message = want.to_string();
    assert!(!message.is_empty());
}

#[test]
fn adam_bad_hyperparameters_are_named_and_write_nothing() {
    let d = AdamConfig::default();
    let bad = |name, value, expected| Error::InvalidHyperparameter { name, value, expected };
    let unit = "in [0, 1)";
    let nonneg = "finite and >= 0";
    let cases = [
        (AdamConfig { lr: -1e-3, ..d }, bad("lr", -1e-3, nonneg)),
        (AdamConfig { lr: f64::INFINITY, ..d }, bad("lr", f64::INFINITY, nonneg)),
        (AdamConfig { betas: (1.0, 0.999), ..d }, bad("beta1", 1.0, unit)),
        (AdamConfig { betas: (-0.1, 0.999), ..d }, bad("beta1", -0.1, unit)),
        (AdamConfig { betas: (0.9, 1.0), ..d }, bad("beta2", 1.0, unit)),
        (AdamConfig { betas: (0.9, 1.5), ..d }, bad("beta2", 1.5, unit)),
        (AdamConfig { eps: -1e-8, ..d }, bad("eps", -1e-8, nonneg)),
        (AdamConfig { weight_decay: WeightDecay::L2(-0.1), ..d }, bad("weight_decay", -0.1, nonneg)),
        (AdamConfig { weight_decay: WeightDecay::Decoupled(-0.1), ..d }, bad("weight_decay", -0.1, nonneg)),
    ];
    for (config, want) in cases {
        assert_adam_refused(config, 1, false, want);
    }
    // NaN never compares equal, so check those by name.
    for config in [
        AdamConfig { lr: f64::NAN, ..d },
        AdamConfig { betas: (f64::NAN, 0.999), ..d },
        AdamConfig { betas: (0.9, f64::NAN), ..d },
        AdamConfig { eps: f64::NAN, ..d },
        AdamConfig { weight_decay: WeightDecay::Decoupled(f64::NAN), ..d },
        AdamConfig { weight_decay: WeightDecay::L2(f64::NAN), ..d },
    ] {
        let mut s = Tensor::<AdamConfig, f32>::new(&d, &mut rng(2), Fill::Random, 33, 0);
        let before = adam_bits(&s);
        let err = adam_step(&config, 1, s.buffers(), &Parallelism::Serial).unwrap_err();
        assert!(matches!(err, Error::InvalidHyperparameter { value, .. } if value.is_nan()), "{err}");
        assert!(err.to_string().contains("NaN"), "{err}");
        assert_eq!(adam_bits(&s), before);
    }
}

#[test]
fn adam_step_zero_and_amsgrad_mismatch_are_refused() {
    let d = AdamConfig::default();
    assert_adam_refused(d, 0, false, Error::ZeroStep);
    assert_adam_refused(
        AdamConfig { amsgrad: true, ..d },
        1,
        false,
        Error::MissingState { buffer: "max_exp_avg_sq", option: "amsgrad" },
    );
    assert_adam_refused(d, 1, true, Error::UnexpectedState { buffer: "max_exp_avg_sq", option: "amsgrad" });
}

#[test]
fn adam_unequal_lengths_are_refused() {
    let config = AdamConfig { amsgrad: true, ..AdamConfig::default() };
    let names = ["grad", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"];
    for (k, name) in names.into_iter().enumerate() {
        for delta in [-1i64, 1] {
            let mut s = Tensor::<AdamConfig, f32>::new(&config, &mut rng(3), Fill::Random, 64, 0);
            let short = (64 + delta) as usize;
            let shorter = |o: &mut Offset<f32>| {
                let v: Vec<f32> = (0..short).map(|i| o.get().get(i).copied().unwrap_or(0.5)).collect();
                *o = Offset::new(&v, 0);
            };
            match k {
                0 => shorter(&mut s.grad),
                _ => shorter(s.state[k - 1].as_mut().unwrap()),
            }
            let before = adam_bits(&s);
            let got = adam_step(&config, 1, s.buffers(), &Parallelism::Global);
            assert_eq!(got, Err(Error::LengthMismatch { buffer: name, len: short, expected: 64 }));
            assert_eq!(adam_bits(&s), before);
            assert!(got.unwrap_err().to_string().contains(name));
        }
    }
}

#[test]
fn adamax_bad_input_is_refused() {
    let d = AdaMaxConfig::default();
    let cases = [
        (AdaMaxConfig { lr: -1.0, ..d }, 1, "lr"),
        (AdaMaxConfig { lr: f64::NAN, ..d }, 1, "lr"),
        (AdaMaxConfig { lr: f64::INFINITY, ..d }, 1, "lr"),
        (AdaMaxConfig { betas: (1.0, 0.999), ..d }, 1, "beta1"),
        (AdaMaxConfig { betas: (-0.5, 0.999), ..d }, 1, "beta1"),
        (AdaMaxConfig { betas: (0.9, 1.0), ..d }, 1, "beta2"),
        (AdaMaxConfig { eps: f64::NAN, ..d }, 1, "eps"),
        (AdaMaxConfig { eps: -1e-8, ..d }, 1, "eps"),
        (AdaMaxConfig { weight_decay: -1.0, ..d }, 1, "weight_decay"),
        (AdaMaxConfig { weight_decay: f64::NAN, ..d }, 1, "weight_decay"),
        (AdaMaxConfig { weight_decay: f64::INFINITY, ..d }, 1, "weight_decay"),
        (d, 0, "t = 0"),
    ];
    for (config, t, named) in cases {
        let mut s = Tensor::<AdaMaxConfig, f64>::new(&d, &mut rng(4), Fill::Special, 50, 3);
        let before = adamax_bits(&s);
        let err = adamax_step(&config, t, s.buffers(), &Parallelism::Serial).unwrap_err();
        assert!(err.to_string().contains(named), "{err}");
        assert_eq!(adamax_bits(&s), before);
    }
    let mut s = Tensor::<AdaMaxConfig, f64>::new(&d, &mut rng(5), Fill::Random, 50, 0);
    *s.state_mut("exp_inf") = Some(Offset::new(&[1.0; 49], 0));
    let before = adamax_bits(&s);
    let got = adamax_step(&d, 1, s.buffers(), &Parallelism::Serial);
    assert_eq!(got, Err(Error::LengthMismatch { buffer: "exp_inf", len: 49, expected: 50 }));
    assert_eq!(adamax_bits(&s), before);
}

#[test]
fn owning_optimizer_refuses_without_counting_the_step() {
    assert!(Optimizer::<AdamConfig, f32>::new(AdamConfig { lr: -1.0, ..AdamConfig::default() }, 4).is_err());
    let mut opt = fused_optim::Adam::<f32>::new(AdamConfig::default(), 4).unwrap();
    let mut p = [1.0f32; 4];
    assert_eq!(
        opt.step(&mut p, &[1.0; 3]),
        Err(Error::LengthMismatch { buffer: "grad", len: 3, expected: 4 })
    );
    assert_eq!((opt.steps(), p), (0, [1.0; 4]));
    assert!(opt.state().exp_avg.iter().all(|&m| m == 0.0));
    opt.step(&mut p, &[1.0; 4]).unwrap();
    assert_eq!(opt.steps(), 1);
    assert!(opt.set_config(AdamConfig { betas: (0.9, 2.0), ..AdamConfig::default() }).is_err());
    opt.set_steps(u64::MAX);
    assert_eq!(opt.step(&mut p, &[1.0; 4]), Err(Error::StepCountOverflow));
    assert_eq!(opt.steps(), u64::MAX);
}

#[test]
fn owning_optimizer_matches_stateless_steps() {
    let config = AdamConfig { amsgrad: true, ..AdamConfig::adamw() };
    let mut opt = fused_optim::Adam::<f64>::new(config, 10).unwrap();
    let mut s = Tensor::<AdamConfig, f64>::new(&config, &mut rng(9), Fill::Random, 10, 0);
    // Start both from zero state, as the optimizer does.
    for b in &mut s.state {
        *b = Some(Offset::new(&[0.0; 10], 0));
    }
    let mut p = s.param.get().to_vec();
    for t in 1..=4 {
        opt.step(&mut p, s.grad.get()).unwrap();
        adam_step(&config, t, s.buffers(), &Parallelism::Serial).unwrap();
    }
    assert_eq!(p, s.param.get());
    assert_eq!(opt.state().exp_avg_sq, s.state[1].as_ref().unwrap().get());
    // Switching AMSGrad off drops its buffer; on again starts it from zero.
    opt.set_config(AdamConfig { amsgrad: false, ..config }).unwrap();
    assert!(opt.state().max_exp_avg_sq.is_none());
    opt.set_config(config).unwrap();
    assert_eq!(opt.state().max_exp_avg_sq.as_deref(), Some(&[0.0; 10][..]));
    // RMSprop's momentum and centering buffers follow their options the same way.
    let mut rms = fused_optim::RmsProp::<f32>::new(RmsPropConfig::default(), 5).unwrap();
    assert!(rms.state().momentum_buffer.is_none() && rms.state().grad_avg.is_none());
    rms.set_config(RmsPropConfig { momentum: 0.9, centered: true, ..RmsPropConfig::default() }).unwrap();
    assert_eq!(rms.state().momentum_buffer.as_deref(), Some(&[0.0f32; 5][..]));
    assert_eq!(rms.state().grad_avg.as_deref(), Some(&[0.0f32; 5][..]));
    rms.set_config(RmsPropConfig { centered: true, ..RmsPropConfig::default() }).unwrap();
    assert!(rms.state().momentum_buffer.is_none() && rms.state().grad_avg.is_some());
    let mut adamax = fused_optim::AdaMax::<f32>::new(AdaMaxConfig::default(), 3).unwrap();
    let mut q = [1.0f32; 3];
    adamax.step(&mut q, &[1.0, -1.0, 0.0]).unwrap();
    assert!(q[0] < 1.0 && q[1] > 1.0 && q[2] == 1.0);
}

/// Finite hyperparameters whose per-step scalars overflow the element type
/// are refused, naming the hyperparameter, and write nothing.
#[test]
fn derived_scalars_that_overflow_are_refused() {
    let d = AdamConfig::default();
    let named = |e: Error| match e {
        Error::InvalidHyperparameter { name, .. } => name,
        other => panic!("{other}"),
    };
    // lr·√bc2/bc1 above f32's range: fine for f64, refused for f32.
    let huge_lr = AdamConfig { lr: 1e40, ..d };
    assert!(huge_lr.coefficients::<f64>(1).is_ok());
    assert_eq!(named(huge_lr.coefficients::<f32>(1).unwrap_err()), "lr");
    // 1 − lr·wd overflows f64 itself.
    let decay = AdamConfig { lr: 1e200, weight_decay: WeightDecay::Decoupled(1e200), ..d };
    assert_eq!(named(decay.coefficients::<f64>(1).unwrap_err()), "weight_decay");
    let l2 = AdamConfig { weight_decay: WeightDecay::L2(1e300), ..d };
    assert_eq!(named(l2.coefficients::<f32>(1).unwrap_err()), "weight_decay");
    let eps = AdamConfig { eps: 1e300, ..d };
    assert_eq!(named(eps.coefficients::<f32>(1).unwrap_err()), "eps");
    let ada = AdaMaxConfig { lr: 1e300, ..AdaMaxConfig::default() };
    assert_eq!(named(ada.coefficients::<f32>(1).unwrap_err()), "lr");
    assert!(ada.coefficients::<f64>(1).is_ok());
    // Through the step: nothing written.
    let mut s = Tensor::<AdamConfig, f32>::new(&d, &mut rng(11), Fill::Random, 40, 2);
    let before = adam_bits(&s);
    assert!(adam_step(&decay, 1, s.buffers(), &Parallelism::Serial).is_err());
    assert!(adam_step(&huge_lr, 1, s.buffers(), &Parallelism::Global).is_err());
    assert_eq!(adam_bits(&s), before);
}

/// Every buffer a step writes, as bits.
fn output_bits<A: TestAlgorithm>(s: &Tensor<A, f32>) -> Vec<Vec<u32>> {
    s.outputs().iter().map(|(_, b)| b.iter().map(|x| x.to_bits()).collect()).collect()
}

/// Each config is refused at step `t` with an error whose message names
/// `named`, through the public step on one thread and on the pool, and
/// writes nothing. Buffers are laid out for `layout` (so the optional ones
/// match a valid config unless the case is about them).
fn assert_refused<A: TestAlgorithm>(layout: &A, cases: &[(A, u64, &str)]) {
    for (config, t, named) in cases {
        let mut s = Tensor::<A, f32>::new(layout, &mut rng(21), Fill::Special, 70, 1);
        let before = output_bits::<A>(&s);
        for parallelism in [Parallelism::Serial, Parallelism::Global] {
            let err = s.api_step(config, *t, &parallelism).unwrap_err();
            assert!(err.to_string().contains(named), "{} {config:?} t={t}: {err}", A::NAME);
            assert_eq!(output_bits::<A>(&s), before, "{} {config:?} t={t}: a refused step wrote", A::NAME);
        }
    }
}

#[test]
fn adagrad_bad_input_is_refused() {
    let d = AdaGradConfig::default();
    assert_refused::<AdaGradConfig>(
        &d,
        &[
            (AdaGradConfig { lr: -1.0, ..d }, 1, "`lr`"),
            (AdaGradConfig { lr: f64::NAN, ..d }, 1, "`lr`"),
            (AdaGradConfig { lr: 1e300, ..d }, 1, "`lr`"),
            (AdaGradConfig { lr_decay: -0.1, ..d }, 1, "`lr_decay`"),
            (AdaGradConfig { lr_decay: f64::INFINITY, ..d }, 1, "`lr_decay`"),
            (AdaGradConfig { weight_decay: -0.1, ..d }, 1, "`weight_decay`"),
            (AdaGradConfig { initial_accumulator_value: -1.0, ..d }, 1, "`initial_accumulator_value`"),
            (AdaGradConfig { eps: f64::NAN, ..d }, 1, "`eps`"),
            (d, 0, "t = 0"),
        ],
    );
    // An initial sum that does not fit the element type is refused when the state is made.
    let huge = AdaGradConfig { initial_accumulator_value: 1e300, ..d };
    let err = fused_optim::AdaGrad::<f32>::new(huge, 3).unwrap_err();
    assert!(err.to_string().contains("initial_accumulator_value"), "{err}");
    assert!(fused_optim::AdaGrad::<f64>::new(huge, 3).is_ok());
}

#[test]
fn rmsprop_bad_input_and_state_mismatch_are_refused() {
    let d = RmsPropConfig::default();
    let both = RmsPropConfig { momentum: 0.9, centered: true, ..d };
    assert_refused::<RmsPropConfig>(
        &d,
        &[
            (RmsPropConfig { lr: -1.0, ..d }, 1, "`lr`"),
            (RmsPropConfig { alpha: 1.0, ..d }, 1, "`alpha`"),
            (RmsPropConfig { alpha: -0.1, ..d }, 1, "`alpha`"),
            (RmsPropConfig { alpha: f64::NAN, ..d }, 1, "`alpha`"),
            (RmsPropConfig { eps: -1e-8, ..d }, 1, "`eps`"),
            (RmsPropConfig { weight_decay: f64::INFINITY, ..d }, 1, "`weight_decay`"),
            (RmsPropConfig { momentum: -0.5, ..d }, 1, "`momentum`"),
            (d, 0, "t = 0"),
            (RmsPropConfig { momentum: 0.9, ..d }, 1, "no `momentum_buffer` buffer"),
            (RmsPropConfig { centered: true, ..d }, 1, "no `grad_avg` buffer"),
        ],
    );
    assert_refused::<RmsPropConfig>(
        &both,
        &[
            (RmsPropConfig { momentum: 0.0, ..both }, 1, "a `momentum_buffer` buffer was given"),
            (RmsPropConfig { centered: false, ..both }, 1, "a `grad_avg` buffer was given"),
        ],
    );
    let mut s = Tensor::<RmsPropConfig, f32>::new(&both, &mut rng(22), Fill::Random, 30, 0);
    *s.state_mut("grad_avg") = Some(Offset::new(&[0.0; 29], 0));
    assert_eq!(
        s.api_step(&both, 1, &Parallelism::Serial),
        Err(Error::LengthMismatch { buffer: "grad_avg", len: 29, expected: 30 })
    );
}

#[test]
fn adadelta_bad_input_is_refused() {
    let d = AdaDeltaConfig::default();
    assert_refused::<AdaDeltaConfig>(
        &d,
        &[
            (AdaDeltaConfig { lr: -1.0, ..d }, 1, "`lr`"),
            (AdaDeltaConfig { rho: 1.0, ..d }, 1, "`rho`"),
            (AdaDeltaConfig { rho: f64::NAN, ..d }, 1, "`rho`"),
            (AdaDeltaConfig { eps: -1.0, ..d }, 1, "`eps`"),
            (AdaDeltaConfig { weight_decay: -1.0, ..d }, 1, "`weight_decay`"),
            (d, 0, "t = 0"),
        ],
    );
    let mut s = Tensor::<AdaDeltaConfig, f32>::new(&d, &mut rng(23), Fill::Random, 30, 0);
    *s.state_mut("acc_delta") = Some(Offset::new(&[0.0; 31], 0));
    assert_eq!(
        s.api_step(&d, 1, &Parallelism::Serial),
        Err(Error::LengthMismatch { buffer: "acc_delta", len: 31, expected: 30 })
    );
}

#[test]
fn sgd_bad_input_is_refused() {
    let d = SgdConfig::default();
    let momentum = SgdConfig { momentum: 0.9, ..d };
    let nesterov_message = "Nesterov momentum requires a momentum and zero dampening";
    assert_refused::<SgdConfig>(
        &d,
        &[
            (SgdConfig { lr: -1.0, ..d }, 1, "`lr`"),
            (SgdConfig { lr: f64::NAN, ..d }, 1, "`lr`"),
            (SgdConfig { lr: 1e300, ..d }, 1, "`lr`"),
            (SgdConfig { momentum: -0.1, ..d }, 1, "`momentum`"),
            (SgdConfig { momentum: f64::INFINITY, ..d }, 1, "`momentum`"),
            (SgdConfig { dampening: f64::NAN, ..d }, 1, "`dampening`"),
            (SgdConfig { dampening: f64::NEG_INFINITY, ..d }, 1, "`dampening`"),
            (SgdConfig { weight_decay: -1.0, ..d }, 1, "`weight_decay`"),
            (d, 0, "t = 0"),
            // Nesterov without momentum, as PyTorch refuses it.
            (SgdConfig { nesterov: true, ..d }, 1, nesterov_message),
            (momentum, 1, "no `momentum_buffer` buffer"),
        ],
    );
    assert_refused::<SgdConfig>(
        &momentum,
        &[
            (SgdConfig { momentum: 1e300, ..momentum }, 1, "`momentum`"),
            // 1 − dampening overflows f32.
            (SgdConfig { dampening: -1e300, ..momentum }, 1, "`dampening`"),
            // Nesterov with dampening, as PyTorch refuses it.
            (SgdConfig { nesterov: true, dampening: 0.1, ..momentum }, 1, nesterov_message),
            (SgdConfig { nesterov: true, dampening: 0.1, ..momentum }, 1, "`dampening`"),
            (d, 1, "a `momentum_buffer` buffer was given"),
        ],
    );
    assert_eq!(
        SgdConfig { nesterov: true, ..d }.validate(),
        Err(Error::InvalidHyperparameter {
            name: "momentum",
            value: 0.0,
            expected: "> 0 with nesterov (Nesterov momentum requires a momentum and zero dampening)",
        })
    );
    assert_eq!(SgdConfig { nesterov: true, ..momentum }.validate(), Ok(()));
    // Any finite dampening is valid without Nesterov (PyTorch does not check it).
    assert_eq!(SgdConfig { dampening: -2.0, ..momentum }.validate(), Ok(()));
    let mut s = Tensor::<SgdConfig, f32>::new(&momentum, &mut rng(24), Fill::Random, 30, 0);
    *s.state_mut("momentum_buffer") = Some(Offset::new(&[0.0; 29], 0));
    assert_eq!(
        s.api_step(&momentum, 1, &Parallelism::Serial),
        Err(Error::LengthMismatch { buffer: "momentum_buffer", len: 29, expected: 30 })
    );
}

#[test]
fn beta1_decay_outside_zero_one_is_refused() {
    for lambda in [0.0, -0.5, 1.0 + 1e-12, f64::NAN, f64::INFINITY] {
        let adam = AdamConfig { beta1_decay: lambda, ..AdamConfig::default() };
        assert_refused::<AdamConfig>(&AdamConfig::default(), &[(adam, 1, "`beta1_decay`")]);
        let adamax = AdaMaxConfig { beta1_decay: lambda, ..AdaMaxConfig::default() };
        assert_refused::<AdaMaxConfig>(&AdaMaxConfig::default(), &[(adamax, 1, "`beta1_decay`")]);
    }
}

/// Every error has the kind a binding maps to its own code; a multi-tensor
/// error has its tensor's kind.
#[test]
fn errors_have_their_kinds() {
    use fused_optim::{AdamBuffers, ErrorKind, adam_step_many};
    let kind = |config: &AdamConfig, t: u64, grad_len: usize, max: bool| {
        let (mut p, g, mut m, mut v, mut x) =
            (vec![1.0f32; 4], vec![0.5f32; grad_len], vec![0.0f32; 4], vec![0.0f32; 4], vec![0.0f32; 4]);
        let b = AdamBuffers {
            param: &mut p,
            grad: &g,
            exp_avg: &mut m,
            exp_avg_sq: &mut v,
            max_exp_avg_sq: max.then_some(&mut x[..]),
        };
        adam_step(config, t, b, &Parallelism::Serial).unwrap_err().kind()
    };
    let adam = AdamConfig::default();
    assert_eq!(kind(&AdamConfig { lr: f64::NAN, ..adam }, 1, 4, false), ErrorKind::Hyperparameter);
    assert_eq!(kind(&adam, 0, 4, false), ErrorKind::Step);
    assert_eq!(kind(&adam, 1, 3, false), ErrorKind::Length);
    assert_eq!(kind(&adam, 1, 4, true), ErrorKind::StateBuffer);
    let (mut p, g, mut m, mut v) = (vec![1.0f32; 4], vec![0.5f32; 4], vec![0.0f32; 4], vec![0.0f32; 4]);
    let mut tensors =
        [AdamBuffers { param: &mut p, grad: &g, exp_avg: &mut m, exp_avg_sq: &mut v, max_exp_avg_sq: None }];
    let amsgrad = AdamConfig { amsgrad: true, ..adam };
    let e = adam_step_many(&amsgrad, 1, &mut tensors, &Parallelism::Serial).unwrap_err();
    assert!(matches!(e, Error::Tensor { index: 0, .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::StateBuffer);
}

#[test]
fn lion_bad_input_is_refused() {
    let d = LionConfig::default();
    assert_refused::<LionConfig>(
        &d,
        &[
            (LionConfig { lr: -1.0, ..d }, 1, "`lr`"),
            (LionConfig { lr: f64::NAN, ..d }, 1, "`lr`"),
            (LionConfig { lr: 1e300, ..d }, 1, "`lr`"),
            (LionConfig { betas: (1.0, 0.99), ..d }, 1, "`beta1`"),
            (LionConfig { betas: (0.9, -0.1), ..d }, 1, "`beta2`"),
            (LionConfig { betas: (0.9, f64::NAN), ..d }, 1, "`beta2`"),
            (LionConfig { weight_decay: -1.0, ..d }, 1, "`weight_decay`"),
            (LionConfig { weight_decay: f64::INFINITY, ..d }, 1, "`weight_decay`"),
            // 1 − lr·wd = −1e299: not an f32.
            (LionConfig { lr: 1.0, weight_decay: 1e299, ..d }, 1, "`weight_decay`"),
            (d, 0, "t = 0"),
        ],
    );
    let mut s = Tensor::<LionConfig, f32>::new(&d, &mut rng(24), Fill::Random, 30, 0);
    *s.state_mut("exp_avg") = Some(Offset::new(&[0.0; 29], 0));
    assert_eq!(
        s.api_step(&d, 1, &Parallelism::Serial),
        Err(Error::LengthMismatch { buffer: "exp_avg", len: 29, expected: 30 })
    );
}
