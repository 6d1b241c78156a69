//! Differential fuzz target: SGD on `f64`, every implementation against the scalar reference.
//! `cargo +nightly fuzz run diff_sgd_f64`; the comparison is in `src/cases.rs`.
#![no_main]

fused_optim_fuzz::diff_target!(SgdCase, f64);
