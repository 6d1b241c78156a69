//! Adam and AdaMax: an f64 oracle written from the formulas as PyTorch
//! states them (two divisions, `powi` bias corrections), independent of the
//! kernels' op order, checks the f32 kernels within a stated bound; plus
//! hand-worked first steps and NaN propagation.
//!
//! The bound, per element and step, from the f32 state widened to f64
//! (`U = 2⁻²⁴`, the f32 unit roundoff):
//! - `v`, `u`, `vmax`: within 2 ulps (sums of non-negative terms, two roundings);
//! - `m`: `|got − want| <= 3U·M`, where `M = |β1·m| + (1−β1)·(|g| + |wd·p|)` is
//!   the magnitude of its terms (m can cancel, so its error is relative to its
//!   terms, not to itself);
//! - `p`: `|got − want| <= ulp(want) + 8U·|Δ| + G·3U·M + 2U·|p|·[AdamW]`, where
//!   `Δ` is the oracle's update and `G = (lr/bc1)/denominator` is the update's
//!   gain on m: the final subtraction rounds once, the update carries about
//!   six relative roundings (v/2, √, +ε̂, ÷, ×s, s and ε̂ to f32), m's absolute
//!   error passes through `G`, and AdamW's decay product `p·(1 − lr·wd)` and
//!   its rounded factor add two more roundings of p.

use fused_optim::{
    AdaMaxBuffers, AdaMaxConfig, AdamBuffers, AdamConfig, Parallelism, WeightDecay, adam_step, adamax_step,
};
use fused_optim_testkit::rng;
use rand::RngExt;

const U: f64 = f32::EPSILON as f64 / 2.0;

fn ulp(x: f32) -> f64 {
    let a = x.abs();
    (f32::from_bits(a.to_bits() + 1) - a) as f64
}

/// One element's step in f64: the new values and the scales of their error bounds.
struct Oracle {
    p: f64,
    m: f64,
    /// Second moment, infinity norm or AMSGrad maximum: non-negative sums.
    state: Vec<f64>,
    /// `|β1·m| + (1−β1)·(|g| + |wd·p|)`.
    m_terms: f64,
    /// `(lr/bc1)/denominator`.
    gain: f64,
    /// `|p|` before the step where AdamW decays it, else 0.
    decayed: f64,
}

fn check(o: &Oracle, p_before: f32, p: f32, m: f32, state: &[f32], what: &str) {
    let m_error = 3.0 * U * o.m_terms;
    assert!((m as f64 - o.m).abs() <= m_error, "{what}: m = {m}, oracle {}, bound {m_error}", o.m);
    let update = o.p - p_before as f64;
    let bound = ulp(o.p as f32) + 8.0 * U * update.abs() + o.gain * m_error + 2.0 * U * o.decayed;
    let diff = (p as f64 - o.p).abs();
    assert!(diff <= bound, "{what}: p = {p}, oracle {}, |diff| {diff} > bound {bound}", o.p);
    for (&got, &want) in state.iter().zip(&o.state) {
        assert!(approx::ulps_eq!(got, want as f32, max_ulps = 2), "{what}: state {got}, oracle {want}");
    }
}

/// Adam as PyTorch writes it, in f64: one element, one step.
fn adam_oracle(c: &AdamConfig, t: i32, p: f64, g: f64, m: f64, v: f64, vmax: f64) -> Oracle {
    let (b1, b2) = c.betas;
    let g = if c.maximize { -g } else { g };
    let (wd_term, decayed) = match c.weight_decay {
        WeightDecay::L2(wd) => ((wd * p).abs(), 0.0),
        WeightDecay::Decoupled(_) => (0.0, p.abs()),
        WeightDecay::None => (0.0, 0.0),
    };
    let (p, g) = match c.weight_decay {
        WeightDecay::L2(wd) => (p, g + wd * p),
        WeightDecay::Decoupled(wd) => (p * (1.0 - c.lr * wd), g),
        WeightDecay::None => (p, g),
    };
    let m_terms = (b1 * m).abs() + (1.0 - b1) * (g.abs() + wd_term);
    let m = b1 * m + (1.0 - b1) * g;
    let v = b2 * v + (1.0 - b2) * g * g;
    let vmax = vmax.max(v);
    let bc1 = 1.0 - b1.powi(t);
    let bc2 = 1.0 - b2.powi(t);
    let v_hat = if c.amsgrad { vmax } else { v };
    let denominator = v_hat.sqrt() / bc2.sqrt() + c.eps;
    let gain = (c.lr / bc1) / denominator;
    let state = if c.amsgrad { vec![v, vmax] } else { vec![v] };
    Oracle { p: p - (c.lr / bc1) * m / denominator, m, state, m_terms, gain, decayed }
}

fn adamax_oracle(c: &AdaMaxConfig, t: i32, p: f64, g: f64, m: f64, u: f64) -> Oracle {
    let (b1, b2) = c.betas;
    let g = if c.maximize { -g } else { g };
    let m_terms = (b1 * m).abs() + (1.0 - b1) * (g.abs() + (c.weight_decay * p).abs());
    let g = g + c.weight_decay * p;
    let m = b1 * m + (1.0 - b1) * g;
    let u = (b2 * u).max(g.abs() + c.eps);
    let gain = (c.lr / (1.0 - b1.powi(t))) / u;
    Oracle { p: p - gain * m, m, state: vec![u], m_terms, gain, decayed: 0.0 }
}

#[test]
fn adam_f32_within_bound_of_f64_oracle() {
    let mut r = rng(7);
    let n = 999;
    let configs = [
        AdamConfig::default(),
        AdamConfig { lr: 0.05, ..AdamConfig::adamw() },
        AdamConfig {
            weight_decay: WeightDecay::L2(0.1),
            amsgrad: true,
            maximize: true,
            ..AdamConfig::default()
        },
        AdamConfig { betas: (0.5, 0.9), eps: 1e-3, ..AdamConfig::default() },
    ];
    for c in configs {
        let mut p: Vec<f32> = (0..n).map(|_| r.random_range(-3.0..3.0)).collect();
        let (mut m, mut v, mut vmax) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
        for t in 1..=20 {
            let g: Vec<f32> = (0..n).map(|_| r.random_range(-2.0..2.0)).collect();
            let before = (p.clone(), m.clone(), v.clone(), vmax.clone());
            let b = AdamBuffers {
                param: &mut p,
                grad: &g,
                exp_avg: &mut m,
                exp_avg_sq: &mut v,
                max_exp_avg_sq: c.amsgrad.then_some(&mut vmax[..]),
            };
            adam_step(&c, t, b, &Parallelism::Serial).unwrap();
            for i in 0..n {
                let o = adam_oracle(
                    &c,
                    t as i32,
                    before.0[i] as f64,
                    g[i] as f64,
                    before.1[i] as f64,
                    before.2[i] as f64,
                    before.3[i] as f64,
                );
                let what = format!("{c:?} t={t} i={i}");
                let state = if c.amsgrad { vec![v[i], vmax[i]] } else { vec![v[i]] };
                check(&o, before.0[i], p[i], m[i], &state, &what);
            }
        }
    }
}

#[test]
fn adamax_f32_within_bound_of_f64_oracle() {
    let mut r = rng(8);
    let n = 777;
    let configs = [
        AdaMaxConfig::default(),
        AdaMaxConfig { weight_decay: 0.05, maximize: true, ..AdaMaxConfig::default() },
        AdaMaxConfig { eps: 0.0, betas: (0.8, 0.99), ..AdaMaxConfig::default() },
    ];
    for c in configs {
        let mut p: Vec<f32> = (0..n).map(|_| r.random_range(-3.0..3.0)).collect();
        let (mut m, mut u) = (vec![0.0f32; n], vec![0.0f32; n]);
        for t in 1..=20 {
            let g: Vec<f32> = (0..n)
                .map(|_| r.random_range(0.01..2.0) * if r.random_bool(0.5) { 1.0 } else { -1.0 })
                .collect();
            let before = (p.clone(), m.clone(), u.clone());
            let b = AdaMaxBuffers { param: &mut p, grad: &g, exp_avg: &mut m, exp_inf: &mut u };
            adamax_step(&c, t, b, &Parallelism::Serial).unwrap();
            for i in 0..n {
                let o = adamax_oracle(
                    &c,
                    t as i32,
                    before.0[i] as f64,
                    g[i] as f64,
                    before.1[i] as f64,
                    before.2[i] as f64,
                );
                let what = format!("{c:?} t={t} i={i}");
                check(&o, before.0[i], p[i], m[i], &[u[i]], &what);
            }
        }
    }
}

/// Adam's first step from zero moments moves each parameter by about
/// `lr·sign(g)`: m̂ = g and v̂ = g², so the update is `lr·g/(|g| + ε)`.
#[test]
fn adam_first_step_moves_by_lr_sign_g() {
    for c in [
        AdamConfig::default(),
        AdamConfig { amsgrad: true, ..AdamConfig::default() },
        AdamConfig { lr: 0.1, maximize: true, ..AdamConfig::default() },
    ] {
        let g = [3.0f64, -0.5, 1e-3, -7e4, 0.0];
        let mut p = [1.0f64; 5];
        let (mut m, mut v, mut x) = ([0.0; 5], [0.0; 5], [0.0; 5]);
        let b = AdamBuffers {
            param: &mut p,
            grad: &g,
            exp_avg: &mut m,
            exp_avg_sq: &mut v,
            max_exp_avg_sq: c.amsgrad.then_some(&mut x[..]),
        };
        adam_step(&c, 1, b, &Parallelism::Serial).unwrap();
        let direction = if c.maximize { -1.0 } else { 1.0 };
        for i in 0..5 {
            let want = 1.0 - direction * c.lr * g[i].signum() * (g[i] != 0.0) as i32 as f64;
            assert!((p[i] - want).abs() < c.lr * 1e-4, "{c:?} g={}: p={} want {want}", g[i], p[i]);
            assert_eq!(m[i], (1.0 - 0.9) * g[i] * direction);
        }
    }
    // AdamW also shrinks the parameter by the factor 1 − lr·wd first.
    let c = AdamConfig::adamw();
    let (mut p, g, mut m, mut v) = ([2.0f32], [0.5f32], [0.0f32], [0.0f32]);
    let b =
        AdamBuffers { param: &mut p, grad: &g, exp_avg: &mut m, exp_avg_sq: &mut v, max_exp_avg_sq: None };
    adam_step(&c, 1, b, &Parallelism::Serial).unwrap();
    assert!((p[0] - (2.0 * (1.0 - 1e-3 * 1e-2) - 1e-3)).abs() < 1e-6, "{}", p[0]);
}

/// AdaMax's first step: m = (1−β1)g, u = |g| + ε, update `lr/(1−β1)·m/u ≈ lr·sign(g)`.
#[test]
fn adamax_first_step_moves_by_lr_sign_g() {
    let c = AdaMaxConfig::default();
    let g = [4.0f32, -0.25, 1e-2];
    let mut p = [0.0f32; 3];
    let (mut m, mut u) = ([0.0f32; 3], [0.0f32; 3]);
    adamax_step(
        &c,
        1,
        AdaMaxBuffers { param: &mut p, grad: &g, exp_avg: &mut m, exp_inf: &mut u },
        &Parallelism::Serial,
    )
    .unwrap();
    for i in 0..3 {
        assert!((p[i] + 2e-3 * g[i].signum()).abs() < 1e-7, "g={}: p={}", g[i], p[i]);
        assert_eq!(u[i], g[i].abs() + 1e-8);
    }
}

/// The paper's Algorithm 2 (ε = 0): with a zero gradient and zero state the
/// step is 0/0, which the formula makes NaN; with any gradient seen it is finite.
#[test]
fn adamax_paper_form_zero_state_is_nan() {
    let c = AdaMaxConfig { eps: 0.0, ..AdaMaxConfig::default() };
    let (mut p, g, mut m, mut u) = ([1.0f64, 1.0], [0.0f64, 2.0], [0.0; 2], [0.0; 2]);
    adamax_step(
        &c,
        1,
        AdaMaxBuffers { param: &mut p, grad: &g, exp_avg: &mut m, exp_inf: &mut u },
        &Parallelism::Serial,
    )
    .unwrap();
    assert!(p[0].is_nan());
    assert!((p[1] - (1.0 - 2e-3)).abs() < 1e-12);
}

/// A NaN gradient reaches the outputs: AdaMax's max and AMSGrad's max keep it.
#[test]
fn nan_gradient_reaches_every_buffer() {
    let (mut p, g, mut m, mut u) = ([1.0f32], [f32::NAN], [0.0f32], [5.0f32]);
    adamax_step(
        &AdaMaxConfig::default(),
        3,
        AdaMaxBuffers { param: &mut p, grad: &g, exp_avg: &mut m, exp_inf: &mut u },
        &Parallelism::Serial,
    )
    .unwrap();
    assert!(p[0].is_nan() && m[0].is_nan() && u[0].is_nan());

    let c = AdamConfig { amsgrad: true, ..AdamConfig::default() };
    let (mut p, g, mut m, mut v, mut x) = ([1.0f64], [f64::NAN], [0.0], [0.0], [9.0]);
    let b = AdamBuffers {
        param: &mut p,
        grad: &g,
        exp_avg: &mut m,
        exp_avg_sq: &mut v,
        max_exp_avg_sq: Some(&mut x),
    };
    adam_step(&c, 2, b, &Parallelism::Serial).unwrap();
    assert!(p[0].is_nan() && m[0].is_nan() && v[0].is_nan() && x[0].is_nan());
}
