//! Adam, AdamW and AMSGrad: one fused pass over parameter, gradient and moments.
//!
//! # Formula (per element, PyTorch semantics)
//!
//! With `t` the step number (first step: 1), `bc1 = 1 − β1^t`, `bc2 = 1 − β2^t`:
//!
//! ```text
//! g = maximize ? −g : g
//! g = g + wd·p                       (L2 weight decay, Adam)
//! p = p·(1 − lr·wd)                  (decoupled weight decay, AdamW)
//! m = β1·m + (1 − β1)·g
//! v = β2·v + (1 − β2)·g²
//! vmax = max(vmax, v)                (AMSGrad; v̂ = vmax, else v̂ = v)
//! p = p − (lr/bc1)·m / (√v̂/√bc2 + ε)
//! ```
//!
//! # Op order (the bits)
//!
//! The last line is evaluated in the ε̂ form of the paper's §2, which is the
//! same number with one division per element instead of two:
//! `(lr/bc1)·m/(√v̂/√bc2 + ε) = s·m/(√v̂ + ε̂)` with `s = lr·√bc2/bc1` and
//! `ε̂ = ε·√bc2`. Both scalars are computed once per call in `f64` and rounded
//! to the element type ([`AdamCoefficients`]); per element the kernel does,
//! in this order and nothing else:
//!
//! ```text
//! g  = −g                            (if maximize)
//! g  = g + (wd·p)                    (if L2)
//! p  = p·decay                       (if decoupled; decay = 1 − lr·wd)
//! m  = (β1·m) + ((1−β1)·g)
//! v  = (β2·v) + (((1−β2)·g)·g)       ((1−β2)·g first: g² alone overflows sooner)
//! vm = max(vm, v)                    (if AMSGrad; the NaN rule of `max_nan`)
//! p  = p − s·(m / (√v̂ + ε̂))
//! ```
//!
//! That is one `√`, one `÷`, and six to nine `+ − ×` per element.
//! The ε̂ form is also what TensorFlow's Adam computes with a constant ε̂.
//!
//! # Tail handling
//!
//! The main loop runs `UNROLL` full vectors at a time, then single vectors,
//! then one partial vector (masked on AVX-512, through a stack buffer on the
//! other tiers) for the last `n mod N` elements. Every element goes through
//! the same lane operations, so the tail gives the same bits as the body.
//!
//! # NaN rule
//!
//! NaN and inf propagate: a NaN gradient makes NaN moments and a NaN
//! parameter, as in PyTorch. AMSGrad's `max` keeps a NaN from either side.
//! Skipping a step on overflow is the caller's job (a `found_inf` check), not
//! the kernel's.

use crate::float::{Float, max_nan};
use crate::operands::{AdamBuffers, AdamCoefficients, Decay, KernelBuffers, MAX_MIXED_STATE, MixedUpdate};

/// One element of Adam after the gradient's sign (maximize) and scale:
/// `(p, m, v, vmax)` from the gradient `g`, the parameter and the state
/// (`vmax` with AMSGrad), in the kernel's op order.
pub(crate) fn adam_element<T: Float>(
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
        let g = b.grad[i] * c.grad_scale;
        let g = if c.maximize { -g } else { g };
        let vmax = max_exp_avg_sq.as_deref().map(|x| x[i]);
        let [p, m, v, vmax] = adam_element(c, g, b.param[i], b.exp_avg[i], b.exp_avg_sq[i], vmax);
        (b.param[i], b.exp_avg[i], b.exp_avg_sq[i]) = (p, m, v);
        if let Some(x) = max_exp_avg_sq.as_deref_mut() {
            x[i] = vmax;
        }
    }
}

/// Adam's mixed-precision step ([`crate::spec::mixed`](mod@crate::spec::mixed)):
/// Adam's element update (as in [`adam()`]) in `f32` over the slots `exp_avg`, `exp_avg_sq` and
/// (AMSGrad) `max_exp_avg_sq`.
impl MixedUpdate for AdamCoefficients<f32> {
    const NAME: &'static str = "Adam";
    const STATE: &'static [&'static str] = &["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

    const SIGNED: [bool; MAX_MIXED_STATE] = [true, false, false];

    fn needed(given: [bool; MAX_MIXED_STATE]) -> [bool; MAX_MIXED_STATE] {
        [true, true, given[2]]
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
        let [m, v, vmax] = state;
        let (m, v) = (m.expect("Adam keeps exp_avg"), v.expect("Adam keeps exp_avg_sq"));
        let [p, m, v, x] = adam_element(self, g, p, m, v, vmax);
        (p, [Some(m), Some(v), vmax.map(|_| x)])
    }
}
