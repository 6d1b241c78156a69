//! Differential fuzz target: mixed-precision Lion (decoupled decay, the sign of the interpolated momentum) over bf16/f16 storage, with loss
//! scaling, zero-grad, the copy, stochastic rounding and the `found_inf` skip, every implementation
//! against the scalar reference. `cargo +nightly fuzz run diff_lion_mixed`; the comparison is the
//! test kit's `fuzz::MixedCase`, shared with `diff_adam_mixed`.
#![no_main]

fused_optim_fuzz::diff_target!(LionMixedCase);
