//! The C ABI from Rust: every `fo_*` function against the Rust API's bits,
//! every refusal with its status and untouched buffers, and the expected
//! values of the C smoke test (`capi/tests/c/expected.h`), computed here with the
//! scalar reference and checked to be current. Only the ignored test
//! `bless_c_smoke_test_expectations`, run by name, rewrites the file:
//! `cargo test -p fused-optim-capi --test ffi -- --ignored --exact bless_c_smoke_test_expectations`.

use fused_optim_capi::*;
use fused_optim_core::kernels::spec;
use fused_optim_core::mixed::{MixedAdamBuffers, MixedOptions, MixedSlice, bf16, mixed_coefficients};
use fused_optim_core::{
    AdaDeltaBuffers, AdaDeltaConfig, AdaGradBuffers, AdaGradConfig, AdaMaxBuffers, AdaMaxConfig, AdamBuffers,
    AdamConfig, Float, LionBuffers, LionConfig, RmsPropBuffers, RmsPropConfig, SgdBuffers, SgdConfig, Tier,
};
use std::array::from_fn;
use std::ffi::CStr;
use std::ptr::{null, null_mut};

use fused_optim_testkit::c_steps::Api;

const N: usize = 37;

/// The smoke test's inputs, exactly representable so C computes the same.
fn inputs<T: Float>() -> (Vec<T>, Vec<T>) {
    let p = (0..N).map(|i| T::from_f64(((i % 7) as f64 - 3.0) * 0.5)).collect();
    let g = (0..N).map(|i| T::from_f64((((i * 5) % 11) as f64 - 5.0) * 0.125)).collect();
    (p, g)
}

/// Three reference steps from the smoke-test inputs, with `K` state buffers
/// starting at `init`: the final parameters.
fn three_reference_steps<T: Float, const K: usize>(
    init: [f64; K], step: impl Fn(&mut [T], &[T], &mut [Vec<T>; K], u64),
) -> Vec<T> {
    let (mut p, g) = inputs::<T>();
    let mut state = init.map(|x| vec![T::from_f64(x); N]);
    for t in 1..=3 {
        step(&mut p, &g, &mut state, t);
    }
    p
}

/// The smoke test's AdaGrad case: every option but `maximize`.
fn smoke_adagrad() -> AdaGradConfig {
    AdaGradConfig {
        lr_decay: 0.1,
        weight_decay: 0.01,
        initial_accumulator_value: 0.25,
        ..AdaGradConfig::default()
    }
}

/// The smoke test's RMSprop case: momentum and centered.
fn smoke_rmsprop() -> RmsPropConfig {
    RmsPropConfig { momentum: 0.9, centered: true, ..RmsPropConfig::default() }
}

/// The smoke test's SGD case: Nesterov momentum with weight decay.
fn smoke_sgd() -> SgdConfig {
    SgdConfig { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.01, ..SgdConfig::default() }
}

/// The smoke test's Lion case: a larger lr than lion-pytorch's default, and
/// decoupled weight decay.
fn smoke_lion() -> LionConfig {
    LionConfig { lr: 0.01, weight_decay: 0.1, ..LionConfig::default() }
}

/// The smoke test's mixed-precision case: f32 master weights, bf16
/// gradients carrying a loss scale of 1024 (exact: the inputs times 2^10),
/// consumed by zero-grad and refilled before each step, f32 state, a bf16
/// copy of the new parameters; AdamW defaults.
fn smoke_mixed_options() -> MixedOptions {
    MixedOptions { loss_scale: 1024.0, zero_grad: true, ..MixedOptions::default() }
}

fn smoke_mixed_grad() -> Vec<bf16> {
    inputs::<f32>().1.iter().map(|&g| bf16::from_f32(g * 1024.0)).collect()
}

/// Three reference steps of the mixed case: the final parameters and copy.
fn smoke_mixed() -> (Vec<f32>, Vec<bf16>) {
    let (config, options) = (AdamConfig::adamw(), smoke_mixed_options());
    let mut p = inputs::<f32>().0;
    let (mut m, mut v, mut copy) = (vec![0.0f32; N], vec![0.0f32; N], vec![bf16::ZERO; N]);
    for t in 1..=3 {
        let mut g = smoke_mixed_grad();
        let b = MixedAdamBuffers {
            param: MixedSlice::F32(&mut p),
            grad: MixedSlice::Bf16(&mut g),
            exp_avg: MixedSlice::F32(&mut m),
            exp_avg_sq: MixedSlice::F32(&mut v),
            max_exp_avg_sq: None,
            param_copy: Some(MixedSlice::Bf16(&mut copy)),
            position: 0,
        };
        spec::mixed(b.into(), &mixed_coefficients(&config, t, &options).unwrap());
        assert!(g.iter().all(|g| g.to_bits() == 0), "zero-grad");
    }
    (p, copy)
}

/// The smoke test's lean-state case (issue 18): f32 master weights and f32
/// gradients, bf16 `exp_avg`/`exp_avg_sq` rounded stochastically from seed
/// 7, AdamW defaults; and Lion (the smoke test's config) with a bf16
/// `exp_avg` rounded to nearest even. Three reference steps each: the final
/// parameters and first moments.
fn smoke_lean() -> (Vec<f32>, Vec<bf16>, Vec<f32>, Vec<bf16>) {
    use fused_optim_core::mixed::MixedBuffers;
    let (adamw, sr) =
        (AdamConfig::adamw(), MixedOptions { stochastic_rounding: Some(7), ..MixedOptions::default() });
    let (mut p, g) = inputs::<f32>();
    let (mut m, mut v) = (vec![bf16::ZERO; N], vec![bf16::ZERO; N]);
    let (mut lp, mut lm) = (inputs::<f32>().0, vec![bf16::ZERO; N]);
    for t in 1..=3 {
        let b = MixedAdamBuffers {
            param: MixedSlice::F32(&mut p),
            grad: MixedSlice::F32(&mut g.clone()),
            exp_avg: MixedSlice::Bf16(&mut m),
            exp_avg_sq: MixedSlice::Bf16(&mut v),
            max_exp_avg_sq: None,
            param_copy: None,
            position: 0,
        };
        spec::mixed(b.into(), &mixed_coefficients(&adamw, t, &sr).unwrap());
        let b = MixedBuffers {
            param: MixedSlice::F32(&mut lp),
            grad: MixedSlice::F32(&mut g.clone()),
            state: [Some(MixedSlice::Bf16(&mut lm)), None, None],
            param_copy: None,
            position: 0,
        };
        spec::mixed(b, &mixed_coefficients(&smoke_lion(), t, &MixedOptions::default()).unwrap());
    }
    (p, m, lp, lm)
}

/// The final parameters of each smoke-test case, by the scalar reference.
struct Expected {
    adam_f32: Vec<f32>,
    amsgrad_adamw_f64: Vec<f64>,
    adamax_f32: Vec<f32>,
    adagrad_f32: Vec<f32>,
    rmsprop_f64: Vec<f64>,
    adadelta_f32: Vec<f32>,
    sgd_f32: Vec<f32>,
    lion_f64: Vec<f64>,
    mixed_param_f32: Vec<f32>,
    mixed_copy_bf16: Vec<bf16>,
    lean_adamw_param_f32: Vec<f32>,
    lean_adamw_exp_avg_bf16: Vec<bf16>,
    lean_lion_param_f32: Vec<f32>,
    lean_lion_exp_avg_bf16: Vec<bf16>,
}

fn expected() -> Expected {
    let adam = AdamConfig::default();
    let adamw = AdamConfig { amsgrad: true, ..AdamConfig::adamw() };
    let adamax = AdaMaxConfig::default();
    let adagrad = smoke_adagrad();
    let rmsprop = smoke_rmsprop();
    let adadelta = AdaDeltaConfig::default();
    let sgd = smoke_sgd();
    let lion = smoke_lion();
    let (mixed_param_f32, mixed_copy_bf16) = smoke_mixed();
    let (lean_adamw_param_f32, lean_adamw_exp_avg_bf16, lean_lion_param_f32, lean_lion_exp_avg_bf16) =
        smoke_lean();
    Expected {
        adam_f32: three_reference_steps([0.0; 2], |param, grad, [m, v], t| {
            let b = AdamBuffers { param, grad, exp_avg: m, exp_avg_sq: v, max_exp_avg_sq: None };
            spec::adam(b, &adam.coefficients::<f32>(t).unwrap());
        }),
        amsgrad_adamw_f64: three_reference_steps([0.0; 3], |param, grad, [m, v, x], t| {
            let b = AdamBuffers { param, grad, exp_avg: m, exp_avg_sq: v, max_exp_avg_sq: Some(x) };
            spec::adam(b, &adamw.coefficients::<f64>(t).unwrap());
        }),
        adamax_f32: three_reference_steps([0.0; 2], |param, grad, [m, u], t| {
            let b = AdaMaxBuffers { param, grad, exp_avg: m, exp_inf: u };
            spec::adamax(b, &adamax.coefficients::<f32>(t).unwrap());
        }),
        adagrad_f32: three_reference_steps([adagrad.initial_accumulator_value], |param, grad, [sum], t| {
            spec::adagrad(AdaGradBuffers { param, grad, sum }, &adagrad.coefficients::<f32>(t).unwrap());
        }),
        rmsprop_f64: three_reference_steps([0.0; 3], |param, grad, [v, b, a], t| {
            let buffers =
                RmsPropBuffers { param, grad, square_avg: v, momentum_buffer: Some(b), grad_avg: Some(a) };
            spec::rmsprop(buffers, &rmsprop.coefficients::<f64>(t).unwrap());
        }),
        adadelta_f32: three_reference_steps([0.0; 2], |param, grad, [s, x], t| {
            let b = AdaDeltaBuffers { param, grad, square_avg: s, acc_delta: x };
            spec::adadelta(b, &adadelta.coefficients::<f32>(t).unwrap());
        }),
        sgd_f32: three_reference_steps([0.0], |param, grad, [b], t| {
            let buffers = SgdBuffers { param, grad, momentum_buffer: Some(b) };
            spec::sgd(buffers, &sgd.coefficients::<f32>(t).unwrap());
        }),
        lion_f64: three_reference_steps([0.0], |param, grad, [exp_avg], t| {
            spec::lion(LionBuffers { param, grad, exp_avg }, &lion.coefficients::<f64>(t).unwrap());
        }),
        mixed_param_f32,
        mixed_copy_bf16,
        lean_adamw_param_f32,
        lean_adamw_exp_avg_bf16,
        lean_lion_param_f32,
        lean_lion_exp_avg_bf16,
    }
}

fn expected_header() -> String {
    let e = expected();
    let list =
        |v: Vec<String>| v.chunks(6).map(|c| format!("    {},", c.join(", "))).collect::<Vec<_>>().join("\n");
    let f32s = |name: &str, v: &[f32]| {
        let words = v.iter().map(|x| format!("0x{:08x}u", x.to_bits())).collect();
        format!("static const uint32_t {name}[SMOKE_N] = {{\n{}\n}};\n", list(words))
    };
    let bf16s = |name: &str, v: &[bf16]| {
        let words = v.iter().map(|x| format!("0x{:04x}u", x.to_bits())).collect();
        format!("static const uint16_t {name}[SMOKE_N] = {{\n{}\n}};\n", list(words))
    };
    let f64s = |name: &str, v: &[f64]| {
        let words = v.iter().map(|x| format!("0x{:016x}ull", x.to_bits())).collect();
        format!("static const uint64_t {name}[SMOKE_N] = {{\n{}\n}};\n", list(words))
    };
    format!(
        "/* Expected parameters after three steps of each case in smoke.c, computed by the Rust\n \
         * scalar reference (capi/tests/ffi.rs). Regenerate:\n \
         * cargo test -p fused-optim-capi --test ffi -- --ignored --exact bless_c_smoke_test_expectations */\n\
         #define SMOKE_N {N}\n{}{}{}{}{}{}{}{}{}{}{}{}{}{}",
        f32s("EXPECTED_ADAM_F32", &e.adam_f32),
        f64s("EXPECTED_AMSGRAD_ADAMW_F64", &e.amsgrad_adamw_f64),
        f32s("EXPECTED_ADAMAX_F32", &e.adamax_f32),
        f32s("EXPECTED_ADAGRAD_F32", &e.adagrad_f32),
        f64s("EXPECTED_RMSPROP_MOMENTUM_CENTERED_F64", &e.rmsprop_f64),
        f32s("EXPECTED_ADADELTA_F32", &e.adadelta_f32),
        f32s("EXPECTED_SGD_NESTEROV_F32", &e.sgd_f32),
        f64s("EXPECTED_LION_F64", &e.lion_f64),
        f32s("EXPECTED_MIXED_PARAM_F32", &e.mixed_param_f32),
        bf16s("EXPECTED_MIXED_COPY_BF16", &e.mixed_copy_bf16),
        f32s("EXPECTED_LEAN_ADAMW_PARAM_F32", &e.lean_adamw_param_f32),
        bf16s("EXPECTED_LEAN_ADAMW_EXP_AVG_BF16", &e.lean_adamw_exp_avg_bf16),
        f32s("EXPECTED_LEAN_LION_PARAM_F32", &e.lean_lion_param_f32),
        bf16s("EXPECTED_LEAN_LION_EXP_AVG_BF16", &e.lean_lion_exp_avg_bf16),
    )
}

const EXPECTED_H: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c/expected.h");
const BLESS: &str =
    "cargo test -p fused-optim-capi --test ffi -- --ignored --exact bless_c_smoke_test_expectations";

/// `tests/c/expected.h` holds what the scalar reference computes now. Only
/// compares: no setting of any test run rewrites the file.
#[test]
fn c_smoke_test_expectations_are_current() {
    let have = std::fs::read_to_string(EXPECTED_H).unwrap_or_default();
    assert!(
        have == expected_header(),
        "tests/c/expected.h is stale: regenerate it with `{BLESS}`, then review and commit the diff"
    );
}

/// Rewrites `tests/c/expected.h` from the scalar reference; run by name
/// only (see `BLESS`). Fails when it changed the file, so that a run which
/// blessed (say with `--include-ignored`) never passes: rerun to see it pass.
#[test]
#[ignore = "rewrites tests/c/expected.h; run by name to regenerate it"]
fn bless_c_smoke_test_expectations() {
    let want = expected_header();
    if std::fs::read_to_string(EXPECTED_H).unwrap_or_default() != want {
        std::fs::write(EXPECTED_H, &want).unwrap();
        panic!("tests/c/expected.h was stale and has been rewritten: review and commit the diff");
    }
}

#[test]
fn c_steps_give_the_rust_bits() {
    let Expected { adam_f32: want_adam, amsgrad_adamw_f64: want_adamw, adamax_f32: want_adamax, .. } =
        expected();
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
    let c = fo_adam_config { amsgrad: 1, ..fo_adamw_config_default() };
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

/// The smoke test's mixed-precision case through the C step: the
/// reference's parameters and copy, the gradient consumed each step.
#[test]
fn c_mixed_step_gives_the_smoke_bits() {
    let Expected { mixed_param_f32, mixed_copy_bf16, .. } = expected();
    let (c, o) = (fo_adamw_config_default(), fo_mixed_options::from(smoke_mixed_options()));
    let mut p = inputs::<f32>().0;
    let (mut m, mut v, mut copy) = (vec![0.0f32; N], vec![0.0f32; N], vec![bf16::ZERO; N]);
    for t in 1..=3 {
        let mut g = smoke_mixed_grad();
        let mut skipped = true;
        // SAFETY: every buffer holds N elements of its type; config, options
        // and `skipped` are valid.
        let s = unsafe {
            fo_adam_step_mixed(
                p.as_mut_ptr().cast(),
                FO_DTYPE_F32,
                g.as_mut_ptr().cast(),
                FO_DTYPE_BF16,
                m.as_mut_ptr().cast(),
                v.as_mut_ptr().cast(),
                null_mut(),
                FO_DTYPE_F32,
                copy.as_mut_ptr().cast(),
                FO_DTYPE_BF16,
                N,
                0,
                &c,
                &o,
                t,
                &mut skipped,
            )
        };
        assert_eq!((s, skipped), (fo_status::FO_OK, false));
        assert!(g.iter().all(|g| g.to_bits() == 0), "zero-grad");
    }
    assert_eq!(p, mixed_param_f32);
    assert_eq!(copy, mixed_copy_bf16);
}

/// Every refusal: its status, and all buffers bit-identical afterwards.
#[test]
fn c_refusals_write_nothing() {
    let (p0, g) = inputs::<f32>();
    let d = fo_adam_config_default();
    let amsgrad = fo_adam_config { amsgrad: 1, ..d };
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
            ("misaligned config", {
                // A config one byte into an aligned copy: refused, never read.
                let mut bytes = [0u8; size_of::<fo_adam_config>() + 8];
                let at = bytes.as_mut_ptr().add(8 - bytes.as_ptr() as usize % 8 + 1) as *mut fo_adam_config;
                at.write_unaligned(d);
                fo_adam_step_f32(p.as_mut_ptr(), g.as_ptr(), m, v, null_mut(), N, at, 1)
            }),
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
        fo_status::FO_ERROR_STATE_BUFFER,
        fo_status::FO_ERROR_STATE_BUFFER,
        fo_status::FO_ERROR_ALIGNMENT,
    ];
    assert_eq!(cases.len(), want.len());
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
    for code in 0..=10 {
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
        let s = unsafe { fo_adam_step_f32(p, g.as_ptr(), m, v, null_mut(), g.len(), &c, 2) };
        assert_eq!(s, fo_status::FO_OK);
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
    let amsgrad = fo_adam_config { amsgrad: 1, ..c };
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
    assert_eq!(s, fo_status::FO_ERROR_STATE_BUFFER);
    assert_eq!(got, before);
    // SAFETY: count 0: no array is read.
    let s = unsafe {
        fo_adamax_step_many_f64(null(), null(), null(), null(), null(), 0, &fo_adamax_config_default(), 1)
    };
    assert_eq!(s, fo_status::FO_OK);
}

// ---------------------------------------------------------------------------
// Every algorithm and option, f32 and f64: the C entry points against the
// Rust API, the multi-tensor form against the single one, every refusal.

/// Deterministic values in [-2, 2), one stream per `seed`.
fn values<T: Float>(seed: u64, n: usize) -> Vec<T> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            T::from_f64((x >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0)
        })
        .collect()
}

fn bits<T: Float>(v: &[T]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits_u64()).collect()
}

/// A buffer's pointer, null for an empty one (a zero-length step reads none).
fn ptr<T>(v: &mut [T]) -> *mut T {
    if v.is_empty() { null_mut() } else { v.as_mut_ptr() }
}

/// A one-tensor optional buffer as the C single step takes it, for a
/// multi-tensor call: a null pointer is a null array.
fn one<T>(p: &*mut T) -> *const *mut T {
    if p.is_null() { null() } else { p }
}

const STEPS: u64 = 6;
const LEN: usize = 101;

/// `STEPS` steps of the same start (`param` and `K` state buffers from
/// `init`, a new gradient each step) through `c` and through the Rust API:
/// every buffer must end with the same bits.
fn c_equals_rust<T: Float, const K: usize>(
    what: &str, init: [f64; K], c: impl Fn(&mut [T], &[T], &mut [Vec<T>; K], u64) -> fo_status,
    rust: impl Fn(&mut [T], &[T], &mut [Vec<T>; K], u64) -> Result<(), fused_optim_core::Error>,
) {
    let start = || (values::<T>(1, LEN), init.map(|x| vec![T::from_f64(x); LEN]));
    let ((mut p1, mut s1), (mut p2, mut s2)) = (start(), start());
    for t in 1..=STEPS {
        let g = values::<T>(t + 1, LEN);
        assert_eq!(c(&mut p1, &g, &mut s1, t), fo_status::FO_OK, "{what} {}", T::NAME);
        rust(&mut p2, &g, &mut s2, t).unwrap();
    }
    assert_eq!(bits(&p1), bits(&p2), "{what} {}: param", T::NAME);
    for k in 0..K {
        assert_eq!(bits(&s1[k]), bits(&s2[k]), "{what} {}: state buffer {k}", T::NAME);
    }
    assert_ne!(bits(&p1), bits(&values::<T>(1, LEN)), "{what}: the step moved nothing");
}

fn adagrad_rmsprop_adadelta_and_adam_options_give_the_rust_bits<T: Api>() {
    use fused_optim_core::{
        EpsForm, Parallelism::Serial, adadelta_step, adagrad_step, adam_step, rmsprop_step,
    };
    for (what, rust) in [
        ("adagrad default", AdaGradConfig::default()),
        ("adagrad lr_decay, weight decay, initial value", smoke_adagrad()),
        ("adagrad maximize", AdaGradConfig { maximize: true, lr_decay: 0.5, ..AdaGradConfig::default() }),
    ] {
        let c = fo_adagrad_config::from(rust);
        c_equals_rust::<T, 1>(
            what,
            [rust.initial_accumulator_value],
            // SAFETY: every buffer holds LEN elements; the config is valid.
            |p, g, [s], t| unsafe { T::ADAGRAD(p.as_mut_ptr(), g.as_ptr(), s.as_mut_ptr(), LEN, &c, t) },
            |param, grad, [sum], t| adagrad_step(&rust, t, AdaGradBuffers { param, grad, sum }, &Serial),
        );
    }
    for (what, momentum, centered) in
        [("plain", 0.0, false), ("momentum", 0.9, false), ("centered", 0.0, true), ("both", 0.5, true)]
    {
        let rust = RmsPropConfig { momentum, centered, weight_decay: 0.01, ..RmsPropConfig::default() };
        let c = fo_rmsprop_config::from(rust);
        let (on_b, on_a) = (momentum > 0.0, centered);
        c_equals_rust::<T, 3>(
            &format!("rmsprop {what}"),
            [0.0; 3],
            |p, g, [v, b, a], t| {
                let b = if on_b { b.as_mut_ptr() } else { null_mut() };
                let a = if on_a { a.as_mut_ptr() } else { null_mut() };
                // SAFETY: every buffer holds LEN elements; the config is valid.
                unsafe { T::RMSPROP(p.as_mut_ptr(), g.as_ptr(), v.as_mut_ptr(), b, a, LEN, &c, t) }
            },
            |param, grad, [v, b, a], t| {
                let (momentum_buffer, grad_avg) = (on_b.then_some(&mut b[..]), on_a.then_some(&mut a[..]));
                let buffers = RmsPropBuffers { param, grad, square_avg: v, momentum_buffer, grad_avg };
                rmsprop_step(&rust, t, buffers, &Serial)
            },
        );
    }
    for (what, rust) in [
        ("adadelta default", AdaDeltaConfig::default()),
        (
            "adadelta options",
            AdaDeltaConfig { lr: 0.5, rho: 0.5, weight_decay: 0.1, ..AdaDeltaConfig::default() },
        ),
    ] {
        let c = fo_adadelta_config::from(rust);
        c_equals_rust::<T, 2>(
            what,
            [0.0; 2],
            // SAFETY: every buffer holds LEN elements; the config is valid.
            |p, g, [s, x], t| unsafe {
                T::ADADELTA(p.as_mut_ptr(), g.as_ptr(), s.as_mut_ptr(), x.as_mut_ptr(), LEN, &c, t)
            },
            |param, grad, [square_avg, acc_delta], t| {
                adadelta_step(&rust, t, AdaDeltaBuffers { param, grad, square_avg, acc_delta }, &Serial)
            },
        );
    }
    for (what, rust) in [
        ("adam eps_hat", AdamConfig { eps: 1e-3, eps_form: EpsForm::Hat, ..AdamConfig::default() }),
        ("adam beta1_decay", AdamConfig { beta1_decay: 0.5, ..AdamConfig::default() }),
        ("adamw amsgrad eps_hat beta1_decay", {
            AdamConfig { eps_form: EpsForm::Hat, beta1_decay: 0.9, amsgrad: true, ..AdamConfig::adamw() }
        }),
    ] {
        let c = fo_adam_config::from(rust);
        assert_eq!(AdamConfig::try_from(c), Ok(rust), "round trip");
        c_equals_rust::<T, 3>(
            what,
            [0.0; 3],
            |p, g, [m, v, x], t| {
                let x = if rust.amsgrad { x.as_mut_ptr() } else { null_mut() };
                // SAFETY: every buffer holds LEN elements; the config is valid.
                unsafe { T::ADAM(p.as_mut_ptr(), g.as_ptr(), m.as_mut_ptr(), v.as_mut_ptr(), x, LEN, &c, t) }
            },
            |param, grad, [m, v, x], t| {
                let max_exp_avg_sq = rust.amsgrad.then_some(&mut x[..]);
                let b = AdamBuffers { param, grad, exp_avg: m, exp_avg_sq: v, max_exp_avg_sq };
                adam_step(&rust, t, b, &Serial)
            },
        );
    }
}

#[test]
fn c_adagrad_rmsprop_adadelta_and_adam_options_give_the_rust_bits() {
    adagrad_rmsprop_adadelta_and_adam_options_give_the_rust_bits::<f32>();
    adagrad_rmsprop_adadelta_and_adam_options_give_the_rust_bits::<f64>();
}

#[test]
fn c_configs_round_trip_and_default_to_the_rust_defaults() {
    use fused_optim_core::{EpsForm, WeightDecay};
    assert_eq!(AdamConfig::try_from(fo_adam_config_default()), Ok(AdamConfig::default()));
    assert_eq!(AdamConfig::try_from(fo_adamw_config_default()), Ok(AdamConfig::adamw()));
    assert_eq!(AdaMaxConfig::from(fo_adamax_config_default()), AdaMaxConfig::default());
    assert_eq!(AdaGradConfig::from(fo_adagrad_config_default()), AdaGradConfig::default());
    assert_eq!(RmsPropConfig::from(fo_rmsprop_config_default()), RmsPropConfig::default());
    assert_eq!(AdaDeltaConfig::from(fo_adadelta_config_default()), AdaDeltaConfig::default());
    assert_eq!(LionConfig::from(fo_lion_config_default()), LionConfig::default());
    let d = fo_adam_config_default();
    assert!(d.eps_hat == 0 && d.beta1_decay == 1.0);
    assert_eq!(fo_adamax_config_default().beta1_decay, 1.0);
    let adam = AdamConfig {
        lr: 0.5,
        betas: (0.25, 0.75),
        eps: 3.0,
        eps_form: EpsForm::Hat,
        weight_decay: WeightDecay::L2(0.125),
        amsgrad: true,
        maximize: true,
        beta1_decay: 0.5,
    };
    assert_eq!(AdamConfig::try_from(fo_adam_config::from(adam)), Ok(adam));
    let adamax = AdaMaxConfig {
        lr: 0.5,
        betas: (0.25, 0.75),
        eps: 0.0,
        weight_decay: 2.0,
        maximize: true,
        beta1_decay: 0.75,
    };
    assert_eq!(AdaMaxConfig::from(fo_adamax_config::from(adamax)), adamax);
    let adagrad = AdaGradConfig { maximize: true, ..smoke_adagrad() };
    assert_eq!(AdaGradConfig::from(fo_adagrad_config::from(adagrad)), adagrad);
    let rmsprop = RmsPropConfig { maximize: true, weight_decay: 0.5, ..smoke_rmsprop() };
    assert_eq!(RmsPropConfig::from(fo_rmsprop_config::from(rmsprop)), rmsprop);
    let adadelta = AdaDeltaConfig { lr: 0.5, rho: 0.25, eps: 1e-3, weight_decay: 0.5, maximize: true };
    assert_eq!(AdaDeltaConfig::from(fo_adadelta_config::from(adadelta)), adadelta);
    let lion = LionConfig { lr: 0.5, betas: (0.25, 0.75), weight_decay: 2.0, maximize: true };
    assert_eq!(LionConfig::from(fo_lion_config::from(lion)), lion);
}

/// One tensor of a multi-tensor test: param, grad, state buffers.
type Tensor<T, const K: usize> = (Vec<T>, Vec<T>, [Vec<T>; K]);

/// Tensors of these lengths (one empty, with null pointers), stepped by one
/// multi-tensor call and by the single call on each alone: the same bits.
/// Then refusals across tensors: overlap, a null buffer, a null array;
/// nothing written.
fn many_equals_single<T: Float, const K: usize>(
    what: &str, single: impl Fn(*mut T, *const T, [*mut T; K], usize, u64) -> fo_status,
    many: impl Fn(*const *mut T, *const *const T, [*const *mut T; K], *const usize, usize, u64) -> fo_status,
) {
    let lens = [37usize, 0, 100, 5];
    let start: Vec<Tensor<T, K>> = lens
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            (values(10 + i as u64, n), values(20 + i as u64, n), from_fn(|k| values(30 + k as u64, n)))
        })
        .collect();
    let mut want = start.clone();
    for t in 1..=3 {
        for (p, g, s) in &mut want {
            // Non-null state pointers even when empty: a null optional
            // buffer of a single step means "not given", whatever its length.
            let s = s.each_mut().map(|s| s.as_mut_ptr());
            assert_eq!(single(ptr(p), g.as_ptr(), s, g.len(), t), fo_status::FO_OK, "{what}");
        }
    }
    let mut got = start.clone();
    let p: Vec<*mut T> = got.iter_mut().map(|(p, _, _)| ptr(p)).collect();
    let g: Vec<*const T> = got.iter_mut().map(|(_, g, _)| ptr(g).cast_const()).collect();
    let s: [Vec<*mut T>; K] = from_fn(|k| got.iter_mut().map(|(_, _, s)| ptr(&mut s[k])).collect());
    let arrays = |s: &[Vec<*mut T>; K]| -> [*const *mut T; K] { from_fn(|k| s[k].as_ptr()) };
    for t in 1..=3 {
        assert_eq!(many(p.as_ptr(), g.as_ptr(), arrays(&s), lens.as_ptr(), 4, t), fo_status::FO_OK, "{what}");
    }
    let snapshot = |got: &[Tensor<T, K>]| -> Vec<Vec<u64>> {
        got.iter()
            .flat_map(|(p, g, s)| [bits(p), bits(g)].into_iter().chain(s.iter().map(|s| bits(s))))
            .collect()
    };
    assert_eq!(snapshot(&got), snapshot(&want), "{what}: many != each alone");

    let before = snapshot(&got);
    let mut overlap = s.clone();
    overlap[0][3] = p[2]; // tensor 3's first state is tensor 2's param
    let mut null_param = p.clone();
    null_param[2] = null_mut();
    let cases = [
        ("overlap across tensors", many(p.as_ptr(), g.as_ptr(), arrays(&overlap), lens.as_ptr(), 4, 4)),
        ("a null buffer", many(null_param.as_ptr(), g.as_ptr(), arrays(&s), lens.as_ptr(), 4, 4)),
        ("a null params array", many(null(), g.as_ptr(), arrays(&s), lens.as_ptr(), 4, 4)),
        ("a null lens array", many(p.as_ptr(), g.as_ptr(), arrays(&s), null(), 4, 4)),
        ("step 0", many(p.as_ptr(), g.as_ptr(), arrays(&s), lens.as_ptr(), 4, 0)),
    ];
    let want = [
        fo_status::FO_ERROR_OVERLAP,
        fo_status::FO_ERROR_NULL_POINTER,
        fo_status::FO_ERROR_NULL_POINTER,
        fo_status::FO_ERROR_NULL_POINTER,
        fo_status::FO_ERROR_STEP,
    ];
    for ((case, status), want) in cases.into_iter().zip(want) {
        assert_eq!(status, want, "{what}: {case}");
    }
    assert_eq!(snapshot(&got), before, "{what}: a refused multi-tensor step wrote");
    // count 0: no array is read (but a null state array still says "not given").
    let dangling = std::ptr::NonNull::<*mut T>::dangling().as_ptr().cast_const();
    assert_eq!(many(null(), null(), [dangling; K], null(), 0, 1), fo_status::FO_OK, "{what}: count 0");
}

fn adagrad_rmsprop_adadelta_many_equal_single<T: Api>() {
    let c = fo_adagrad_config::from(smoke_adagrad());
    many_equals_single::<T, 1>(
        "adagrad",
        // SAFETY: each pointer is null with n = 0 or valid for n elements.
        |p, g, [s], n, t| unsafe { T::ADAGRAD(p, g, s, n, &c, t) },
        // SAFETY: each array holds `count` pointers valid for their tensor's length.
        |p, g, [s], lens, count, t| unsafe { T::ADAGRAD_MANY(p, g, s, lens, count, &c, t) },
    );
    for (momentum, centered) in [(0.0, false), (0.9, false), (0.0, true), (0.9, true)] {
        let c = fo_rmsprop_config::from(RmsPropConfig { momentum, centered, ..RmsPropConfig::default() });
        let (on_b, on_a) = (momentum > 0.0, centered);
        let what = format!("rmsprop momentum {momentum} centered {centered}");
        many_equals_single::<T, 3>(
            &what,
            |p, g, [v, b, a], n, t| {
                let (b, a) = (if on_b { b } else { null_mut() }, if on_a { a } else { null_mut() });
                // SAFETY: as above; an option that is off gets a null buffer.
                unsafe { T::RMSPROP(p, g, v, b, a, n, &c, t) }
            },
            |p, g, [v, b, a], lens, count, t| {
                let (b, a) = (if on_b { b } else { null() }, if on_a { a } else { null() });
                // SAFETY: as above; an option that is off gets a null array.
                unsafe { T::RMSPROP_MANY(p, g, v, b, a, lens, count, &c, t) }
            },
        );
    }
    let c = fo_adadelta_config_default();
    many_equals_single::<T, 2>(
        "adadelta",
        // SAFETY: as above.
        |p, g, [s, x], n, t| unsafe { T::ADADELTA(p, g, s, x, n, &c, t) },
        // SAFETY: as above.
        |p, g, [s, x], lens, count, t| unsafe { T::ADADELTA_MANY(p, g, s, x, lens, count, &c, t) },
    );
}

#[test]
fn c_adagrad_rmsprop_adadelta_many_match_each_alone_and_refuse() {
    adagrad_rmsprop_adadelta_many_equal_single::<f32>();
    adagrad_rmsprop_adadelta_many_equal_single::<f64>();
}

/// Every refusal of one entry point, through `call(param, grad, states, n,
/// config, step)`: a null param, grad and each state (refused as
/// `null_state[k]`), a null config, overlaps, a misaligned state, an absurd
/// length, step 0 and each of `bad` configs. Each returns its status and
/// every buffer stays bit-identical.
fn refusals<T: Float, C, const K: usize>(
    what: &str, good: C, null_state: [fo_status; K], bad: &[(&str, C, fo_status)],
    call: impl Fn(*mut T, *const T, [*mut T; K], usize, *const C, u64) -> fo_status,
) {
    let mut p = values::<T>(1, N);
    let g = values::<T>(2, N);
    let mut arena = values::<T>(3, (K + 1) * N + 1);
    let before = (bits(&p), bits(&g), bits(&arena));
    let (p, base) = (p.as_mut_ptr(), arena.as_mut_ptr());
    // SAFETY: state k is `arena[k·N..]`, N elements; one more N-element
    // block stays free for the misaligned pointer.
    let states: [*mut T; K] = from_fn(|k| unsafe { base.add(k * N) });
    // SAFETY: inside the arena's free block.
    let misaligned = unsafe { base.add(K * N).cast::<u8>().add(1).cast::<T>() };
    let with = |k: usize, x: *mut T| {
        let mut s = states;
        s[k] = x;
        s
    };
    let g = g.as_ptr();
    let mut cases = vec![
        (
            "null param".to_string(),
            call(null_mut(), g, states, N, &good, 1),
            fo_status::FO_ERROR_NULL_POINTER,
        ),
        ("null grad".into(), call(p, null(), states, N, &good, 1), fo_status::FO_ERROR_NULL_POINTER),
        ("null config".into(), call(p, g, states, N, null(), 1), fo_status::FO_ERROR_NULL_POINTER),
        ("param = state 0".into(), call(states[0], g, states, N, &good, 1), fo_status::FO_ERROR_OVERLAP),
        ("grad = state 0".into(), call(p, states[0], states, N, &good, 1), fo_status::FO_ERROR_OVERLAP),
        ("misaligned".into(), call(p, g, with(0, misaligned), N, &good, 1), fo_status::FO_ERROR_ALIGNMENT),
        ("absurd n".into(), call(p, g, states, usize::MAX / 2, &good, 1), fo_status::FO_ERROR_LENGTH),
        ("step 0".into(), call(p, g, states, N, &good, 0), fo_status::FO_ERROR_STEP),
    ];
    for k in 0..K {
        cases.push((format!("null state {k}"), call(p, g, with(k, null_mut()), N, &good, 1), null_state[k]));
        if k > 0 {
            // SAFETY: one element into state k − 1: inside the arena.
            let shifted = unsafe { states[k - 1].add(1) };
            let status = call(p, g, with(k, shifted), N, &good, 1);
            cases.push((format!("state {k} overlaps state {}", k - 1), status, fo_status::FO_ERROR_OVERLAP));
        }
    }
    for (name, config, want) in bad {
        cases.push((name.to_string(), call(p, g, states, N, config, 1), *want));
    }
    for (case, got, want) in cases {
        assert_eq!(got, want, "{what} {}: {case}", T::NAME);
    }
    // SAFETY: p is still the live N-element parameter buffer.
    let p = unsafe { std::slice::from_raw_parts(p, N) };
    assert_eq!((bits(p), bits(&values::<T>(2, N)), bits(&arena)), before, "{what}: a refused step wrote");
}

fn adagrad_rmsprop_adadelta_and_adam_options_refuse<T: Api>() {
    use fo_status::{
        FO_ERROR_HYPERPARAMETER as HYPER, FO_ERROR_NULL_POINTER as NULL, FO_ERROR_STATE_BUFFER as STATE,
    };
    let d = fo_adagrad_config_default();
    let adagrad_bad = [
        ("negative lr_decay", fo_adagrad_config { lr_decay: -1.0, ..d }, HYPER),
        ("NaN lr", fo_adagrad_config { lr: f64::NAN, ..d }, HYPER),
        ("negative initial value", fo_adagrad_config { initial_accumulator_value: -0.5, ..d }, HYPER),
        ("infinite eps", fo_adagrad_config { eps: f64::INFINITY, ..d }, HYPER),
    ];
    // SAFETY (every `call` below): the pointers are live buffers of N
    // elements, or null, overlapping, misaligned or oversized ones, which the
    // entry point must refuse before touching anything.
    refusals::<T, _, 1>("adagrad", d, [NULL], &adagrad_bad, |p, g, [s], n, c, t| {
        // SAFETY: see above.
        unsafe { T::ADAGRAD(p, g, s, n, c, t) }
    });
    refusals::<T, _, 1>("adagrad many", d, [NULL], &adagrad_bad, |p, g, [s], n, c, t| {
        // SAFETY: see above.
        unsafe { T::ADAGRAD_MANY(&p, &g, &s, &n, 1, c, t) }
    });

    let both = fo_rmsprop_config { momentum: 0.9, centered: 1, ..fo_rmsprop_config_default() };
    let rmsprop_bad = [
        ("momentum off, buffer given", fo_rmsprop_config { momentum: 0.0, ..both }, STATE),
        ("centered off, grad_avg given", fo_rmsprop_config { centered: 0, ..both }, STATE),
        ("alpha = 1", fo_rmsprop_config { alpha: 1.0, ..both }, HYPER),
        ("negative momentum", fo_rmsprop_config { momentum: -0.5, ..both }, HYPER),
        ("NaN weight decay", fo_rmsprop_config { weight_decay: f64::NAN, ..both }, HYPER),
    ];
    let null_state = [NULL, STATE, STATE];
    refusals::<T, _, 3>("rmsprop", both, null_state, &rmsprop_bad, |p, g, [v, b, a], n, c, t| {
        // SAFETY: see above.
        unsafe { T::RMSPROP(p, g, v, b, a, n, c, t) }
    });
    refusals::<T, _, 3>("rmsprop many", both, null_state, &rmsprop_bad, |p, g, [v, b, a], n, c, t| {
        // SAFETY: see above.
        unsafe { T::RMSPROP_MANY(&p, &g, &v, one(&b), one(&a), &n, 1, c, t) }
    });
    // Many-form: a non-null array holding a null buffer, with the option on,
    // is a null buffer; a null array with the option on is a missing state.
    refusals::<T, _, 3>("rmsprop many arrays", both, [NULL; 3], &[], |p, g, [v, b, a], n, c, t| {
        // SAFETY: see above.
        unsafe { T::RMSPROP_MANY(&p, &g, &v, &b, &a, &n, 1, c, t) }
    });

    let d = fo_adadelta_config_default();
    let adadelta_bad = [
        ("rho = 1", fo_adadelta_config { rho: 1.0, ..d }, HYPER),
        ("negative eps", fo_adadelta_config { eps: -1e-6, ..d }, HYPER),
        ("infinite lr", fo_adadelta_config { lr: f64::INFINITY, ..d }, HYPER),
    ];
    refusals::<T, _, 2>("adadelta", d, [NULL; 2], &adadelta_bad, |p, g, [s, x], n, c, t| {
        // SAFETY: see above.
        unsafe { T::ADADELTA(p, g, s, x, n, c, t) }
    });
    refusals::<T, _, 2>("adadelta many", d, [NULL; 2], &adadelta_bad, |p, g, [s, x], n, c, t| {
        // SAFETY: see above.
        unsafe { T::ADADELTA_MANY(&p, &g, &s, &x, &n, 1, c, t) }
    });

    let d = fo_adam_config_default();
    let adam_bad = [
        ("beta1_decay 0", fo_adam_config { beta1_decay: 0.0, ..d }, HYPER),
        ("beta1_decay above 1", fo_adam_config { beta1_decay: 1.5, ..d }, HYPER),
        ("beta1_decay NaN", fo_adam_config { beta1_decay: f64::NAN, ..d }, HYPER),
        ("eps_hat, negative eps", fo_adam_config { eps_hat: 1, eps: -1.0, ..d }, HYPER),
        ("amsgrad without its buffer", fo_adam_config { amsgrad: 1, ..d }, STATE),
    ];
    refusals::<T, _, 2>("adam", d, [NULL; 2], &adam_bad, |p, g, [m, v], n, c, t| {
        // SAFETY: see above.
        unsafe { T::ADAM(p, g, m, v, null_mut(), n, c, t) }
    });
}

#[test]
fn c_adagrad_rmsprop_adadelta_and_adam_options_refuse_and_write_nothing() {
    adagrad_rmsprop_adadelta_and_adam_options_refuse::<f32>();
    adagrad_rmsprop_adadelta_and_adam_options_refuse::<f64>();
}

/// The missing and unexpected state arrays of a multi-tensor RMSprop and
/// AMSGrad step, and a zero-length step of each new entry point.
#[test]
fn c_state_arrays_and_empty_steps() {
    let both = fo_rmsprop_config { momentum: 0.9, centered: 1, ..fo_rmsprop_config_default() };
    let plain = fo_rmsprop_config_default();
    let (mut p, g) = inputs::<f32>();
    let mut s: [Vec<f32>; 3] = from_fn(|_| vec![0.25f32; N]);
    let before = (p.clone(), s.clone());
    let (pp, gp) = (p.as_mut_ptr(), g.as_ptr());
    let [v, b, a] = s.each_mut().map(|s| s.as_mut_ptr());
    // SAFETY: one-element arrays of N-element buffers, or null arrays.
    let cases = unsafe {
        [
            fo_rmsprop_step_many_f32(&pp, &gp, &v, null(), &a, &N, 1, &both, 1),
            fo_rmsprop_step_many_f32(&pp, &gp, &v, &b, null(), &N, 1, &both, 1),
            fo_rmsprop_step_many_f32(&pp, &gp, &v, &b, null(), &N, 1, &plain, 1),
            fo_rmsprop_step_many_f32(&pp, &gp, &v, null(), &a, &N, 1, &plain, 1),
            // Checked before count: no array is read, the options still must match.
            fo_rmsprop_step_many_f32(null(), null(), null(), null(), null(), null(), 0, &both, 1),
            fo_rmsprop_step_f32(pp, gp, v, b, null_mut(), N, &both, 1),
            fo_rmsprop_step_f32(pp, gp, v, null_mut(), a, N, &plain, 1),
        ]
    };
    assert!(cases.iter().all(|&s| s == fo_status::FO_ERROR_STATE_BUFFER), "{cases:?}");
    assert_eq!((p, s), before, "a refused step wrote");

    // A zero-length step reads no pointer.
    let (c1, c2, c3) = (fo_adagrad_config_default(), both, fo_adadelta_config_default());
    let (nm, n) = (null_mut::<f64>(), null::<f64>());
    // SAFETY: n = 0 and count = 0: nothing is read but the configs.
    let empty = unsafe {
        [
            fo_adagrad_step_f64(nm, n, nm, 0, &c1, 1),
            fo_rmsprop_step_f64(nm, n, nm, nm.wrapping_add(1), nm.wrapping_add(2), 0, &c2, 1),
            fo_adadelta_step_f64(nm, n, nm, nm, 0, &c3, 1),
            fo_adagrad_step_many_f64(null(), null(), null(), null(), 0, &c1, 1),
            fo_rmsprop_step_many_f64(null(), null(), null(), [nm].as_ptr(), [nm].as_ptr(), null(), 0, &c2, 1),
            fo_adadelta_step_many_f64(null(), null(), null(), null(), null(), 0, &c3, 1),
        ]
    };
    assert!(empty.iter().all(|&s| s == fo_status::FO_OK), "{empty:?}");
}

// ---------------------------------------------------------------------------
// SGD with momentum.

/// The SGD configs the C tests run: plain, momentum, dampened, Nesterov,
/// with weight decay and maximize.
fn sgd_configs() -> [(&'static str, SgdConfig); 5] {
    let d = SgdConfig { lr: 0.05, ..SgdConfig::default() };
    [
        ("plain", d),
        ("momentum", SgdConfig { momentum: 0.9, ..d }),
        ("dampening", SgdConfig { momentum: 0.9, dampening: 0.25, ..d }),
        ("nesterov", SgdConfig { momentum: 0.5, nesterov: true, ..d }),
        ("wd maximize", SgdConfig { momentum: 0.9, weight_decay: 0.1, maximize: true, ..d }),
    ]
}

fn sgd_gives_the_rust_bits<T: Api>() {
    use fused_optim_core::{Parallelism::Serial, sgd_step};
    for (what, rust) in sgd_configs() {
        let c = fo_sgd_config::from(rust);
        assert_eq!(SgdConfig::from(c), rust, "round trip");
        let on = rust.momentum > 0.0;
        c_equals_rust::<T, 1>(
            &format!("sgd {what}"),
            // A start the first step (t = 1) must ignore.
            [7.0],
            |p, g, [b], t| {
                let b = if on { b.as_mut_ptr() } else { null_mut() };
                // SAFETY: every buffer holds LEN elements; the config is valid.
                unsafe { T::SGD(p.as_mut_ptr(), g.as_ptr(), b, LEN, &c, t) }
            },
            |param, grad, [b], t| {
                let buffers = SgdBuffers { param, grad, momentum_buffer: on.then_some(&mut b[..]) };
                sgd_step(&rust, t, buffers, &Serial)
            },
        );
    }
}

#[test]
fn c_sgd_gives_the_rust_bits() {
    sgd_gives_the_rust_bits::<f32>();
    sgd_gives_the_rust_bits::<f64>();
    assert_eq!(SgdConfig::from(fo_sgd_config_default()), SgdConfig::default());
    let d = fo_sgd_config_default();
    assert_eq!(
        (d.lr, d.momentum, d.dampening, d.weight_decay, d.nesterov, d.maximize),
        (1e-3, 0.0, 0.0, 0.0, 0, 0)
    );
    // Any nonzero byte is on.
    let c = fo_sgd_config { momentum: 0.5, nesterov: 0x80, maximize: 2, ..d };
    assert_eq!(
        SgdConfig::from(c),
        SgdConfig { momentum: 0.5, nesterov: true, maximize: true, ..SgdConfig::default() }
    );
}

/// The configs with momentum (the shared check's overlap case puts a
/// tensor's state buffer on another's parameter, so it needs a state buffer;
/// plain SGD's multi-tensor step is checked against the Rust step above).
fn sgd_many_equal_single<T: Api>() {
    for (what, rust) in sgd_configs().into_iter().filter(|(_, c)| c.momentum > 0.0) {
        let c = fo_sgd_config::from(rust);
        let on = rust.momentum > 0.0;
        many_equals_single::<T, 1>(
            &format!("sgd {what}"),
            |p, g, [b], n, t| {
                let b = if on { b } else { null_mut() };
                // SAFETY: each pointer is null with n = 0 or valid for n
                // elements; momentum off gets a null buffer.
                unsafe { T::SGD(p, g, b, n, &c, t) }
            },
            |p, g, [b], lens, count, t| {
                let b = if on { b } else { null() };
                // SAFETY: each array holds `count` pointers valid for their
                // tensor's length; momentum off gets a null array.
                unsafe { T::SGD_MANY(p, g, b, lens, count, &c, t) }
            },
        );
    }
}

#[test]
fn c_sgd_many_matches_each_alone_and_refuses() {
    sgd_many_equal_single::<f32>();
    sgd_many_equal_single::<f64>();
}

fn sgd_refuses<T: Api>() {
    use fo_status::{
        FO_ERROR_HYPERPARAMETER as HYPER, FO_ERROR_NULL_POINTER as NULL, FO_ERROR_STATE_BUFFER as STATE,
    };
    let momentum = fo_sgd_config { momentum: 0.9, ..fo_sgd_config_default() };
    let bad = [
        ("momentum off, buffer given", fo_sgd_config { momentum: 0.0, ..momentum }, STATE),
        ("negative momentum", fo_sgd_config { momentum: -0.5, ..momentum }, HYPER),
        ("NaN dampening", fo_sgd_config { dampening: f64::NAN, ..momentum }, HYPER),
        ("infinite weight decay", fo_sgd_config { weight_decay: f64::INFINITY, ..momentum }, HYPER),
        ("negative lr", fo_sgd_config { lr: -1.0, ..momentum }, HYPER),
        ("nesterov with dampening", fo_sgd_config { nesterov: 1, dampening: 0.5, ..momentum }, HYPER),
        // The hyperparameters are checked before the buffers.
        ("nesterov without momentum", fo_sgd_config { nesterov: 1, momentum: 0.0, ..momentum }, HYPER),
    ];
    // SAFETY (every `call` below): the pointers are live buffers of N
    // elements, or null, overlapping, misaligned or oversized ones, which the
    // entry point must refuse before touching anything.
    refusals::<T, _, 1>("sgd", momentum, [STATE], &bad, |p, g, [b], n, c, t| {
        // SAFETY: see above.
        unsafe { T::SGD(p, g, b, n, c, t) }
    });
    refusals::<T, _, 1>("sgd many", momentum, [STATE], &bad, |p, g, [b], n, c, t| {
        // SAFETY: see above.
        unsafe { T::SGD_MANY(&p, &g, one(&b), &n, 1, c, t) }
    });
    // Many-form: a non-null array holding a null buffer is a null buffer.
    refusals::<T, _, 1>("sgd many arrays", momentum, [NULL], &[], |p, g, [b], n, c, t| {
        // SAFETY: see above.
        unsafe { T::SGD_MANY(&p, &g, &b, &n, 1, c, t) }
    });
}

#[test]
fn c_sgd_refuses_and_writes_nothing() {
    sgd_refuses::<f32>();
    sgd_refuses::<f64>();
}

/// SGD's momentum array against its option, and zero-length steps.
#[test]
fn c_sgd_state_arrays_and_empty_steps() {
    let momentum = fo_sgd_config { momentum: 0.9, ..fo_sgd_config_default() };
    let plain = fo_sgd_config_default();
    let (mut p, g) = inputs::<f32>();
    let mut b = vec![0.25f32; N];
    let before = (p.clone(), b.clone());
    let (pp, gp, bp) = (p.as_mut_ptr(), g.as_ptr(), b.as_mut_ptr());
    // SAFETY: one-element arrays of N-element buffers, or null arrays.
    let cases = unsafe {
        [
            fo_sgd_step_many_f32(&pp, &gp, null(), &N, 1, &momentum, 1),
            fo_sgd_step_many_f32(&pp, &gp, &bp, &N, 1, &plain, 1),
            // Checked before count: no array is read, the option still must match.
            fo_sgd_step_many_f32(null(), null(), null(), null(), 0, &momentum, 1),
            fo_sgd_step_f32(pp, gp, null_mut(), N, &momentum, 2),
            fo_sgd_step_f32(pp, gp, bp, N, &plain, 1),
        ]
    };
    assert!(cases.iter().all(|&s| s == fo_status::FO_ERROR_STATE_BUFFER), "{cases:?}");
    assert_eq!((p, b), before, "a refused step wrote");
    let (nm, n) = (null_mut::<f64>(), null::<f64>());
    // SAFETY: n = 0 and count = 0: nothing is read but the configs.
    let empty = unsafe {
        [
            fo_sgd_step_f64(nm, n, nm.wrapping_add(1), 0, &momentum, 1),
            fo_sgd_step_f64(nm, n, nm, 0, &plain, 1),
            fo_sgd_step_many_f64(null(), null(), [nm].as_ptr(), null(), 0, &momentum, 1),
            fo_sgd_step_many_f64(null(), null(), null(), null(), 0, &plain, 1),
        ]
    };
    assert!(empty.iter().all(|&s| s == fo_status::FO_OK), "{empty:?}");

    // Plain SGD over two tensors in one call: each tensor's single-call bits.
    let c = fo_sgd_config { lr: 0.5, weight_decay: 0.25, ..plain };
    let (mut p1, mut p2, g1, g2) =
        (values::<f64>(1, 37), values::<f64>(2, 5), values::<f64>(3, 37), values::<f64>(4, 5));
    let (mut q1, mut q2) = (p1.clone(), p2.clone());
    let (params, grads, lens) =
        ([p1.as_mut_ptr(), p2.as_mut_ptr()], [g1.as_ptr(), g2.as_ptr()], [37usize, 5]);
    // SAFETY: each array holds two pointers valid for their lengths; no state array (momentum off).
    let status =
        unsafe { fo_sgd_step_many_f64(params.as_ptr(), grads.as_ptr(), null(), lens.as_ptr(), 2, &c, 3) };
    assert_eq!(status, fo_status::FO_OK);
    // SAFETY: each buffer holds its length's elements.
    unsafe {
        assert_eq!(fo_sgd_step_f64(q1.as_mut_ptr(), g1.as_ptr(), null_mut(), 37, &c, 3), fo_status::FO_OK);
        assert_eq!(fo_sgd_step_f64(q2.as_mut_ptr(), g2.as_ptr(), null_mut(), 5, &c, 3), fo_status::FO_OK);
    }
    assert_eq!((bits(&p1), bits(&p2)), (bits(&q1), bits(&q2)));
}

// ---------------------------------------------------------------------------
// Lion: the C steps against the Rust API, the multi-tensor form against the
// single one, every refusal.

fn lion_gives_the_rust_bits_and_refuses<T: Api>() {
    use fo_status::FO_ERROR_HYPERPARAMETER as HYPER;
    use fo_status::FO_ERROR_NULL_POINTER as NULL;
    use fused_optim_core::{Parallelism::Serial, lion_step};
    for (what, rust) in [
        ("lion default", LionConfig::default()),
        ("lion weight decay", smoke_lion()),
        ("lion maximize", LionConfig { maximize: true, lr: 0.1, ..LionConfig::default() }),
        ("lion betas 0", LionConfig { betas: (0.0, 0.0), weight_decay: 1.0, ..LionConfig::default() }),
    ] {
        let c = fo_lion_config::from(rust);
        c_equals_rust::<T, 1>(
            what,
            [0.0],
            // SAFETY: every buffer holds LEN elements; the config is valid.
            |p, g, [m], t| unsafe { T::LION(p.as_mut_ptr(), g.as_ptr(), m.as_mut_ptr(), LEN, &c, t) },
            |param, grad, [exp_avg], t| lion_step(&rust, t, LionBuffers { param, grad, exp_avg }, &Serial),
        );
    }
    let c = fo_lion_config::from(smoke_lion());
    many_equals_single::<T, 1>(
        "lion",
        // SAFETY: each pointer is null with n = 0 or valid for n elements.
        |p, g, [m], n, t| unsafe { T::LION(p, g, m, n, &c, t) },
        // SAFETY: each array holds `count` pointers valid for their tensor's length.
        |p, g, [m], lens, count, t| unsafe { T::LION_MANY(p, g, m, lens, count, &c, t) },
    );
    let d = fo_lion_config_default();
    let lion_bad = [
        ("beta1 = 1", fo_lion_config { beta1: 1.0, ..d }, HYPER),
        ("NaN beta2", fo_lion_config { beta2: f64::NAN, ..d }, HYPER),
        ("negative lr", fo_lion_config { lr: -1e-4, ..d }, HYPER),
        ("infinite weight decay", fo_lion_config { weight_decay: f64::INFINITY, ..d }, HYPER),
        ("1 - lr*wd overflows", fo_lion_config { lr: 1e10, weight_decay: 1e300, ..d }, HYPER),
    ];
    // SAFETY (both `call`s): the pointers are live buffers of N elements, or
    // null, overlapping, misaligned or oversized ones, which the entry point
    // must refuse before touching anything.
    refusals::<T, _, 1>("lion", d, [NULL], &lion_bad, |p, g, [m], n, c, t| {
        // SAFETY: see above.
        unsafe { T::LION(p, g, m, n, c, t) }
    });
    refusals::<T, _, 1>("lion many", d, [NULL], &lion_bad, |p, g, [m], n, c, t| {
        // SAFETY: see above.
        unsafe { T::LION_MANY(&p, &g, &m, &n, 1, c, t) }
    });
    // A zero-length step reads no pointer.
    // SAFETY: n = 0 and count = 0: nothing is read but the config.
    let empty = unsafe {
        [
            T::LION(null_mut(), null(), null_mut(), 0, &d, 1),
            T::LION_MANY(null(), null(), null(), null(), 0, &d, 1),
        ]
    };
    assert!(empty.iter().all(|&s| s == fo_status::FO_OK), "{empty:?}");
}

#[test]
fn c_lion_gives_the_rust_bits_and_refuses() {
    lion_gives_the_rust_bits_and_refuses::<f32>();
    lion_gives_the_rust_bits_and_refuses::<f64>();
}

/// The smoke test's Lion case through the C steps: the reference's bits.
#[test]
fn c_lion_gives_the_smoke_bits() {
    let Expected { lion_f64, .. } = expected();
    let (mut p, g) = inputs::<f64>();
    let mut m = vec![0.0f64; N];
    let c = fo_lion_config::from(smoke_lion());
    for t in 1..=3 {
        // SAFETY: every buffer holds N elements; config is valid.
        let s = unsafe { fo_lion_step_f64(p.as_mut_ptr(), g.as_ptr(), m.as_mut_ptr(), N, &c, t) };
        assert_eq!(s, fo_status::FO_OK);
    }
    assert_eq!(bits(&p), bits(&lion_f64));
}
