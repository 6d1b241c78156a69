//! Differential fuzz target: the multi-tensor Adam step (tensor counts and
//! lengths, shared gradients, thread counts, serial thresholds) against the
//! scalar reference on each tensor alone.
//! `cargo +nightly fuzz run diff_many`; the comparison is `check_many` in `src/cases.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|case: fused_optim_fuzz::cases::ManyCase| -> libfuzzer_sys::Corpus {
    fused_optim_fuzz::corpus(fused_optim_fuzz::cases::check_many(&case))
});
