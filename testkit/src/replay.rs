//! Replaying a committed fuzz corpus (`fuzz/corpus/<target>/`) through the
//! fuzzer's own comparison, on stable: used by `tests/fuzz_corpus.rs` and
//! `tests/fuzz_corpus_many.rs` (a process of its own, because the
//! multi-tensor cases change the process-wide serial threshold). Each file
//! is decoded exactly as `libfuzzer-sys` decodes it: too short for the
//! case's size hint is no input, else `arbitrary_take_rest`.

use crate::fuzz::Outcome;
use arbitrary::{Arbitrary, Unstructured};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// What a file reaches when the step skips it (mixed precision's `found_inf`).
pub const SKIPPED: &str = "skipped-non-finite";

/// Replays a target's corpus of `C` with `check`: every file must match the
/// reference, or be refused or skipped with nothing written (`check` asserts
/// all three); the files must cover every kind in `kinds`, each refusal
/// (`refusal` names it) and [`SKIPPED`] (the `seed-refused-<kind>` and
/// `seed-skipped` seeds are there for that: libFuzzer never keeps a refused
/// input), and reach no other.
pub fn replay<C>(
    target: &str,
    kinds: &[&str],
    check: impl Fn(&C) -> Outcome,
    refusal: impl Fn(&C) -> Option<String>,
) where
    C: for<'a> Arbitrary<'a>,
{
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let (mut matched, mut undecodable, mut reached) = (0, 0, BTreeSet::new());
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        if bytes.len() < C::size_hint(0).0 {
            undecodable += 1;
            continue;
        }
        match C::arbitrary_take_rest(Unstructured::new(&bytes)) {
            Ok(case) => match check(&case) {
                Outcome::Matched => matched += 1,
                Outcome::Rejected => {
                    reached.insert(refusal(&case).expect("a rejected case has a refusal"));
                }
                Outcome::Skipped => {
                    reached.insert(SKIPPED.to_string());
                }
            },
            Err(_) => undecodable += 1,
        }
    }
    eprintln!(
        "{target}: {} files: {matched} matched the reference, refusals and skips replayed: {reached:?}, {undecodable} too short to decode",
        files.len()
    );
    assert!(matched > 0, "{target}: no corpus file reached the comparison");
    for kind in kinds {
        assert!(reached.contains(*kind), "{target}: no corpus file reaches {kind}");
    }
    let unknown: Vec<_> = reached.iter().filter(|k| !kinds.contains(&k.as_str())).collect();
    assert!(unknown.is_empty(), "{target}: refusals or skips not in the list of kinds: {unknown:?}");
}
