//! Differential fuzz target: SGD on `f32`, every implementation against the scalar reference.
//! `cargo +nightly fuzz run diff_sgd_f32`; the comparison is in `src/cases.rs`.
#![no_main]

fused_optim_fuzz::diff_target!(SgdCase, f32);
