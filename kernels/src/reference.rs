//! The scalar reference: the specification of every kernel's bits.
//!
//! One plain loop per algorithm, generic over the element type (so one
//! function serves `f32` and `f64`), written as the module essays of
//! [`adam`](mod@crate::adam) and [`adamax`](mod@crate::adamax) state the op order, with Rust's
//! scalar `+ − × ÷`, `sqrt`, `abs` (never fused, never approximated) and
//! [`max_nan`]. Every SIMD tier, the dispatched entry point and the threaded
//! driver must give these bits for every input ([`Float::same_bits`]: NaN
//! compared as NaN).
//!
//! These functions are slow on purpose: no unrolling, no SIMD, one element at
//! a time, so they can be read against the formula.

use crate::adam::{AdamBuffers, AdamCoefficients, Decay};
use crate::adamax::{AdaMaxBuffers, AdaMaxCoefficients};
use crate::{Float, max_nan};

/// Adam / AdamW / AMSGrad, one element at a time.
///
/// # Panics
/// If the buffers' lengths differ.
pub fn adam<T: Float>(b: AdamBuffers<'_, T>, c: &AdamCoefficients<T>) {
    b.assert_lengths();
    let mut max_exp_avg_sq = b.max_exp_avg_sq;
    for i in 0..b.param.len() {
        let mut g = b.grad[i];
        if c.maximize {
            g = -g;
        }
        let mut p = b.param[i];
        match c.decay {
            Decay::None => {}
            Decay::L2(wd) => g = g + wd * p,
            Decay::Decoupled(factor) => p = p * factor,
        }
        let m = c.beta1 * b.exp_avg[i] + c.one_minus_beta1 * g;
        let v = c.beta2 * b.exp_avg_sq[i] + c.one_minus_beta2 * g * g;
        b.exp_avg[i] = m;
        b.exp_avg_sq[i] = v;
        let v_hat = match max_exp_avg_sq.as_deref_mut() {
            Some(vmax) => {
                vmax[i] = max_nan(vmax[i], v);
                vmax[i]
            }
            None => v,
        };
        b.param[i] = p - c.step_size * (m / (v_hat.sqrt() + c.eps_hat));
    }
}

/// AdaMax, one element at a time.
///
/// # Panics
/// If the buffers' lengths differ.
pub fn adamax<T: Float>(b: AdaMaxBuffers<'_, T>, c: &AdaMaxCoefficients<T>) {
    b.assert_lengths();
    for i in 0..b.param.len() {
        let mut g = b.grad[i];
        if c.maximize {
            g = -g;
        }
        let p = b.param[i];
        if let Some(wd) = c.weight_decay {
            g = g + wd * p;
        }
        let m = c.beta1 * b.exp_avg[i] + c.one_minus_beta1 * g;
        let u = max_nan(c.beta2 * b.exp_inf[i], g.abs() + c.eps);
        b.exp_avg[i] = m;
        b.exp_inf[i] = u;
        b.param[i] = p - c.step_size * (m / u);
    }
}
