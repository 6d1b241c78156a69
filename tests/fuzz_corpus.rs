//! Replays every file of the committed fuzz corpus (`fuzz/corpus/<target>/`)
//! through the fuzzer's own comparison (`fuzz/src/cases.rs`), on stable: the
//! regression guard that needs no nightly and no libFuzzer. Each file is
//! decoded exactly as `libfuzzer-sys` decodes it (`arbitrary_take_rest`).

#[path = "../fuzz/src/cases.rs"]
mod cases;

use arbitrary::{Arbitrary, Unstructured};
use cases::{AdaMaxCase, AdamCase, Outcome, adam_refusal, adamax_refusal, check_adam, check_adamax};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Replays a target's corpus: every file must match the reference or be
/// refused with nothing written (`check` asserts both); the seeds named
/// `seed-refused-*` must cover every kind of refusal.
fn replay<C: for<'a> Arbitrary<'a>>(
    target: &str,
    check: impl Fn(&C) -> Outcome,
    refusal: impl Fn(&C) -> Option<String>,
    kinds: &[&str],
) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let (mut matched, mut undecodable, mut refused) = (0, 0, BTreeSet::new());
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        match C::arbitrary_take_rest(Unstructured::new(&bytes)) {
            Ok(case) => match check(&case) {
                Outcome::Matched => matched += 1,
                Outcome::Rejected => {
                    refused.insert(refusal(&case).expect("a rejected case has a refusal"));
                }
            },
            Err(_) => undecodable += 1,
        }
    }
    eprintln!(
        "{target}: {} files: {matched} matched the reference, refusals replayed: {refused:?}, {undecodable} too short to decode",
        files.len()
    );
    assert!(matched > 0, "{target}: no corpus file reached the comparison");
    for kind in kinds {
        assert!(refused.contains(*kind), "{target}: no seed is refused with {kind}");
    }
}

const ADAM_REFUSALS: &[&str] = &[
    "ZeroStep",
    "MissingAmsgradState",
    "UnexpectedAmsgradState",
    "hyperparameter-lr",
    "hyperparameter-beta1",
    "hyperparameter-beta2",
    "hyperparameter-eps",
    "hyperparameter-weight_decay",
    "length-grad",
    "length-exp_avg",
    "length-exp_avg_sq",
    "length-max_exp_avg_sq",
];

const ADAMAX_REFUSALS: &[&str] = &[
    "ZeroStep",
    "hyperparameter-lr",
    "hyperparameter-beta1",
    "hyperparameter-beta2",
    "hyperparameter-eps",
    "hyperparameter-weight_decay",
    "length-grad",
    "length-exp_avg",
    "length-exp_inf",
];

#[test]
fn corpus_diff_adam_f32() {
    replay::<AdamCase>("diff_adam_f32", check_adam::<f32>, adam_refusal::<f32>, ADAM_REFUSALS);
}

#[test]
fn corpus_diff_adam_f64() {
    replay::<AdamCase>("diff_adam_f64", check_adam::<f64>, adam_refusal::<f64>, ADAM_REFUSALS);
}

#[test]
fn corpus_diff_adamax_f32() {
    replay::<AdaMaxCase>("diff_adamax_f32", check_adamax::<f32>, adamax_refusal::<f32>, ADAMAX_REFUSALS);
}

#[test]
fn corpus_diff_adamax_f64() {
    replay::<AdaMaxCase>("diff_adamax_f64", check_adamax::<f64>, adamax_refusal::<f64>, ADAMAX_REFUSALS);
}
