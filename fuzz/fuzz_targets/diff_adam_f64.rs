//! Differential fuzz target: adam on `f64`, every implementation against the scalar reference.
//! `cargo +nightly fuzz run diff_adam_f64`; the comparison is in `src/cases.rs`.
#![no_main]

use fused_optim_fuzz::cases::{AdamCase, Outcome, check_adam};
use libfuzzer_sys::{Corpus, fuzz_target};

fuzz_target!(|case: AdamCase| -> Corpus {
    match check_adam::<f64>(&case) {
        Outcome::Matched => Corpus::Keep,
        Outcome::Rejected => Corpus::Reject,
    }
});
