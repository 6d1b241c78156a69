//! Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"):
//! the sign of an interpolated momentum, one state buffer.
//!
//! # Formula (per element, lion-pytorch and optax semantics)
//!
//! ```text
//! g = maximize ? −g : g
//! p = p·(1 − lr·wd)                  (decoupled weight decay)
//! c = β1·m + (1 − β1)·g
//! p = p − lr·sign(c)
//! m = β2·m + (1 − β2)·g
//! ```
//!
//! There is no bias correction: the step number `t` is validated (`t >= 1`)
//! like every algorithm's, and used for nothing else. Every element moves by
//! exactly `lr` (before rounding), or not at all where `c = 0`.
//!
//! # Op order (the bits)
//!
//! The decay factor `1 − lr·wd` is computed once per call in `f64` and
//! rounded to the element type, like every scalar of [`LionCoefficients`].
//! Per element, in this order:
//!
//! ```text
//! g = g·grad_scale
//! g = −g                             (if maximize)
//! p = p·factor                       (if wd != 0; factor = 1 − lr·wd)
//! c = (β1·m) + ((1−β1)·g)
//! p = p − (lr·sign(c))
//! m = (β2·m) + ((1−β2)·g)
//! ```
//!
//! No `÷` and no `√`: six `×` (seven with decay), three `+ −` and one `sign`
//! per element. `lr·sign(c)` is exactly `±lr` or `+0`,
//! so the only rounding in the update is the subtraction's.
//!
//! # The sign
//!
//! `sign` is [`sign_nan`]: `+1` for `c > 0`, `−1` for `c < 0`, `+0` for
//! `c = ±0`, `±1` for `±inf` and for subnormals of either sign (no flush to
//! zero), and `c` itself for a NaN. Both zeros give `+0` so that
//! `p − lr·(+0) = p` for every `p`, `−0` included (`−0` would turn a `−0`
//! parameter into `+0`). On the SIMD tiers it is a select built from compare
//! masks and the sign bit (no arithmetic), so every tier gives these bits.
//!
//! # Tail handling
//!
//! As for Adam: unrolled full vectors, single vectors, one partial vector,
//! all through the same lane operations.
//!
//! # NaN rule
//!
//! NaN propagates: a NaN gradient makes `c` and `m` NaN, `sign(NaN)` is NaN,
//! and so is the parameter, as a NaN gradient does in every other algorithm
//! here. This differs from lion-pytorch, whose `torch.sign` maps NaN to 0
//! (pytorch/pytorch#41245; optax's `jnp.sign` propagates NaN, as here):
//! there a NaN gradient (or a momentum that went NaN) leaves the parameter
//! where it was, and the momentum NaN for good, so the parameter silently
//! stops training. Here the NaN reaches the parameter, where a `found_inf`
//! check or the loss sees it. An infinite gradient with a finite momentum
//! gives `c = ±inf`, so a finite step of `∓lr`; the momentum becomes `±inf`,
//! and a later `inf − inf` is a NaN that propagates as above.

use crate::float::{Float, sign_nan};
use crate::operands::{KernelBuffers, LionBuffers, LionCoefficients, MAX_MIXED_STATE, MixedUpdate};

/// One element of Lion after the gradient's scale and sign: `(p, m)` from
/// `g`, the parameter and the momentum, in the kernel's op order.
pub(crate) fn lion_element<T: Float>(c: &LionCoefficients<T>, g: T, p: T, m: T) -> (T, T) {
    let p = match c.decay_factor {
        Some(factor) => p * factor,
        None => p,
    };
    let update = c.beta1 * m + c.one_minus_beta1 * g;
    (p - c.lr * sign_nan(update), c.beta2 * m + c.one_minus_beta2 * g)
}

/// Lion, one element at a time.
///
/// # Panics
/// If the buffers' lengths differ.
pub fn lion<T: Float>(b: LionBuffers<'_, T>, c: &LionCoefficients<T>) {
    b.assert_lengths();
    for i in 0..b.param.len() {
        let g = b.grad[i] * c.grad_scale;
        let g = if c.maximize { -g } else { g };
        (b.param[i], b.exp_avg[i]) = lion_element(c, g, b.param[i], b.exp_avg[i]);
    }
}

/// Lion's mixed-precision step ([`crate::spec::mixed`](mod@crate::spec::mixed)):
/// its element update (as in [`lion()`]) in `f32` over the slot `exp_avg`.
impl MixedUpdate for LionCoefficients<f32> {
    const NAME: &'static str = "Lion";
    const STATE: &'static [&'static str] = &["exp_avg"];

    const SIGNED: [bool; MAX_MIXED_STATE] = [true, false, false];

    fn needed(_: [bool; MAX_MIXED_STATE]) -> [bool; MAX_MIXED_STATE] {
        [true, false, false]
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
        let (p, m) = lion_element(self, g, p, state[0].expect("Lion keeps exp_avg"));
        (p, [Some(m), None, None])
    }
}
