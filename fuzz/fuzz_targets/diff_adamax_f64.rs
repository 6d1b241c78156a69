//! Differential fuzz target: adamax on `f64`, every implementation against the scalar reference.
//! `cargo +nightly fuzz run diff_adamax_f64`; the comparison is in `src/cases.rs`.
#![no_main]

use fused_optim_fuzz::cases::{AdaMaxCase, Outcome, check_adamax};
use libfuzzer_sys::{Corpus, fuzz_target};

fuzz_target!(|case: AdaMaxCase| -> Corpus {
    match check_adamax::<f64>(&case) {
        Outcome::Matched => Corpus::Keep,
        Outcome::Rejected => Corpus::Reject,
    }
});
