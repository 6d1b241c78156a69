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

use crate::float::Float;
use crate::operands::{KernelBuffers, MAX_MIXED_STATE, MixedUpdate, SgdBuffers, SgdCoefficients};

/// One element of SGD after the gradient's scale and sign: `(p, b)` from
/// `d`, the parameter and the momentum buffer's value (`None` without
/// momentum; not read on the first step), in the kernel's op order.
pub(crate) fn sgd_element<T: Float>(c: &SgdCoefficients<T>, d: T, p: T, b: Option<T>) -> (T, Option<T>) {
    let d = match c.weight_decay {
        Some(wd) => d + wd * p,
        None => d,
    };
    let (d, b) = match b {
        Some(b) => {
            let b = if c.first { d } else { c.momentum * b + c.one_minus_dampening * d };
            (if c.nesterov { d + c.momentum * b } else { b }, Some(b))
        }
        None => (d, None),
    };
    (p - c.lr * d, b)
}

/// SGD (plain, with momentum, with Nesterov momentum), one element at a time.
///
/// # Panics
/// If the buffers' lengths differ.
pub fn sgd<T: Float>(b: SgdBuffers<'_, T>, c: &SgdCoefficients<T>) {
    b.assert_lengths();
    let mut momentum_buffer = b.momentum_buffer;
    for i in 0..b.param.len() {
        let d = b.grad[i] * c.grad_scale;
        let d = if c.maximize { -d } else { d };
        let buf = momentum_buffer.as_deref().map(|x| x[i]);
        let (p, buf) = sgd_element(c, d, b.param[i], buf);
        b.param[i] = p;
        if let (Some(x), Some(v)) = (momentum_buffer.as_deref_mut(), buf) {
            x[i] = v;
        }
    }
}

/// SGD's mixed-precision step ([`crate::spec::mixed`](mod@crate::spec::mixed)):
/// its element update (as in [`sgd()`]) in `f32` over the slot
/// `momentum_buffer` (absent without momentum).
impl MixedUpdate for SgdCoefficients<f32> {
    const NAME: &'static str = "SGD";
    const STATE: &'static [&'static str] = &["momentum_buffer"];

    const SIGNED: [bool; MAX_MIXED_STATE] = [true, false, false];

    fn needed(given: [bool; MAX_MIXED_STATE]) -> [bool; MAX_MIXED_STATE] {
        [given[0], false, false]
    }

    fn maximize(&self) -> bool {
        self.maximize
    }

    fn element(
        &self,
        g: f32,
        p: f32,
        state: [Option<f32>; MAX_MIXED_STATE],
    ) -> (f32, [Option<f32>; MAX_MIXED_STATE]) {
        let (p, b) = sgd_element(self, g, p, state[0]);
        (p, [b, None, None])
    }
}
