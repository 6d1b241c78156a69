//! Every tier, called directly, and the dispatched entry point give the
//! reference's bits: every length from 0 to well past the unrolled block,
//! every start misalignment, random and special values, every option
//! combination, both element types, steps 1..=5 then t = 10^6.

mod common;

#[cfg(not(miri))]
use common::FILLS;
use common::algos::{
    AdaDelta, AdaGrad, AdaMax, Adam, Algorithm, RmsProp, assert_matches_reference, kernel_implementations,
};
use common::{Fill, TestFloat, rng};

/// Widest vector (16 f32 lanes) × unroll 2, then three more widest vectors.
#[cfg(not(miri))]
const MAX_LEN: usize = 16 * 2 + 3 * 16;
/// Start offsets in elements: 0 is 64-byte aligned; the others are not.
#[cfg(not(miri))]
const OFFSETS: &[usize] = &[0, 1, 3, 7];
#[cfg(not(miri))]
const TEST_FILLS: &[Fill] = &FILLS;

/// Every length from 0 to well past the widest tier's unrolled block.
#[cfg(not(miri))]
fn lengths<T: TestFloat>() -> Vec<usize> {
    (0..=MAX_LEN).collect()
}

// Under Miri (`.ci/miri`) no AVX tier is detected, so only the portable tier
// runs, and a case costs about a third of a second of interpretation, most of
// it in the harness (random inputs, guard checks): the subset keeps what can
// go wrong in the kernels' raw-pointer code and drops the repetition.
// - Lengths 1 (a partial vector only) and 4N − 1 for the portable tier's N
//   lanes (one unrolled block of 2N, one single vector, then a partial vector
//   of N − 1): every path of `for_each_block`. Length 0 runs no block.
// - Every option combination: each is its own monomorphised body.
// - One offset, 3, which with the per-buffer offsets of `Algorithm::state`
//   starts every buffer at another misaligned address.
// - Special values (NaN, ±inf, subnormals, overflowing squares) mixed with
//   random ones.
// - The portable tier called directly; not the dispatched entry point, which
//   under Miri is the same body through the dispatch table, and which
//   `tests/checkpoint.rs` runs under Miri through `Optimizer::step`.
#[cfg(miri)]
const OFFSETS: &[usize] = &[3];
#[cfg(miri)]
const TEST_FILLS: &[Fill] = &[Fill::Special];
#[cfg(miri)]
fn lengths<T: TestFloat>() -> Vec<usize> {
    vec![1, 4 * fused_optim::Tier::Portable.lanes::<T>() - 1]
}

fn every_length_offset_fill_and_option<A: Algorithm, T: TestFloat>() {
    let implementations = kernel_implementations();
    #[cfg(miri)]
    let implementations: Vec<_> =
        implementations.into_iter().filter(|i| matches!(i, common::algos::Implementation::Tier(_))).collect();
    let mut seed = 0;
    for config in A::configs() {
        for &fill in TEST_FILLS {
            for len in lengths::<T>() {
                for &offset in OFFSETS {
                    seed += 1;
                    let start = A::state::<T>(&config, &mut rng(seed), fill, len, offset);
                    let context = format_args!("len={len} offset={offset} fill={fill:?} seed={seed}");
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
#[cfg_attr(miri, ignore = "about native stack frames, which Miri does not model; minutes under Miri")]
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
#[cfg_attr(
    miri,
    ignore = "thousands of elements: minutes under Miri; the short lengths reach every loop path"
)]
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
#[cfg_attr(miri, ignore = "reads /proc/cpuinfo, which Miri's isolation hides; Miri detects no AVX by design")]
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
