//! Differential fuzz target: the gradient norm of clipping (gradient lists of
//! every length and type, raw bits, thread counts, host executors, serial
//! thresholds) on every tier and the driver against the scalar reference.
//! `cargo +nightly fuzz run diff_grad_norm`; the comparison is `check_norm` in `src/cases.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|case: fused_optim_fuzz::cases::NormCase| -> libfuzzer_sys::Corpus {
    fused_optim_fuzz::corpus(fused_optim_fuzz::cases::check_norm(&case))
});
