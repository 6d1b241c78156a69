//! Mixed-precision Adam: `bf16`/`f16` storage, `f32` arithmetic, and the
//! fused extras of a training step (gradient unscaling, zero-grad, a narrow
//! copy of the new parameters), in one pass over memory.
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
//! | bf16 | bf16 | f32 or bf16 | none |
//! | f16 | f16 | f32 | none |
//!
//! # Formula and op order
//!
//! Adam's, as in [`adam`](mod@super::adam), with the gradient first multiplied by the
//! per-step scalar `grad_scale` (`1/loss_scale`, and negated when maximizing:
//! `g·(−s)` is `−(g·s)` exactly for every non-NaN `g`, so maximize costs
//! nothing extra; a NaN stays a NaN, possibly with another sign, which the
//! contract does not distinguish). Per element:
//!
//! ```text
//! g  = widen(g)·grad_scale           (grad_scale = ±1/loss_scale, rounded to f32)
//! grad = 0                           (if zero_grad: the gradient is consumed)
//! p  = widen(p)
//! g  = g + (wd·p)                    (if L2)
//! p  = p·decay                       (if decoupled)
//! m  = (β1·widen(m)) + ((1−β1)·g)
//! v  = (β2·widen(v)) + (((1−β2)·g)·g)
//! vm = max(widen(vm), v)             (if AMSGrad)
//! p  = p − s·(m / (√v̂ + ε̂))
//! store m, v, vm, p narrowed to their types; copy = narrow(p) (if a copy is asked)
//! ```
//!
//! The update uses this step's `f32` values of m, v and vm; what is stored
//! is their rounding to the state type. With every buffer `f32`, a scale of 1
//! and no extras, the bits are [`crate::adam()`]'s (NaN compared as NaN).
//!
//! The unscaled gradient stays in `f32`: a framework's separate unscale pass
//! would round `g·(1/loss_scale)` back to the gradient's type first. The two
//! agree when the loss scale is a power of two and nothing underflows (the
//! usual dynamic loss scaling), and the fused form is the more precise.
//!
//! # Narrowing
//!
//! Round to nearest even, or, with [`StochasticKeys`], stochastic rounding
//! of the `bf16` parameter and state stores (see [`crate::narrow`]). The
//! random value of element `i` of a buffer is `random_at(key, position + i)`,
//! where `position` is the buffers' [`MixedAdamBuffers::position`](crate::MixedAdamBuffers::position): splitting
//! the buffers advances it, so every split (every thread count) draws the
//! same values. The copy is always rounded to nearest even.
//!
//! # Tail handling and NaN rule
//!
//! As for Adam. Narrow loads and stores of a partial vector go through a
//! zeroed stack buffer. NaN and inf propagate; skipping a step whose
//! gradient overflowed is the caller's job, with [`grad_non_finite`](crate::grad_non_finite) (the
//! root crate's `found_inf` protocol).

use super::adam::adam_element;
use crate::narrow::random_at;
use crate::operands::{Checked, MixedAdamBuffers, MixedAdamCoefficients, StochasticKeys};

/// Mixed-precision Adam, one element at a time: each buffer widened to
/// `f32`, Adam's arithmetic after `g·grad_scale` (negated when maximizing),
/// each result narrowed to its buffer's type (stochastically for `bf16`
/// parameter and state stores when keys are given, with the random value of
/// position `position + i`).
///
/// # Panics
/// As [`crate::adam_mixed()`].
pub fn adam_mixed(b: MixedAdamBuffers<'_>, c: &MixedAdamCoefficients) {
    let MixedAdamBuffers {
        mut param,
        mut grad,
        mut exp_avg,
        mut exp_avg_sq,
        mut max_exp_avg_sq,
        mut param_copy,
        position,
    } = Checked::or_panic(b).into_inner();
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
