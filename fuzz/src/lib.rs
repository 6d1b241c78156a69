//! The fuzz crate's shared code: the cases and the differential check.
pub mod cases;

#[doc(hidden)]
pub use libfuzzer_sys;

/// Defines a differential fuzz target: `diff_target!(AdamCase, f32)` runs
/// every input through [`cases::check`] on that element type, keeps the cases
/// that matched and tells libFuzzer to drop the refused ones.
#[macro_export]
macro_rules! diff_target {
    ($case:ident, $float:ty) => {
        $crate::libfuzzer_sys::fuzz_target!(|case: $crate::cases::$case| -> $crate::libfuzzer_sys::Corpus {
            match $crate::cases::check::<_, $float>(&case) {
                $crate::cases::Outcome::Matched => $crate::libfuzzer_sys::Corpus::Keep,
                $crate::cases::Outcome::Rejected => $crate::libfuzzer_sys::Corpus::Reject,
            }
        });
    };
}
