//! The C ABI of [`fused_optim`](fused_optim_core): `fo_*` functions over raw
//! pointers, for frameworks in C, C++ or Python (ctypes), built as
//! `libfused_optim.so` and `libfused_optim.a`
//! (`cargo build --release -p fused-optim-c`), declared in
//! `capi/include/fused_optim.h`.
//!
//! Every entry point checks before it writes: a null pointer where a buffer
//! is needed, a length whose byte size overflows, a pointer not aligned for
//! its element type, any two buffers that overlap, an invalid hyperparameter,
//! step 0, an optional state buffer (AMSGrad's `max_exp_avg_sq`, RMSprop's
//! `momentum_buffer` or `grad_avg`, SGD's `momentum_buffer`) missing while its option is on or given
//! while it is off. Each gets its own [`fo_status`] and leaves every buffer
//! untouched. A zero length is a valid step of nothing (its pointers are not
//! read). A panic never crosses the boundary: it becomes `FO_ERROR_INTERNAL`.
//!
//! Every algorithm has the same four entry points: `fo_<algorithm>_step_f32`
//! and `_f64` over one tensor, `fo_<algorithm>_step_many_f32` and `_f64` over
//! arrays of per-tensor pointers. Each is one call of the same generic step
//! (`many::step_many`, or `many::step` for one tensor, a list of one),
//! which takes the algorithm from the config's type and the state buffers in
//! the order of its `Algorithm::STATE`, runs one sequence of checks and hands
//! the validated coefficients and slices to `fused_optim::step::step_many_validated`.
//! Mixed precision (`bf16`/`f16`/`f32` buffers, each with an `fo_dtype`
//! tag) has `fo_adam_step_mixed` and `fo_adam_step_mixed_many` over an array
//! of `fo_mixed_tensor`, `fo_lion_step_mixed` and `fo_sgd_step_mixed`, all
//! one generic step with the same checks and `FO_ERROR_DTYPE` for an
//! unknown tag or a combination without a kernel (see `mixed.rs`).
//! 8-bit blockwise state (`uint8_t` codes and `float` block scales per
//! state buffer, `float` parameters and gradients) has `fo_adam_step_8bit`
//! and `fo_lion_step_8bit`, with `fo_quantize_8bit` / `fo_dequantize_8bit`
//! to load or export `float` state (see `quantized.rs`).
//!
//! Clipping by global gradient norm reaches every algorithm's entry points
//! through one call: `fo_clip_next_step` arms it for the calling thread's
//! next step call, which clips every tensor's gradient by their global norm
//! before the step; `fo_last_clip_report` then gives the norm and the
//! coefficient. `fo_grad_norm_f32`/`_f64` compute the norm alone. The norm
//! is the same bits on every tier and thread count (see `clip.rs`).
//!
//! The steps run on the threads set by [`fo_set_threads`] (default: rayon's
//! global pool; 1: the calling thread only; at most [`FO_MAX_THREADS`]), with
//! the Rust API's serial threshold, which [`fo_set_serial_threshold`] sets
//! from C.
//!
//! A config's options are `uint8_t` flags, nonzero meaning on, never C
//! `bool`s: whatever byte C leaves in one is a valid value (see `configs.rs`).
//!
//! The header is generated from this crate by cbindgen, from the workspace
//! root: `cbindgen --config capi/cbindgen.toml --crate fused-optim-capi
//! --output capi/include/fused_optim.h`. The entry points are written out
//! one by one, each a single call of the generic step, so that cbindgen
//! reads their signatures as they stand (it expands no macros on stable).
//!
//! The Rust library is `fused_optim_core` here (the package `fused-optim`,
//! renamed): this crate's library is `fused_optim`, so that the C library
//! keeps its name.

#![warn(missing_docs)]
#![allow(non_camel_case_types)]

mod checks;
mod configs;
mod many;
mod status;
mod steps;
mod threads;
// After `steps`, so that the header lists Adam's, AdaMax's and SGD's entry points first.
mod adaptive;
mod mixed;
mod quantized;
// Last: clipping reaches every step above.
mod clip;

pub use adaptive::*;
pub use clip::*;
pub use configs::*;
pub use mixed::*;
pub use quantized::*;
pub use status::*;
pub use steps::*;
pub use threads::*;
