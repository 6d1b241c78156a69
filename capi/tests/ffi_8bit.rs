//! The 8-bit-state C entry points: the Rust library's bytes, the refusals
//! (nothing written), the found_inf skip, and the conversions.

use fused_optim_capi::*;
use fused_optim_core::mixed::{MixedOptions, StepOutcome};
use fused_optim_core::parallel::Parallelism;
use fused_optim_core::quantized::{QuantizedState, scales_len, step_quantized};
use fused_optim_core::{AdamConfig, LionConfig};
use std::ptr::{null, null_mut};

fn values(seed: u64, n: usize, scale: f32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale
        })
        .collect()
}

/// Parameters, gradient and the two moments (codes, scales) of one Adam tensor.
#[derive(Clone, Debug, PartialEq)]
struct Adam8 {
    p: Vec<f32>,
    g: Vec<f32>,
    m: QuantizedState,
    v: QuantizedState,
    codes: [Vec<u8>; 2],
    scales: [Vec<f32>; 2],
}

impl Adam8 {
    fn new(n: usize) -> Adam8 {
        Adam8 {
            p: values(1, n, 2.0),
            g: values(2, n, 0.2),
            m: QuantizedState::zeros(n, true),
            v: QuantizedState::zeros(n, false),
            codes: [vec![0; n], vec![0; n]],
            scales: [vec![0.0; scales_len(n)], vec![0.0; scales_len(n)]],
        }
    }

    /// One C step with the C-side buffers.
    fn c_step(
        &mut self, config: &fo_adam_config, options: &fo_mixed_options, t: u64, skipped: &mut bool,
    ) -> fo_status {
        let [mc, vc] = &mut self.codes;
        let [ms, vs] = &mut self.scales;
        // SAFETY: every buffer is valid for its length and apart from the others.
        unsafe {
            fo_adam_step_8bit(
                self.p.as_mut_ptr(),
                self.g.as_mut_ptr(),
                mc.as_mut_ptr(),
                ms.as_mut_ptr(),
                vc.as_mut_ptr(),
                vs.as_mut_ptr(),
                null_mut(),
                null_mut(),
                self.p.len(),
                config,
                options,
                t,
                skipped,
            )
        }
    }
}

#[test]
fn c_adam_8bit_gives_the_rust_bytes() {
    for n in [0, 1, 255, 256, 1000, 70_001] {
        let mut c = Adam8::new(n);
        let mut rust = c.clone();
        let config = AdamConfig::adamw();
        let cc = fo_adam_config::from(config);
        let options = fo_mixed_options_default();
        for t in 1..=3 {
            c.g = values(10 + t, n, 0.2);
            rust.g = c.g.clone();
            let mut skipped = true;
            assert_eq!(c.c_step(&cc, &options, t, &mut skipped), fo_status::FO_OK);
            assert!(!skipped);
            let buffers = fused_optim_core::quantized::QuantizedBuffers {
                param: &mut rust.p,
                grad: &mut rust.g,
                state: [Some(rust.m.slot()), Some(rust.v.slot()), None],
            };
            let outcome = step_quantized(&config, t, buffers, &MixedOptions::default(), &Parallelism::Serial);
            assert_eq!(outcome, Ok(StepOutcome::Applied));
        }
        assert_eq!(c.p, rust.p, "n = {n}");
        assert_eq!(c.codes[0], rust.m.codes());
        assert_eq!(c.codes[1], rust.v.codes());
        assert_eq!(c.scales[0], rust.m.scales());
        assert_eq!(c.scales[1], rust.v.scales());
    }
}

#[test]
fn c_8bit_refusals_write_nothing() {
    let n = 1000;
    let cc = fo_adam_config::from(AdamConfig::default());
    let options = fo_mixed_options_default();
    let fresh = Adam8::new(n);
    let mut skipped = false;
    // Stochastic rounding: refused (the codes round to nearest).
    let mut x = fresh.clone();
    let stochastic = fo_mixed_options { stochastic_rounding: 1, seed: 5, ..options };
    assert_eq!(x.c_step(&cc, &stochastic, 1, &mut skipped), fo_status::FO_ERROR_HYPERPARAMETER);
    assert!(x == fresh, "a refused step wrote");
    // Step 0.
    assert_eq!(x.c_step(&cc, &options, 0, &mut skipped), fo_status::FO_ERROR_STEP);
    assert!(x == fresh, "a refused step wrote");
    // Overlap: exp_avg's scales inside the parameters.
    let mut x = fresh.clone();
    // SAFETY: every pointer is valid for its length; two overlap on purpose.
    let status = unsafe {
        let p = x.p.as_mut_ptr();
        fo_adam_step_8bit(
            p,
            x.g.as_mut_ptr(),
            x.codes[0].as_mut_ptr(),
            p.add(10),
            x.codes[1].as_mut_ptr(),
            x.scales[1].as_mut_ptr(),
            null_mut(),
            null_mut(),
            n,
            &cc,
            &options,
            1,
            &mut skipped,
        )
    };
    assert_eq!(status, fo_status::FO_ERROR_OVERLAP);
    assert!(x == fresh, "a refused step wrote");
    // A missing moment, and AMSGrad's buffers without the option.
    let mut x = fresh.clone();
    // SAFETY: as above, with null for what is missing.
    let status = unsafe {
        fo_adam_step_8bit(
            x.p.as_mut_ptr(),
            x.g.as_mut_ptr(),
            x.codes[0].as_mut_ptr(),
            x.scales[0].as_mut_ptr(),
            null_mut(),
            null_mut(),
            null_mut(),
            null_mut(),
            n,
            &cc,
            &options,
            1,
            &mut skipped,
        )
    };
    assert_eq!(status, fo_status::FO_ERROR_NULL_POINTER);
    let (mut mc, mut ms) = (vec![0u8; n], vec![0.0f32; scales_len(n)]);
    // SAFETY: as above.
    let status = unsafe {
        fo_adam_step_8bit(
            x.p.as_mut_ptr(),
            x.g.as_mut_ptr(),
            x.codes[0].as_mut_ptr(),
            x.scales[0].as_mut_ptr(),
            x.codes[1].as_mut_ptr(),
            x.scales[1].as_mut_ptr(),
            mc.as_mut_ptr(),
            ms.as_mut_ptr(),
            n,
            &cc,
            &options,
            1,
            &mut skipped,
        )
    };
    assert_eq!(status, fo_status::FO_ERROR_STATE_BUFFER);
    assert!(x == fresh, "a refused step wrote");
    // Null config and options.
    // SAFETY: as above; the null config is refused before any buffer is read.
    let status = unsafe {
        fo_adam_step_8bit(
            x.p.as_mut_ptr(),
            x.g.as_mut_ptr(),
            x.codes[0].as_mut_ptr(),
            x.scales[0].as_mut_ptr(),
            x.codes[1].as_mut_ptr(),
            x.scales[1].as_mut_ptr(),
            null_mut(),
            null_mut(),
            n,
            null(),
            &options,
            1,
            &mut skipped,
        )
    };
    assert_eq!(status, fo_status::FO_ERROR_NULL_POINTER);
    assert!(x == fresh, "a refused step wrote");
}

#[test]
fn c_8bit_skips_a_non_finite_gradient() {
    let mut x = Adam8::new(600);
    x.g[599] = f32::INFINITY; // (not NaN: the comparison below is by value)
    let before = x.clone();
    let mut skipped = false;
    let cc = fo_adam_config::from(AdamConfig::default());
    assert_eq!(x.c_step(&cc, &fo_mixed_options_default(), 1, &mut skipped), fo_status::FO_OK);
    assert!(skipped);
    assert!(x == before, "a skipped step wrote");
}

#[test]
fn c_lion_8bit_gives_the_rust_bytes() {
    let n = 3000;
    let config = LionConfig { lr: 1e-3, weight_decay: 0.1, ..LionConfig::default() };
    let (mut p, mut g) = (values(3, n, 1.0), values(4, n, 0.1));
    let (mut codes, mut scales) = (vec![0u8; n], vec![0.0f32; scales_len(n)]);
    let (mut rp, mut rg, mut m) = (p.clone(), g.clone(), QuantizedState::zeros(n, true));
    let cc = fo_lion_config::from(config);
    let mut skipped = false;
    for t in 1..=2 {
        // SAFETY: every buffer valid for its length, apart.
        let status = unsafe {
            fo_lion_step_8bit(
                p.as_mut_ptr(),
                g.as_mut_ptr(),
                codes.as_mut_ptr(),
                scales.as_mut_ptr(),
                n,
                &cc,
                &fo_mixed_options_default(),
                t,
                &mut skipped,
            )
        };
        assert_eq!(status, fo_status::FO_OK);
        let buffers = fused_optim_core::quantized::QuantizedBuffers {
            param: &mut rp,
            grad: &mut rg,
            state: [Some(m.slot()), None, None],
        };
        let outcome = step_quantized(&config, t, buffers, &MixedOptions::default(), &Parallelism::Serial);
        assert_eq!(outcome, Ok(StepOutcome::Applied));
    }
    assert_eq!((p, codes, scales), (rp, m.codes().to_vec(), m.scales().to_vec()));
}

#[test]
fn c_conversions_are_the_libraries() {
    let n = 1000;
    for signed in [true, false] {
        let v: Vec<f32> = values(7, n, 4.0).into_iter().map(|x| if signed { x } else { x.abs() }).collect();
        let (mut codes, mut scales) = (vec![0u8; n], vec![0.0f32; fo_scales_len_8bit(n)]);
        // SAFETY: valid for their lengths, apart.
        let status = unsafe {
            fo_quantize_8bit(v.as_ptr(), n, signed.into(), codes.as_mut_ptr(), scales.as_mut_ptr())
        };
        assert_eq!(status, fo_status::FO_OK);
        let q = QuantizedState::quantize(&v, signed);
        assert_eq!((q.codes(), q.scales()), (&codes[..], &scales[..]));
        let mut back = vec![0.0f32; n];
        // SAFETY: as above.
        let status = unsafe {
            fo_dequantize_8bit(codes.as_ptr(), scales.as_ptr(), n, signed.into(), back.as_mut_ptr())
        };
        assert_eq!(status, fo_status::FO_OK);
        assert_eq!(back, q.dequantize());
        // Too few scales overlapping the values: refused, nothing written.
        // SAFETY: the pointers are valid; the overlap is the point.
        let status = unsafe { fo_dequantize_8bit(codes.as_ptr(), back.as_ptr(), n, 0, back.as_mut_ptr()) };
        assert_eq!(status, fo_status::FO_ERROR_OVERLAP);
        assert_eq!(back, q.dequantize());
    }
}
