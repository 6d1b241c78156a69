//! RMSprop (Tieleman & Hinton, 2012), with Graves' centered variant and
//! heavy-ball momentum.
//!
//! # Formula (per element, PyTorch semantics)
//!
//! ```text
//! g = maximize ? −g : g
//! g = g + wd·p                       (L2 weight decay)
//! v = α·v + (1 − α)·g²
//! a = α·a + (1 − α)·g                (centered)
//! d = √(v − a²) + ε                  (centered; else d = √v + ε)
//! b = μ·b + g/d,  p = p − lr·b       (momentum μ > 0)
//! p = p − lr·g/d                     (no momentum)
//! ```
//!
//! No per-step scalar depends on the step number: RMSprop has no bias
//! correction.
//!
//! # Op order (the bits)
//!
//! ```text
//! g = −g                             (if maximize)
//! g = g + (wd·p)                     (if L2)
//! v = (α·v) + (((1−α)·g)·g)
//! a = (α·a) + ((1−α)·g)              (if centered)
//! d = √(v − (a·a)) + ε               (if centered; else √v + ε)
//! b = (μ·b) + (g/d)                  (if momentum)
//! p = p − lr·b                       (if momentum; else p − lr·(g/d))
//! ```
//!
//! One `√` and one `÷` per element. Which options run is fixed by the buffers
//! given: `momentum_buffer` present means the momentum form (with the
//! coefficient `momentum`), `grad_avg` present means centered.
//!
//! # Tail handling
//!
//! As for Adam: unrolled full vectors, single vectors, one partial vector,
//! all through the same lane operations.
//!
//! # NaN rule
//!
//! There is no `max`: NaN and inf propagate through `+ × ÷ √` as IEEE says.
//! Centered, `v − a²` can round below zero where the gradient has been
//! constant (`v ≈ a²`); its root is then NaN, exactly as in PyTorch. A
//! positive ε does not prevent that: it is added after the root.

use super::gradient::adjusted_grad;
use crate::float::Float;
use crate::operands::{KernelBuffers, RmsPropBuffers, RmsPropCoefficients};

/// RMSprop (plain, centered, with momentum), one element at a time.
///
/// # Panics
/// If the buffers' lengths differ.
pub fn rmsprop<T: Float>(b: RmsPropBuffers<'_, T>, c: &RmsPropCoefficients<T>) {
    b.assert_lengths();
    let (mut momentum_buffer, mut grad_avg) = (b.momentum_buffer, b.grad_avg);
    for i in 0..b.param.len() {
        let p = b.param[i];
        let g = adjusted_grad(b.grad[i], p, c.grad_scale, c.maximize, c.weight_decay);
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
