//! Every tier, called directly, and the dispatched entry point give the
//! reference's bits: every length from 0 to well past the unrolled block,
//! every start misalignment, random and special values, every option
//! combination, both element types, steps 1..=5 then t = 10^6.

mod common;

use common::algos::{
    AdaDelta, AdaGrad, AdaMax, Adam, Algorithm, RmsProp, assert_matches_reference, kernel_implementations,
};
use common::{FILLS, TestFloat, rng};

/// Widest vector (16 f32 lanes) × unroll 2, then three more widest vectors.
const MAX_LEN: usize = 16 * 2 + 3 * 16;
/// Start offsets in elements: 0 is 64-byte aligned; the others are not.
const OFFSETS: [usize; 4] = [0, 1, 3, 7];

fn every_length_offset_fill_and_option<A: Algorithm, T: TestFloat>() {
    let implementations = kernel_implementations();
    let mut seed = 0;
    for config in A::configs() {
        for fill in FILLS {
            for len in 0..=MAX_LEN {
                for offset in OFFSETS {
                    seed += 1;
                    let start = A::state::<T>(&config, &mut rng(seed), fill, len, offset);
                    let context = format!("len={len} offset={offset} fill={fill:?} seed={seed}");
                    assert_matches_reference::<A, T>(&config, &start, &implementations, &context);
                }
            }
        }
    }
}

/// One test per algorithm and element type, so they run in parallel and a
/// failure names its algorithm.
macro_rules! every_tier_tests {
    ($($name:ident: $algorithm:ty, $t:ty;)*) => {
        $(
            #[test]
            fn $name() {
                every_length_offset_fill_and_option::<$algorithm, $t>();
            }
        )*
    };
}

every_tier_tests! {
    adam_f32_every_tier_matches_reference: Adam, f32;
    adam_f64_every_tier_matches_reference: Adam, f64;
    adamax_f32_every_tier_matches_reference: AdaMax, f32;
    adamax_f64_every_tier_matches_reference: AdaMax, f64;
    adagrad_f32_every_tier_matches_reference: AdaGrad, f32;
    adagrad_f64_every_tier_matches_reference: AdaGrad, f64;
    rmsprop_f32_every_tier_matches_reference: RmsProp, f32;
    rmsprop_f64_every_tier_matches_reference: RmsProp, f64;
    adadelta_f32_every_tier_matches_reference: AdaDelta, f32;
    adadelta_f64_every_tier_matches_reference: AdaDelta, f64;
}

/// Every option combination of every algorithm, on every tier, on a thread
/// with a small stack. Each variant runs in a `#[target_feature]` function of
/// its own; when one wrapper inlined every variant, an unoptimised build gave
/// it one frame holding all their locals (RMSprop on AVX-512: 680 KB), which
/// overflowed the threads of test harnesses, rayon and C callers.
#[test]
fn every_variant_runs_on_a_small_stack() {
    fn every_config<A: Algorithm, T: TestFloat>() {
        let implementations = kernel_implementations();
        for (i, config) in A::configs().into_iter().enumerate() {
            let start = A::state::<T>(&config, &mut rng(i as u64), common::Fill::Random, 37, 1);
            assert_matches_reference::<A, T>(&config, &start, &implementations, &"small stack");
        }
    }
    common::on_small_stack(|| {
        every_config::<Adam, f32>();
        every_config::<Adam, f64>();
        every_config::<AdaMax, f32>();
        every_config::<AdaMax, f64>();
        every_config::<AdaGrad, f32>();
        every_config::<AdaGrad, f64>();
        every_config::<RmsProp, f32>();
        every_config::<RmsProp, f64>();
        every_config::<AdaDelta, f32>();
        every_config::<AdaDelta, f64>();
    });
}

/// Long buffers cross many unrolled iterations; one seed each is enough.
#[test]
fn long_buffers_match_reference() {
    let implementations = kernel_implementations();
    for len in [1000, 4099] {
        long_buffer::<Adam, f32>(len, 5, &implementations);
        long_buffer::<AdaMax, f64>(len, 3, &implementations);
        long_buffer::<AdaGrad, f32>(len, 1, &implementations);
        long_buffer::<RmsProp, f64>(len, 7, &implementations);
        long_buffer::<AdaDelta, f32>(len, 2, &implementations);
    }
}

fn long_buffer<A: Algorithm, T: TestFloat>(
    len: usize,
    offset: usize,
    implementations: &[common::algos::Implementation],
) {
    for config in A::configs() {
        let start = A::state::<T>(&config, &mut rng(len as u64), common::Fill::Special, len, offset);
        assert_matches_reference::<A, T>(&config, &start, implementations, &len);
    }
}

/// Tier detection agrees with the kernel's own list of CPU flags
/// (`/proc/cpuinfo`, an independent source), so a detection bug cannot pass
/// for a CPU without the feature and silently skip a tier.
#[test]
fn detection_matches_the_cpu_flags() {
    use fused_optim::Tier;
    eprintln!(
        "available tiers: {:?}; dispatched: {}",
        Tier::available().collect::<Vec<_>>(),
        Tier::dispatched()
    );
    assert!(Tier::Portable.is_available());
    assert_eq!(Tier::dispatched(), Tier::best_available());
    let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") else {
        eprintln!("SKIPPED: no /proc/cpuinfo to check tier detection against");
        return;
    };
    let flags: Vec<&str> = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    if cfg!(target_arch = "x86_64") {
        // /proc/cpuinfo spells `f16c` and `fma` as the features do.
        for tier in [Tier::Avx2, Tier::Avx512] {
            let listed = tier.features().split(',').all(|f| flags.contains(&f));
            assert_eq!(tier.is_available(), listed, "{tier} detection (needs {})", tier.features());
        }
    }
}
