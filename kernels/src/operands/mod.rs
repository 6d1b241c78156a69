//! The operands of a kernel call: per algorithm, the buffers it runs over
//! and the per-step scalars it reads, and the check that makes a set of
//! buffers a [`Checked`] value once.
//!
//! Every algorithm's step reads and writes a set of equally long slices: the
//! parameter (read and written), the gradient (read only), the state buffers
//! (read and written) and, for some options, an optional state buffer. Each
//! buffer struct converts to and from [`Parts`] ([`Dense`]), so what every
//! caller needs (the length, the first mismatched length, `split_at` for the
//! threaded driver, the check) is written once, over the parts.
//! [`KernelBuffers`] is that surface as a trait, for code generic over the
//! algorithm (the root crate's driver).
//!
//! # Checked once
//!
//! A kernel entry point needs its buffers to have one length (and a
//! mixed-precision step, a supported layout). [`Checked::new`] checks that
//! once; cutting a [`Checked`] value with [`Checked::split_at`] or
//! [`Checked::reborrow`] keeps the proof, so a driver that cuts one step into
//! pieces calls `*_checked` entry points ([`crate::adam_checked`], …) that
//! check nothing per piece.
//!
//! ```
//! use fused_optim_kernels::{adam_checked, AdamBuffers, AdamCoefficients, Checked, Decay};
//! let c = AdamCoefficients {
//!     beta1: 0.9f32, one_minus_beta1: 0.1, beta2: 0.999, one_minus_beta2: 0.001,
//!     step_size: 1e-3, eps_hat: 1e-8, decay: Decay::None, grad_scale: 1.0, maximize: false,
//! };
//! let (mut p, g, mut m, mut v) = (vec![1.0f32; 100], vec![0.5f32; 100], vec![0.0f32; 100], vec![0.0f32; 100]);
//! let buffers = AdamBuffers { param: &mut p, grad: &g, exp_avg: &mut m, exp_avg_sq: &mut v, max_exp_avg_sq: None };
//! let checked = Checked::new(buffers).expect("equal lengths");
//! let (head, tail) = checked.split_at(64); // both halves stay checked
//! adam_checked(head, &c);
//! adam_checked(tail, &c);
//!
//! let mut short = vec![0.0f32; 99];
//! let bad = AdamBuffers { param: &mut p, grad: &g, exp_avg: &mut m, exp_avg_sq: &mut short, max_exp_avg_sq: None };
//! let err = Checked::new(bad).unwrap_err();
//! assert_eq!(err.to_string(), "Adam: `exp_avg_sq` has 99 elements, `param` has 100");
//! ```

mod adadelta;
mod adagrad;
mod adam;
mod adamax;
mod buffers;
mod lion;
mod mixed;
mod norm;
mod probe;
mod quantized;
mod rmsprop;
mod sgd;

pub use adadelta::{AdaDeltaBuffers, AdaDeltaCoefficients};
pub use adagrad::{AdaGradBuffers, AdaGradCoefficients};
pub use adam::{AdamBuffers, AdamCoefficients, Decay};
pub use adamax::{AdaMaxBuffers, AdaMaxCoefficients};
pub use buffers::{Check, Checked, Dense, KernelBuffers, LengthMismatch, MAX_NAMED, Parts, Piece, Reborrow};
pub use lion::{LionBuffers, LionCoefficients};
pub use mixed::{
    MAX_MIXED_STATE, MIXED_STATE_SLOTS, MixedAdamBuffers, MixedAdamCoefficients, MixedBuffers,
    MixedCoefficients, MixedError, MixedLayout, MixedSlice, MixedUpdate, StochasticKeys,
};
pub use norm::{NORM_BLOCK, NormElement, NormSlice, SumTree};
pub use probe::{ProbeBuffers, ProbeState, StateProbeBuffers};
pub use quantized::{
    QUANT_BLOCK, QUANTIZED_CODE_SLOTS, QuantizedBuffers, QuantizedCoefficients, QuantizedError,
    QuantizedSlot, quant_blocks,
};
pub use rmsprop::{RmsPropBuffers, RmsPropCoefficients};
pub use sgd::{SgdBuffers, SgdCoefficients};

/// Coefficients whose gradient multiplier can be set after they are built:
/// the root crate computes a step's coefficients from its hyperparameters
/// (with a multiplier of 1), then, for a step with gradient-norm clipping,
/// sets the clip coefficient the norm pass found.
pub trait GradScale<T> {
    /// Sets the multiplier every gradient element is scaled by first.
    fn set_grad_scale(&mut self, scale: T);
}

macro_rules! grad_scale_field {
    ($($c:ident),*) => {$(
        impl<T> GradScale<T> for $c<T> {
            fn set_grad_scale(&mut self, scale: T) {
                self.grad_scale = scale;
            }
        }
    )*};
}
grad_scale_field!(
    AdamCoefficients,
    AdaMaxCoefficients,
    AdaGradCoefficients,
    RmsPropCoefficients,
    AdaDeltaCoefficients,
    SgdCoefficients,
    LionCoefficients
);

// The buffer sets that may carry a `Checked` proof over to a shorter-lived
// view (`Reborrow` is sealed).
impl<T> buffers::sealed::Sealed for AdamBuffers<'_, T> {}
impl<T> buffers::sealed::Sealed for AdaMaxBuffers<'_, T> {}
impl<T> buffers::sealed::Sealed for AdaGradBuffers<'_, T> {}
impl<T> buffers::sealed::Sealed for RmsPropBuffers<'_, T> {}
impl<T> buffers::sealed::Sealed for AdaDeltaBuffers<'_, T> {}
impl<T> buffers::sealed::Sealed for SgdBuffers<'_, T> {}
impl<T> buffers::sealed::Sealed for LionBuffers<'_, T> {}
impl<T, const W: usize> buffers::sealed::Sealed for ProbeBuffers<'_, T, W> {}
impl buffers::sealed::Sealed for MixedBuffers<'_> {}
impl buffers::sealed::Sealed for QuantizedBuffers<'_> {}
impl buffers::sealed::Sealed for StateProbeBuffers<'_> {}
