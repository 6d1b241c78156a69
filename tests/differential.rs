//! Every tier, called directly, and the dispatched entry point give the
//! reference's bits: every length from 0 to well past the unrolled block,
//! every start misalignment, random and special values, every option
//! combination, both element types, steps 1..=5 then t = 10^6. Also: tier
//! detection against the CPU's flags, and the bandwidth probe (which reads
//! and writes every element and changes no finite value) on every tier.

use fused_optim::kernels::probe_on;
use fused_optim::{
    AdaDeltaConfig, AdaGradConfig, AdaMaxConfig, AdamConfig, LionConfig, RmsPropConfig, SgdConfig,
};
use fused_optim::{
    DEFAULT_SERIAL_BELOW_BYTES, Error, Parallelism, ProbeBuffers, probe_bytes_per_element, probe_step,
};
#[cfg(not(miri))]
use fused_optim_testkit::FILLS;
use fused_optim_testkit::harness::available_tiers;
use fused_optim_testkit::{
    Fill, Implementation, Tensor, TestAlgorithm, TestFloat, assert_matches_reference, kernel_implementations,
    on_small_stack, rng,
};

/// Widest vector (16 f32 lanes) × unroll 2, then three more widest vectors.
#[cfg(not(miri))]
const MAX_LEN: usize = 16 * 2 + 3 * 16;
/// Start offsets in elements: 0 is 64-byte aligned; the others are not.
#[cfg(not(miri))]
const OFFSETS: &[usize] = &[0, 1, 3, 7];
#[cfg(not(miri))]
const TEST_FILLS: &[Fill] = &FILLS;

/// Every length from 0 to well past the widest tier's unrolled block (`T`:
/// the element type, whose lane count sets Miri's lengths).
#[cfg(not(miri))]
#[allow(clippy::extra_unused_type_parameters)]
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
// - One offset, 3, which with the per-buffer offsets of `Tensor::new`
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

fn every_length_offset_fill_and_option<A: TestAlgorithm, T: TestFloat>() {
    let implementations = kernel_implementations();
    #[cfg(miri)]
    let implementations: Vec<_> =
        implementations.into_iter().filter(|i| matches!(i, Implementation::Tier(_))).collect();
    let mut seed = 0;
    for config in A::configs() {
        for &fill in TEST_FILLS {
            for len in lengths::<T>() {
                for &offset in OFFSETS {
                    seed += 1;
                    let start = Tensor::<A, T>::new(&config, &mut rng(seed), fill, len, offset);
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
    adam_f32_every_tier_matches_reference: AdamConfig, f32;
    adam_f64_every_tier_matches_reference: AdamConfig, f64;
    adamax_f32_every_tier_matches_reference: AdaMaxConfig, f32;
    adamax_f64_every_tier_matches_reference: AdaMaxConfig, f64;
    adagrad_f32_every_tier_matches_reference: AdaGradConfig, f32;
    adagrad_f64_every_tier_matches_reference: AdaGradConfig, f64;
    rmsprop_f32_every_tier_matches_reference: RmsPropConfig, f32;
    rmsprop_f64_every_tier_matches_reference: RmsPropConfig, f64;
    adadelta_f32_every_tier_matches_reference: AdaDeltaConfig, f32;
    adadelta_f64_every_tier_matches_reference: AdaDeltaConfig, f64;
    sgd_f32_every_tier_matches_reference: SgdConfig, f32;
    sgd_f64_every_tier_matches_reference: SgdConfig, f64;
    lion_f32_every_tier_matches_reference: LionConfig, f32;
    lion_f64_every_tier_matches_reference: LionConfig, f64;
}

/// Every option combination of every algorithm, on every tier, on a thread
/// with a small stack. Each variant runs in a `#[target_feature]` function of
/// its own; when one wrapper inlined every variant, an unoptimised build gave
/// it one frame holding all their locals (RMSprop on AVX-512: 680 KB), which
/// overflowed the threads of test harnesses, rayon and C callers.
#[test]
#[cfg_attr(miri, ignore = "about native stack frames, which Miri does not model; minutes under Miri")]
fn every_variant_runs_on_a_small_stack() {
    fn every_config<A: TestAlgorithm, T: TestFloat>() {
        let implementations = kernel_implementations();
        for (i, config) in A::configs().into_iter().enumerate() {
            let start = Tensor::<A, T>::new(&config, &mut rng(i as u64), Fill::Random, 37, 1);
            assert_matches_reference::<A, T>(&config, &start, &implementations, &"small stack");
        }
    }
    on_small_stack(|| {
        every_config::<AdamConfig, f32>();
        every_config::<AdamConfig, f64>();
        every_config::<AdaMaxConfig, f32>();
        every_config::<AdaMaxConfig, f64>();
        every_config::<AdaGradConfig, f32>();
        every_config::<AdaGradConfig, f64>();
        every_config::<RmsPropConfig, f32>();
        every_config::<RmsPropConfig, f64>();
        every_config::<AdaDeltaConfig, f32>();
        every_config::<AdaDeltaConfig, f64>();
        every_config::<SgdConfig, f32>();
        every_config::<SgdConfig, f64>();
        every_config::<LionConfig, f32>();
        every_config::<LionConfig, f64>();
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
        long_buffer::<AdamConfig, f32>(len, 5, &implementations);
        long_buffer::<AdaMaxConfig, f64>(len, 3, &implementations);
        long_buffer::<AdaGradConfig, f32>(len, 1, &implementations);
        long_buffer::<RmsPropConfig, f64>(len, 7, &implementations);
        long_buffer::<AdaDeltaConfig, f32>(len, 2, &implementations);
        long_buffer::<SgdConfig, f64>(len, 6, &implementations);
        long_buffer::<LionConfig, f64>(len, 6, &implementations);
    }
}

fn long_buffer<A: TestAlgorithm, T: TestFloat>(
    len: usize,
    offset: usize,
    implementations: &[Implementation],
) {
    for config in A::configs() {
        let start = Tensor::<A, T>::new(&config, &mut rng(len as u64), Fill::Special, len, offset);
        assert_matches_reference::<A, T>(&config, &start, implementations, &len);
    }
}

/// Tier detection picks the best tier the CPU has, and a forced tier the
/// CPU lacks is refused (`*_on` returns `TierUnavailable`, `FUSED_OPTIM_TIER`
/// falls back to the best available).
///
/// What "the CPU has" is checked against an independent source, so a
/// detection bug cannot pass for a CPU without the feature and silently
/// skip a tier: the tier named by `FUSED_OPTIM_EXPECT_TIER` where CI sets
/// it (under qemu-user, whose `/proc/cpuinfo` is the host's, not the
/// emulated CPU's), else the flags of `/proc/cpuinfo`.
#[test]
#[cfg_attr(miri, ignore = "reads /proc/cpuinfo, which Miri's isolation hides; Miri detects no AVX by design")]
fn detection_matches_the_cpu() {
    use fused_optim::kernels::{AdamBuffers, AdamCoefficients, Decay, TierUnavailable, adam_on};
    use fused_optim::{Tier, kernels::ALL_TIERS};
    eprintln!(
        "available tiers: {:?}; dispatched: {}",
        Tier::available().collect::<Vec<_>>(),
        Tier::dispatched()
    );
    assert!(Tier::Portable.is_available());
    assert_eq!(Tier::dispatched(), Tier::best_available());
    let c = AdamCoefficients {
        beta1: 0.9f32,
        one_minus_beta1: 0.1,
        beta2: 0.999,
        one_minus_beta2: 0.001,
        step_size: 1e-3,
        eps_hat: 1e-8,
        decay: Decay::None,
        grad_scale: 1.0,
        maximize: false,
    };
    for tier in ALL_TIERS {
        let (mut p, g, mut m, mut v) = (vec![1.0f32; 5], vec![0.5f32; 5], vec![0.0f32; 5], vec![0.0f32; 5]);
        let b = AdamBuffers {
            param: &mut p,
            grad: &g,
            exp_avg: &mut m,
            exp_avg_sq: &mut v,
            max_exp_avg_sq: None,
        };
        match adam_on(tier, b, &c) {
            Ok(()) => assert!(tier.is_available(), "{tier} ran on a CPU without it"),
            Err(e) => {
                assert_eq!((e, tier.is_available()), (TierUnavailable(tier), false), "{tier} refused");
                assert_eq!(p, [1.0; 5], "a refused {tier} step wrote");
            }
        }
    }
    if let Ok(expected) = std::env::var("FUSED_OPTIM_EXPECT_TIER") {
        let expected = Tier::from_name(&expected).expect("FUSED_OPTIM_EXPECT_TIER names a tier");
        assert_eq!(Tier::best_available(), expected, "the best tier of this CPU");
        return;
    }
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
    } else {
        assert_eq!(Tier::best_available(), Tier::Portable, "only the portable tier exists here");
    }
}

/// Finite values that differ by buffer.
fn probe_values(n: usize, k: usize) -> Vec<f32> {
    (0..n).map(|i| ((i * 31 + k) % 97) as f32 - 48.5).collect()
}

#[test]
#[cfg_attr(miri, ignore = "no unsafe code beyond the kernels' block loop, which the differential tests run")]
fn probe_leaves_finite_values_unchanged_on_every_tier() {
    for tier in available_tiers() {
        for n in 0..70 {
            let g = probe_values(n, 1);
            let (mut a, mut b, mut c, mut d) =
                (probe_values(n, 2), probe_values(n, 3), probe_values(n, 4), probe_values(n, 5));
            probe_on(tier, ProbeBuffers { written: [&mut a, &mut b, &mut c, &mut d], read: &g }).unwrap();
            assert_eq!(
                (a, b, c, d),
                (probe_values(n, 2), probe_values(n, 3), probe_values(n, 4), probe_values(n, 5)),
                "{tier} n={n}"
            );
            let (mut a, mut b) = (probe_values(n, 2), probe_values(n, 3));
            probe_on(tier, ProbeBuffers { written: [&mut a, &mut b], read: &g }).unwrap();
            assert_eq!((a, b), (probe_values(n, 2), probe_values(n, 3)));
        }
    }
}

#[test]
#[cfg_attr(miri, ignore = "a rayon pool under Stacked Borrows stops in crossbeam-epoch (see .ci/miri)")]
fn probe_through_the_driver() {
    let n = DEFAULT_SERIAL_BELOW_BYTES / probe_bytes_per_element::<f64, 3>() * 3 + 7;
    let g: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let (mut a, mut b, mut c) = (g.clone(), g.clone(), vec![f64::NAN; n]);
    probe_step(ProbeBuffers { written: [&mut a, &mut b, &mut c], read: &g }, &Parallelism::Global).unwrap();
    assert_eq!((&a, &b), (&g, &g));
    assert!(c.iter().all(|x| x.is_nan()));
    let mut short = vec![0.0; n - 1];
    let got =
        probe_step(ProbeBuffers { written: [&mut a, &mut b, &mut short], read: &g }, &Parallelism::Serial);
    assert_eq!(got, Err(Error::LengthMismatch { buffer: "written", len: n - 1, expected: n }));
    assert_eq!(probe_bytes_per_element::<f32, 3>(), 28);
    assert_eq!(probe_bytes_per_element::<f64, 4>(), 72);
}
