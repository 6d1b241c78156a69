//! Narrow storage conversions on every tier against `half` (the reference's
//! narrowing is `half`'s round-to-nearest-even): every rounding boundary of
//! f32 → bf16 and f32 → f16, every bf16 and f16 widened, and the
//! stochastic rounding's arithmetic. `--ignored` adds all 2³² f32 values.

use fused_optim::kernels::narrow::{bf16_bits_nearest, bf16_bits_stochastic, random_at, stochastic_key};
use fused_optim::kernels::{MixedSlice, Storage, bf16, convert_on, f16};

use fused_optim_testkit::harness::available_tiers as tiers;

/// Every f32 whose bits are `high << low_bits | low` for each `low` of `lows`:
/// all exponents and leading significand bits, with the dropped bits at the
/// rounding boundaries.
fn boundaries(low_bits: u32, lows: &[u32]) -> Vec<f32> {
    let mut out = Vec::new();
    for high in 0..(1u32 << (32 - low_bits)) {
        for &low in lows {
            out.push(f32::from_bits(high << low_bits | low));
        }
    }
    out
}

/// Converts `src` to bf16 and f16 on every tier and compares with `half`.
fn narrowing_matches_half(src: &[f32]) {
    let want_bf16: Vec<u16> = src.iter().map(|&x| bf16::from_f32(x).to_bits()).collect();
    let want_f16: Vec<u16> = src.iter().map(|&x| f16::from_f32(x).to_bits()).collect();
    let nan = |bits: u16, exponent: u16| bits & exponent == exponent && bits & !(exponent | 0x8000) != 0;
    let same =
        |got: u16, want: u16, exponent: u16| got == want || (nan(got, exponent) && nan(want, exponent));
    for tier in tiers() {
        let mut src_copy = src.to_vec();
        let source = MixedSlice::F32(&mut src_copy);
        let mut b = vec![bf16::ZERO; src.len()];
        convert_on(tier, &source, &mut MixedSlice::Bf16(&mut b), 1.0).unwrap();
        let mut h = vec![f16::ZERO; src.len()];
        convert_on(tier, &source, &mut MixedSlice::F16(&mut h), 1.0).unwrap();
        for i in 0..src.len() {
            let x = src[i];
            assert!(
                same(b[i].to_bits(), want_bf16[i], 0x7F80),
                "{tier} bf16({x:e} = {:#x}): got {:#x}, want {:#x}",
                x.to_bits(),
                b[i].to_bits(),
                want_bf16[i]
            );
            assert!(
                same(h[i].to_bits(), want_f16[i], 0x7C00),
                "{tier} f16({x:e} = {:#x}): got {:#x}, want {:#x}",
                x.to_bits(),
                h[i].to_bits(),
                want_f16[i]
            );
        }
    }
    // The scalar reference's own bf16 rounding is half's too.
    for (&x, &w) in src.iter().zip(&want_bf16) {
        assert!(same(bf16_bits_nearest(x), w, 0x7F80), "reference bf16({x:e})");
        assert!(same(<f16 as Storage>::narrow(x).to_bits(), f16::from_f32(x).to_bits(), 0x7C00));
    }
}

#[test]
fn bf16_rounding_boundaries_on_every_tier() {
    // bf16 keeps the top 16 bits: below, at and above the halfway point, both parities.
    narrowing_matches_half(&boundaries(16, &[0, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFF]));
}

#[test]
fn f16_rounding_boundaries_on_every_tier() {
    // Normal f16 results keep 10 of f32's 23 significand bits (13 dropped).
    narrowing_matches_half(&boundaries(13, &[0, 1, 0xFFF, 0x1000, 0x1001, 0x1FFF]));
    // Subnormal f16 results drop 14 to 24 bits: every f32 from 2⁻²⁶ to 2⁻¹⁴
    // whose low bits sit at such a boundary, and a dense sample.
    let mut src = Vec::new();
    for exponent in 100u32..=113 {
        for dropped in 14u32..=24 {
            let half = 1u32 << (dropped - 1);
            for k in 0..64u32 {
                let base = (exponent << 23) | ((k << dropped) & 0x7F_FFFF);
                for low in [half - 1, half, half + 1, 0, 1] {
                    src.push(f32::from_bits(base | (low & ((1 << dropped) - 1))));
                }
            }
        }
    }
    src.extend(
        (0..1_000_000u32).map(|i| f32::from_bits((100 << 23) + i.wrapping_mul(0x9E37_79B1) % (14 << 23))),
    );
    let negated: Vec<f32> = src.iter().map(|x| -x).collect();
    narrowing_matches_half(&src);
    narrowing_matches_half(&negated);
}

/// Every bf16 and every f16 widens exactly, on every tier.
#[test]
fn every_half_widens_exactly_on_every_tier() {
    let mut b: Vec<bf16> = (0..=u16::MAX).map(bf16::from_bits).collect();
    let mut h: Vec<f16> = (0..=u16::MAX).map(f16::from_bits).collect();
    for tier in tiers() {
        let mut out = vec![0.0f32; 1 << 16];
        convert_on(tier, &MixedSlice::Bf16(&mut b), &mut MixedSlice::F32(&mut out), 1.0).unwrap();
        for (x, y) in b.iter().zip(&out) {
            assert!(x.to_f32().to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()), "{tier} {x:?}");
        }
        convert_on(tier, &MixedSlice::F16(&mut h), &mut MixedSlice::F32(&mut out), 1.0).unwrap();
        for (x, y) in h.iter().zip(&out) {
            assert!(x.to_f32().to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()), "{tier} {x:?}");
        }
    }
}

/// The in-place scaling pass (a framework's separate unscale) gives
/// `narrow(widen(x)·scale)` for every type, tails included.
#[test]
fn scale_in_place_is_the_scalar_formula() {
    use fused_optim::kernels::scale_in_place;
    let values: Vec<f32> = (0..101).map(|i| (i as f32 - 50.0) * 37.25 + 0.125).collect();
    let scale = 1.0 / 3.0;
    let mut b: Vec<bf16> = values.iter().map(|&x| bf16::from_f32(x)).collect();
    let want: Vec<bf16> = b.iter().map(|x| bf16::from_f32(x.to_f32() * scale)).collect();
    scale_in_place(&mut MixedSlice::Bf16(&mut b), scale);
    assert_eq!(b, want);
    let mut h: Vec<f16> = values.iter().map(|&x| f16::from_f32(x)).collect();
    let want: Vec<f16> = h.iter().map(|x| f16::from_f32(x.to_f32() * scale)).collect();
    scale_in_place(&mut MixedSlice::F16(&mut h), scale);
    assert_eq!(h, want);
    let mut f = values.clone();
    scale_in_place(&mut MixedSlice::F32(&mut f), scale);
    assert_eq!(f, values.iter().map(|x| x * scale).collect::<Vec<_>>());
}

/// Stochastic rounding lands on one of the two neighbours, and over every
/// value of the random 16 bits its average is the f32 value exactly.
#[test]
fn stochastic_rounding_is_unbiased() {
    for x in [1.0f32 + 1e-4, -3.000_123, 1e-30, 65504.7, f32::from_bits(0x0000_1234), 0.0] {
        let down = f32::from_bits(x.to_bits() & 0xFFFF_0000);
        let up = f32::from_bits((x.to_bits() & 0xFFFF_0000) + 0x1_0000);
        let mut sum = 0.0f64;
        for r in 0..=u16::MAX as u32 {
            let y = bf16::from_bits(bf16_bits_stochastic(x, r)).to_f32();
            assert!(y == down || y == up, "{x:e}: {y:e} is not a neighbour");
            sum += y as f64;
        }
        assert_eq!(sum / 65536.0, x as f64, "{x:e}");
    }
    // NaN stays NaN and infinity stays infinite, whatever the random bits.
    for r in [0, 0x7FFF, 0xFFFF] {
        assert!(bf16::from_bits(bf16_bits_stochastic(f32::NAN, r)).is_nan());
        assert_eq!(bf16::from_bits(bf16_bits_stochastic(f32::INFINITY, r)).to_f32(), f32::INFINITY);
    }
    // Keys differ by seed, step and buffer; the hash spreads consecutive positions.
    assert_ne!(stochastic_key(1, 1, 0), stochastic_key(2, 1, 0));
    assert_ne!(stochastic_key(1, 1, 0), stochastic_key(1, 2, 0));
    assert_ne!(stochastic_key(1, 1, 0), stochastic_key(1, 1, 1));
    let ones: u32 = (0..1024).map(|i| (random_at(7, i) & 0xFFFF).count_ones()).sum();
    assert!((ones as f64 / (1024.0 * 16.0) - 0.5).abs() < 0.02, "{ones}");
}

/// Every f32 value, both narrowings, every tier: about a minute in release.
#[test]
#[ignore]
fn every_f32_narrows_like_half() {
    const CHUNK: u32 = 1 << 24;
    for start in (0..=u32::MAX - (CHUNK - 1)).step_by(CHUNK as usize) {
        let src: Vec<f32> = (start..start + CHUNK).map(f32::from_bits).collect();
        narrowing_matches_half(&src);
    }
}
