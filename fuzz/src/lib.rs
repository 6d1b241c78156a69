//! The fuzz crate: the targets in `fuzz_targets/`; their cases and checks
//! are the test kit's (`fused-optim-testkit`: `fuzz` and `fuzz_capi`), which
//! the corpus replay tests (`tests/fuzz_corpus*.rs`) run on stable.
pub use fused_optim_testkit::fuzz as cases;
pub use fused_optim_testkit::fuzz_capi as capi;

#[doc(hidden)]
pub use libfuzzer_sys;

/// What libFuzzer does with a checked input: keeps the ones that matched the
/// reference or were skipped, drops the refused ones.
pub fn corpus(outcome: cases::Outcome) -> libfuzzer_sys::Corpus {
    match outcome {
        cases::Outcome::Matched | cases::Outcome::Skipped => libfuzzer_sys::Corpus::Keep,
        cases::Outcome::Rejected => libfuzzer_sys::Corpus::Reject,
    }
}

/// Defines a differential fuzz target: `diff_target!(AdamCase, f32)` runs
/// every input through [`cases::check`] on that element type,
/// `diff_target!(MixedCase)` through [`cases::differential`]; libFuzzer keeps
/// the cases that matched (or were skipped) and drops the refused ones.
#[macro_export]
macro_rules! diff_target {
    ($case:ident, $float:ty) => {
        $crate::libfuzzer_sys::fuzz_target!(|case: $crate::cases::$case| -> $crate::libfuzzer_sys::Corpus {
            $crate::corpus($crate::cases::check::<_, $float>(&case))
        });
    };
    ($case:ident) => {
        $crate::libfuzzer_sys::fuzz_target!(|case: $crate::cases::$case| -> $crate::libfuzzer_sys::Corpus {
            $crate::corpus($crate::cases::differential(&case))
        });
    };
}
