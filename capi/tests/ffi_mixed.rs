//! The mixed-precision C ABI from Rust: `fo_adam_step_mixed`,
//! `fo_adam_step_mixed_many`, `fo_lion_step_mixed` and `fo_sgd_step_mixed`
//! against `fused_optim_core::mixed`'s bits for several layouts and options, the multi-tensor form against the one-tensor form,
//! the found_inf skip, and every refusal with its status and untouched
//! buffers. (The smoke test's expected values are in tests/ffi.rs.)

use fused_optim_capi::*;
use fused_optim_core::kernels::Storage;
use fused_optim_core::mixed::{
    Dtype, MixedAdamBuffers, MixedBuffers, MixedKernel, MixedLayout, MixedOptions, MixedSlice, StepOutcome,
    adam_step_mixed, adam_step_mixed_many, bf16, f16, step_mixed,
};
use fused_optim_core::{AdamConfig, Algorithm, EpsForm, LionConfig, Parallelism, SgdConfig, WeightDecay};
use fused_optim_testkit::c_steps::adam_step_mixed_of;
use std::ffi::{CStr, c_void};
use std::ptr::{null, null_mut};
use std::sync::Once;

const N: usize = 41;

/// Every step of this binary is split, however small, so positions cross
/// thread boundaries (the threshold is process-wide).
fn split_everything() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        fused_optim_core::set_serial_threshold(0);
        assert_eq!(fo_set_threads(3), fo_status::FO_OK);
    });
}

/// Deterministic values in about [-2, 2), some exactly zero.
fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) % 4096) as f32 / 1024.0 - 2.0
        })
        .collect()
}

/// An owned buffer of one storage type.
#[derive(Clone, Debug)]
enum Buf {
    F32(Vec<f32>),
    Bf16(Vec<bf16>),
    F16(Vec<f16>),
}

/// Applies `$f` to the vector inside a [`Buf`], whatever its type.
macro_rules! on_buf {
    ($buf:expr, $v:ident => $f:expr) => {
        match $buf {
            Buf::F32($v) => $f,
            Buf::Bf16($v) => $f,
            Buf::F16($v) => $f,
        }
    };
}

fn narrow<S: Storage>(values: &[f32]) -> Vec<S> {
    values.iter().map(|&x| S::narrow(x)).collect()
}

impl Buf {
    fn new(dtype: Dtype, values: &[f32]) -> Buf {
        match dtype {
            Dtype::F32 => Buf::F32(narrow(values)),
            Dtype::Bf16 => Buf::Bf16(narrow(values)),
            Dtype::F16 => Buf::F16(narrow(values)),
        }
    }
    fn dtype(&self) -> Dtype {
        match self {
            Buf::F32(_) => Dtype::F32,
            Buf::Bf16(_) => Dtype::Bf16,
            Buf::F16(_) => Dtype::F16,
        }
    }
    fn len(&self) -> usize {
        on_buf!(self, v => v.len())
    }
    /// The C pointer: null for an empty buffer (a zero-length step reads none).
    fn ptr(&mut self) -> *mut c_void {
        if self.len() == 0 { null_mut() } else { on_buf!(self, v => v.as_mut_ptr().cast()) }
    }
    fn slice(&mut self) -> MixedSlice<'_> {
        match self {
            Buf::F32(v) => MixedSlice::F32(v),
            Buf::Bf16(v) => MixedSlice::Bf16(v),
            Buf::F16(v) => MixedSlice::F16(v),
        }
    }
    /// The raw bits of each element.
    fn bits(&self) -> Vec<u32> {
        match self {
            Buf::F32(v) => v.iter().map(|x| x.to_bits()).collect(),
            Buf::Bf16(v) => v.iter().map(|x| x.to_bits().into()).collect(),
            Buf::F16(v) => v.iter().map(|x| x.to_bits().into()).collect(),
        }
    }
    /// Element `i`, widened to f32.
    fn get(&self, i: usize) -> f32 {
        on_buf!(self, v => v[i].widen())
    }
}

/// The buffers of one tensor, owned.
#[derive(Clone, Debug)]
struct Tensor {
    param: Buf,
    grad: Buf,
    exp_avg: Buf,
    exp_avg_sq: Buf,
    max_exp_avg_sq: Option<Buf>,
    param_copy: Option<Buf>,
    position: u64,
}

impl Tensor {
    fn new(layout: MixedLayout, amsgrad: bool, n: usize, seed: u64) -> Tensor {
        let non_negative = |s| values(s, n).into_iter().map(f32::abs).collect::<Vec<_>>();
        Tensor {
            param: Buf::new(layout.param, &values(seed, n)),
            grad: Buf::new(layout.grad, &values(seed + 1, n)),
            exp_avg: Buf::new(layout.state, &values(seed + 2, n)),
            exp_avg_sq: Buf::new(layout.state, &non_negative(seed + 3)),
            max_exp_avg_sq: amsgrad.then(|| Buf::new(layout.state, &non_negative(seed + 4))),
            param_copy: layout.copy.map(|c| Buf::new(c, &vec![0.0; n])),
            position: seed * 1000,
        }
    }

    /// A fresh gradient, scaled (a zero-grad step consumes the last one).
    fn regrad(&mut self, seed: u64, scale: f32) {
        let g: Vec<f32> = values(seed, self.grad.len()).into_iter().map(|x| x * scale).collect();
        self.grad = Buf::new(self.grad.dtype(), &g);
    }

    fn c(&mut self) -> fo_mixed_tensor {
        let dtype = |b: &Buf| fo_dtype::from(b.dtype());
        fo_mixed_tensor {
            param_dtype: dtype(&self.param),
            grad_dtype: dtype(&self.grad),
            state_dtype: dtype(&self.exp_avg),
            copy_dtype: self.param_copy.as_ref().map_or(fo_dtype(0), dtype),
            param: self.param.ptr(),
            grad: self.grad.ptr(),
            exp_avg: self.exp_avg.ptr(),
            exp_avg_sq: self.exp_avg_sq.ptr(),
            // A given optional buffer is non-null even when empty: null means "not given".
            max_exp_avg_sq: self.max_exp_avg_sq.as_mut().map_or(null_mut(), given),
            param_copy: self.param_copy.as_mut().map_or(null_mut(), given),
            len: self.param.len(),
            position: self.position,
        }
    }

    fn rust(&mut self) -> MixedAdamBuffers<'_> {
        MixedAdamBuffers {
            param: self.param.slice(),
            grad: self.grad.slice(),
            exp_avg: self.exp_avg.slice(),
            exp_avg_sq: self.exp_avg_sq.slice(),
            max_exp_avg_sq: self.max_exp_avg_sq.as_mut().map(Buf::slice),
            param_copy: self.param_copy.as_mut().map(Buf::slice),
            position: self.position,
        }
    }

    fn bits(&self) -> Vec<Vec<u32>> {
        let mut out = vec![self.param.bits(), self.grad.bits(), self.exp_avg.bits(), self.exp_avg_sq.bits()];
        out.extend(self.max_exp_avg_sq.iter().chain(&self.param_copy).map(Buf::bits));
        out
    }
}

/// An optional buffer's C pointer: never null, even when empty.
fn given(b: &mut Buf) -> *mut c_void {
    match b.ptr() {
        p if p.is_null() => std::ptr::NonNull::<u32>::dangling().as_ptr().cast(),
        p => p,
    }
}

/// The one-tensor C step over a tensor's buffers.
fn c_step(
    t: &mut Tensor, c: &fo_adam_config, o: &fo_mixed_options, step: u64, skipped: *mut bool,
) -> fo_status {
    let x = t.c();
    // SAFETY: every pointer is null (not given, or an empty buffer) or valid
    // for `len` elements of its type; config and options are valid.
    unsafe { adam_step_mixed_of(&x, c, o, step, skipped) }
}

/// The multi-tensor C step over `tensors`.
fn c_many(
    tensors: &mut [Tensor], c: &fo_adam_config, o: &fo_mixed_options, step: u64, skipped: *mut bool,
) -> fo_status {
    let list: Vec<fo_mixed_tensor> = tensors.iter_mut().map(Tensor::c).collect();
    // SAFETY: as for `c_step`, for each tensor of the list.
    unsafe { fo_adam_step_mixed_many(list.as_ptr(), list.len(), c, o, step, skipped) }
}

const fn layout(param: Dtype, grad: Dtype, state: Dtype, copy: Option<Dtype>) -> MixedLayout {
    MixedLayout { param, grad, state, copy }
}

/// The brief's layouts and a few more, each with its options.
fn cases() -> Vec<(MixedLayout, AdamConfig, MixedOptions)> {
    use Dtype::{Bf16, F16, F32};
    let d = AdamConfig { lr: 0.01, ..AdamConfig::default() };
    let o = MixedOptions::default();
    vec![
        // f32 master weights, bf16 gradients scaled by 1024, a bf16 copy, zero-grad.
        (
            layout(F32, Bf16, F32, Some(Bf16)),
            AdamConfig { weight_decay: WeightDecay::Decoupled(0.1), ..d },
            MixedOptions { loss_scale: 1024.0, zero_grad: true, ..o },
        ),
        // bf16 parameters and state, stochastic rounding, AMSGrad.
        (
            layout(Bf16, Bf16, Bf16, None),
            AdamConfig { amsgrad: true, ..d },
            MixedOptions { stochastic_rounding: Some(42), ..o },
        ),
        // f16 parameters, f32 state, L2 and maximize.
        (
            layout(F16, F16, F32, None),
            AdamConfig { weight_decay: WeightDecay::L2(0.25), maximize: true, ..d },
            MixedOptions { loss_scale: 8.0, ..o },
        ),
        // f32 master, f16 gradient and copy, the paper's ε̂ form and β1 decay.
        (
            layout(F32, F16, F32, Some(F16)),
            AdamConfig { eps_form: EpsForm::Hat, beta1_decay: 0.9, ..d },
            MixedOptions { loss_scale: 0.5, zero_grad: true, ..o },
        ),
        // bf16 parameters, f32 state, stochastic rounding with a huge seed.
        (
            layout(Bf16, Bf16, F32, None),
            AdamConfig::adamw(),
            MixedOptions { stochastic_rounding: Some(u64::MAX), skip_non_finite: false, ..o },
        ),
    ]
}

#[test]
fn c_mixed_steps_give_the_rust_bits() {
    split_everything();
    for (layout, config, options) in cases() {
        let (c, o) = (fo_adam_config::from(config), fo_mixed_options::from(options));
        let start = Tensor::new(layout, config.amsgrad, N, 7);
        let (mut rust, mut one, mut many) = (start.clone(), start.clone(), start);
        let scale = options.loss_scale as f32;
        for t in 1..=4 {
            for x in [&mut rust, &mut one, &mut many] {
                x.regrad(100 + t, scale);
            }
            let outcome = adam_step_mixed(&config, t, rust.rust(), &options, &Parallelism::Serial).unwrap();
            assert_eq!(outcome, StepOutcome::Applied);
            let mut skipped = true;
            assert_eq!(c_step(&mut one, &c, &o, t, &mut skipped), fo_status::FO_OK, "{layout}");
            assert!(!skipped, "{layout}: an applied step reports skipped = false");
            let status = c_many(std::slice::from_mut(&mut many), &c, &o, t, null_mut());
            assert_eq!(status, fo_status::FO_OK, "{layout}");
            assert_eq!(one.bits(), rust.bits(), "{layout} t={t}: the C step differs from the Rust step");
            assert_eq!(many.bits(), rust.bits(), "{layout} t={t}: a list of one differs");
        }
    }
}

/// A list of tensors of different layouts (one empty, with null pointers):
/// the bits of stepping each alone with its position advanced by the
/// lengths before it.
#[test]
fn c_mixed_many_equals_each_alone() {
    split_everything();
    let lens = [37usize, 0, 100, 5, 64];
    let layouts = [
        MixedLayout::SUPPORTED[4],
        MixedLayout::SUPPORTED[10],
        MixedLayout::SUPPORTED[10],
        MixedLayout::SUPPORTED[11],
        MixedLayout::SUPPORTED[9],
    ];
    let config = AdamConfig { amsgrad: true, ..AdamConfig::default() };
    let options =
        MixedOptions { stochastic_rounding: Some(3), zero_grad: true, loss_scale: 2.0, ..Default::default() };
    let (c, o) = (fo_adam_config::from(config), fo_mixed_options::from(options));
    let start: Vec<Tensor> = lens
        .iter()
        .zip(layouts)
        .enumerate()
        .map(|(i, (&n, l))| Tensor::new(l, true, n, i as u64 + 1))
        .collect();
    let mut alone = start.clone();
    let mut offset = 0;
    for x in &mut alone {
        x.position += offset;
        offset += x.param.len() as u64;
    }
    let mut together = start;
    for t in 1..=3 {
        for (i, x) in alone.iter_mut().chain(together.iter_mut()).enumerate() {
            x.regrad(t * 10 + (i % lens.len()) as u64, 2.0);
        }
        for x in &mut alone {
            assert_eq!(c_step(x, &c, &o, t, null_mut()), fo_status::FO_OK);
        }
        let mut skipped = true;
        assert_eq!(c_many(&mut together, &c, &o, t, &mut skipped), fo_status::FO_OK);
        assert!(!skipped);
    }
    for (i, (a, b)) in alone.iter().zip(&together).enumerate() {
        assert_eq!(b.bits(), a.bits(), "tensor {i}: many != each alone");
    }
}

/// The threaded path: lists whose cuts move down to 64-byte boundaries (a
/// long tensor then a short one, odd lengths, tiny tensors around a big
/// one, every layout so f32, bf16 and f16 tensors share pieces), stepped by
/// the C step split across 3 threads (threshold 0, see `split_everything`),
/// give the bits of the Rust step run serially; so does one long tensor
/// through the one-tensor C step.
#[test]
fn c_mixed_threaded_lists_equal_serial() {
    split_everything();
    let config = AdamConfig { amsgrad: true, ..AdamConfig::adamw() };
    let options =
        MixedOptions { stochastic_rounding: Some(5), zero_grad: true, loss_scale: 2.0, ..Default::default() };
    let (c, o) = (fo_adam_config::from(config), fo_mixed_options::from(options));
    let lists: [Vec<usize>; 5] = [
        vec![118, 2],
        vec![1, 3, 5, 7, 9, 11, 13, 101, 17, 1, 2, 3],
        [vec![1; 20], vec![1500], vec![3; 10]].concat(),
        vec![1000, 999, 0, 998],
        vec![4099],
    ];
    for lens in lists {
        let layouts = MixedLayout::SUPPORTED.iter().cycle();
        let start: Vec<Tensor> = lens
            .iter()
            .zip(layouts)
            .enumerate()
            .map(|(i, (&n, &l))| Tensor::new(l, true, n, i as u64 + 3))
            .collect();
        let (mut rust, mut c_side) = (start.clone(), start);
        for t in 1..=2 {
            for (i, x) in rust.iter_mut().chain(c_side.iter_mut()).enumerate() {
                x.regrad(t * 100 + (i % lens.len()) as u64, 2.0);
            }
            let mut buffers: Vec<MixedAdamBuffers<'_>> = rust.iter_mut().map(Tensor::rust).collect();
            let outcome =
                adam_step_mixed_many(&config, t, &mut buffers, &options, &Parallelism::Serial).unwrap();
            assert_eq!(outcome, StepOutcome::Applied);
            let status = match &mut c_side[..] {
                [one] => c_step(one, &c, &o, t, null_mut()),
                list => c_many(list, &c, &o, t, null_mut()),
            };
            assert_eq!(status, fo_status::FO_OK, "{lens:?} step {t}");
        }
        for (i, (got, want)) in c_side.iter().zip(&rust).enumerate() {
            assert_eq!(got.bits(), want.bits(), "{lens:?}: tensor {i} split across threads != serial");
        }
    }
}

/// found_inf: an infinite or NaN gradient anywhere skips the whole step,
/// `skipped` says so, and nothing is written (not the zeroed gradient, not
/// the copy); with the check off the step runs and the NaN propagates.
#[test]
fn c_mixed_non_finite_gradient_skips_and_writes_nothing() {
    split_everything();
    let config = AdamConfig::adamw();
    let c = fo_adam_config::from(config);
    let zero_grad = fo_mixed_options { zero_grad: 1, loss_scale: 256.0, ..fo_mixed_options_default() };
    for (layout, bad) in [
        (MixedLayout::SUPPORTED[4], f32::INFINITY),
        (MixedLayout::SUPPORTED[8], f32::NAN),
        (MixedLayout::SUPPORTED[10], f32::NEG_INFINITY),
        (MixedLayout::SUPPORTED[11], f32::NAN),
    ] {
        let mut tensors = vec![Tensor::new(layout, false, 300, 1), Tensor::new(layout, false, 200, 2)];
        let mut g: Vec<f32> = values(9, 200);
        g[123] = bad;
        tensors[1].grad = Buf::new(layout.grad, &g);
        let before: Vec<_> = tensors.iter().map(Tensor::bits).collect();
        let mut skipped = false;
        assert_eq!(c_many(&mut tensors, &c, &zero_grad, 1, &mut skipped), fo_status::FO_OK, "{layout}");
        assert!(skipped, "{layout}: skipped not reported");
        assert_eq!(
            tensors.iter().map(Tensor::bits).collect::<Vec<_>>(),
            before,
            "{layout}: a skipped step wrote"
        );
        // The one-tensor form, with and without `skipped`.
        let mut skipped = false;
        assert_eq!(c_step(&mut tensors[1], &c, &zero_grad, 1, &mut skipped), fo_status::FO_OK);
        assert!(skipped, "{layout}: skipped not reported by the one-tensor step");
        assert_eq!(c_step(&mut tensors[1], &c, &zero_grad, 1, null_mut()), fo_status::FO_OK);
        assert_eq!(tensors[1].bits(), before[1], "{layout}: a skipped step wrote");
        // The check off: applied, and the NaN propagates into the parameter.
        let unchecked = fo_mixed_options { skip_non_finite: 0, ..zero_grad };
        let mut skipped = true;
        assert_eq!(c_step(&mut tensors[1], &c, &unchecked, 1, &mut skipped), fo_status::FO_OK);
        assert!(!skipped);
        assert!(tensors[1].param.get(123).is_nan(), "{layout}: NaN did not propagate");
    }
}

/// Every refusal: its status, every buffer bit-identical, `skipped` untouched.
#[test]
fn c_mixed_refusals_write_nothing() {
    use fo_status::*;
    split_everything();
    // Buffers in two arenas, so misaligned and overlapping pointers stay inside them.
    let mut words = values(1, 4 * N + 2); // param, exp_avg, exp_avg_sq, spare (f32)
    let mut halves: Vec<u16> = values(2, 3 * N + 2).iter().map(|&x| bf16::from_f32(x).to_bits()).collect(); // grad, copy, spare
    let before = (bits(&words), halves.clone());
    let w = words.as_mut_ptr();
    let h = halves.as_mut_ptr();
    // SAFETY: offsets inside the arenas.
    let (p, m, v, spare_w) = unsafe { (w, w.add(N), w.add(2 * N), w.add(3 * N)) };
    // SAFETY: as above.
    let (g, copy, spare_h) = unsafe { (h, h.add(N), h.add(2 * N)) };
    let good = fo_mixed_tensor {
        param: p.cast(),
        grad: g.cast(),
        exp_avg: m.cast(),
        exp_avg_sq: v.cast(),
        max_exp_avg_sq: null_mut(),
        param_copy: copy.cast(),
        len: N,
        position: 0,
        param_dtype: FO_DTYPE_F32,
        grad_dtype: FO_DTYPE_BF16,
        state_dtype: FO_DTYPE_F32,
        copy_dtype: FO_DTYPE_BF16,
    };
    let d = fo_adam_config_default();
    let o = fo_mixed_options { zero_grad: 1, ..fo_mixed_options_default() };
    let no_zero = fo_mixed_options { zero_grad: 0, ..o };
    let mut skipped = true;
    let sk: *mut bool = &mut skipped;
    // SAFETY (every call below): pointers into the live arenas, valid for N
    // elements of their type, or null, misaligned, overlapping or oversized
    // ones, which the step must refuse before touching anything.
    let one = |t: fo_mixed_tensor, c: *const fo_adam_config, o: *const fo_mixed_options, step: u64| unsafe {
        fo_adam_step_mixed(
            t.param,
            t.param_dtype,
            t.grad,
            t.grad_dtype,
            t.exp_avg,
            t.exp_avg_sq,
            t.max_exp_avg_sq,
            t.state_dtype,
            t.param_copy,
            t.copy_dtype,
            t.len,
            t.position,
            c,
            o,
            step,
            sk,
        )
    };
    // SAFETY: as above.
    let many = |ts: &[fo_mixed_tensor], o: &fo_mixed_options| unsafe {
        fo_adam_step_mixed_many(ts.as_ptr(), ts.len(), &d, o, 1, sk)
    };
    let with = |f: &dyn Fn(&mut fo_mixed_tensor)| {
        let mut t = good;
        f(&mut t);
        t
    };
    let bad_config = |f: &dyn Fn(&mut fo_adam_config)| {
        let mut c = d;
        f(&mut c);
        c
    };
    let mut cases: Vec<(String, fo_status, fo_status)> = vec![
        ("null param".into(), one(with(&|t| t.param = null_mut()), &d, &o, 1), FO_ERROR_NULL_POINTER),
        ("null grad".into(), one(with(&|t| t.grad = null_mut()), &d, &o, 1), FO_ERROR_NULL_POINTER),
        ("null exp_avg".into(), one(with(&|t| t.exp_avg = null_mut()), &d, &o, 1), FO_ERROR_NULL_POINTER),
        (
            "null exp_avg_sq".into(),
            one(with(&|t| t.exp_avg_sq = null_mut()), &d, &o, 1),
            FO_ERROR_NULL_POINTER,
        ),
        ("null config".into(), one(good, null(), &o, 1), FO_ERROR_NULL_POINTER),
        ("null options".into(), one(good, &d, null(), 1), FO_ERROR_NULL_POINTER),
        (
            "misaligned bf16 grad".into(),
            // SAFETY: one byte into the spare half-words.
            one(with(&|t| t.grad = unsafe { spare_h.cast::<u8>().add(1) }.cast()), &d, &o, 1),
            FO_ERROR_ALIGNMENT,
        ),
        (
            "misaligned bf16 copy".into(),
            // SAFETY: as above.
            one(with(&|t| t.param_copy = unsafe { spare_h.cast::<u8>().add(1) }.cast()), &d, &o, 1),
            FO_ERROR_ALIGNMENT,
        ),
        (
            "f32 param aligned for bf16 only".into(),
            // SAFETY: two bytes into the spare words.
            one(with(&|t| t.param = unsafe { spare_w.cast::<u8>().add(2) }.cast()), &d, &o, 1),
            FO_ERROR_ALIGNMENT,
        ),
        ("absurd n".into(), one(with(&|t| t.len = usize::MAX / 2), &d, &o, 1), FO_ERROR_LENGTH),
        ("param = exp_avg".into(), one(with(&|t| t.param = m.cast()), &d, &o, 1), FO_ERROR_OVERLAP),
        (
            "exp_avg_sq overlaps exp_avg".into(),
            // SAFETY: the last element of exp_avg.
            one(with(&|t| t.exp_avg_sq = unsafe { m.add(N - 1) }.cast()), &d, &o, 1),
            FO_ERROR_OVERLAP,
        ),
        (
            "grad inside param, zero_grad".into(),
            one(with(&|t| t.grad = p.cast()), &d, &o, 1),
            FO_ERROR_OVERLAP,
        ),
        (
            "grad inside param, no zero_grad".into(),
            one(with(&|t| t.grad = p.cast()), &d, &no_zero, 1),
            FO_ERROR_OVERLAP,
        ),
        ("copy = grad".into(), one(with(&|t| t.param_copy = g.cast()), &d, &o, 1), FO_ERROR_OVERLAP),
        (
            "copy inside exp_avg_sq".into(),
            one(with(&|t| t.param_copy = v.cast()), &d, &o, 1),
            FO_ERROR_OVERLAP,
        ),
        (
            "skipped inside param".into(),
            // SAFETY: the parameters as `skipped`: refused before any write.
            unsafe { fo_adam_step_mixed_many(&good, 1, &d, &o, 1, p.cast()) },
            FO_ERROR_OVERLAP,
        ),
        ("step 0".into(), one(good, &d, &o, 0), FO_ERROR_STEP),
        (
            "amsgrad without its buffer".into(),
            one(good, &bad_config(&|c| c.amsgrad = 1), &o, 1),
            FO_ERROR_STATE_BUFFER,
        ),
        (
            "max_exp_avg_sq without amsgrad".into(),
            one(with(&|t| t.max_exp_avg_sq = spare_w.cast()), &d, &o, 1),
            FO_ERROR_STATE_BUFFER,
        ),
        ("NaN lr".into(), one(good, &bad_config(&|c| c.lr = f64::NAN), &o, 1), FO_ERROR_HYPERPARAMETER),
        (
            "unknown weight decay mode".into(),
            one(good, &bad_config(&|c| c.weight_decay_mode = 7), &o, 1),
            FO_ERROR_HYPERPARAMETER,
        ),
        // Unsupported layouts of known types.
        ("f16 state".into(), one(with(&|t| t.state_dtype = FO_DTYPE_F16), &d, &o, 1), FO_ERROR_DTYPE),
        (
            "bf16 state under f32 master".into(),
            one(with(&|t| t.state_dtype = FO_DTYPE_BF16), &d, &o, 1),
            FO_ERROR_DTYPE,
        ),
        (
            "bf16 parameters with a copy".into(),
            one(with(&|t| t.param_dtype = FO_DTYPE_BF16), &d, &o, 1),
            FO_ERROR_DTYPE,
        ),
        (
            "f16 parameters, bf16 gradient".into(),
            one(
                with(&|t| {
                    t.param_dtype = FO_DTYPE_F16;
                    t.param_copy = null_mut();
                }),
                &d,
                &o,
                1,
            ),
            FO_ERROR_DTYPE,
        ),
        // Many-form refusals across tensors.
        (
            "null tensor array".into(),
            {
                // SAFETY: a null array with count 1 is refused.
                unsafe { fo_adam_step_mixed_many(null(), 1, &d, &o, 1, sk) }
            },
            FO_ERROR_NULL_POINTER,
        ),
        (
            "tensor 1's param is tensor 0's exp_avg".into(),
            many(
                &[
                    with(&|t| t.param_copy = null_mut()),
                    with(&|t| {
                        t.param = m.cast();
                        t.len = 1;
                        t.param_copy = null_mut();
                    }),
                ],
                &o,
            ),
            FO_ERROR_OVERLAP,
        ),
        (
            "two tensors share a gradient".into(),
            many(
                &[
                    with(&|t| t.len = 1),
                    fo_mixed_tensor {
                        // SAFETY: inside the arenas, disjoint from tensor 0's first elements.
                        param: unsafe { p.add(1) }.cast(),
                        exp_avg: unsafe { m.add(1) }.cast(),
                        exp_avg_sq: unsafe { v.add(1) }.cast(),
                        param_copy: unsafe { copy.add(1) }.cast(),
                        len: 1,
                        ..good
                    },
                ],
                &no_zero,
            ),
            FO_ERROR_OVERLAP,
        ),
    ];
    for scale in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-300] {
        let bad = fo_mixed_options { loss_scale: scale, ..o };
        cases.push((format!("loss_scale {scale}"), one(good, &d, &bad, 1), FO_ERROR_HYPERPARAMETER));
    }
    for tag in [0, 4, 7, u32::MAX] {
        let tag = fo_dtype(tag);
        let dtype_cases = [
            ("param", with(&|t| t.param_dtype = tag)),
            ("grad", with(&|t| t.grad_dtype = tag)),
            ("state", with(&|t| t.state_dtype = tag)),
            ("copy", with(&|t| t.copy_dtype = tag)),
        ];
        for (which, t) in dtype_cases {
            cases.push((format!("{which} dtype {}", tag.0), one(t, &d, &o, 1), FO_ERROR_DTYPE));
            cases.push((format!("{which} dtype {}, many", tag.0), many(&[good, t], &o), FO_ERROR_DTYPE));
        }
    }
    for (what, got, want) in &cases {
        assert_eq!(got, want, "{what}");
    }
    assert!(skipped, "a refused step wrote `skipped`");
    assert_eq!((bits(&words), halves), before, "a refused step wrote");
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Zero lengths and counts read no buffer; a copy's type is not read when
/// there is no copy; the options' defaults and conversions; the status text.
#[test]
fn c_mixed_empty_steps_defaults_and_messages() {
    let (c, o) = (fo_adam_config_default(), fo_mixed_options_default());
    assert_eq!(MixedOptions::from(o), MixedOptions::default());
    let sr = MixedOptions { stochastic_rounding: Some(9), loss_scale: 4.0, ..MixedOptions::default() };
    assert_eq!(MixedOptions::from(fo_mixed_options::from(sr)), sr);
    assert_eq!(fo_mixed_options::from(sr).seed, 9);

    let mut skipped = true;
    // SAFETY: count 0: the array is not read.
    let s = unsafe { fo_adam_step_mixed_many(null(), 0, &c, &o, 1, &mut skipped) };
    assert_eq!((s, skipped), (fo_status::FO_OK, false));
    // Checked before the count: a bad step is refused even for no tensors.
    // SAFETY: as above.
    let s = unsafe { fo_adam_step_mixed_many(null(), 0, &c, &o, 0, null_mut()) };
    assert_eq!(s, fo_status::FO_ERROR_STEP);
    let (nm, f32_, bf16_) = (null_mut::<c_void>(), FO_DTYPE_F32, FO_DTYPE_BF16);
    // SAFETY: n = 0: no buffer is read.
    let s = unsafe {
        fo_adam_step_mixed(
            nm,
            f32_,
            nm,
            bf16_,
            nm,
            nm,
            nm,
            f32_,
            nm,
            fo_dtype(99),
            0,
            0,
            &c,
            &o,
            1,
            nm.cast(),
        )
    };
    assert_eq!(s, fo_status::FO_OK, "n = 0 with null buffers; no copy, so its type is not read");
    // SAFETY: as above; the types are still checked.
    let s = unsafe {
        fo_adam_step_mixed(nm, fo_dtype(0), nm, bf16_, nm, nm, nm, f32_, nm, f32_, 0, 0, &c, &o, 1, nm.cast())
    };
    assert_eq!(s, fo_status::FO_ERROR_DTYPE, "n = 0 still checks the types");

    // A copy's type is ignored without a copy, with data too.
    let layout = layout(Dtype::F32, Dtype::Bf16, Dtype::F32, None);
    let mut t = Tensor::new(layout, false, N, 3);
    let mut x = t.c();
    x.copy_dtype = fo_dtype(12345);
    // SAFETY: the tensor's live buffers of N elements.
    let s = unsafe { fo_adam_step_mixed_many(&x, 1, &c, &o, 1, null_mut()) };
    assert_eq!(s, fo_status::FO_OK);

    // SAFETY: a static NUL-terminated string.
    let text =
        unsafe { CStr::from_ptr(fo_status_message(fo_status::FO_ERROR_DTYPE as i32)) }.to_str().unwrap();
    assert!(text.contains("element type"), "{text}");
    assert_eq!(fo_dtype::from(Dtype::Bf16), FO_DTYPE_BF16);
    assert_eq!(Dtype::try_from(FO_DTYPE_F16), Ok(Dtype::F16));
    assert_eq!(Dtype::try_from(fo_dtype(0)), Err(fo_status::FO_ERROR_DTYPE));
}

/// The buffers of one Lion or SGD tensor, owned: one state buffer (SGD
/// without momentum: none).
#[derive(Clone, Debug)]
struct OneState {
    param: Buf,
    grad: Buf,
    state: Option<Buf>,
    copy: Option<Buf>,
    position: u64,
}

impl OneState {
    fn new(layout: MixedLayout, state: bool, n: usize, seed: u64) -> OneState {
        OneState {
            param: Buf::new(layout.param, &values(seed, n)),
            grad: Buf::new(layout.grad, &values(seed + 1, n)),
            state: state.then(|| Buf::new(layout.state, &values(seed + 2, n))),
            copy: layout.copy.map(|c| Buf::new(c, &vec![0.0; n])),
            position: seed * 1000,
        }
    }

    fn rust(&mut self) -> MixedBuffers<'_> {
        MixedBuffers {
            param: self.param.slice(),
            grad: self.grad.slice(),
            state: [self.state.as_mut().map(Buf::slice), None, None],
            param_copy: self.copy.as_mut().map(Buf::slice),
            position: self.position,
        }
    }

    fn bits(&self) -> Vec<Vec<u32>> {
        [&self.param, &self.grad].into_iter().chain(&self.state).chain(&self.copy).map(Buf::bits).collect()
    }
}

/// `fo_lion_step_mixed` (Lion) or `fo_sgd_step_mixed` (SGD) on a tensor's
/// buffers, with `state_dtype` as the state's type (f32 when it has none).
trait CMixed: Algorithm + std::fmt::Debug + Copy
where
    Self::Coefficients<f32>: MixedKernel,
{
    /// # Safety
    /// Every buffer of `t` is null or valid for its length; `skipped` null or valid.
    unsafe fn c(&self, t: &mut OneState, o: &fo_mixed_options, step: u64, skipped: *mut bool) -> fo_status;
}

/// A tensor's C arguments: each buffer's pointer and type tag.
fn c_args(t: &mut OneState) -> [(*mut c_void, fo_dtype); 4] {
    let tag = |b: &Buf| fo_dtype::from(b.dtype());
    let state_dtype = t.state.as_ref().map_or(FO_DTYPE_F32, tag);
    let copy_dtype = t.copy.as_ref().map_or(fo_dtype(0), tag);
    [
        (t.param.ptr(), tag(&t.param)),
        (t.grad.ptr(), tag(&t.grad)),
        (t.state.as_mut().map_or(null_mut(), given), state_dtype),
        (t.copy.as_mut().map_or(null_mut(), given), copy_dtype),
    ]
}

impl CMixed for LionConfig {
    unsafe fn c(&self, t: &mut OneState, o: &fo_mixed_options, step: u64, skipped: *mut bool) -> fo_status {
        let [(p, pd), (g, gd), (s, sd), (c, cd)] = c_args(t);
        let config = fo_lion_config::from(*self);
        // SAFETY: the caller's contract.
        unsafe {
            fo_lion_step_mixed(
                p,
                pd,
                g,
                gd,
                s,
                sd,
                c,
                cd,
                t.param.len(),
                t.position,
                &config,
                o,
                step,
                skipped,
            )
        }
    }
}

impl CMixed for SgdConfig {
    unsafe fn c(&self, t: &mut OneState, o: &fo_mixed_options, step: u64, skipped: *mut bool) -> fo_status {
        let [(p, pd), (g, gd), (s, sd), (c, cd)] = c_args(t);
        let config = fo_sgd_config::from(*self);
        // SAFETY: the caller's contract.
        unsafe {
            fo_sgd_step_mixed(
                p,
                pd,
                g,
                gd,
                s,
                sd,
                c,
                cd,
                t.param.len(),
                t.position,
                &config,
                o,
                step,
                skipped,
            )
        }
    }
}

/// Every supported layout, with each option set in turn: the C step gives
/// the Rust step's bits, steps 1 to 4 (SGD's first step included).
fn c_gives_the_rust_bits<A: CMixed>(configs: &[A])
where
    A::Coefficients<f32>: MixedKernel,
{
    split_everything();
    let o = MixedOptions::default();
    let options = [
        MixedOptions { loss_scale: 1024.0, zero_grad: true, ..o },
        MixedOptions { stochastic_rounding: Some(42), ..o },
        MixedOptions { loss_scale: 0.5, skip_non_finite: false, ..o },
    ];
    for (k, layout) in MixedLayout::SUPPORTED.into_iter().enumerate() {
        for config in configs {
            let options = options[k % options.len()];
            let fo = fo_mixed_options::from(options);
            let start = OneState::new(layout, config.keeps(0), N, 11 + k as u64);
            let (mut rust, mut c) = (start.clone(), start);
            for t in 1..=4 {
                for x in [&mut rust, &mut c] {
                    x.grad = Buf::new(
                        layout.grad,
                        &values(100 + t, N).iter().map(|g| g * 4.0).collect::<Vec<_>>(),
                    );
                }
                let outcome = step_mixed(config, t, rust.rust(), &options, &Parallelism::Serial).unwrap();
                assert_eq!(outcome, StepOutcome::Applied);
                let mut skipped = true;
                // SAFETY: every buffer is owned by `c`, of its length.
                let status = unsafe { config.c(&mut c, &fo, t, &mut skipped) };
                assert_eq!((status, skipped), (fo_status::FO_OK, false), "{layout} {config:?}");
                assert_eq!(
                    c.bits(),
                    rust.bits(),
                    "{layout} {config:?} t={t}: the C step differs from the Rust step"
                );
            }
        }
    }
}

#[test]
fn c_lion_mixed_gives_the_rust_bits() {
    let d = LionConfig { lr: 0.01, ..LionConfig::default() };
    c_gives_the_rust_bits(&[d, LionConfig { weight_decay: 0.5, maximize: true, ..d }]);
}

#[test]
fn c_sgd_mixed_gives_the_rust_bits() {
    let d = SgdConfig { lr: 0.01, ..SgdConfig::default() };
    c_gives_the_rust_bits(&[
        d,
        SgdConfig { momentum: 0.9, dampening: 0.1, weight_decay: 0.25, ..d },
        SgdConfig { momentum: 0.9, nesterov: true, maximize: true, ..d },
    ]);
}

/// The found_inf skip (nothing written, `skipped` set), and the refusals
/// of the Lion and SGD entry points, each writing nothing.
#[test]
fn c_lion_and_sgd_mixed_skip_and_refuse() {
    let layout = MixedLayout::SUPPORTED[4];
    let o = fo_mixed_options::from(MixedOptions { zero_grad: true, ..MixedOptions::default() });
    let lion = LionConfig::default();
    let momentum = SgdConfig { momentum: 0.9, ..SgdConfig::default() };
    let expect =
        |config: &dyn Fn(&mut OneState, *mut bool) -> fo_status, t: &mut OneState, want: fo_status| {
            let before = t.bits();
            let mut skipped = false;
            assert_eq!(config(t, &mut skipped), want);
            assert_eq!(t.bits(), before, "{want:?}: wrote");
            skipped
        };
    // SAFETY (each closure): every buffer is owned by the tensor, of its length.
    let lion_c = |t: &mut OneState, s: *mut bool| unsafe { lion.c(t, &o, 1, s) };
    let sgd_c = |t: &mut OneState, s: *mut bool| unsafe { momentum.c(t, &o, 1, s) };
    let plain_c = |t: &mut OneState, s: *mut bool| unsafe { SgdConfig::default().c(t, &o, 1, s) };
    // A NaN gradient: skipped, nothing written.
    for (c, state) in [(&lion_c as &dyn Fn(&mut OneState, *mut bool) -> fo_status, true), (&sgd_c, true)] {
        let mut t = OneState::new(layout, state, N, 3);
        let mut g: Vec<f32> = (0..N).map(|i| t.grad.get(i)).collect();
        g[5] = f32::NAN;
        t.grad = Buf::new(layout.grad, &g);
        assert!(expect(c, &mut t, fo_status::FO_OK), "skipped");
    }
    // SGD with momentum but no buffer, and a buffer without momentum.
    expect(&sgd_c, &mut OneState::new(layout, false, N, 3), fo_status::FO_ERROR_STATE_BUFFER);
    expect(&plain_c, &mut OneState::new(layout, true, N, 3), fo_status::FO_ERROR_STATE_BUFFER);
    // Lion's exp_avg is always given: null is a null pointer.
    expect(&lion_c, &mut OneState::new(layout, false, N, 3), fo_status::FO_ERROR_NULL_POINTER);
    // f16 state has no kernel.
    let f16_state = MixedLayout { state: Dtype::F16, ..layout };
    expect(&lion_c, &mut OneState::new(f16_state, true, N, 3), fo_status::FO_ERROR_DTYPE);
    // A state buffer overlapping the parameter.
    let mut t = OneState::new(layout, true, N, 3);
    t.state = Some(t.param.clone());
    let [(p, pd), (g, gd), (_, sd), (c, cd)] = c_args(&mut t);
    let config = fo_lion_config::from(lion);
    // SAFETY: every pointer is valid for `N` elements; the overlap is the point.
    let status = unsafe { fo_lion_step_mixed(p, pd, g, gd, p, sd, c, cd, N, 0, &config, &o, 1, null_mut()) };
    assert_eq!(status, fo_status::FO_ERROR_OVERLAP);
}
