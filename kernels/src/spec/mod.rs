//! The scalar reference: the specification of every kernel's bits.
//!
//! One plain loop per algorithm, generic over the element type (so one
//! function serves `f32` and `f64`), written as the module essays of
//! [`adam`](mod@adam), [`adamax`](mod@adamax), [`adagrad`](mod@adagrad),
//! [`rmsprop`](mod@rmsprop), [`adadelta`](mod@adadelta), [`sgd`](mod@sgd), [`lion`](mod@lion) and
//! [`mixed`](mod@mixed) (every mixed-precision step) and [`quantized`](mod@quantized) (every
//! 8-bit-state step) state the formula, the op order, the tail
//! handling and the NaN rule, with Rust's
//! scalar `+ − × ÷`, `sqrt`, `abs` (never fused, never approximated) and
//! [`max_nan`](crate::max_nan) and [`sign_nan`](crate::sign_nan). Every SIMD tier, the dispatched entry point and the threaded
//! driver must give these bits for every input ([`Float::same_bits`](crate::Float::same_bits): NaN
//! compared as NaN).
//!
//! These functions are slow on purpose: no unrolling, no SIMD, one element at
//! a time, so they can be read against the formula.
//!
//! The SIMD bodies that must match these loops are in the crate's private
//! `generic` module, one per algorithm (`fn adam<I: Lanes<T>, T>` …).

pub mod adadelta;
pub mod adagrad;
pub mod adam;
pub mod adamax;
pub mod grad_norm;
mod gradient;
pub mod lion;
pub mod mixed;
pub mod quantized;
pub mod rmsprop;
pub mod sgd;

pub use adadelta::adadelta;
pub use adagrad::adagrad;
pub use adam::adam;
pub use adamax::adamax;
pub use grad_norm::{clip_coefficient, grad_norm, sum_squares};
pub use lion::lion;
pub use mixed::mixed;
pub use quantized::{decode_signed, decode_unsigned, encode_signed, encode_unsigned, quantized};
pub use rmsprop::rmsprop;
pub use sgd::sgd;
