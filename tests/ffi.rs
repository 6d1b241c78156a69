//! The C ABI from Rust: every `fo_*` function against the Rust API's bits,
//! every refusal with its status and untouched buffers, and the expected
//! values of the C smoke test (`tests/c/expected.h`), computed here with the
//! scalar reference and checked to be current (`FUSED_OPTIM_BLESS=1`
//! rewrites the file).

use fused_optim::ffi::*;
use fused_optim::kernels::reference;
use fused_optim::{AdaMaxBuffers, AdaMaxConfig, AdamBuffers, AdamConfig, Tier};
use std::ffi::CStr;
use std::ptr::{null, null_mut};

const N: usize = 37;

/// The smoke test's inputs, exactly representable so C computes the same.
fn inputs<T: fused_optim::Float>() -> (Vec<T>, Vec<T>) {
    let p = (0..N).map(|i| T::from_f64(((i % 7) as f64 - 3.0) * 0.5)).collect();
    let g = (0..N).map(|i| T::from_f64((((i * 5) % 11) as f64 - 5.0) * 0.125)).collect();
    (p, g)
}

/// Three reference steps of each smoke-test case: the final parameters.
fn expected() -> (Vec<f32>, Vec<f64>, Vec<f32>) {
    let (mut p1, g1) = inputs::<f32>();
    let (mut m, mut v) = (vec![0.0f32; N], vec![0.0f32; N]);
    let adam = AdamConfig::default();
    for t in 1..=3 {
        let b = AdamBuffers {
            param: &mut p1,
            grad: &g1,
            exp_avg: &mut m,
            exp_avg_sq: &mut v,
            max_exp_avg_sq: None,
        };
        reference::adam(b, &adam.coefficients::<f32>(t).unwrap());
    }
    let (mut p2, g2) = inputs::<f64>();
    let (mut m, mut v, mut x) = (vec![0.0f64; N], vec![0.0f64; N], vec![0.0f64; N]);
    let adamw = AdamConfig { amsgrad: true, ..AdamConfig::adamw() };
    for t in 1..=3 {
        let b = AdamBuffers {
            param: &mut p2,
            grad: &g2,
            exp_avg: &mut m,
            exp_avg_sq: &mut v,
            max_exp_avg_sq: Some(&mut x),
        };
        reference::adam(b, &adamw.coefficients::<f64>(t).unwrap());
    }
    let (mut p3, g3) = inputs::<f32>();
    let (mut m, mut u) = (vec![0.0f32; N], vec![0.0f32; N]);
    let adamax = AdaMaxConfig::default();
    for t in 1..=3 {
        let b = AdaMaxBuffers { param: &mut p3, grad: &g3, exp_avg: &mut m, exp_inf: &mut u };
        reference::adamax(b, &adamax.coefficients::<f32>(t).unwrap());
    }
    (p1, p2, p3)
}

fn expected_header() -> String {
    let (a, b, c) = expected();
    let list =
        |v: Vec<String>| v.chunks(6).map(|c| format!("    {},", c.join(", "))).collect::<Vec<_>>().join("\n");
    format!(
        "/* Expected parameters after three steps of each case in smoke.c, computed by the Rust\n \
         * scalar reference (tests/ffi.rs). Regenerate: FUSED_OPTIM_BLESS=1 cargo test --test ffi */\n\
         #define SMOKE_N {N}\n\
         static const uint32_t EXPECTED_ADAM_F32[SMOKE_N] = {{\n{}\n}};\n\
         static const uint64_t EXPECTED_AMSGRAD_ADAMW_F64[SMOKE_N] = {{\n{}\n}};\n\
         static const uint32_t EXPECTED_ADAMAX_F32[SMOKE_N] = {{\n{}\n}};\n",
        list(a.iter().map(|x| format!("0x{:08x}u", x.to_bits())).collect()),
        list(b.iter().map(|x| format!("0x{:016x}ull", x.to_bits())).collect()),
        list(c.iter().map(|x| format!("0x{:08x}u", x.to_bits())).collect()),
    )
}

#[test]
fn c_smoke_test_expectations_are_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c/expected.h");
    let want = expected_header();
    if std::env::var_os("FUSED_OPTIM_BLESS").is_some() {
        std::fs::write(path, &want).unwrap();
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(have == want, "tests/c/expected.h is stale: run FUSED_OPTIM_BLESS=1 cargo test --test ffi");
}

#[test]
fn c_steps_give_the_rust_bits() {
    let (want_adam, want_adamw, want_adamax) = expected();
    let (mut p, g) = inputs::<f32>();
    let (mut m, mut v) = (vec![0.0f32; N], vec![0.0f32; N]);
    let c = fo_adam_config_default();
    for t in 1..=3 {
        // SAFETY: every buffer holds N elements; config is valid.
        let s = unsafe {
            fo_adam_step_f32(p.as_mut_ptr(), g.as_ptr(), m.as_mut_ptr(), v.as_mut_ptr(), null_mut(), N, &c, t)
        };
        assert_eq!(s, fo_status::FO_OK);
    }
    assert_eq!(p, want_adam);
    let (mut p, g) = inputs::<f64>();
    let (mut m, mut v, mut x) = (vec![0.0f64; N], vec![0.0f64; N], vec![0.0f64; N]);
    let c = fo_adam_config { amsgrad: true, ..fo_adamw_config_default() };
    for t in 1..=3 {
        // SAFETY: as above.
        let s = unsafe {
            fo_adam_step_f64(
                p.as_mut_ptr(),
                g.as_ptr(),
                m.as_mut_ptr(),
                v.as_mut_ptr(),
                x.as_mut_ptr(),
                N,
                &c,
                t,
            )
        };
        assert_eq!(s, fo_status::FO_OK);
    }
    assert_eq!(p, want_adamw);
    let (mut p, g) = inputs::<f32>();
    let (mut m, mut u) = (vec![0.0f32; N], vec![0.0f32; N]);
    let c = fo_adamax_config_default();
    for t in 1..=3 {
        // SAFETY: as above.
        let s = unsafe {
            fo_adamax_step_f32(p.as_mut_ptr(), g.as_ptr(), m.as_mut_ptr(), u.as_mut_ptr(), N, &c, t)
        };
        assert_eq!(s, fo_status::FO_OK);
    }
    assert_eq!(p, want_adamax);
}

/// Every refusal: its status, and all buffers bit-identical afterwards.
#[test]
fn c_refusals_write_nothing() {
    let (p0, g) = inputs::<f32>();
    let d = fo_adam_config_default();
    let amsgrad = fo_adam_config { amsgrad: true, ..d };
    let bad_lr = fo_adam_config { lr: f64::NAN, ..d };
    let bad_mode = fo_adam_config { weight_decay_mode: 7, ..d };
    let mut p = p0.clone();
    let mut state = vec![0.5f32; 4 * N + 1];
    let before = (p.clone(), state.clone());
    let base = state.as_mut_ptr();
    // SAFETY: each call gets pointers into live buffers of at least N
    // elements (or null / deliberately overlapping / misaligned ones, which
    // the call must refuse before touching anything).
    let cases: Vec<(&str, fo_status)> = unsafe {
        let (m, v, x) = (base, base.add(N), base.add(2 * N));
        let misaligned = (base.add(3 * N) as *mut u8).add(1) as *mut f32;
        vec![
            ("null param", fo_adam_step_f32(null_mut(), g.as_ptr(), m, v, null_mut(), N, &d, 1)),
            ("null grad", fo_adam_step_f32(p.as_mut_ptr(), null(), m, v, null_mut(), N, &d, 1)),
            ("null config", fo_adam_step_f32(p.as_mut_ptr(), g.as_ptr(), m, v, null_mut(), N, null(), 1)),
            (
                "overlap m/v",
                fo_adam_step_f32(p.as_mut_ptr(), g.as_ptr(), m, m.add(N - 1), null_mut(), N, &d, 1),
            ),
            ("param = m", fo_adam_step_f32(m, g.as_ptr(), m, v, null_mut(), N, &d, 1)),
            ("misaligned", fo_adam_step_f32(p.as_mut_ptr(), g.as_ptr(), m, misaligned, null_mut(), N, &d, 1)),
            (
                "absurd n",
                fo_adam_step_f32(p.as_mut_ptr(), g.as_ptr(), m, v, null_mut(), usize::MAX / 2, &d, 1),
            ),
            ("NaN lr", fo_adam_step_f32(p.as_mut_ptr(), g.as_ptr(), m, v, null_mut(), N, &bad_lr, 1)),
            (
                "bad decay mode",
                fo_adam_step_f32(p.as_mut_ptr(), g.as_ptr(), m, v, null_mut(), N, &bad_mode, 1),
            ),
            ("t = 0", fo_adam_step_f32(p.as_mut_ptr(), g.as_ptr(), m, v, null_mut(), N, &d, 0)),
            (
                "amsgrad, no buffer",
                fo_adam_step_f32(p.as_mut_ptr(), g.as_ptr(), m, v, null_mut(), N, &amsgrad, 1),
            ),
            ("buffer, no amsgrad", fo_adam_step_f32(p.as_mut_ptr(), g.as_ptr(), m, v, x, N, &d, 1)),
        ]
    };
    let want = [
        fo_status::FO_ERROR_NULL_POINTER,
        fo_status::FO_ERROR_NULL_POINTER,
        fo_status::FO_ERROR_NULL_POINTER,
        fo_status::FO_ERROR_OVERLAP,
        fo_status::FO_ERROR_OVERLAP,
        fo_status::FO_ERROR_ALIGNMENT,
        fo_status::FO_ERROR_LENGTH,
        fo_status::FO_ERROR_HYPERPARAMETER,
        fo_status::FO_ERROR_HYPERPARAMETER,
        fo_status::FO_ERROR_STEP,
        fo_status::FO_ERROR_AMSGRAD_BUFFER,
        fo_status::FO_ERROR_AMSGRAD_BUFFER,
    ];
    for ((what, got), want) in cases.into_iter().zip(want) {
        assert_eq!(got, want, "{what}");
    }
    assert_eq!((p, state), before, "a refused step wrote");
    // A zero-length step reads no pointer: null buffers are fine.
    // SAFETY: n = 0: no buffer is read.
    let s = unsafe {
        fo_adamax_step_f64(null_mut(), null(), null_mut(), null_mut(), 0, &fo_adamax_config_default(), 1)
    };
    assert_eq!(s, fo_status::FO_OK);
}

#[test]
fn c_status_tier_version_threads() {
    for code in 0..=9 {
        // SAFETY: fo_status_message returns a static NUL-terminated string.
        let text = unsafe { CStr::from_ptr(fo_status_message(code)) }.to_str().unwrap();
        assert!(!text.is_empty() && text != "unknown status", "{code}");
    }
    // SAFETY: as above.
    assert_eq!(unsafe { CStr::from_ptr(fo_status_message(-1)) }.to_str().unwrap(), "unknown status");
    // SAFETY: static strings.
    let tier = unsafe { CStr::from_ptr(fo_tier()) }.to_str().unwrap();
    assert_eq!(tier, Tier::dispatched().name());
    // SAFETY: static string.
    assert_eq!(unsafe { CStr::from_ptr(fo_version()) }.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    for threads in [3, 1, 0] {
        assert_eq!(fo_set_threads(threads), fo_status::FO_OK);
        let (mut p, g) = inputs::<f64>();
        let (mut m, mut u) = (vec![0.0f64; N], vec![0.0f64; N]);
        // SAFETY: N-element buffers, valid config.
        let s = unsafe {
            fo_adamax_step_f64(
                p.as_mut_ptr(),
                g.as_ptr(),
                m.as_mut_ptr(),
                u.as_mut_ptr(),
                N,
                &fo_adamax_config_default(),
                1,
            )
        };
        assert_eq!(s, fo_status::FO_OK);
    }
}
