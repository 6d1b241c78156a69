//! The scalar reference: the specification of every kernel's bits.
//!
//! One plain loop per algorithm, generic over the element type (so one
//! function serves `f32` and `f64`), written as the module essays of
//! [`adam`](mod@crate::adam) and [`adamax`](mod@crate::adamax), [`adagrad`](mod@crate::adagrad),
//! [`rmsprop`](mod@crate::rmsprop) and [`adadelta`](mod@crate::adadelta) state the op order, with Rust's
//! scalar `+ − × ÷`, `sqrt`, `abs` (never fused, never approximated) and
//! [`max_nan`]. Every SIMD tier, the dispatched entry point and the threaded
//! driver must give these bits for every input ([`Float::same_bits`]: NaN
//! compared as NaN).
//!
//! These functions are slow on purpose: no unrolling, no SIMD, one element at
//! a time, so they can be read against the formula.

use crate::adadelta::{AdaDeltaBuffers, AdaDeltaCoefficients};
use crate::adagrad::{AdaGradBuffers, AdaGradCoefficients};
use crate::adam::{AdamBuffers, AdamCoefficients, Decay};
use crate::adam_mixed::{MixedAdamBuffers, MixedAdamCoefficients, StochasticKeys};
use crate::adamax::{AdaMaxBuffers, AdaMaxCoefficients};
use crate::narrow::random_at;
use crate::rmsprop::{RmsPropBuffers, RmsPropCoefficients};
use crate::{Float, KernelBuffers, max_nan};

/// One element of Adam after the gradient's sign (maximize) and scale:
/// `(p, m, v, vmax)` from the gradient `g`, the parameter and the state
/// (`vmax` with AMSGrad), in the kernel's op order.
fn adam_element<T: Float>(
    c: &AdamCoefficients<T>,
    mut g: T,
    mut p: T,
    m: T,
    v: T,
    vmax: Option<T>,
) -> [T; 4] {
    match c.decay {
        Decay::None => {}
        Decay::L2(wd) => g = g + wd * p,
        Decay::Decoupled(factor) => p = p * factor,
    }
    let m = c.beta1 * m + c.one_minus_beta1 * g;
    let v = c.beta2 * v + c.one_minus_beta2 * g * g;
    let vmax = vmax.map_or(v, |x| max_nan(x, v));
    [p - c.step_size * (m / (vmax.sqrt() + c.eps_hat)), m, v, vmax]
}

/// Adam / AdamW / AMSGrad, one element at a time.
///
/// # Panics
/// If the buffers' lengths differ.
pub fn adam<T: Float>(b: AdamBuffers<'_, T>, c: &AdamCoefficients<T>) {
    b.assert_lengths();
    let mut max_exp_avg_sq = b.max_exp_avg_sq;
    for i in 0..b.param.len() {
        let g = if c.maximize { -b.grad[i] } else { b.grad[i] };
        let vmax = max_exp_avg_sq.as_deref().map(|x| x[i]);
        let [p, m, v, vmax] = adam_element(c, g, b.param[i], b.exp_avg[i], b.exp_avg_sq[i], vmax);
        (b.param[i], b.exp_avg[i], b.exp_avg_sq[i]) = (p, m, v);
        if let Some(x) = max_exp_avg_sq.as_deref_mut() {
            x[i] = vmax;
        }
    }
}

/// AdaMax, one element at a time.
///
/// # Panics
/// If the buffers' lengths differ.
pub fn adamax<T: Float>(b: AdaMaxBuffers<'_, T>, c: &AdaMaxCoefficients<T>) {
    b.assert_lengths();
    for i in 0..b.param.len() {
        let p = b.param[i];
        let g = adjusted_grad(b.grad[i], p, c.maximize, c.weight_decay);
        let m = c.beta1 * b.exp_avg[i] + c.one_minus_beta1 * g;
        let u = max_nan(c.beta2 * b.exp_inf[i], g.abs() + c.eps);
        b.exp_avg[i] = m;
        b.exp_inf[i] = u;
        b.param[i] = p - c.step_size * (m / u);
    }
}

/// The gradient as every algorithm but Adam's decoupled mode first adjusts
/// it: negated when maximizing, then the L2 term `wd·p` added.
fn adjusted_grad<T: Float>(g: T, p: T, maximize: bool, weight_decay: Option<T>) -> T {
    let g = if maximize { -g } else { g };
    match weight_decay {
        Some(wd) => g + wd * p,
        None => g,
    }
}

/// AdaGrad, one element at a time.
///
/// # Panics
/// If the buffers' lengths differ.
pub fn adagrad<T: Float>(b: AdaGradBuffers<'_, T>, c: &AdaGradCoefficients<T>) {
    b.assert_lengths();
    for i in 0..b.param.len() {
        let p = b.param[i];
        let g = adjusted_grad(b.grad[i], p, c.maximize, c.weight_decay);
        let s = b.sum[i] + g * g;
        b.sum[i] = s;
        b.param[i] = p - c.step_size * (g / (s.sqrt() + c.eps));
    }
}

/// RMSprop (plain, centered, with momentum), one element at a time.
///
/// # Panics
/// If the buffers' lengths differ.
pub fn rmsprop<T: Float>(b: RmsPropBuffers<'_, T>, c: &RmsPropCoefficients<T>) {
    b.assert_lengths();
    let (mut momentum_buffer, mut grad_avg) = (b.momentum_buffer, b.grad_avg);
    for i in 0..b.param.len() {
        let p = b.param[i];
        let g = adjusted_grad(b.grad[i], p, c.maximize, c.weight_decay);
        let v = c.alpha * b.square_avg[i] + c.one_minus_alpha * g * g;
        b.square_avg[i] = v;
        let variance = match grad_avg.as_deref_mut() {
            Some(a) => {
                a[i] = c.alpha * a[i] + c.one_minus_alpha * g;
                v - a[i] * a[i]
            }
            None => v,
        };
        let d = variance.sqrt() + c.eps;
        let step = match momentum_buffer.as_deref_mut() {
            Some(buf) => {
                buf[i] = c.momentum * buf[i] + g / d;
                buf[i]
            }
            None => g / d,
        };
        b.param[i] = p - c.lr * step;
    }
}

/// AdaDelta, one element at a time.
///
/// # Panics
/// If the buffers' lengths differ.
pub fn adadelta<T: Float>(b: AdaDeltaBuffers<'_, T>, c: &AdaDeltaCoefficients<T>) {
    b.assert_lengths();
    for i in 0..b.param.len() {
        let p = b.param[i];
        let g = adjusted_grad(b.grad[i], p, c.maximize, c.weight_decay);
        let s = c.rho * b.square_avg[i] + c.one_minus_rho * g * g;
        let x = b.acc_delta[i];
        let delta = (x + c.eps).sqrt() / (s + c.eps).sqrt() * g;
        b.square_avg[i] = s;
        b.acc_delta[i] = c.rho * x + c.one_minus_rho * delta * delta;
        b.param[i] = p - c.lr * delta;
    }
}

/// Mixed-precision Adam, one element at a time: each buffer widened to
/// `f32`, Adam's arithmetic after `g·grad_scale` (negated when maximizing),
/// each result narrowed to its buffer's type (stochastically for `bf16`
/// parameter and state stores when keys are given, with the random value of
/// position `position + i`).
///
/// # Panics
/// As [`crate::adam_mixed()`].
pub fn adam_mixed(b: MixedAdamBuffers<'_>, c: &MixedAdamCoefficients) {
    b.assert_valid();
    let MixedAdamBuffers {
        mut param,
        mut grad,
        mut exp_avg,
        mut exp_avg_sq,
        mut max_exp_avg_sq,
        mut param_copy,
        position,
    } = b;
    let a = &c.adam;
    let scale = if a.maximize { -c.grad_scale } else { c.grad_scale };
    for i in 0..param.len() {
        let at = position.wrapping_add(i as u64) as u32;
        let random = |key: fn(&StochasticKeys) -> u32| c.stochastic.map(|k| random_at(key(&k), at));
        let g = grad.get(i) * scale;
        if c.zero_grad {
            grad.set(i, 0.0, None);
        }
        let vmax = max_exp_avg_sq.as_ref().map(|x| x.get(i));
        let [p, m, v, vmax] = adam_element(a, g, param.get(i), exp_avg.get(i), exp_avg_sq.get(i), vmax);
        exp_avg.set(i, m, random(|k| k.exp_avg));
        exp_avg_sq.set(i, v, random(|k| k.exp_avg_sq));
        if let Some(x) = max_exp_avg_sq.as_mut() {
            x.set(i, vmax, random(|k| k.max_exp_avg_sq));
        }
        param.set(i, p, random(|k| k.param));
        if let Some(copy) = param_copy.as_mut() {
            copy.set(i, p, None);
        }
    }
}
