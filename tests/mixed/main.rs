//! Mixed-precision Adam: every tier, the dispatched kernel and the driver on
//! 1, 2, 3 and 7 threads (every step split) give the reference's bits for
//! every supported layout, with loss scaling, zero-grad, a narrow copy and
//! stochastic rounding; the `found_inf` protocol skips a step without writing;
//! stochastic rounding moves a bf16 parameter as the f32 math says on
//! average where round-to-nearest leaves it stuck; bad input is refused.
//! [`narrow`]: the narrow storage conversions on every tier against `half`.

mod golden;
mod lean;
mod narrow;

use fused_optim::kernels::{
    self, Dtype, MAX_MIXED_STATE, MIXED_STATE_SLOTS, MixedLayout, MixedSlice, Storage, bf16, f16, spec,
};
use fused_optim::mixed::{
    MixedAdamBuffers, MixedBuffers, MixedKernel, MixedOptions, StepOutcome, adam_step_mixed,
    adam_step_mixed_many, mixed_coefficients, step_mixed, step_mixed_many,
};
use fused_optim::{AdamConfig, EpsForm, Error, LionConfig, Parallelism, SgdConfig, WeightDecay};
use fused_optim_testkit::{
    Fill, Implementation, TestAlgorithm, kernel_implementations, on_small_stack, rng, values,
};
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

/// Where each state slot's buffer starts in its allocation, after the
/// parameter's offset (the gradient's is 1, the copy's 6).
const SLOT_OFFSETS: [usize; MAX_MIXED_STATE] = [2, 3, 5];

/// The buffers of one mixed-precision step, owned: the algorithm's state
/// buffers in its order, `None` where its options keep none.
#[derive(Clone, Debug)]
struct State {
    param: Buf,
    grad: Buf,
    state: [Option<Buf>; MAX_MIXED_STATE],
    param_copy: Option<Buf>,
    position: u64,
}

impl State {
    /// Random buffers of `layout` for the state buffers `config` keeps, each
    /// as its algorithm's values are (a second moment non-negative).
    fn new<A: TestAlgorithm>(
        layout: &MixedLayout,
        config: &A,
        fill: Fill,
        len: usize,
        offset: usize,
        seed: u64,
    ) -> State {
        let mut r = rng(seed);
        let mut values = |non_negative| values::<f32>(&mut r, fill, len, non_negative);
        let param = Buf::new(layout.param, &values(false), offset);
        let grad = Buf::new(layout.grad, &values(false), (offset + 1) % 8);
        let mut state = [None, None, None];
        for (i, slot) in state.iter_mut().enumerate().take(A::STATE.len()) {
            if config.keeps(i) {
                let at = (offset + SLOT_OFFSETS[i]) % 8;
                *slot = Some(Buf::new(layout.state, &values(A::NON_NEGATIVE[i]), at));
            }
        }
        State {
            param,
            grad,
            state,
            param_copy: layout.copy.map(|c| Buf::new(c, &vec![0.0; len], (offset + 6) % 8)),
            // Near 2³², so long buffers' stochastic-rounding positions wrap.
            position: if seed.is_multiple_of(2) { 0 } else { (1 << 32) - 40 },
        }
    }

    fn buffers(&mut self) -> MixedBuffers<'_> {
        MixedBuffers {
            param: self.param.slice(),
            grad: self.grad.slice(),
            state: self.state.each_mut().map(|b| b.as_mut().map(Buf::slice)),
            param_copy: self.param_copy.as_mut().map(Buf::slice),
            position: self.position,
        }
    }

    /// Adam's buffers by name (the slots `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`).
    fn adam_buffers(&mut self) -> MixedAdamBuffers<'_> {
        let [m, v, x] = self.state.each_mut().map(|b| b.as_mut().map(Buf::slice));
        MixedAdamBuffers {
            param: self.param.slice(),
            grad: self.grad.slice(),
            exp_avg: m.expect("exp_avg"),
            exp_avg_sq: v.expect("exp_avg_sq"),
            max_exp_avg_sq: x,
            param_copy: self.param_copy.as_mut().map(Buf::slice),
            position: self.position,
        }
    }

    /// `(name, bits)` of every buffer: param, grad, the state slots given, the copy.
    fn outputs(&self) -> Vec<(&'static str, Vec<u32>)> {
        let mut out = vec![("param", self.param.bits()), ("grad", self.grad.bits())];
        out.extend(
            self.state.iter().zip(MIXED_STATE_SLOTS).filter_map(|(b, n)| b.as_ref().map(|b| (n, b.bits()))),
        );
        out.extend(self.param_copy.as_ref().map(|b| ("param_copy", b.bits())));
        out
    }

    fn guards_intact(&self) -> bool {
        [&self.param, &self.grad]
            .into_iter()
            .chain(self.state.iter().flatten())
            .chain(&self.param_copy)
            .all(Buf::guards_intact)
    }
}

/// What the tests need of an algorithm with a mixed-precision step.
trait MixedTest: TestAlgorithm {
    /// The option sets every layout runs.
    fn option_sets() -> Vec<(Self, MixedOptions)> {
        let o = MixedOptions::default();
        let extras = [
            o,
            MixedOptions { loss_scale: 1024.0, zero_grad: true, ..o },
            MixedOptions { loss_scale: 0.125, stochastic_rounding: Some(7), ..o },
            MixedOptions { zero_grad: true, stochastic_rounding: Some(9), ..o },
            MixedOptions { loss_scale: 3.0, stochastic_rounding: Some(u64::MAX), ..o },
        ];
        Self::configs().into_iter().zip(extras.into_iter().cycle()).collect()
    }
}

impl MixedTest for AdamConfig {
    /// Each weight decay, AMSGrad, maximize, power-of-two and other loss
    /// scales, zero-grad, stochastic rounding (the sets the pinned digest of
    /// `golden` was taken over).
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
}

impl MixedTest for SgdConfig {}

impl MixedTest for LionConfig {}

fn step<A: MixedTest>(c: &A, o: &MixedOptions, s: &mut State, t: u64, with: &Implementation)
where
    A::Coefficients<f32>: MixedKernel,
{
    let k = mixed_coefficients(c, t, o).unwrap();
    let b = s.buffers();
    match with {
        Implementation::Reference => spec::mixed(b, &k),
        Implementation::Tier(tier) => kernels::mixed_on(*tier, b, &k).unwrap(),
        Implementation::Dispatched => kernels::mixed(b, &k),
        Implementation::Driver(p) => {
            let o = MixedOptions { skip_non_finite: false, ..*o };
            assert_eq!(step_mixed(c, t, b, &o, p), Ok(StepOutcome::Applied));
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

const STEPS: [u64; 4] = [1, 2, 3, 1_000_000];

fn assert_matches_reference<A: MixedTest>(
    c: &A,
    o: &MixedOptions,
    start: &State,
    with: &[Implementation],
    what: &str,
) where
    A::Coefficients<f32>: MixedKernel,
{
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

/// Every supported layout × option set × fill × length of `A`'s mixed step,
/// on every tier, the dispatched kernel and the driver on 1, 2, 3 and 7
/// threads, against the reference.
fn every_layout_and_option_matches_reference<A: MixedTest>()
where
    A::Coefficients<f32>: MixedKernel,
{
    split_everything();
    let with = implementations();
    let mut seed = 0;
    for layout in MixedLayout::SUPPORTED {
        for (c, o) in A::option_sets() {
            for fill in [Fill::Random, Fill::Special, Fill::Bits] {
                for len in (0..=35).chain([63, 64, 65, 100, 333]) {
                    seed += 1;
                    let offset = seed as usize % 4;
                    let start = State::new(&layout, &c, fill, len, offset, seed);
                    let what = format!("{layout} {c:?} {o:?} {fill:?} len={len} offset={offset} seed={seed}");
                    assert_matches_reference(&c, &o, &start, &with, &what);
                }
            }
        }
    }
}

#[test]
fn adam_every_layout_and_option_matches_reference_on_every_tier_and_thread_count() {
    every_layout_and_option_matches_reference::<AdamConfig>();
}

#[test]
fn lion_every_layout_and_option_matches_reference_on_every_tier_and_thread_count() {
    every_layout_and_option_matches_reference::<LionConfig>();
}

#[test]
fn sgd_every_layout_and_option_matches_reference_on_every_tier_and_thread_count() {
    every_layout_and_option_matches_reference::<SgdConfig>();
}

/// Every layout × every option combination of `A` (each a variant of its
/// own) on every tier, on a thread with a small stack. When one
/// `#[target_feature]` wrapper inlined Adam's 72, an unoptimised build gave
/// it an 8.9 MB frame on AVX-512 (4.8 MB on AVX2, 1.8 MB portable): every
/// debug-build step aborted with a stack overflow, and a C caller got SIGSEGV.
fn every_variant_runs_on_a_small_stack<A: MixedTest>()
where
    A::Coefficients<f32>: MixedKernel,
{
    on_small_stack(|| {
        let mut with: Vec<Implementation> = kernels::Tier::available().map(Implementation::Tier).collect();
        with.push(Implementation::Dispatched);
        let mut seed = 0;
        for layout in MixedLayout::SUPPORTED {
            for c in A::configs() {
                seed += 1;
                let o = MixedOptions { stochastic_rounding: Some(seed), ..MixedOptions::default() };
                let start = State::new(&layout, &c, Fill::Random, 37, 1, seed);
                let what = format!("{layout} {c:?} small stack");
                assert_matches_reference(&c, &o, &start, &with, &what);
            }
        }
    });
}

#[test]
fn adam_every_variant_runs_on_a_small_stack() {
    every_variant_runs_on_a_small_stack::<AdamConfig>();
}

#[test]
fn lion_every_variant_runs_on_a_small_stack() {
    every_variant_runs_on_a_small_stack::<LionConfig>();
}

#[test]
fn sgd_every_variant_runs_on_a_small_stack() {
    every_variant_runs_on_a_small_stack::<SgdConfig>();
}

/// With every buffer f32, a scale of 1 and no extras, the bits are `A`'s
/// f32 kernel's, for every option combination.
fn all_f32_layout_is_the_f32_kernel<A: MixedTest>()
where
    A::Coefficients<f32>: MixedKernel,
{
    let layout = MixedLayout::SUPPORTED[0];
    for c in A::configs() {
        let o = MixedOptions::default();
        let mut s = State::new(&layout, &c, Fill::Special, 77, 0, 3);
        let (mut p, g) = (f32s(&s.param), f32s(&s.grad));
        let mut state: Vec<Option<Vec<f32>>> = s.state.iter().map(|b| b.as_ref().map(f32s)).collect();
        for t in STEPS {
            step(&c, &o, &mut s, t, &Implementation::Dispatched);
            let k = c.coefficients::<f32>(t).unwrap();
            let mut slots = state.iter_mut().map(|b| b.as_deref_mut());
            let slots = std::array::from_fn(|_| slots.next().flatten());
            let b = A::buffers(&mut p, &g, slots).expect("every kept buffer");
            (A::kernels::<f32>().reference)(b, &k);
            let f32_bits = |x: &[f32]| Buf::new(Dtype::F32, x, 0).bits();
            assert_eq!(s.param.bits(), f32_bits(&p), "{c:?} t={t}: param");
            for (i, (got, want)) in s.state.iter().zip(&state).enumerate() {
                assert_eq!(
                    got.as_ref().map(Buf::bits),
                    want.as_deref().map(f32_bits),
                    "{c:?} t={t}: slot {i}"
                );
            }
        }
    }
}

#[test]
fn adam_all_f32_layout_is_plain_adam() {
    all_f32_layout_is_the_f32_kernel::<AdamConfig>();
}

#[test]
fn lion_all_f32_layout_is_plain_lion() {
    all_f32_layout_is_the_f32_kernel::<LionConfig>();
}

#[test]
fn sgd_all_f32_layout_is_plain_sgd() {
    all_f32_layout_is_the_f32_kernel::<SgdConfig>();
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

fn scaled_state<A: MixedTest>(c: &A, layout: MixedLayout, len: usize, bad: Option<(usize, f32)>) -> State {
    let mut s = State::new(&layout, c, Fill::Random, len, 1, 4);
    if let Some((at, value)) = bad {
        let mut g = f32s(&s.grad);
        g[at] = value;
        s.grad = Buf::new(layout.grad, &g, 0);
    }
    s
}

/// `found_inf`: one infinite or NaN gradient (after unscaling) anywhere in
/// any tensor skips the whole step of `c`, writing nothing, on every thread
/// count; with the check off the step runs as the reference's does (the
/// non-finite value propagating as the algorithm's NaN rule says), and the
/// parameters of that state are returned.
fn non_finite_gradients_skip<A: MixedTest>(c: &A) -> Vec<(MixedLayout, usize, State)>
where
    A::Coefficients<f32>: MixedKernel,
{
    split_everything();
    let zero_grad = MixedOptions { zero_grad: true, ..MixedOptions::default() };
    let mut unchecked_states = Vec::new();
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
                    [scaled_state(c, layout, 1000, None), scaled_state(c, layout, 1000, Some((at, value)))];
                let before: Vec<_> = tensors.iter().map(State::outputs).collect();
                let mut buffers: Vec<_> = tensors.iter_mut().map(State::buffers).collect();
                let outcome = step_mixed_many(c, 1, &mut buffers, &options, &p).unwrap();
                assert_eq!(outcome, StepOutcome::SkippedNonFinite, "{layout} {value}");
                drop(buffers);
                let after: Vec<_> = tensors.iter().map(State::outputs).collect();
                assert_eq!(after, before, "{layout} {value}: a skipped step wrote");
            }
            let mut s = scaled_state(c, layout, 1000, Some((at, value)));
            let mut want = s.clone();
            let unchecked = MixedOptions { skip_non_finite: false, ..options };
            let outcome = step_mixed(c, 1, s.buffers(), &unchecked, &Parallelism::Global).unwrap();
            assert_eq!(outcome, StepOutcome::Applied);
            step(c, &unchecked, &mut want, 1, &Implementation::Reference);
            assert_eq!(s.outputs(), want.outputs(), "{layout} {value}: unchecked");
            unchecked_states.push((layout, at, s));
        }
    }
    unchecked_states
}

#[test]
fn adam_non_finite_gradients_skip_the_step_and_write_nothing() {
    for (layout, at, s) in non_finite_gradients_skip(&AdamConfig::adamw()) {
        assert!(f32::from_bits(s.param.bits()[at]).is_nan(), "{layout}: propagated");
    }
}

/// Zero-grad writes +0 to every gradient element; the copy is the new
/// parameter rounded to nearest even.
fn zero_grad_and_the_copy<A: MixedTest>(c: &A)
where
    A::Coefficients<f32>: MixedKernel,
{
    for layout in MixedLayout::SUPPORTED.into_iter().filter(|l| l.copy.is_some()) {
        let mut s = State::new(&layout, c, Fill::Random, 200, 2, 5);
        let o = MixedOptions { zero_grad: true, loss_scale: 4.0, ..MixedOptions::default() };
        let outcome = step_mixed(c, 1, s.buffers(), &o, &Parallelism::Global).unwrap();
        assert_eq!(outcome, StepOutcome::Applied);
        assert!(s.grad.bits().iter().all(|&b| b == 0), "{layout}: gradient not zeroed");
        let rounded = Buf::new(layout.copy.unwrap(), &f32s(&s.param), 0);
        assert_eq!(s.param_copy.as_ref().unwrap().bits(), rounded.bits(), "{layout}");
    }
}

#[test]
fn adam_zero_grad_and_the_copy() {
    zero_grad_and_the_copy(&AdamConfig::default());
}

/// Lion: a NaN gradient reaches the parameter (sign(NaN) is NaN); an
/// infinite one moves it by a finite `∓lr`.
#[test]
fn lion_non_finite_gradients_skip_the_step_and_write_nothing() {
    let c = LionConfig { lr: 0.01, weight_decay: 0.1, ..LionConfig::default() };
    for (layout, at, s) in non_finite_gradients_skip(&c) {
        let p = f32::from_bits(s.param.bits()[at]);
        assert!(p.is_nan() || at != 999, "{layout}: a NaN gradient propagated");
    }
}

#[test]
fn lion_zero_grad_and_the_copy() {
    zero_grad_and_the_copy(&LionConfig { lr: 0.01, ..LionConfig::default() });
}

#[test]
fn sgd_non_finite_gradients_skip_the_step_and_write_nothing() {
    let c = SgdConfig { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.01, ..SgdConfig::default() };
    for (layout, at, s) in non_finite_gradients_skip(&c) {
        assert!(!f32::from_bits(s.param.bits()[at]).is_finite(), "{layout}: propagated");
    }
}

#[test]
fn sgd_zero_grad_and_the_copy() {
    zero_grad_and_the_copy(&SgdConfig { lr: 0.1, momentum: 0.9, ..SgdConfig::default() });
    zero_grad_and_the_copy(&SgdConfig { lr: 0.1, ..SgdConfig::default() });
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
        .map(|(i, &n)| State::new(&layout, &AdamConfig::default(), Fill::Random, n, 0, 2 * i as u64))
        .collect();
    let concat = |f: fn(&State) -> &Buf| -> Vec<f32> { parts.iter().flat_map(|s| f32s(f(s))).collect() };
    let total: usize = lens.iter().sum();
    let mut whole = State::new(&layout, &AdamConfig::default(), Fill::Random, total, 0, 0);
    whole.param = Buf::new(Dtype::Bf16, &concat(|s| &s.param), 0);
    whole.grad = Buf::new(Dtype::Bf16, &concat(|s| &s.grad), 0);
    for i in 0..2 {
        let values: Vec<f32> = parts.iter().flat_map(|s| f32s(s.state[i].as_ref().unwrap())).collect();
        whole.state[i] = Some(Buf::new(Dtype::Bf16, &values, 0));
    }
    let mut parts = parts;
    for t in 1..=3 {
        let mut buffers: Vec<_> = parts.iter_mut().map(State::adam_buffers).collect();
        let _ = adam_step_mixed_many(&c, t, &mut buffers, &o, &Parallelism::Global).unwrap();
        drop(buffers);
        let _ = adam_step_mixed(&c, t, whole.adam_buffers(), &o, &Parallelism::Serial).unwrap();
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
        let err = adam_step_mixed(c, 1, s.adam_buffers(), o, &Parallelism::Serial).unwrap_err();
        assert_eq!(s.outputs(), before, "{err}: a refused step wrote");
        err
    };
    let o = MixedOptions::default();
    for scale in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-300, 1e-39, 1e60, 1e38] {
        let mut s = State::new(&layout, &AdamConfig::default(), Fill::Random, 50, 0, 1);
        let err = refused(&c, &MixedOptions { loss_scale: scale, ..o }, &mut s);
        assert!(err.to_string().contains("loss_scale"), "{err}");
    }
    let mut s = State::new(&layout, &AdamConfig::default(), Fill::Random, 50, 0, 1);
    let err = refused(&AdamConfig { amsgrad: true, ..c }, &o, &mut s);
    assert_eq!(err, Error::MissingState { buffer: "max_exp_avg_sq", option: "amsgrad" });
    s.param_copy = Some(Buf::new(Dtype::Bf16, &[0.0; 49], 0));
    assert_eq!(
        refused(&c, &o, &mut s),
        Error::LengthMismatch { buffer: "param_copy", len: 49, expected: 50 }
    );
    // A state buffer of another type, and a combination without a kernel.
    let mut s = State::new(&layout, &AdamConfig::default(), Fill::Random, 50, 0, 1);
    s.state[1] = Some(Buf::new(Dtype::Bf16, &[0.0; 50], 0));
    assert_eq!(refused(&c, &o, &mut s), Error::StateTypeMismatch { buffer: "exp_avg_sq" });
    let f16_state = MixedLayout { param: Dtype::F32, grad: Dtype::F32, state: Dtype::F16, copy: None };
    let mut s = State::new(&f16_state, &AdamConfig::default(), Fill::Random, 50, 0, 1);
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
    let mut s = State::new(&layout, &config, Fill::Random, 300, 0, 2);
    for b in &mut s.state {
        *b = Some(Buf::new(Dtype::Bf16, &[0.0; 300], 0));
    }
    let (mut p, mut g) = (s.param.clone(), s.grad.clone());
    for t in 1..=3 {
        let _ = adam_step_mixed(&config, t, s.adam_buffers(), &options, &Parallelism::Serial).unwrap();
        s.grad = g.clone();
        assert_eq!(opt.step(p.slice(), g.slice(), None), Ok(StepOutcome::Applied));
    }
    assert_eq!((opt.steps(), p.bits()), (3, s.param.bits()));
    let StateBuffer::Bf16(m) = opt.state().0 else { panic!("bf16 state") };
    assert_eq!(
        Buf::new(Dtype::Bf16, &m.iter().map(|x| x.to_f32()).collect::<Vec<_>>(), 0).bits(),
        s.state[0].as_ref().unwrap().bits()
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
