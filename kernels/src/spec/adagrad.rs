//! AdaGrad (Duchi, Hazan & Singer, 2011): per-coordinate steps scaled by the
//! root of the summed squared gradients.
//!
//! # Formula (per element, PyTorch semantics)
//!
//! With `t` the step number (first step: 1) and `s` starting at
//! `initial_accumulator_value`:
//!
//! ```text
//! g   = maximize ? −g : g
//! g   = g + wd·p                     (L2 weight decay)
//! clr = lr/(1 + (t − 1)·lr_decay)
//! s   = s + g²
//! p   = p − clr·g/(√s + ε)
//! ```
//!
//! # Op order (the bits)
//!
//! `clr` is computed once per call in `f64` and rounded to the element type
//! ([`AdaGradCoefficients`]). Per element, in this order:
//!
//! ```text
//! g = −g                             (if maximize)
//! g = g + (wd·p)                     (if L2)
//! s = s + (g·g)
//! p = p − clr·(g / (√s + ε))
//! ```
//!
//! One `√` and one `÷` per element, as PyTorch's `addcdiv` (`p + (−clr)·(g/d)`).
//!
//! # Tail handling
//!
//! As for Adam: unrolled full vectors, single vectors, one partial vector,
//! all through the same lane operations.
//!
//! # NaN rule
//!
//! There is no `max`: NaN and inf propagate through `+ × ÷ √` as IEEE says.
//! With ε = 0, a zero sum and a zero gradient give `0/0 = NaN`, as the formula
//! and PyTorch do.

use super::gradient::adjusted_grad;
use crate::float::Float;
use crate::operands::{AdaGradBuffers, AdaGradCoefficients, KernelBuffers};

/// AdaGrad, one element at a time.
///
/// # Panics
/// If the buffers' lengths differ.
pub fn adagrad<T: Float>(b: AdaGradBuffers<'_, T>, c: &AdaGradCoefficients<T>) {
    b.assert_lengths();
    for i in 0..b.param.len() {
        let p = b.param[i];
        let g = adjusted_grad(b.grad[i], p, c.grad_scale, c.maximize, c.weight_decay);
        let s = b.sum[i] + g * g;
        b.sum[i] = s;
        b.param[i] = p - c.step_size * (g / (s.sqrt() + c.eps));
    }
}
