//! Replays the multi-tensor fuzz target's corpus (`fuzz/corpus/diff_many/`)
//! through the fuzzer's own comparison, on stable. A test binary of its own:
//! each case sets the process-wide serial threshold (0, 4 KiB or the
//! default), which must not change under the other targets' replays
//! (`tests/fuzz_corpus.rs`), whose cases expect every step split.

use fused_optim_testkit::fuzz::{ManyCase, check_many, refusal_many};
use fused_optim_testkit::replay::replay;

/// The multi-tensor step: its corpus is what libFuzzer kept (cases that
/// matched); the refusals are the single-tensor targets' to cover.
#[test]
fn diff_many() {
    replay::<ManyCase>("diff_many", &[], check_many, refusal_many);
}
