//! AdaDelta (Zeiler, 2012): steps whose units match the parameter's, from
//! running averages of squared gradients and of squared updates.
//!
//! # Formula (per element, PyTorch semantics)
//!
//! ```text
//! g = maximize ? −g : g
//! g = g + wd·p                       (L2 weight decay)
//! s = ρ·s + (1 − ρ)·g²
//! δ = √(x + ε)/√(s + ε)·g
//! x = ρ·x + (1 − ρ)·δ²
//! p = p − lr·δ
//! ```
//!
//! No per-step scalar depends on the step number: AdaDelta has no bias
//! correction.
//!
//! # Op order (the bits)
//!
//! PyTorch's order (`std = (s + ε).sqrt()`, `delta = (x + ε).sqrt() / std * g`):
//!
//! ```text
//! g = −g                             (if maximize)
//! g = g + (wd·p)                     (if L2)
//! s = (ρ·s) + (((1−ρ)·g)·g)
//! δ = (√(x + ε) / √(s + ε))·g
//! x = (ρ·x) + (((1−ρ)·δ)·δ)
//! p = p − lr·δ
//! ```
//!
//! Two `√` and one `÷` per element. `√((x + ε)/(s + ε))` would save a root
//! but rounds differently from the formula every framework writes, and the
//! step is memory-bound at the sizes that matter; the two roots stay.
//!
//! # Tail handling
//!
//! As for Adam: unrolled full vectors, single vectors, one partial vector,
//! all through the same lane operations.
//!
//! # NaN rule
//!
//! There is no `max`: NaN and inf propagate through `+ × ÷ √` as IEEE says.

use super::gradient::adjusted_grad;
use crate::float::Float;
use crate::operands::{AdaDeltaBuffers, AdaDeltaCoefficients, KernelBuffers};

/// AdaDelta, one element at a time.
///
/// # Panics
/// If the buffers' lengths differ.
pub fn adadelta<T: Float>(b: AdaDeltaBuffers<'_, T>, c: &AdaDeltaCoefficients<T>) {
    b.assert_lengths();
    for i in 0..b.param.len() {
        let p = b.param[i];
        let g = adjusted_grad(b.grad[i], p, c.grad_scale, c.maximize, c.weight_decay);
        let s = c.rho * b.square_avg[i] + c.one_minus_rho * g * g;
        let x = b.acc_delta[i];
        let delta = (x + c.eps).sqrt() / (s + c.eps).sqrt() * g;
        b.square_avg[i] = s;
        b.acc_delta[i] = c.rho * x + c.one_minus_rho * delta * delta;
        b.param[i] = p - c.lr * delta;
    }
}
