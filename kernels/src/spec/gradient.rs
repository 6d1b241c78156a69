//! The gradient adjustment most algorithms begin with.

use crate::float::Float;

/// The gradient as every algorithm but Adam's decoupled mode first adjusts
/// it: scaled by `grad_scale` (the clip coefficient; 1 without clipping),
/// negated when maximizing, then the L2 term `wd·p` added.
pub(crate) fn adjusted_grad<T: Float>(
    g: T,
    p: T,
    grad_scale: T,
    maximize: bool,
    weight_decay: Option<T>,
) -> T {
    let g = g * grad_scale;
    let g = if maximize { -g } else { g };
    match weight_decay {
        Some(wd) => g + wd * p,
        None => g,
    }
}
