//! Differential fuzz target: adamax on `f32`, every implementation against the scalar reference.
//! `cargo +nightly fuzz run diff_adamax_f32`; the comparison is in `src/cases.rs`.
#![no_main]

use fused_optim_fuzz::cases::{AdaMaxCase, Outcome, check_adamax};
use libfuzzer_sys::{Corpus, fuzz_target};

fuzz_target!(|case: AdaMaxCase| -> Corpus {
    match check_adamax::<f32>(&case) {
        Outcome::Matched => Corpus::Keep,
        Outcome::Rejected => Corpus::Reject,
    }
});
