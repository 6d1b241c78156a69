//! The paper's schedules: `lr/√t` on the owning optimizer is the stateless
//! step with `lr_at(lr, t)`, bit for bit, for every algorithm; and β1's decay
//! λ enters only the first moment.

use fused_optim::{
    AdaDeltaConfig, AdaGradBuffers, AdaGradConfig, AdaMaxConfig, AdamBuffers, AdamConfig, Algorithm,
    LionConfig, LrSchedule, Optimizer, Parallelism, RmsPropConfig, SgdConfig, adagrad_step, adam_step,
};

fn gradient(x: &[f64], t: usize) -> Vec<f64> {
    x.iter().enumerate().map(|(i, v)| 2.0 * v + ((i + t) % 5) as f64 * 0.1 - 0.2).collect()
}

/// The owning optimizer with the schedule, against the same optimizer without
/// one whose config is set to the scheduled lr before each step.
fn schedule_is_a_per_step_lr<A: Algorithm + PartialEq>(config: A) {
    let n = 37;
    let mut scheduled =
        Optimizer::<A, f64>::new(config.clone(), n).unwrap().with_lr_schedule(LrSchedule::InverseSqrt);
    let mut by_hand = Optimizer::<A, f64>::new(config.clone(), n).unwrap();
    let (mut x, mut y) = (vec![1.5f64; n], vec![1.5f64; n]);
    for t in 1..=6u64 {
        let g = gradient(&x, t as usize);
        scheduled.step(&mut x, &g).unwrap();
        by_hand.set_config(config.with_lr(config.lr() / (t as f64).sqrt())).unwrap();
        by_hand.step(&mut y, &g).unwrap();
        assert_eq!(x, y, "{config:?} t={t}");
    }
    assert_eq!(scheduled.config(), &config, "the schedule leaves the configured lr alone");
}

#[test]
fn inverse_sqrt_schedule_on_every_algorithm() {
    schedule_is_a_per_step_lr(AdamConfig::adamw());
    schedule_is_a_per_step_lr(AdaMaxConfig::default());
    schedule_is_a_per_step_lr(AdaGradConfig { lr_decay: 0.1, ..AdaGradConfig::default() });
    schedule_is_a_per_step_lr(RmsPropConfig { momentum: 0.5, centered: true, ..RmsPropConfig::default() });
    schedule_is_a_per_step_lr(AdaDeltaConfig::default());
    schedule_is_a_per_step_lr(SgdConfig { momentum: 0.9, nesterov: true, ..SgdConfig::default() });
    schedule_is_a_per_step_lr(LionConfig { weight_decay: 0.1, ..LionConfig::default() });
}

#[test]
fn lr_at_follows_the_formula() {
    assert_eq!(LrSchedule::Constant.lr_at(0.3, 17), 0.3);
    assert_eq!(LrSchedule::InverseSqrt.lr_at(0.3, 1), 0.3);
    assert_eq!(LrSchedule::InverseSqrt.lr_at(0.3, 4), 0.15);
    assert_eq!(LrSchedule::InverseSqrt.lr_at(0.3, 0), 0.3);
    assert_eq!(LrSchedule::default(), LrSchedule::Constant);
}

/// The stateless step takes its hyperparameters per call: a schedule is a
/// config per step, AdaGrad's `lr_decay` composing with it.
#[test]
fn stateless_steps_take_a_scheduled_lr() {
    let base = AdaGradConfig { lr_decay: 0.5, ..AdaGradConfig::default() };
    let (mut p, mut s) = (vec![1.0f32; 8], vec![0.0f32; 8]);
    let g = [0.5f32; 8];
    for t in 1..=3 {
        let config = AdaGradConfig { lr: LrSchedule::InverseSqrt.lr_at(base.lr, t), ..base };
        adagrad_step(
            &config,
            t,
            AdaGradBuffers { param: &mut p, grad: &g, sum: &mut s },
            &Parallelism::Serial,
        )
        .unwrap();
    }
    // Steps of lr/√t/(1 + (t−1)/2) · g/√(t·g²) = lr/(√t·(1 + (t−1)/2)·√t), t = 1, 2, 3.
    let moved: f64 = (1..=3).map(|t| 0.01 / (t as f64 * (1.0 + (t - 1) as f64 * 0.5))).sum();
    assert!((1.0 - p[0] as f64 - moved).abs() < 1e-7, "{} vs {moved}", 1.0 - p[0]);
}

/// λ = 1 gives exactly the undecayed step; λ < 1 changes the first moment
/// (β1,t = β1·λ^(t−1)) but not the bias correction, so the first step
/// (λ^0 = 1) is the same and the second differs.
#[test]
fn beta1_decay_touches_only_the_first_moment() {
    let run = |c: AdamConfig, steps: u64| {
        let (mut p, mut m, mut v) = (vec![1.0f64; 4], vec![0.0f64; 4], vec![0.0f64; 4]);
        for t in 1..=steps {
            let g = [0.3f64, -0.1, 2.0, 1e-3];
            let b = AdamBuffers {
                param: &mut p,
                grad: &g,
                exp_avg: &mut m,
                exp_avg_sq: &mut v,
                max_exp_avg_sq: None,
            };
            adam_step(&c, t, b, &Parallelism::Serial).unwrap();
        }
        (p, m, v)
    };
    let plain = AdamConfig::default();
    assert_eq!(run(AdamConfig { beta1_decay: 1.0, ..plain }, 3), run(plain, 3));
    let decayed = AdamConfig { beta1_decay: 0.5, ..plain };
    assert_eq!(run(decayed, 1), run(plain, 1));
    let (a, b) = (run(decayed, 2), run(plain, 2));
    assert_eq!(a.2, b.2, "the second moment does not see λ");
    // m₂ = β1·λ·m₁ + (1 − β1·λ)·g with m₁ = (1 − β1)·g.
    let g = 0.3;
    let want = 0.45 * 0.1 * g + (1.0 - 0.45) * g;
    assert!((a.1[0] - want).abs() < 1e-15, "{} vs {want}", a.1[0]);
}
