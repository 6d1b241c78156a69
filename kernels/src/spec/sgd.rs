//! SGD with momentum, dampening and Nesterov momentum (PyTorch's
//! `torch.optim.SGD`).
//!
//! # Formula (per element, PyTorch semantics)
//!
//! ```text
//! d = g·grad_scale
//! d = maximize ? −d : d
//! d = d + wd·p                       (L2 weight decay)
//! with momentum μ > 0:
//!     b = d                          (the first step, t = 1)
//!     b = μ·b + (1 − dampening)·d    (every later step)
//!     d = d + μ·b                    (Nesterov; else d = b)
//! p = p − lr·d
//! ```
//!
//! Without momentum there is no buffer and the step is `p = p − lr·d`.
//!
//! PyTorch keeps no step count for SGD: its first step is the one where the
//! parameter has no `momentum_buffer` yet. Here the step number decides:
//! `t == 1` is the first step ([`SgdCoefficients::first`]), and the buffer's
//! prior contents are then ignored (never read) and overwritten with `d`.
//! A caller that mirrors PyTorch's state passes `t = 1` for a parameter
//! without a buffer and any `t > 1` otherwise.
//!
//! # Op order (the bits)
//!
//! No per-step scalar depends on the step number beyond `first`; `lr`, `μ`
//! and `1 − dampening` are rounded once to the element type
//! ([`SgdCoefficients`]). Per element, in this order:
//!
//! ```text
//! d = d·grad_scale
//! d = −d                             (if maximize)
//! d = d + (wd·p)                     (if L2)
//! b = d                              (if momentum, first step)
//! b = (μ·b) + ((1−dampening)·d)      (if momentum, later steps)
//! d = d + (μ·b)                      (if momentum and Nesterov; else d = b)
//! p = p − (lr·d)
//! ```
//!
//! No `÷` and no `√`: at most four `×` and four `+ −` per element. With
//! dampening 0 the factor `1 − dampening` is exactly 1, and `1·d` is `d`
//! bit for bit (a NaN stays a NaN), so the undamped step needs no form of
//! its own.
//!
//! # Tail handling
//!
//! As for Adam: unrolled full vectors, single vectors, one partial vector,
//! all through the same lane operations.
//!
//! # NaN rule
//!
//! There is no `max`: NaN and inf propagate through `+ ×` as IEEE says, into
//! the momentum buffer and the parameter, as in PyTorch. On the first step
//! the buffer's old contents are not read, so a NaN left in it does not
//! reach the result.

use super::gradient::adjusted_grad;
use crate::float::Float;
use crate::operands::{KernelBuffers, SgdBuffers, SgdCoefficients};

/// SGD (plain, with momentum, with Nesterov momentum), one element at a time.
///
/// # Panics
/// If the buffers' lengths differ.
pub fn sgd<T: Float>(b: SgdBuffers<'_, T>, c: &SgdCoefficients<T>) {
    b.assert_lengths();
    let mut momentum_buffer = b.momentum_buffer;
    for i in 0..b.param.len() {
        let p = b.param[i];
        let d = adjusted_grad(b.grad[i], p, c.grad_scale, c.maximize, c.weight_decay);
        let d = match momentum_buffer.as_deref_mut() {
            Some(buf) => {
                buf[i] = if c.first { d } else { c.momentum * buf[i] + c.one_minus_dampening * d };
                if c.nesterov { d + c.momentum * buf[i] } else { buf[i] }
            }
            None => d,
        };
        b.param[i] = p - c.lr * d;
    }
}
