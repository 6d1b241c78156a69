//! Mixed-precision Adam's bits pinned: a digest of every output of the
//! reference over the breadth of `every_layout_and_option_matches_reference…`
//! (every supported layout, option set, fill, length and step), taken from
//! the Adam-only kernel before the mixed step became generic over the
//! algorithm. The generic step must give Adam these bits exactly.

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
    for layout in MixedLayout::SUPPORTED {
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
