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

/// The multi-tensor C step: the bits of stepping each tensor alone; empty
/// tensors with null pointers; refusals across tensors write nothing.
#[test]
fn c_many_matches_each_alone_and_refuses_overlap() {
    let lens = [37usize, 0, 100, 5];
    let make =
        |k: usize, n: usize| (0..n).map(|i| ((i * 3 + k) % 13) as f32 * 0.25 - 1.5).collect::<Vec<f32>>();
    let start: Vec<[Vec<f32>; 4]> = lens
        .iter()
        .enumerate()
        .map(|(k, &n)| [make(k, n), make(k + 1, n), vec![0.0; n], vec![0.0; n]])
        .collect();
    let c = fo_adamw_config_default();
    let mut want = start.clone();
    for [p, g, m, v] in &mut want {
        let (p, m, v) = (p.as_mut_ptr(), m.as_mut_ptr(), v.as_mut_ptr());
        // SAFETY: each buffer holds its tensor's length; zero-length ones are not read.
        assert_eq!(
            unsafe { fo_adam_step_f32(p, g.as_ptr(), m, v, null_mut(), g.len(), &c, 2) },
            fo_status::FO_OK
        );
    }
    let mut got = start.clone();
    let ptrs = |k: usize, got: &mut Vec<[Vec<f32>; 4]>| -> Vec<*mut f32> {
        got.iter_mut().map(|t| if t[k].is_empty() { null_mut() } else { t[k].as_mut_ptr() }).collect()
    };
    let (p, g, m, v) = (ptrs(0, &mut got), ptrs(1, &mut got), ptrs(2, &mut got), ptrs(3, &mut got));
    let g: Vec<*const f32> = g.into_iter().map(|x| x as *const f32).collect();
    // SAFETY: four arrays of four pointers to buffers of `lens[i]` elements (null for the empty one).
    let s = unsafe {
        fo_adam_step_many_f32(p.as_ptr(), g.as_ptr(), m.as_ptr(), v.as_ptr(), null(), lens.as_ptr(), 4, &c, 2)
    };
    assert_eq!(s, fo_status::FO_OK);
    assert_eq!(got, want);

    // Tensor 3's v is tensor 2's m: refused, nothing written.
    let before = got.clone();
    let mut v_overlap = v.clone();
    v_overlap[3] = m[2];
    // SAFETY: as above; the overlap is refused before anything is written.
    let s = unsafe {
        fo_adam_step_many_f32(
            p.as_ptr(),
            g.as_ptr(),
            m.as_ptr(),
            v_overlap.as_ptr(),
            null(),
            lens.as_ptr(),
            4,
            &c,
            3,
        )
    };
    assert_eq!(s, fo_status::FO_ERROR_OVERLAP);
    let mut p_null = p.clone();
    p_null[2] = null_mut();
    // SAFETY: as above; the null buffer is refused.
    let s = unsafe {
        fo_adam_step_many_f32(
            p_null.as_ptr(),
            g.as_ptr(),
            m.as_ptr(),
            v.as_ptr(),
            null(),
            lens.as_ptr(),
            4,
            &c,
            3,
        )
    };
    assert_eq!(s, fo_status::FO_ERROR_NULL_POINTER);
    // SAFETY: a null array with count > 0 is refused.
    let s = unsafe {
        fo_adam_step_many_f32(null(), g.as_ptr(), m.as_ptr(), v.as_ptr(), null(), lens.as_ptr(), 4, &c, 3)
    };
    assert_eq!(s, fo_status::FO_ERROR_NULL_POINTER);
    let amsgrad = fo_adam_config { amsgrad: true, ..c };
    // SAFETY: AMSGrad without its array is refused.
    let s = unsafe {
        fo_adam_step_many_f32(
            p.as_ptr(),
            g.as_ptr(),
            m.as_ptr(),
            v.as_ptr(),
            null(),
            lens.as_ptr(),
            4,
            &amsgrad,
            3,
        )
    };
    assert_eq!(s, fo_status::FO_ERROR_AMSGRAD_BUFFER);
    assert_eq!(got, before);
    // SAFETY: count 0: no array is read.
    let s = unsafe {
        fo_adamax_step_many_f64(null(), null(), null(), null(), null(), 0, &fo_adamax_config_default(), 1)
    };
    assert_eq!(s, fo_status::FO_OK);
}
