//! Mixed-precision Adam's bits pinned: a digest of every output of the
//! reference over the breadth of `every_layout_and_option_matches_reference…`
//! (every supported layout, option set, fill, length and step), taken from
//! the Adam-only kernel before the mixed step became generic over the
//! algorithm. The generic step must give Adam these bits exactly.
//!
//! The digest covers the first 12 layouts of `SUPPORTED` only, the ones it
//! was taken over: it guards that their bits did not change. Layouts added
//! since (appended, such as issue 18's `f32` parameters with `bf16` state)
//! are checked against the reference by the other tests, not pinned here.

use super::{Implementation, MixedLayout, MixedTest, STEPS, State, step};
use fused_optim::AdamConfig;
use fused_optim_testkit::Fill;

/// FNV-1a over the outputs' bits (NaN canonical, as `State::outputs` gives them).
fn digest() -> u64 {
    let mut h = 0xCBF2_9CE4_8422_2325u64;
    let mut eat = |x: u32| {
        for b in x.to_le_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3);
        }
    };
    let mut seed = 0;
    // The original 12 layouts only (see the module's doc).
    for layout in &MixedLayout::SUPPORTED[..12] {
        let layout = *layout;
        for (c, o) in AdamConfig::option_sets() {
            for fill in [Fill::Random, Fill::Special, Fill::Bits] {
                for len in (0..=35).chain([63, 64, 65, 100, 333]) {
                    seed += 1;
                    let mut s = State::new(&layout, &c, fill, len, seed as usize % 4, seed);
                    for t in STEPS {
                        step(&c, &o, &mut s, t, &Implementation::Reference);
                        for (_, bits) in s.outputs() {
                            bits.into_iter().for_each(&mut eat);
                        }
                    }
                }
            }
        }
    }
    h
}

#[test]
fn adam_mixed_bits_are_pinned() {
    assert_eq!(format!("{:#018x}", digest()), "0x2c67b152c7fd3080");
}
