//! AdaGrad, RMSprop, AdaDelta, SGD, Lion and Adam's ε̂ form and β1 decay: an f64 oracle
//! of each formula as PyTorch (or the paper) writes it checks the f32
//! kernels within a bound the oracle computes as it goes; plus hand-worked
//! first steps and NaN propagation.
//!
//! # The bound
//!
//! These kernels evaluate their formula in the order it is written (see each
//! kernel module's essay), so the oracle evaluates the same expression tree
//! in f64 and carries, next to every value `x`, a bound `e` on how far the
//! f32 kernel's value of that node can be from `x` (running error analysis).
//! With `U = 2⁻²⁴` the f32 unit roundoff and `η = 2⁻¹⁵⁰` the absolute error
//! a result near the subnormal range can take on rounding:
//!
//! | node | value | bound |
//! | --- | --- | --- |
//! | f32 input | `x` | 0 |
//! | per-step scalar (computed in f64, rounded to f32) | `c` | `|f32(c) − c|` |
//! | `a ± b` | `a ± b` | `eₐ + e_b + U·|x| + η` |
//! | `a·b` | `a·b` | `|a|·e_b + |b|·eₐ + eₐ·e_b + U·|x| + η` |
//! | `a/b` | `a/b` | `(eₐ + |x|·e_b)/(|b| − e_b) + U·|x| + η` |
//! | `√a` | `√a` | `eₐ/(√a + √max(a − eₐ, 0)) + U·|x| + η` |
//!
//! Each line is a rigorous bound for one correctly rounded operation on
//! perturbed operands (no first-order truncation), so the kernel must land
//! within `e` of the oracle's `x`, plus the f64 oracle's own rounding (a
//! relative 1e-12 covers it). The test asserts exactly that, for every
//! element, state buffer and step.

use fused_optim::{
    AdaDeltaBuffers, AdaDeltaConfig, AdaGradBuffers, AdaGradConfig, AdamBuffers, AdamConfig, EpsForm,
    LionBuffers, LionConfig, Parallelism, RmsPropBuffers, RmsPropConfig, SgdBuffers, SgdConfig, WeightDecay,
    adadelta_step, adagrad_step, adam_step, lion_step, rmsprop_step, sgd_step,
};
use fused_optim_testkit::rng;
use rand::RngExt;
use rand::rngs::StdRng;
use std::ops::{Add, Div, Mul, Neg, Sub};

const U: f64 = f32::EPSILON as f64 / 2.0;
/// Half the smallest f32 subnormal: the absolute error of rounding near zero.
const ETA: f64 = 1.401298464324817e-45 / 2.0;

/// An f64 value and a bound on the f32 kernel's distance from it.
#[derive(Clone, Copy, Debug)]
struct E {
    x: f64,
    e: f64,
}

impl E {
    /// An f32 input: exact.
    fn input(x: f32) -> E {
        E { x: x as f64, e: 0.0 }
    }

    /// A per-step scalar: exact in f64, rounded once to f32 for the kernel.
    fn scalar(x: f64) -> E {
        E { x, e: ((x as f32) as f64 - x).abs() }
    }

    fn rounded(x: f64, e: f64) -> E {
        E { x, e: e + U * x.abs() + ETA }
    }

    fn sqrt(self) -> E {
        let x = self.x.sqrt();
        E::rounded(x, self.e / (x + (self.x - self.e).max(0.0).sqrt()))
    }

    fn max_zero_safe_denominator(self) -> f64 {
        let d = self.x.abs() - self.e;
        assert!(d > 0.0, "the oracle's bound cannot exclude a zero denominator: {self:?}");
        d
    }

    /// Whether the kernel's f32 `got` is within the bound of the oracle.
    fn admits(self, got: f32) -> bool {
        (got as f64 - self.x).abs() <= self.e + 1e-12 * self.x.abs()
    }

    /// Asserts the kernel's f32 `got` is within the bound of the oracle.
    fn check(self, got: f32, what: &dyn std::fmt::Display) {
        let diff = (got as f64 - self.x).abs();
        let bound = self.e + 1e-12 * self.x.abs();
        assert!(diff <= bound, "{what}: kernel {got}, oracle {}, |diff| {diff:e} > bound {bound:e}", self.x);
    }
}

impl Add for E {
    type Output = E;
    fn add(self, o: E) -> E {
        E::rounded(self.x + o.x, self.e + o.e)
    }
}

impl Sub for E {
    type Output = E;
    fn sub(self, o: E) -> E {
        E::rounded(self.x - o.x, self.e + o.e)
    }
}

impl Mul for E {
    type Output = E;
    fn mul(self, o: E) -> E {
        E::rounded(self.x * o.x, self.x.abs() * o.e + o.x.abs() * self.e + self.e * o.e)
    }
}

impl Div for E {
    type Output = E;
    fn div(self, o: E) -> E {
        let x = self.x / o.x;
        E::rounded(x, (self.e + x.abs() * o.e) / o.max_zero_safe_denominator())
    }
}

impl Neg for E {
    type Output = E;
    fn neg(self) -> E {
        E { x: -self.x, e: self.e }
    }
}

/// `g` negated when maximizing, then the L2 term added.
fn adjusted(g: E, p: E, maximize: bool, weight_decay: f64) -> E {
    let g = if maximize { -g } else { g };
    if weight_decay != 0.0 { g + E::scalar(weight_decay) * p } else { g }
}

fn random(r: &mut StdRng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| r.random_range(lo..hi)).collect()
}

/// A gradient away from zero (AdaDelta and RMSprop divide by its running scale).
fn gradient(r: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| r.random_range(0.01f32..2.0) * if r.random_bool(0.5) { 1.0 } else { -1.0 }).collect()
}

const N: usize = 513;
const STEPS: u64 = 20;

#[test]
fn adagrad_f32_within_bound_of_f64_oracle() {
    let mut r = rng(11);
    let configs = [
        AdaGradConfig::default(),
        AdaGradConfig { lr_decay: 0.05, weight_decay: 0.1, maximize: true, ..AdaGradConfig::default() },
        AdaGradConfig { initial_accumulator_value: 0.1, eps: 1e-3, lr: 0.5, ..AdaGradConfig::default() },
    ];
    for c in configs {
        let mut p = random(&mut r, N, -3.0, 3.0);
        let mut s = vec![c.initial_accumulator_value as f32; N];
        for t in 1..=STEPS {
            let g = random(&mut r, N, -2.0, 2.0);
            let before = (p.clone(), s.clone());
            adagrad_step(
                &c,
                t,
                AdaGradBuffers { param: &mut p, grad: &g, sum: &mut s },
                &Parallelism::Serial,
            )
            .unwrap();
            let clr = E::scalar(c.lr / (1.0 + (t - 1) as f64 * c.lr_decay));
            for i in 0..N {
                let p0 = E::input(before.0[i]);
                let g = adjusted(E::input(g[i]), p0, c.maximize, c.weight_decay);
                let sum = E::input(before.1[i]) + g * g;
                let want = p0 - clr * (g / (sum.sqrt() + E::scalar(c.eps)));
                let what = format!("{c:?} t={t} i={i}");
                sum.check(s[i], &format_args!("{what}: sum"));
                want.check(p[i], &format_args!("{what}: param"));
            }
        }
    }
}

#[test]
fn rmsprop_f32_within_bound_of_f64_oracle() {
    let mut r = rng(12);
    let mut configs = Vec::new();
    for (centered, momentum) in [(false, 0.0), (false, 0.9), (true, 0.0), (true, 0.5)] {
        configs.push(RmsPropConfig { centered, momentum, ..RmsPropConfig::default() });
    }
    configs.push(RmsPropConfig { alpha: 0.9, weight_decay: 0.1, maximize: true, eps: 1e-3, ..configs[3] });
    for c in configs {
        let mut p = random(&mut r, N, -3.0, 3.0);
        let (mut v, mut b, mut a) = (vec![0.0f32; N], vec![0.0f32; N], vec![0.0f32; N]);
        for t in 1..=STEPS {
            let g = gradient(&mut r, N);
            let before = (p.clone(), v.clone(), b.clone(), a.clone());
            let buffers = RmsPropBuffers {
                param: &mut p,
                grad: &g,
                square_avg: &mut v,
                momentum_buffer: (c.momentum > 0.0).then_some(&mut b[..]),
                grad_avg: c.centered.then_some(&mut a[..]),
            };
            rmsprop_step(&c, t, buffers, &Parallelism::Serial).unwrap();
            let (alpha, one_minus_alpha) = (E::scalar(c.alpha), E::scalar(1.0 - c.alpha));
            for i in 0..N {
                let what = format!("{c:?} t={t} i={i}");
                let p0 = E::input(before.0[i]);
                let g = adjusted(E::input(g[i]), p0, c.maximize, c.weight_decay);
                let square = alpha * E::input(before.1[i]) + one_minus_alpha * g * g;
                square.check(v[i], &format_args!("{what}: square_avg"));
                let variance = if c.centered {
                    let mean = alpha * E::input(before.3[i]) + one_minus_alpha * g;
                    mean.check(a[i], &format_args!("{what}: grad_avg"));
                    square - mean * mean
                } else {
                    square
                };
                let d = variance.sqrt() + E::scalar(c.eps);
                let step = if c.momentum > 0.0 {
                    let buf = E::scalar(c.momentum) * E::input(before.2[i]) + g / d;
                    buf.check(b[i], &format_args!("{what}: momentum_buffer"));
                    buf
                } else {
                    g / d
                };
                (p0 - E::scalar(c.lr) * step).check(p[i], &format_args!("{what}: param"));
            }
        }
    }
}

/// SGD as PyTorch writes it (`torch.optim.SGD`): the buffer is the
/// gradient at `t = 1`, then `μ·b + (1 − dampening)·d`; Nesterov steps along
/// `d + μ·b`. The buffers start at garbage (NaN, inf) that the first step
/// must not read.
#[test]
fn sgd_f32_within_bound_of_f64_oracle() {
    let mut r = rng(15);
    let mut configs = Vec::new();
    for (momentum, dampening, nesterov) in
        [(0.0, 0.0, false), (0.9, 0.0, false), (0.9, 0.3, false), (0.5, 0.0, true)]
    {
        configs.push(SgdConfig { lr: 0.05, momentum, dampening, nesterov, ..SgdConfig::default() });
    }
    configs.push(SgdConfig { weight_decay: 0.1, maximize: true, ..configs[3] });
    configs.push(SgdConfig { weight_decay: 0.01, dampening: -0.5, ..configs[2] });
    for c in configs {
        let mut p = random(&mut r, N, -3.0, 3.0);
        let mut b: Vec<f32> = (0..N).map(|i| [f32::NAN, f32::INFINITY, 1e30][i % 3]).collect();
        for t in 1..=STEPS {
            let g = random(&mut r, N, -2.0, 2.0);
            let before = (p.clone(), b.clone());
            let buffers = SgdBuffers {
                param: &mut p,
                grad: &g,
                momentum_buffer: (c.momentum > 0.0).then_some(&mut b[..]),
            };
            sgd_step(&c, t, buffers, &Parallelism::Serial).unwrap();
            let mu = E::scalar(c.momentum);
            for i in 0..N {
                let what = format!("{c:?} t={t} i={i}");
                let p0 = E::input(before.0[i]);
                let d = adjusted(E::input(g[i]), p0, c.maximize, c.weight_decay);
                let d = if c.momentum > 0.0 {
                    let buf = if t == 1 {
                        d
                    } else {
                        mu * E::input(before.1[i]) + E::scalar(1.0 - c.dampening) * d
                    };
                    buf.check(b[i], &format_args!("{what}: momentum_buffer"));
                    if c.nesterov { d + mu * buf } else { buf }
                } else {
                    d
                };
                (p0 - E::scalar(c.lr) * d).check(p[i], &format_args!("{what}: param"));
            }
        }
    }
}

/// SGD's first steps by hand, in f64: without momentum `p −= lr·g`; with
/// momentum the first step is the plain one (the buffer becomes `g`,
/// whatever it held), the second steps along `μ·g₁ + (1 − dampening)·g₂`;
/// Nesterov along `g + μ·b`.
#[test]
fn sgd_first_steps_by_hand() {
    let run = |c: SgdConfig, t: u64, p: &mut [f64; 2], g: [f64; 2], b: &mut [f64; 2]| {
        let momentum_buffer = (c.momentum > 0.0).then_some(&mut b[..]);
        sgd_step(&c, t, SgdBuffers { param: p, grad: &g, momentum_buffer }, &Parallelism::Serial).unwrap();
    };
    let (g1, g2) = ([0.5f64, -2.0], [1.0f64, 0.25]);
    let plain = SgdConfig { lr: 0.1, ..SgdConfig::default() };
    let (mut p, mut b) = ([1.0f64, 1.0], [f64::NAN; 2]);
    run(plain, 1, &mut p, g1, &mut b);
    assert_eq!(p, [1.0 - 0.1 * 0.5, 1.0 + 0.1 * 2.0]);
    let momentum = SgdConfig { momentum: 0.9, dampening: 0.25, ..plain };
    let (mut q, mut b) = ([1.0f64, 1.0], [f64::NAN, f64::INFINITY]);
    run(momentum, 1, &mut q, g1, &mut b);
    assert_eq!((q, b), (p, g1), "the first step is the plain one and sets the buffer to g");
    run(momentum, 2, &mut q, g2, &mut b);
    for i in 0..2 {
        let buf = 0.9 * g1[i] + 0.75 * g2[i];
        assert!((b[i] - buf).abs() < 1e-15 && (q[i] - (p[i] - 0.1 * buf)).abs() < 1e-15, "{q:?} {b:?}");
    }
    let nesterov = SgdConfig { momentum: 0.9, nesterov: true, ..plain };
    let (mut q, mut b) = ([1.0f64, 1.0], [0.0; 2]);
    run(nesterov, 1, &mut q, g1, &mut b);
    for i in 0..2 {
        assert!((q[i] - (1.0 - 0.1 * (g1[i] + 0.9 * g1[i]))).abs() < 1e-15, "{q:?}");
    }
    // The owning optimizer counts from 1, so its first step is the first step.
    let mut opt = fused_optim::Sgd::<f64>::new(momentum, 2).unwrap();
    let mut o = [1.0f64, 1.0];
    opt.step(&mut o, &g1).unwrap();
    opt.step(&mut o, &g2).unwrap();
    let mut q = [1.0f64, 1.0];
    let mut b = [f64::NAN; 2];
    run(momentum, 1, &mut q, g1, &mut b);
    run(momentum, 2, &mut q, g2, &mut b);
    assert_eq!(o, q);
    assert_eq!(opt.state().momentum_buffer.as_deref(), Some(&b[..]));
}

#[test]
fn adadelta_f32_within_bound_of_f64_oracle() {
    let mut r = rng(13);
    let configs = [
        AdaDeltaConfig::default(),
        AdaDeltaConfig { lr: 0.5, rho: 0.5, weight_decay: 0.1, maximize: true, ..AdaDeltaConfig::default() },
        AdaDeltaConfig { eps: 1e-2, ..AdaDeltaConfig::default() },
    ];
    for c in configs {
        let mut p = random(&mut r, N, -3.0, 3.0);
        let (mut s, mut x) = (vec![0.0f32; N], vec![0.0f32; N]);
        for t in 1..=STEPS {
            let g = gradient(&mut r, N);
            let before = (p.clone(), s.clone(), x.clone());
            let buffers = AdaDeltaBuffers { param: &mut p, grad: &g, square_avg: &mut s, acc_delta: &mut x };
            adadelta_step(&c, t, buffers, &Parallelism::Serial).unwrap();
            let (rho, one_minus_rho, eps) = (E::scalar(c.rho), E::scalar(1.0 - c.rho), E::scalar(c.eps));
            for i in 0..N {
                let what = format!("{c:?} t={t} i={i}");
                let p0 = E::input(before.0[i]);
                let g = adjusted(E::input(g[i]), p0, c.maximize, c.weight_decay);
                let square = rho * E::input(before.1[i]) + one_minus_rho * g * g;
                let x0 = E::input(before.2[i]);
                let delta = (x0 + eps).sqrt() / (square + eps).sqrt() * g;
                let acc = rho * x0 + one_minus_rho * delta * delta;
                square.check(s[i], &format_args!("{what}: square_avg"));
                acc.check(x[i], &format_args!("{what}: acc_delta"));
                (p0 - E::scalar(c.lr) * delta).check(p[i], &format_args!("{what}: param"));
            }
        }
    }
}

/// Lion: the momentum within its running bound; the parameter within the
/// bound of `p·(1 − lr·wd) − lr·sign(c)` with the oracle's sign of
/// `c = β1·m + (1−β1)·g` wherever the bound on `c` excludes 0 (and with one
/// of −1, 0, +1 where it does not: `sign` is discontinuous there, and how
/// often that happens is counted, to show the check is not vacuous).
#[test]
fn lion_f32_within_bound_of_f64_oracle() {
    let mut r = rng(14);
    let configs = [
        LionConfig { lr: 1e-2, ..LionConfig::default() },
        LionConfig { lr: 0.1, weight_decay: 0.5, maximize: true, ..LionConfig::default() },
        LionConfig { lr: 1e-3, betas: (0.5, 0.9), weight_decay: 0.1, ..LionConfig::default() },
        LionConfig { lr: 0.25, betas: (0.0, 0.0), ..LionConfig::default() },
    ];
    let (mut certain, mut uncertain) = (0usize, 0usize);
    for c in configs {
        let mut p = random(&mut r, N, -3.0, 3.0);
        let mut m = vec![0.0f32; N];
        let (b1, one_minus_b1) = (E::scalar(c.betas.0), E::scalar(1.0 - c.betas.0));
        let (b2, one_minus_b2) = (E::scalar(c.betas.1), E::scalar(1.0 - c.betas.1));
        let lr = E::scalar(c.lr);
        for t in 1..=STEPS {
            let g = random(&mut r, N, -2.0, 2.0);
            let before = (p.clone(), m.clone());
            let buffers = LionBuffers { param: &mut p, grad: &g, exp_avg: &mut m };
            lion_step(&c, t, buffers, &Parallelism::Serial).unwrap();
            for i in 0..N {
                let what = format!("{c:?} t={t} i={i}");
                let p0 = E::input(before.0[i]);
                let g = adjusted(E::input(g[i]), p0, c.maximize, 0.0);
                let m0 = E::input(before.1[i]);
                let decayed =
                    if c.weight_decay != 0.0 { p0 * E::scalar(1.0 - c.lr * c.weight_decay) } else { p0 };
                let interpolated = b1 * m0 + one_minus_b1 * g;
                (b2 * m0 + one_minus_b2 * g).check(m[i], &format_args!("{what}: exp_avg"));
                let signs: &[f64] = if interpolated.x.abs() > interpolated.e {
                    certain += 1;
                    if interpolated.x > 0.0 { &[1.0] } else { &[-1.0] }
                } else {
                    uncertain += 1;
                    &[-1.0, 0.0, 1.0]
                };
                let wants = signs.iter().map(|&s| decayed - lr * E { x: s, e: 0.0 });
                assert!(
                    wants.clone().any(|want| want.admits(p[i])),
                    "{what}: param {}, oracle {:?}",
                    p[i],
                    wants.collect::<Vec<_>>()
                );
            }
        }
    }
    assert!(uncertain * 100 < certain, "{uncertain} uncertain signs against {certain} certain ones");
}

/// Adam's ε̂ form (the paper's §2, TensorFlow's Adam) and the paper's
/// decaying `β1,t = β1·λ^(t−1)` with the bias correction `1 − β1^t` of
/// Algorithm 1, in the kernel's op order.
#[test]
fn adam_eps_hat_and_beta1_decay_within_bound_of_f64_oracle() {
    let mut r = rng(14);
    let configs = [
        AdamConfig { eps_form: EpsForm::Hat, ..AdamConfig::default() },
        AdamConfig { eps_form: EpsForm::Hat, eps: 1e-1, lr: 0.01, ..AdamConfig::default() },
        AdamConfig { beta1_decay: 0.9, ..AdamConfig::default() },
        AdamConfig {
            eps_form: EpsForm::Hat,
            beta1_decay: 0.99,
            weight_decay: WeightDecay::L2(0.1),
            ..AdamConfig::default()
        },
    ];
    for c in configs {
        let mut p = random(&mut r, N, -3.0, 3.0);
        let (mut m, mut v) = (vec![0.0f32; N], vec![0.0f32; N]);
        for t in 1..=STEPS {
            let g = random(&mut r, N, -2.0, 2.0);
            let before = (p.clone(), m.clone(), v.clone());
            let b = AdamBuffers {
                param: &mut p,
                grad: &g,
                exp_avg: &mut m,
                exp_avg_sq: &mut v,
                max_exp_avg_sq: None,
            };
            adam_step(&c, t, b, &Parallelism::Serial).unwrap();
            let (b1, b2) = c.betas;
            let b1_t = b1 * c.beta1_decay.powi(t as i32 - 1);
            let (bc1, bc2) = (1.0 - b1.powi(t as i32), 1.0 - b2.powi(t as i32));
            let eps_hat = match c.eps_form {
                EpsForm::Hat => c.eps,
                EpsForm::Standard => c.eps * bc2.sqrt(),
            };
            let wd = match c.weight_decay {
                WeightDecay::L2(wd) => wd,
                _ => 0.0,
            };
            for i in 0..N {
                let what = format!("{c:?} t={t} i={i}");
                let p0 = E::input(before.0[i]);
                let g = adjusted(E::input(g[i]), p0, c.maximize, wd);
                let m1 = E::scalar(b1_t) * E::input(before.1[i]) + E::scalar(1.0 - b1_t) * g;
                let v1 = E::scalar(b2) * E::input(before.2[i]) + E::scalar(1.0 - b2) * g * g;
                let step = E::scalar(c.lr * bc2.sqrt() / bc1) * (m1 / (v1.sqrt() + E::scalar(eps_hat)));
                m1.check(m[i], &format_args!("{what}: exp_avg"));
                v1.check(v[i], &format_args!("{what}: exp_avg_sq"));
                (p0 - step).check(p[i], &format_args!("{what}: param"));
            }
        }
    }
}

/// ε̂ form against the standard form: the same update with `ε = ε̂/√bc2`.
#[test]
fn eps_hat_is_standard_with_rescaled_eps() {
    let (t, eps_hat) = (3u64, 1e-2);
    let bc2 = 1.0 - 0.999f64.powi(t as i32);
    let hat = AdamConfig { eps_form: EpsForm::Hat, eps: eps_hat, ..AdamConfig::default() };
    let standard = AdamConfig { eps: eps_hat / bc2.sqrt(), ..AdamConfig::default() };
    let run = |c: &AdamConfig| {
        let (mut p, g, mut m, mut v) = ([1.0f64; 3], [0.5f64, -2.0, 1e-3], [0.1f64; 3], [0.01f64; 3]);
        let b = AdamBuffers {
            param: &mut p,
            grad: &g,
            exp_avg: &mut m,
            exp_avg_sq: &mut v,
            max_exp_avg_sq: None,
        };
        adam_step(c, t, b, &Parallelism::Serial).unwrap();
        p
    };
    let (a, b) = (run(&hat), run(&standard));
    for i in 0..3 {
        assert!((a[i] - b[i]).abs() <= 1e-15, "{} vs {}", a[i], b[i]);
    }
    // And it is not the standard form with the same ε: ε̂ weighs less early on.
    let same_eps = run(&AdamConfig { eps: eps_hat, ..AdamConfig::default() });
    assert!((same_eps[2] - a[2]).abs() > 1e-6);
}

/// AdaGrad's first step from a zero sum: `s = g²`, a move of `clr·g/(|g| + ε)`
/// ≈ `clr·sign(g)`; with `lr_decay`, step `t` uses `lr/(1 + (t−1)·lr_decay)`.
#[test]
fn adagrad_first_steps_by_hand() {
    let c = AdaGradConfig::default();
    let (mut p, g, mut s) = ([1.0f64, 1.0, 1.0], [4.0f64, -0.5, 0.0], [0.0f64; 3]);
    adagrad_step(&c, 1, AdaGradBuffers { param: &mut p, grad: &g, sum: &mut s }, &Parallelism::Serial)
        .unwrap();
    assert_eq!(s, [16.0, 0.25, 0.0]);
    for i in 0..2 {
        let want = 1.0 - 0.01 * g[i] / (g[i].abs() + 1e-10); // ≈ 1 − 0.01·sign(g)
        assert!((p[i] - want).abs() < 1e-15, "{p:?}");
    }
    assert_eq!(p[2], 1.0, "a zero gradient with ε > 0 does not move");
    // Step 3 with lr_decay 0.5 and an initial sum of 1: clr = lr/2, s = 1 + g².
    let c = AdaGradConfig { lr_decay: 0.5, initial_accumulator_value: 1.0, ..AdaGradConfig::default() };
    let (mut p, g, mut s) = ([0.0f64], [3.0f64], [1.0f64]);
    adagrad_step(&c, 3, AdaGradBuffers { param: &mut p, grad: &g, sum: &mut s }, &Parallelism::Serial)
        .unwrap();
    assert!((p[0] + 0.005 * 3.0 / (10.0f64.sqrt() + 1e-10)).abs() < 1e-15, "{}", p[0]);
}

/// RMSprop's first step from zero state: `v = (1−α)·g²`, so the move is
/// `lr·g/(√(1−α)·|g| + ε)` ≈ 10·lr·sign(g) at α = 0.99; centered,
/// `v − a² = α(1−α)·g²`; with momentum the first step equals the plain one
/// and the second adds μ times it.
#[test]
fn rmsprop_first_steps_by_hand() {
    let g = [0.5f64, -2.0];
    let first = |c: RmsPropConfig| {
        let (mut p, mut v, mut b, mut a) = ([0.0f64; 2], [0.0; 2], [0.0; 2], [0.0; 2]);
        let buffers = RmsPropBuffers {
            param: &mut p,
            grad: &g,
            square_avg: &mut v,
            momentum_buffer: (c.momentum > 0.0).then_some(&mut b[..]),
            grad_avg: c.centered.then_some(&mut a[..]),
        };
        rmsprop_step(&c, 1, buffers, &Parallelism::Serial).unwrap();
        p
    };
    let plain = first(RmsPropConfig::default());
    let centered = first(RmsPropConfig { centered: true, ..RmsPropConfig::default() });
    let with_momentum = first(RmsPropConfig { momentum: 0.9, ..RmsPropConfig::default() });
    for i in 0..2 {
        let (g, a) = (g[i], g[i].abs());
        assert!((plain[i] + 1e-2 * g / (0.1 * a + 1e-8)).abs() < 1e-15, "{plain:?}");
        let spread = (0.99f64 * 0.01).sqrt() * a;
        assert!((centered[i] + 1e-2 * g / (spread + 1e-8)).abs() < 1e-15, "{centered:?}");
        assert_eq!(with_momentum[i], plain[i]);
    }
    // Second step with momentum: b = μ·b₁ + g/d₂.
    let c = RmsPropConfig { momentum: 0.9, ..RmsPropConfig::default() };
    let (mut p, mut v, mut b) = ([0.0f64], [0.0f64], [0.0f64]);
    for t in 1..=2 {
        let buffers = RmsPropBuffers {
            param: &mut p,
            grad: &[1.0],
            square_avg: &mut v,
            momentum_buffer: Some(&mut b),
            grad_avg: None,
        };
        rmsprop_step(&c, t, buffers, &Parallelism::Serial).unwrap();
    }
    let (d1, d2) = (0.01f64.sqrt() + 1e-8, (0.99 * 0.01 + 0.01f64).sqrt() + 1e-8);
    let b2 = 0.9 / d1 + 1.0 / d2;
    assert!((b[0] - b2).abs() < 1e-12 && (p[0] + 1e-2 * (1.0 / d1 + b2)).abs() < 1e-12, "{p:?} {b:?}");
}

/// AdaDelta's first step from zero state: `s = (1−ρ)·g²`,
/// `δ = √ε/√((1−ρ)·g² + ε)·g`, `x = (1−ρ)·δ²`.
#[test]
fn adadelta_first_step_by_hand() {
    let c = AdaDeltaConfig::default();
    let (mut p, g, mut s, mut x) = ([1.0f64, 1.0], [2.0f64, 0.0], [0.0f64; 2], [0.0f64; 2]);
    let b = AdaDeltaBuffers { param: &mut p, grad: &g, square_avg: &mut s, acc_delta: &mut x };
    adadelta_step(&c, 1, b, &Parallelism::Serial).unwrap();
    let delta = 1e-6f64.sqrt() / (0.4f64 + 1e-6).sqrt() * 2.0;
    assert!((s[0] - 0.4).abs() < 1e-15);
    assert!((p[0] - (1.0 - delta)).abs() < 1e-15 && (x[0] - 0.1 * delta * delta).abs() < 1e-18);
    assert_eq!((p[1], s[1], x[1]), (1.0, 0.0, 0.0), "a zero gradient moves nothing");
}

/// A NaN gradient reaches the parameter and every state it touches.
#[test]
fn nan_gradient_reaches_every_buffer() {
    let g = [f64::NAN];
    let (mut p, mut s) = ([1.0f64], [0.5f64]);
    adagrad_step(
        &AdaGradConfig::default(),
        1,
        AdaGradBuffers { param: &mut p, grad: &g, sum: &mut s },
        &Parallelism::Serial,
    )
    .unwrap();
    assert!(p[0].is_nan() && s[0].is_nan());

    let c = RmsPropConfig { momentum: 0.9, centered: true, ..RmsPropConfig::default() };
    let (mut p, mut v, mut b, mut a) = ([1.0f64], [0.5f64], [0.1f64], [0.1f64]);
    let buffers = RmsPropBuffers {
        param: &mut p,
        grad: &g,
        square_avg: &mut v,
        momentum_buffer: Some(&mut b),
        grad_avg: Some(&mut a),
    };
    rmsprop_step(&c, 1, buffers, &Parallelism::Serial).unwrap();
    assert!(p[0].is_nan() && v[0].is_nan() && b[0].is_nan() && a[0].is_nan());

    let (mut p, mut s, mut x) = ([1.0f64], [0.5f64], [0.5f64]);
    let buffers = AdaDeltaBuffers { param: &mut p, grad: &g, square_avg: &mut s, acc_delta: &mut x };
    adadelta_step(&AdaDeltaConfig::default(), 1, buffers, &Parallelism::Serial).unwrap();
    assert!(p[0].is_nan() && s[0].is_nan() && x[0].is_nan());
}
