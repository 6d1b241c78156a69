//! Differential fuzz target: Lion on `f32`, every implementation against the scalar reference.
//! `cargo +nightly fuzz run diff_lion_f32`; the comparison is in `src/cases.rs`.
#![no_main]

fused_optim_fuzz::diff_target!(LionCase, f32);
