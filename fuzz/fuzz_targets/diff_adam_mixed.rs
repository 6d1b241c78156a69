//! Differential fuzz target: mixed-precision Adam (bf16/f16 storage, loss scaling, zero-grad, the
//! copy, stochastic rounding, the `found_inf` skip), every implementation against the scalar reference.
//! `cargo +nightly fuzz run diff_adam_mixed`; the comparison is in `src/cases.rs`.
#![no_main]

fused_optim_fuzz::diff_target!(AdamMixedCase);
