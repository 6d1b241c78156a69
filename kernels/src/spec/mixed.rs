//! The mixed-precision step of every algorithm that has one: `bf16`/`f16`
//! storage, `f32` arithmetic, and the fused extras of a training step
//! (gradient unscaling, zero-grad, a narrow copy of the new parameters), in
//! one pass over memory. One loop, generic over the algorithm's `f32`
//! element update ([`MixedUpdate`]).
//!
//! # Layouts
//!
//! Arithmetic is `f32`. Each buffer has its own storage type ([`Dtype`](crate::narrow::Dtype)); the
//! supported combinations ([`MixedLayout::SUPPORTED`](crate::MixedLayout::SUPPORTED)) are those frameworks
//! use:
//!
//! | parameter | gradient | state | copy of the new parameters |
//! | --- | --- | --- | --- |
//! | f32 (master weights) | f32, bf16 or f16 | f32 | none, bf16 or f16 |
//! | f32 | f32 | bf16 (lean state: half the state bytes) | none |
//! | bf16 | bf16 | f32 or bf16 | none |
//! | f16 | f16 | f32 | none |
//!
//! # Formula and op order
//!
//! The algorithm's own `f32` element update ([`MixedUpdate::element`]: the
//! very function the algorithm's `f32` reference loop calls, and over lanes
//! the very code its `f32` kernel runs), between the loads and the stores
//! the layout asks for. The gradient is first multiplied by the per-step
//! scalar `grad_scale` (`1/loss_scale`, and negated when maximizing:
//! `g·(−s)` is `−(g·s)` exactly for every non-NaN `g`, so maximize costs
//! nothing extra; a NaN stays a NaN, possibly with another sign, which the
//! contract does not distinguish). Per element:
//!
//! ```text
//! g  = widen(g)·grad_scale           (grad_scale = ±1/loss_scale, rounded to f32)
//! grad = 0                           (if zero_grad: the gradient is consumed)
//! p  = widen(p); sᵢ = widen(sᵢ)      (each state slot the algorithm's options keep)
//! (p, s) = element(g, p, s)          (the algorithm's f32 update, table below)
//! store each sᵢ and p narrowed to their types; copy = narrow(p) (if a copy is asked)
//! ```
//!
//! | algorithm | state slots | `element` (op order: its own module's essay) |
//! | --- | --- | --- |
//! | Adam / AdamW / AMSGrad | `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq` (AMSGrad) | [`adam`](mod@super::adam): L2 `g + (wd·p)` or decoupled `p·decay`; `m`, `v`, `vm = max(vm, v)`; `p − s·(m/(√v̂ + ε̂))` |
//! | Lion | `exp_avg` | [`lion`](mod@super::lion): decoupled `p·factor`; `c = (β1·m) + ((1−β1)·g)`; `p − (lr·sign(c))`; `m = (β2·m) + ((1−β2)·g)` |
//! | SGD | `momentum_buffer` (with momentum; none without) | [`sgd`](mod@super::sgd): L2 `d = g + (wd·p)`; `b = d` on the first step (`t = 1`: the old buffer not read), else `b = (μ·b) + ((1−dampening)·d)`; Nesterov `d = d + (μ·b)`, else `d = b`; `p − (lr·d)` |
//!
//! The update uses this step's `f32` values of the state; what is stored
//! is their rounding to the state type. With every buffer `f32`, a scale of 1
//! and no extras, the bits are the algorithm's `f32` kernel's (NaN compared
//! as NaN).
//!
//! The unscaled gradient stays in `f32`: a framework's separate unscale pass
//! would round `g·(1/loss_scale)` back to the gradient's type first. The two
//! agree when the loss scale is a power of two and nothing underflows (the
//! usual dynamic loss scaling), and the fused form is the more precise.
//!
//! # Narrowing
//!
//! Round to nearest even, or, with [`StochasticKeys`](crate::StochasticKeys), stochastic rounding
//! of the `bf16` parameter and state stores (see [`crate::narrow`]), one key
//! per buffer (the parameter's, and one per state slot). The
//! random value of element `i` of a buffer is `random_at(key, position + i)`,
//! where `position` is the buffers' [`MixedBuffers::position`](crate::MixedBuffers::position): splitting
//! the buffers advances it, so every split (every thread count) draws the
//! same values. The copy is always rounded to nearest even.
//!
//! # Tail handling and NaN rule
//!
//! As for the algorithm's `f32` kernel. Narrow loads and stores of a partial vector go through a
//! zeroed stack buffer. NaN and inf propagate; skipping a step whose
//! gradient overflowed is the caller's job, with [`grad_non_finite`](crate::grad_non_finite) (the
//! root crate's `found_inf` protocol).

use crate::narrow::random_at;
use crate::operands::{Checked, MAX_MIXED_STATE, MixedBuffers, MixedCoefficients, MixedUpdate};

/// The mixed-precision step of the algorithm `U`, one element at a time:
/// each buffer widened to `f32`, the algorithm's element update after
/// `g·grad_scale` (negated when maximizing), each result narrowed to its
/// buffer's type (stochastically for `bf16` parameter and state stores when
/// keys are given, with the random value of position `position + i`).
///
/// # Panics
/// As [`crate::mixed()`].
pub fn mixed<U: MixedUpdate>(b: MixedBuffers<'_>, c: &MixedCoefficients<U>) {
    let MixedBuffers { mut param, mut grad, mut state, mut param_copy, position } =
        Checked::or_panic(b).into_inner();
    let scale = if c.algorithm.maximize() { -c.grad_scale } else { c.grad_scale };
    for i in 0..param.len() {
        let at = position.wrapping_add(i as u64) as u32;
        let g = grad.get(i) * scale;
        if c.zero_grad {
            grad.set(i, 0.0, None);
        }
        let (p, values) =
            c.algorithm.element(g, param.get(i), state.each_ref().map(|s| s.as_ref().map(|s| s.get(i))));
        for k in 0..MAX_MIXED_STATE {
            if let (Some(s), Some(x)) = (state[k].as_mut(), values[k]) {
                s.set(i, x, c.stochastic.map(|keys| random_at(keys.state[k], at)));
            }
        }
        param.set(i, p, c.stochastic.map(|keys| random_at(keys.param, at)));
        if let Some(copy) = param_copy.as_mut() {
            copy.set(i, p, None);
        }
    }
}
