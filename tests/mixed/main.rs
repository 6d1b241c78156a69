//! Mixed-precision Adam: every tier, the dispatched kernel and the driver on
//! 1, 2, 3 and 7 threads (every step split) give the reference's bits for
//! every supported layout, with loss scaling, zero-grad, a narrow copy and
//! stochastic rounding; the `found_inf` protocol skips a step without writing;
//! stochastic rounding moves a bf16 parameter as the f32 math says on
//! average where round-to-nearest leaves it stuck; bad input is refused.
//! [`narrow`]: the narrow storage conversions on every tier against `half`.

mod golden;
mod narrow;

use fused_optim::kernels::{self, Dtype, MixedLayout, MixedSlice, Storage, bf16, f16, spec};
use fused_optim::mixed::{
    MixedAdamBuffers, MixedOptions, StepOutcome, adam_step_mixed, adam_step_mixed_many, mixed_coefficients,
};
use fused_optim::{AdamBuffers, AdamConfig, EpsForm, Error, Parallelism, WeightDecay};
use fused_optim_testkit::{Fill, Implementation, kernel_implementations, on_small_stack, rng, values};
use std::sync::{Arc, Once};

/// A buffer of one storage type at an offset into its allocation, with guard elements around it.
#[derive(Clone, Debug)]
struct Guarded<S> {
    storage: Vec<S>,
    offset: usize,
    len: usize,
}

const GUARD: usize = 17;

impl<S: Storage> Guarded<S> {
    fn new(values: &[f32], offset: usize) -> Self {
        let guard = S::narrow(-7777.25);
        let mut storage = vec![guard; offset];
        storage.extend(values.iter().map(|&x| S::narrow(x)));
        storage.extend(std::iter::repeat_n(guard, GUARD));
        Guarded { storage, offset, len: values.len() }
    }
    fn slice(&mut self) -> &mut [S] {
        &mut self.storage[self.offset..self.offset + self.len]
    }
    /// Each element widened to f32 bits, NaN as one pattern.
    fn bits(&self) -> Vec<u32> {
        let canonical = |x: f32| if x.is_nan() { 0x7FC0_0000 } else { x.to_bits() };
        self.storage[self.offset..self.offset + self.len].iter().map(|x| canonical(x.widen())).collect()
    }
    fn guards_intact(&self) -> bool {
        let guard = S::narrow(-7777.25).widen().to_bits();
        let (before, rest) = self.storage.split_at(self.offset);
        before.iter().chain(&rest[self.len..]).all(|x| x.widen().to_bits() == guard)
    }
}

#[derive(Clone, Debug)]
enum Buf {
    F32(Guarded<f32>),
    Bf16(Guarded<bf16>),
    F16(Guarded<f16>),
}

impl Buf {
    fn new(dtype: Dtype, values: &[f32], offset: usize) -> Buf {
        match dtype {
            Dtype::F32 => Buf::F32(Guarded::new(values, offset)),
            Dtype::Bf16 => Buf::Bf16(Guarded::new(values, offset)),
            Dtype::F16 => Buf::F16(Guarded::new(values, offset)),
        }
    }
    fn slice(&mut self) -> MixedSlice<'_> {
        match self {
            Buf::F32(g) => MixedSlice::F32(g.slice()),
            Buf::Bf16(g) => MixedSlice::Bf16(g.slice()),
            Buf::F16(g) => MixedSlice::F16(g.slice()),
        }
    }
    fn bits(&self) -> Vec<u32> {
        match self {
            Buf::F32(g) => g.bits(),
            Buf::Bf16(g) => g.bits(),
            Buf::F16(g) => g.bits(),
        }
    }
    fn guards_intact(&self) -> bool {
        match self {
            Buf::F32(g) => g.guards_intact(),
            Buf::Bf16(g) => g.guards_intact(),
            Buf::F16(g) => g.guards_intact(),
        }
    }
}

/// The buffers of one mixed-precision step, owned.
#[derive(Clone, Debug)]
struct State {
    param: Buf,
    grad: Buf,
    exp_avg: Buf,
    exp_avg_sq: Buf,
    max_exp_avg_sq: Option<Buf>,
    param_copy: Option<Buf>,
    position: u64,
}

impl State {
    fn new(layout: &MixedLayout, amsgrad: bool, fill: Fill, len: usize, offset: usize, seed: u64) -> State {
        let mut r = rng(seed);
        let mut values = |non_negative| values::<f32>(&mut r, fill, len, non_negative);
        State {
            param: Buf::new(layout.param, &values(false), offset),
            grad: Buf::new(layout.grad, &values(false), (offset + 1) % 8),
            exp_avg: Buf::new(layout.state, &values(false), (offset + 2) % 8),
            exp_avg_sq: Buf::new(layout.state, &values(true), (offset + 3) % 8),
            max_exp_avg_sq: amsgrad.then(|| Buf::new(layout.state, &values(true), (offset + 5) % 8)),
            param_copy: layout.copy.map(|c| Buf::new(c, &vec![0.0; len], (offset + 6) % 8)),
            // Near 2³², so long buffers' stochastic-rounding positions wrap.
            position: if seed.is_multiple_of(2) { 0 } else { (1 << 32) - 40 },
        }
    }

    fn buffers(&mut self) -> MixedAdamBuffers<'_> {
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

    fn outputs(&self) -> Vec<(&'static str, Vec<u32>)> {
        let mut out = vec![
            ("param", self.param.bits()),
            ("grad", self.grad.bits()),
            ("exp_avg", self.exp_avg.bits()),
            ("exp_avg_sq", self.exp_avg_sq.bits()),
        ];
        out.extend(self.max_exp_avg_sq.as_ref().map(|b| ("max_exp_avg_sq", b.bits())));
        out.extend(self.param_copy.as_ref().map(|b| ("param_copy", b.bits())));
        out
    }

    fn guards_intact(&self) -> bool {
        [&self.param, &self.grad, &self.exp_avg, &self.exp_avg_sq]
            .into_iter()
            .chain(&self.max_exp_avg_sq)
            .chain(&self.param_copy)
            .all(Buf::guards_intact)
    }
}

fn step(c: &AdamConfig, o: &MixedOptions, s: &mut State, t: u64, with: &Implementation) {
    let k = mixed_coefficients(c, t, o).unwrap();
    let b = s.buffers();
    match with {
        Implementation::Reference => spec::mixed(b.into(), &k),
        Implementation::Tier(tier) => kernels::mixed_on(*tier, b.into(), &k).unwrap(),
        Implementation::Dispatched => kernels::mixed(b.into(), &k),
        Implementation::Driver(p) => {
            let o = MixedOptions { skip_non_finite: false, ..*o };
            assert_eq!(adam_step_mixed(c, t, b, &o, p), Ok(StepOutcome::Applied));
        }
    }
}

/// Every step of this binary is split, however small (the threshold is process-wide).
fn split_everything() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| fused_optim::set_serial_threshold(0));
}

fn implementations() -> Vec<Implementation> {
    let mut out = kernel_implementations();
    out.push(Implementation::Driver(Parallelism::Serial));
    for threads in [2, 3, 7] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        out.push(Implementation::Driver(Parallelism::Pool(Arc::new(pool))));
    }
    out
}

/// The option sets every layout runs: each weight decay, AMSGrad, maximize,
/// power-of-two and other loss scales, zero-grad, stochastic rounding.
fn option_sets() -> Vec<(AdamConfig, MixedOptions)> {
    let d = AdamConfig { lr: 0.01, ..AdamConfig::default() };
    let o = MixedOptions::default();
    vec![
        (d, o),
        (
            AdamConfig { amsgrad: true, weight_decay: WeightDecay::Decoupled(0.1), ..d },
            MixedOptions { loss_scale: 1024.0, zero_grad: true, ..o },
        ),
        (
            AdamConfig { weight_decay: WeightDecay::L2(0.25), maximize: true, ..d },
            MixedOptions { loss_scale: 0.125, stochastic_rounding: Some(7), ..o },
        ),
        (
            AdamConfig { amsgrad: true, maximize: true, ..d },
            MixedOptions { zero_grad: true, stochastic_rounding: Some(9), ..o },
        ),
        (
            AdamConfig { eps_form: EpsForm::Hat, beta1_decay: 0.9, ..d },
            MixedOptions { loss_scale: 3.0, stochastic_rounding: Some(u64::MAX), ..o },
        ),
    ]
}

const STEPS: [u64; 4] = [1, 2, 3, 1_000_000];

fn assert_matches_reference(
    c: &AdamConfig,
    o: &MixedOptions,
    start: &State,
    with: &[Implementation],
    what: &str,
) {
    let mut want = start.clone();
    let mut got: Vec<State> = with.iter().map(|_| start.clone()).collect();
    for t in STEPS {
        step(c, o, &mut want, t, &Implementation::Reference);
        for (s, w) in got.iter_mut().zip(with) {
            step(c, o, s, t, w);
            assert!(s.guards_intact(), "{what} {w:?} t={t}: wrote outside a buffer");
            for ((name, g), (_, r)) in s.outputs().into_iter().zip(want.outputs()) {
                if let Some(i) = (0..g.len()).find(|&i| g[i] != r[i]) {
                    panic!(
                        "{what} {w:?} t={t} {name}[{i}] of {}: got {:#x} ({}), want {:#x} ({})",
                        g.len(),
                        g[i],
                        f32::from_bits(g[i]),
                        r[i],
                        f32::from_bits(r[i])
                    );
                }
            }
        }
    }
}

#[test]
fn every_layout_and_option_matches_reference_on_every_tier_and_thread_count() {
    split_everything();
    let with = implementations();
    let mut seed = 0;
    for layout in MixedLayout::SUPPORTED {
        for (c, o) in option_sets() {
            for fill in [Fill::Random, Fill::Special, Fill::Bits] {
                for len in (0..=35).chain([63, 64, 65, 100, 333]) {
                    seed += 1;
                    let offset = seed as usize % 4;
                    let start = State::new(&layout, c.amsgrad, fill, len, offset, seed);
                    let what = format!("{layout} {c:?} {o:?} {fill:?} len={len} offset={offset} seed={seed}");
                    assert_matches_reference(&c, &o, &start, &with, &what);
                }
            }
        }
    }
}

/// Every layout × weight decay × AMSGrad (the 72 variants) on every tier,
/// on a thread with a small stack. When one `#[target_feature]` wrapper
/// inlined all 72, an unoptimised build gave it an 8.9 MB frame on AVX-512
/// (4.8 MB on AVX2, 1.8 MB portable): every debug-build step aborted with a
/// stack overflow, and a C caller got SIGSEGV.
#[test]
fn every_variant_runs_on_a_small_stack() {
    on_small_stack(|| {
        let mut with: Vec<Implementation> = kernels::Tier::available().map(Implementation::Tier).collect();
        with.push(Implementation::Dispatched);
        let mut seed = 0;
        for layout in MixedLayout::SUPPORTED {
            for weight_decay in [WeightDecay::None, WeightDecay::L2(0.1), WeightDecay::Decoupled(0.1)] {
                for amsgrad in [false, true] {
                    seed += 1;
                    let c = AdamConfig { lr: 0.01, weight_decay, amsgrad, ..AdamConfig::default() };
                    let o = MixedOptions { stochastic_rounding: Some(seed), ..MixedOptions::default() };
                    let start = State::new(&layout, amsgrad, Fill::Random, 37, 1, seed);
                    let what = format!("{layout} {c:?} small stack");
                    assert_matches_reference(&c, &o, &start, &with, &what);
                }
            }
        }
    });
}

/// With every buffer f32, a scale of 1 and no extras, the bits are plain Adam's.
#[test]
fn all_f32_layout_is_plain_adam() {
    let layout = MixedLayout::SUPPORTED[0];
    for (c, _) in option_sets() {
        let o = MixedOptions::default();
        let mut s = State::new(&layout, c.amsgrad, Fill::Special, 77, 0, 3);
        let (mut p, g, mut m, mut v) = (f32s(&s.param), f32s(&s.grad), f32s(&s.exp_avg), f32s(&s.exp_avg_sq));
        let mut x = s.max_exp_avg_sq.as_ref().map(f32s);
        for t in STEPS {
            step(&c, &o, &mut s, t, &Implementation::Dispatched);
            let k = c.coefficients::<f32>(t).unwrap();
            let b = AdamBuffers {
                param: &mut p,
                grad: &g,
                exp_avg: &mut m,
                exp_avg_sq: &mut v,
                max_exp_avg_sq: x.as_deref_mut(),
            };
            spec::adam(b, &k);
            assert_eq!(s.param.bits(), Buf::new(Dtype::F32, &p, 0).bits(), "{c:?} t={t}");
            assert_eq!(s.exp_avg_sq.bits(), Buf::new(Dtype::F32, &v, 0).bits(), "{c:?} t={t}");
        }
    }
}

fn f32s(b: &Buf) -> Vec<f32> {
    b.bits().into_iter().map(f32::from_bits).collect()
}

/// The paper's case for stochastic rounding: updates far below half a bf16
/// ulp. Round-to-nearest leaves every bf16 parameter at 1.0; stochastic
/// rounding moves them, on average, where the f32 arithmetic goes.
#[test]
fn stochastic_rounding_moves_bf16_parameters_as_f32_does_on_average() {
    let (n, steps) = (4096, 1000);
    // Adam's update with a constant gradient is about lr per step: 1e-4, an
    // eightieth of bf16's ulp at 1.0 (2⁻⁷).
    let config = AdamConfig { lr: 1e-4, ..AdamConfig::default() };
    let run = |layout: MixedLayout, options: MixedOptions| {
        let mut p = vec![1.0f32; n];
        let mut pb = vec![bf16::ONE; n];
        let mut g = vec![bf16::from_f32(0.5); n];
        let (mut m, mut v) = (vec![0.0f32; n], vec![0.0f32; n]);
        for t in 1..=steps {
            let param = match layout.param {
                Dtype::F32 => MixedSlice::F32(&mut p),
                _ => MixedSlice::Bf16(&mut pb),
            };
            let b = MixedAdamBuffers {
                param,
                grad: MixedSlice::Bf16(&mut g),
                exp_avg: MixedSlice::F32(&mut m),
                exp_avg_sq: MixedSlice::F32(&mut v),
                max_exp_avg_sq: None,
                param_copy: None,
                position: 0,
            };
            let outcome = adam_step_mixed(&config, t, b, &options, &Parallelism::Global).unwrap();
            assert_eq!(outcome, StepOutcome::Applied);
        }
        match layout.param {
            Dtype::F32 => p,
            _ => pb.iter().map(|x| x.to_f32()).collect(),
        }
    };
    let f32_master = MixedLayout { param: Dtype::F32, grad: Dtype::Bf16, state: Dtype::F32, copy: None };
    let bf16_param = MixedLayout { param: Dtype::Bf16, ..f32_master };
    let exact = run(f32_master, MixedOptions::default());
    let nearest = run(bf16_param, MixedOptions::default());
    let stochastic =
        run(bf16_param, MixedOptions { stochastic_rounding: Some(42), ..MixedOptions::default() });
    let mean = |x: &[f32]| x.iter().map(|&v| v as f64).sum::<f64>() / x.len() as f64;
    let target = mean(&exact);
    assert!((target - 0.9).abs() < 1e-3, "the f32 master moves by about lr per step: {target}");
    assert!(nearest.iter().all(|&x| x == 1.0), "round-to-nearest is stuck at 1.0");
    let got = mean(&stochastic);
    // Each element's rounding noise has a standard deviation of at most
    // ulp/2·√steps ≈ 0.12; the mean of 4096 is within 0.002 of its
    // expectation one time in three and within 0.01 essentially always.
    assert!((got - target).abs() < 0.01, "stochastic rounding: mean {got}, f32 {target}");
    eprintln!("f32 master {target:.5}, bf16 nearest 1.0, bf16 stochastic {got:.5}");
}

fn scaled_state(layout: MixedLayout, len: usize, bad: Option<(usize, f32)>) -> State {
    let mut s = State::new(&layout, false, Fill::Random, len, 1, 4);
    if let Some((at, value)) = bad {
        let mut g = f32s(&s.grad);
        g[at] = value;
        s.grad = Buf::new(layout.grad, &g, 0);
    }
    s
}

/// `found_inf`: one infinite or NaN gradient (after unscaling) anywhere in
/// any tensor skips the whole step, writing nothing, on every thread count;
/// with the check off it propagates.
#[test]
fn non_finite_gradients_skip_the_step_and_write_nothing() {
    split_everything();
    let c = AdamConfig::adamw();
    let zero_grad = MixedOptions { zero_grad: true, ..MixedOptions::default() };
    for layout in [MixedLayout::SUPPORTED[4], MixedLayout::SUPPORTED[8], MixedLayout::SUPPORTED[10]] {
        for (at, value, options) in [
            (0, f32::INFINITY, zero_grad),
            (999, f32::NAN, zero_grad),
            (500, f32::NEG_INFINITY, MixedOptions { loss_scale: 512.0, ..zero_grad }),
            // 3e4 is finite in every type; a loss scale of 1e-35 makes it overflow when unscaled.
            (7, 3e4, MixedOptions { loss_scale: 1e-35, ..zero_grad }),
        ] {
            for p in [Parallelism::Serial, Parallelism::Global] {
                let mut tensors =
                    [scaled_state(layout, 1000, None), scaled_state(layout, 1000, Some((at, value)))];
                let before: Vec<_> = tensors.iter().map(State::outputs).collect();
                let mut buffers: Vec<_> = tensors.iter_mut().map(State::buffers).collect();
                let outcome = adam_step_mixed_many(&c, 1, &mut buffers, &options, &p).unwrap();
                assert_eq!(outcome, StepOutcome::SkippedNonFinite, "{layout} {value}");
                drop(buffers);
                let after: Vec<_> = tensors.iter().map(State::outputs).collect();
                assert_eq!(after, before, "{layout} {value}: a skipped step wrote");
            }
            let mut s = scaled_state(layout, 1000, Some((at, value)));
            let unchecked = MixedOptions { skip_non_finite: false, ..options };
            let outcome = adam_step_mixed(&c, 1, s.buffers(), &unchecked, &Parallelism::Global).unwrap();
            assert_eq!(outcome, StepOutcome::Applied);
            assert!(f32::from_bits(s.param.bits()[at]).is_nan(), "{layout} {value}: propagated");
        }
    }
}

/// Zero-grad writes +0 to every gradient element; the copy is the new
/// parameter rounded to nearest even.
#[test]
fn zero_grad_and_the_copy() {
    for layout in MixedLayout::SUPPORTED.into_iter().filter(|l| l.copy.is_some()) {
        let mut s = State::new(&layout, false, Fill::Random, 200, 2, 5);
        let o = MixedOptions { zero_grad: true, loss_scale: 4.0, ..MixedOptions::default() };
        let outcome =
            adam_step_mixed(&AdamConfig::default(), 1, s.buffers(), &o, &Parallelism::Global).unwrap();
        assert_eq!(outcome, StepOutcome::Applied);
        assert!(s.grad.bits().iter().all(|&b| b == 0), "{layout}: gradient not zeroed");
        let rounded = Buf::new(layout.copy.unwrap(), &f32s(&s.param), 0);
        assert_eq!(s.param_copy.as_ref().unwrap().bits(), rounded.bits(), "{layout}");
    }
}

/// A list of tensors draws the stochastic-rounding values one concatenated
/// tensor would: the same bits as one step over the concatenation.
#[test]
fn many_tensors_draw_like_their_concatenation() {
    split_everything();
    let layout = MixedLayout::SUPPORTED[10]; // all bf16: every store is stochastic
    let c = AdamConfig::default();
    let o = MixedOptions { stochastic_rounding: Some(5), ..MixedOptions::default() };
    let lens = [0, 3, 1000, 17, 4099];
    let parts: Vec<State> = lens
        .iter()
        .enumerate()
        .map(|(i, &n)| State::new(&layout, false, Fill::Random, n, 0, 2 * i as u64))
        .collect();
    let concat = |f: fn(&State) -> &Buf| -> Vec<f32> { parts.iter().flat_map(|s| f32s(f(s))).collect() };
    let total: usize = lens.iter().sum();
    let mut whole = State::new(&layout, false, Fill::Random, total, 0, 0);
    whole.param = Buf::new(Dtype::Bf16, &concat(|s| &s.param), 0);
    whole.grad = Buf::new(Dtype::Bf16, &concat(|s| &s.grad), 0);
    whole.exp_avg = Buf::new(Dtype::Bf16, &concat(|s| &s.exp_avg), 0);
    whole.exp_avg_sq = Buf::new(Dtype::Bf16, &concat(|s| &s.exp_avg_sq), 0);
    let mut parts = parts;
    for t in 1..=3 {
        let mut buffers: Vec<_> = parts.iter_mut().map(State::buffers).collect();
        let _ = adam_step_mixed_many(&c, t, &mut buffers, &o, &Parallelism::Global).unwrap();
        drop(buffers);
        let _ = adam_step_mixed(&c, t, whole.buffers(), &o, &Parallelism::Serial).unwrap();
    }
    let joined: Vec<u32> = parts.iter().flat_map(|s| s.param.bits()).collect();
    assert_eq!(joined, whole.param.bits());
}

/// Bad input is refused by name, and nothing is written.
#[test]
fn bad_mixed_input_is_refused() {
    let c = AdamConfig::default();
    let layout = MixedLayout::SUPPORTED[4];
    let refused = |c: &AdamConfig, o: &MixedOptions, s: &mut State| {
        let before = s.outputs();
        let err = adam_step_mixed(c, 1, s.buffers(), o, &Parallelism::Serial).unwrap_err();
        assert_eq!(s.outputs(), before, "{err}: a refused step wrote");
        err
    };
    let o = MixedOptions::default();
    for scale in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-300, 1e-39, 1e60, 1e38] {
        let mut s = State::new(&layout, false, Fill::Random, 50, 0, 1);
        let err = refused(&c, &MixedOptions { loss_scale: scale, ..o }, &mut s);
        assert!(err.to_string().contains("loss_scale"), "{err}");
    }
    let mut s = State::new(&layout, false, Fill::Random, 50, 0, 1);
    let err = refused(&AdamConfig { amsgrad: true, ..c }, &o, &mut s);
    assert_eq!(err, Error::MissingState { buffer: "max_exp_avg_sq", option: "amsgrad" });
    s.param_copy = Some(Buf::new(Dtype::Bf16, &[0.0; 49], 0));
    assert_eq!(
        refused(&c, &o, &mut s),
        Error::LengthMismatch { buffer: "param_copy", len: 49, expected: 50 }
    );
    // A state buffer of another type, and a combination without a kernel.
    let mut s = State::new(&layout, false, Fill::Random, 50, 0, 1);
    s.exp_avg_sq = Buf::new(Dtype::Bf16, &[0.0; 50], 0);
    assert_eq!(refused(&c, &o, &mut s), Error::StateTypeMismatch { buffer: "exp_avg_sq" });
    let f16_state = MixedLayout { param: Dtype::F32, grad: Dtype::F32, state: Dtype::F16, copy: None };
    let mut s = State::new(&f16_state, false, Fill::Random, 50, 0, 1);
    let err = refused(&c, &o, &mut s);
    assert_eq!(err, Error::UnsupportedLayout(f16_state));
    assert!(err.to_string().contains("state f16"), "{err}");
    let copy_of_bf16 =
        MixedLayout { param: Dtype::Bf16, grad: Dtype::Bf16, state: Dtype::F32, copy: Some(Dtype::F16) };
    assert!(!copy_of_bf16.is_supported());
}

/// The owning optimizer takes the stateless steps' bits, and a skipped step
/// leaves the count, the parameters and the state as they were.
#[test]
fn owning_mixed_optimizer() {
    use fused_optim::mixed::{MixedAdam, StateBuffer};
    let config = AdamConfig { amsgrad: true, ..AdamConfig::adamw() };
    let options = MixedOptions { stochastic_rounding: Some(3), loss_scale: 64.0, ..MixedOptions::default() };
    let layout = MixedLayout::SUPPORTED[10];
    let mut opt = MixedAdam::new(config, options, Dtype::Bf16, 300).unwrap();
    let mut s = State::new(&layout, true, Fill::Random, 300, 0, 2);
    for b in [&mut s.exp_avg, &mut s.exp_avg_sq, s.max_exp_avg_sq.as_mut().unwrap()] {
        *b = Buf::new(Dtype::Bf16, &[0.0; 300], 0);
    }
    let (mut p, mut g) = (s.param.clone(), s.grad.clone());
    for t in 1..=3 {
        let _ = adam_step_mixed(&config, t, s.buffers(), &options, &Parallelism::Serial).unwrap();
        s.grad = g.clone();
        assert_eq!(opt.step(p.slice(), g.slice(), None), Ok(StepOutcome::Applied));
    }
    assert_eq!((opt.steps(), p.bits()), (3, s.param.bits()));
    let StateBuffer::Bf16(m) = opt.state().0 else { panic!("bf16 state") };
    assert_eq!(
        Buf::new(Dtype::Bf16, &m.iter().map(|x| x.to_f32()).collect::<Vec<_>>(), 0).bits(),
        s.exp_avg.bits()
    );
    let mut bad = f32s(&g);
    bad[17] = f32::NAN;
    let mut g = Buf::new(Dtype::Bf16, &bad, 0);
    let before = (p.bits(), opt.state().0.clone());
    assert_eq!(opt.step(p.slice(), g.slice(), None), Ok(StepOutcome::SkippedNonFinite));
    assert_eq!((opt.steps(), p.bits(), opt.state().0.clone()), (3, before.0, before.1));
    assert!(MixedAdam::new(config, MixedOptions { loss_scale: 0.0, ..options }, Dtype::F32, 1).is_err());
    assert_eq!(
        MixedAdam::new(config, options, Dtype::F16, 1).map(|o| o.len()),
        Err(Error::UnsupportedStateType(Dtype::F16))
    );
}
