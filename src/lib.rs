//! # fused-optim
//!
//! Fused, single-pass optimizer steps for CPU training: Adam, AdamW, AMSGrad,
//! AdaMax, AdaGrad, RMSprop, AdaDelta, SGD with momentum and Lion over flat `f32`/`f64` slices, SIMD-dispatched at run time
//! (AVX-512, AVX2, or `wide`'s SSE2/NEON) and split across threads with rayon.
//! Each step reads every element of parameter, gradient and state once and
//! writes it once.
//!
//! - [`adam_step`], [`adamax_step`], [`adagrad_step`], [`rmsprop_step`],
//!   [`adadelta_step`], [`sgd_step`], [`lion_step`] (and their `_many` multi-tensor forms): the stateless
//!   step over caller-owned slices, with the step number `t` and the
//!   hyperparameters given per call — the shape an ML framework's update
//!   backend needs.
//! - [`Adam`], [`AdaMax`], [`AdaGrad`], [`RmsProp`], [`AdaDelta`], [`Sgd`], [`Lion`]: an
//!   [`Optimizer`] that owns its state, counts steps and can follow an
//!   [`LrSchedule`].
//! - [`clip`]: clipping by global gradient norm fused into any algorithm's
//!   step ([`step_many_clipped`], [`Optimizer::set_clip`]), with a norm that
//!   is the same bits on every tier and thread count.
//! - [`Parallelism`]: serial, rayon's global pool, or the caller's pool.
//!
//! The C ABI over this crate (`libfused_optim.{so,a}`, `fused_optim.h`) is
//! the `fused-optim-capi` package, in the same workspace.
//!
//! ## How a call flows
//!
//! Each layer runs once per call: the named step ([`adam_step`]) is the
//! generic [`step()`] for its config; [`Validated::new`] checks the
//! hyperparameters and the step number and computes the coefficients (once);
//! [`Validated::check`] checks the buffers (equal lengths, the optional
//! buffers against the options) and hands back the kernels' `Checked`
//! buffers; the driver ([`parallel`]) cuts those into pieces (each stays
//! checked) and runs the algorithm's [`Algorithm::kernel`] on them; the kernels
//! crate's dispatch picks the tier's function, which enters the generic
//! body for the variant of the options on that tier's lanes. Every
//! algorithm is one [`Algorithm`] (`src/algorithms/<algorithm>.rs`).
//!
//! ## The numerics contract
//!
//! The scalar loops of [`kernels::spec`] are the specification: every
//! SIMD tier and every thread count gives their bits exactly (a NaN result is
//! a NaN in all of them). Per-step scalars are computed in `f64` from the
//! integer step and rounded once. Bad input returns an [`Error`] and writes
//! nothing.
//!
//! The contract holds in the default floating-point environment
//! (round-to-nearest-even, no flush-to-zero), the only one Rust and LLVM
//! support: a caller that sets FTZ/DAZ or another rounding mode (MXCSR on
//! x86-64) is outside it, since Rust documents changing those flags as
//! undefined behaviour, and the bits are then unspecified. (Rayon's worker
//! threads would not see a caller's flags anyway: the environment is per
//! thread.)
//!
//! ```
//! use fused_optim::{Adam, AdamConfig, Tier};
//! let mut opt = Adam::<f32>::new(AdamConfig { lr: 0.1, ..AdamConfig::default() }, 2)?;
//! let mut x = vec![10.0f32, 10.0];
//! for _ in 0..100 {
//!     let grad = [2.0 * x[0], 10.0 * x[1]]; // f(x) = x0² + 5·x1²
//!     opt.step(&mut x, &grad)?;
//! }
//! assert!(x[0].abs() < 10.0 && x[1].abs() < 10.0);
//! println!("ran on the {} tier", Tier::dispatched());
//! # Ok::<(), fused_optim::Error>(())
//! ```

#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod algorithms;
pub mod checkpoint;
pub mod clip;
mod error;
pub mod foreign;
mod hyper;
pub mod mixed;
mod optimizer;
pub mod parallel;
mod probe;
pub mod quantized;
pub mod schedule;
pub mod step;

pub use algorithms::{
    AdaDeltaConfig, AdaDeltaState, AdaDeltaStateMut, AdaGradConfig, AdaGradState, AdaGradStateMut,
    AdaMaxConfig, AdaMaxState, AdaMaxStateMut, AdamConfig, AdamState, AdamStateMut, Algorithm, EpsForm,
    LionConfig, LionState, LionStateMut, RmsPropConfig, RmsPropState, RmsPropStateMut, SgdConfig, SgdState,
    SgdStateMut, StateBuffer, Validated, WeightDecay, new_state,
};
pub use checkpoint::CheckpointError;
pub use clip::{ClipGradNorm, ClipReport, NonFinite, step_clipped, step_many_clipped};
pub use error::{Error, ErrorKind};
pub use fused_optim_kernels as kernels;
pub use fused_optim_kernels::{
    AdaDeltaBuffers, AdaGradBuffers, AdaMaxBuffers, AdamBuffers, Float, KernelBuffers, LionBuffers,
    ProbeBuffers, ProbeState, RmsPropBuffers, SgdBuffers, StateProbeBuffers, Tier,
};
pub use optimizer::{AdaDelta, AdaGrad, AdaMax, Adam, Lion, Optimizer, RmsProp, Sgd};
pub use parallel::{DEFAULT_SERIAL_BELOW_BYTES, Parallelism, serial_threshold, set_serial_threshold};
pub use probe::{probe_bytes_per_element, probe_state_step, probe_step};
pub use schedule::LrSchedule;
pub use step::{
    adadelta_step, adadelta_step_many, adagrad_step, adagrad_step_many, adam_step, adam_step_many,
    adamax_step, adamax_step_many, lion_step, lion_step_many, rmsprop_step, rmsprop_step_many, sgd_step,
    sgd_step_many, step, step_many,
};

/// The README's examples run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
