//! AdaMax (Kingma & Ba, Algorithm 2): Adam with the infinity norm.
//!
//! # Formula (per element, PyTorch semantics)
//!
//! With `t` the step number and `bc1 = 1 − β1^t`:
//!
//! ```text
//! g = maximize ? −g : g
//! g = g + wd·p                       (L2 weight decay)
//! m = β1·m + (1 − β1)·g
//! u = max(β2·u, |g| + ε)
//! p = p − (lr/bc1)·m/u
//! ```
//!
//! With ε = 0 this is the paper's Algorithm 2 (PyTorch's default ε is 1e-8,
//! which keeps `u > 0` where the gradient has always been zero; with ε = 0 and
//! `u = g = 0` the step is `0/0 = NaN`, exactly as the formula says).
//!
//! # Op order (the bits)
//!
//! `clr = lr/bc1` is computed once per call in `f64` and rounded to the
//! element type ([`AdaMaxCoefficients`]). Per element, in this order:
//!
//! ```text
//! g = −g                             (if maximize)
//! g = g + (wd·p)                     (if L2)
//! m = (β1·m) + ((1−β1)·g)
//! u = max(β2·u, |g| + ε)             (the NaN rule of `max_nan`: NaN from either side)
//! p = p − clr·(m/u)
//! ```
//!
//! One `÷` and no `√` per element.
//!
//! # Tail handling
//!
//! As for Adam: unrolled full vectors, single vectors, one partial vector,
//! all through the same lane operations.
//!
//! # NaN rule
//!
//! `max` returns a NaN from either operand, so a NaN gradient is not dropped
//! by the maximum (it would be with x86's bare `maxps`, or Rust's `f32::max`);
//! it reaches `u`, `m` and `p` as in PyTorch, whose `amax` propagates NaN.

use super::gradient::adjusted_grad;
use crate::float::{Float, max_nan};
use crate::operands::{AdaMaxBuffers, AdaMaxCoefficients, KernelBuffers};

/// AdaMax, one element at a time.
///
/// # Panics
/// If the buffers' lengths differ.
pub fn adamax<T: Float>(b: AdaMaxBuffers<'_, T>, c: &AdaMaxCoefficients<T>) {
    b.assert_lengths();
    for i in 0..b.param.len() {
        let p = b.param[i];
        let g = adjusted_grad(b.grad[i], p, c.grad_scale, c.maximize, c.weight_decay);
        let m = c.beta1 * b.exp_avg[i] + c.one_minus_beta1 * g;
        let u = max_nan(c.beta2 * b.exp_inf[i], g.abs() + c.eps);
        b.exp_avg[i] = m;
        b.exp_inf[i] = u;
        b.param[i] = p - c.step_size * (m / u);
    }
}
