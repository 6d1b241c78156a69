//! Replays every file of the committed fuzz corpus (`fuzz/corpus/<target>/`)
//! through the fuzzer's own comparison (`fuzz/src/cases.rs`), on stable: the
//! regression guard that needs no nightly and no libFuzzer. Each file is
//! decoded exactly as `libfuzzer-sys` decodes it (`arbitrary_take_rest`).

#[path = "../fuzz/src/cases.rs"]
mod cases;

use arbitrary::{Arbitrary, Unstructured};
use cases::{AdaMaxCase, AdamCase, Outcome, check_adam, check_adamax};
use std::path::PathBuf;

fn replay<C: for<'a> Arbitrary<'a>>(target: &str, check: impl Fn(&C) -> Outcome) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let (mut matched, mut rejected, mut undecodable) = (0, 0, 0);
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        match C::arbitrary_take_rest(Unstructured::new(&bytes)) {
            Ok(case) => match check(&case) {
                Outcome::Matched => matched += 1,
                Outcome::Rejected => rejected += 1,
            },
            Err(_) => undecodable += 1,
        }
    }
    eprintln!(
        "{target}: {} files: {matched} matched the reference, {rejected} refused by the API, {undecodable} too short to decode",
        files.len()
    );
    assert!(matched > 0, "{target}: no corpus file reached the comparison");
}

#[test]
fn corpus_diff_adam_f32() {
    replay::<AdamCase>("diff_adam_f32", check_adam::<f32>);
}

#[test]
fn corpus_diff_adam_f64() {
    replay::<AdamCase>("diff_adam_f64", check_adam::<f64>);
}

#[test]
fn corpus_diff_adamax_f32() {
    replay::<AdaMaxCase>("diff_adamax_f32", check_adamax::<f32>);
}

#[test]
fn corpus_diff_adamax_f64() {
    replay::<AdaMaxCase>("diff_adamax_f64", check_adamax::<f64>);
}
