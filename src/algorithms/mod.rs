//! One descriptor per algorithm: everything the rest of the crate needs to
//! know about it, in one place.
//!
//! An algorithm is its hyperparameter type (its config: [`AdamConfig`],
//! [`AdaGradConfig`], …) implementing [`Algorithm`]: the validation of the
//! hyperparameters, the per-step coefficients the kernel takes, the state
//! buffers it keeps (their names, the options that keep the optional ones,
//! their initial values), its checkpoint tag and hyperparameter slots, and
//! the kernel that runs it. The stateless steps ([`step`](mod@crate::step)), the
//! owning [`crate::Optimizer`], the checkpoints and the multi-tensor step are
//! written once, generic over this trait.
//!
//! [`Validated`] is what validation hands down: the coefficients of one
//! step, computed once; its [`check`](Validated::check) turns buffers into
//! the kernels' `Checked` buffers (equal lengths and optional buffers,
//! checked once). The driver cuts it into pieces and runs the kernel on them
//! as they are; nothing below this point checks or computes again.
//!
//! Adding an algorithm touches these files, and no others:
//!
//! - `fused-optim-kernels`: `operands/<algorithm>.rs` (its coefficients and
//!   buffer set; the `Sealed` line in `operands/mod.rs`), `spec/<algorithm>.rs`
//!   (the essay and the scalar loop), `generic/<algorithm>.rs` (the body over
//!   the lane trait), and `dispatch.rs` (its table entry and public entry
//!   points);
//! - this crate: `algorithms/<algorithm>.rs` (config, validation,
//!   coefficients, state, checkpoint tag: `impl Algorithm`), a line in this
//!   module, its named steps in [`step`](mod@crate::step), its checkpoint
//!   number in `checkpoint.rs`'s `ALGORITHMS`, its re-exports in `lib.rs`;
//! - `fused-optim-capi`: its C config and `Config` impl in `configs.rs`, its
//!   named entry points in `steps.rs` or `adaptive.rs` (one call each), and
//!   the regenerated header;
//! - `fused-optim-testkit`: its `TestAlgorithm` impl in `harness.rs` (every
//!   property test then runs it), its fuzz options, and a fuzz target.

pub mod adadelta;
pub mod adagrad;
pub mod adam;
pub mod adamax;
mod descriptor;
pub mod lion;
pub mod rmsprop;
pub mod sgd;

#[doc(hidden)]
pub use crate::hyper::coefficient_computations;
pub use descriptor::{
    Algorithm, MAX_STATE_BUFFERS, StateBuffer, StateSlots, Validated, bytes_per_element, new_state,
};
pub(crate) use descriptor::{adapt_state, check_state_buffers, missing_state};

pub use adadelta::{AdaDeltaConfig, AdaDeltaState, AdaDeltaStateMut};
pub use adagrad::{AdaGradConfig, AdaGradState, AdaGradStateMut};
pub use adam::{AdamConfig, AdamState, AdamStateMut, EpsForm, WeightDecay};
pub use adamax::{AdaMaxConfig, AdaMaxState, AdaMaxStateMut};
pub use lion::{LionConfig, LionState, LionStateMut};
pub use rmsprop::{RmsPropConfig, RmsPropState, RmsPropStateMut};
pub use sgd::{SgdConfig, SgdState, SgdStateMut};
