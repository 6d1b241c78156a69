//! Differential fuzz cases: one `Arbitrary` input per algorithm (and one per
//! algorithm's mixed-precision step), and the check that runs it through every
//! implementation and compares bits.
//!
//! Used by the cargo-fuzz targets (`fuzz/fuzz_targets/diff_*.rs`, nightly)
//! and the corpus replay tests (`tests/fuzz_corpus*.rs`, stable), so `cargo
//! test` re-checks every corpus file with exactly the fuzzer's comparison.
//!
//! A case ([`Case`]) carries raw bit patterns for every buffer (so NaN
//! payloads, ±inf, subnormals and extreme magnitudes all occur), a start
//! misalignment, an optional length mismatch, every hyperparameter (usually
//! from a table of meaningful values, sometimes raw `f64` bits, so bad values
//! occur too), every option (optional state buffers given or not
//! independently of the option that needs them, so both mismatches occur) and
//! the step number. [`check`] first calls the public stateless step: if it
//! refuses the case, it asserts that nothing was written and reports
//! [`Outcome::Rejected`]; otherwise it runs the scalar reference, every tier
//! this CPU has (called directly), the dispatched kernel and the driver on
//! pools of 2 and 3 threads with the serial threshold at 0 (so every step is
//! split), each on its own copy, and panics on the first bit that differs,
//! printing a reproducer. [`refusal`] names the kind of a refusal.
//!
//! [`MixedCase`] does the same for an algorithm's mixed-precision step
//! (`fused_optim::mixed::step_mixed`): a layout (usually a supported
//! one, sometimes any storage type per buffer), raw bits in each buffer's
//! own type, the loss scale, zero-grad, the `found_inf` check, stochastic
//! rounding and its position. A step the check skips must have written
//! nothing and must have a gradient that is not finite once unscaled
//! (computed here in plain Rust); an applied step is compared, every buffer
//! widened to `f32` (gradient and copy included), with the reference.
//! Both kinds of case go through one check, [`differential`], over the
//! [`Differential`] trait.
//!
//! Fields are only ever added at the end of an algorithm's options, and every
//! table's entry 0 is the value that keeps the algorithm as it was (λ = 1, ε
//! in the standard place): zero bytes inserted where a committed corpus file
//! had none decode to the case it was before.

use crate::harness::TestAlgorithm;
use arbitrary::Arbitrary;
use fused_optim::algorithms::StateSlots;
use fused_optim::kernels::GradScale;
use fused_optim::kernels::{self, ALL_TIERS, Dtype, MixedLayout, MixedSlice, Storage, bf16, f16, spec};
use fused_optim::mixed::{
    MixedBuffers, MixedKernel, MixedOptions, StepOutcome, mixed_coefficients, step_mixed,
};
use fused_optim::step::step_many_validated;
use fused_optim::{AdaDeltaConfig, AdaGradConfig, AdaMaxConfig, LionConfig, RmsPropConfig, SgdConfig};
use fused_optim::{
    AdamBuffers, AdamConfig, Algorithm, EpsForm, Error, Float, Parallelism, Tier, Validated, WeightDecay,
};
use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

/// Longest buffer a case builds.
pub const MAX_LEN: usize = 4096;

/// What a case came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every implementation gave the reference's bits.
    Matched,
    /// The API refused the input and wrote nothing.
    Rejected,
    /// The public step skipped the input (mixed precision's `found_inf`:
    /// an unscaled gradient is not finite) and wrote nothing.
    Skipped,
}

/// A hyperparameter: mostly one of a table of meaningful values, sometimes raw bits.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct Hyper {
    pick: u8,
    raw: f64,
}

impl Hyper {
    /// The value: from `table` (by `pick`), or the raw bits.
    pub(crate) fn value(self, table: &[f64]) -> f64 {
        if self.pick < 224 { table[self.pick as usize % table.len()] } else { self.raw }
    }
}

pub(crate) const LR: &[f64] = &[1e-3, 0.1, 0.0, 1.0, 2e-3, 1e-8, 10.0, 1e30, -1e-3, f64::NAN, f64::INFINITY];
pub(crate) const BETA: &[f64] = &[0.9, 0.999, 0.0, 0.5, 0.999999, 1.0 - f64::EPSILON, 1.0, -0.1, f64::NAN];
pub(crate) const EPS: &[f64] = &[1e-8, 0.0, 1e-30, 1e-3, 1.0, 1e300, -1e-8, f64::NAN, 5e-324];
pub(crate) const DECAY: &[f64] = &[0.0, 1e-2, 0.25, 1.0, 100.0, 1e300, -0.1, f64::NAN, f64::INFINITY];
/// λ, the decay of β1 (valid in (0, 1]; 1 is none).
pub(crate) const BETA1_DECAY: &[f64] =
    &[1.0, 1.0 - 1e-8, 0.9, 0.5, 1e-300, 5e-324, 0.0, 1.0 + f64::EPSILON, -0.5, f64::NAN, f64::INFINITY];
/// RMSprop's α, AdaDelta's ρ and Lion's β2 (valid in [0, 1)).
pub(crate) const RATE: &[f64] =
    &[0.99, 0.9, 0.95, 0.0, 0.5, 0.999999, 1.0 - f64::EPSILON, 5e-324, 1.0, -0.1, f64::NAN];
/// RMSprop's and SGD's momentum μ (valid: finite and >= 0; 1e300 overflows f32).
pub(crate) const MOMENTUM: &[f64] =
    &[0.0, 0.9, 0.5, 0.99, 1.0, 10.0, 1e30, 1e300, -0.1, f64::NAN, f64::INFINITY];
/// AdaGrad's learning-rate decay (valid: finite and >= 0).
pub(crate) const LR_DECAY: &[f64] = &[0.0, 1e-4, 1e-2, 1.0, 1e10, 1e300, -1e-3, f64::NAN, f64::INFINITY];
/// SGD's dampening (valid: finite; entry 0, 0, is PyTorch's default and
/// Nesterov's requirement; -1e300 makes `1 − dampening` overflow f32).
pub(crate) const DAMPENING: &[f64] =
    &[0.0, 0.5, 0.1, 1.0, 0.9, -0.5, 2.0, 1e300, -1e300, f64::NAN, f64::INFINITY];
/// AdaGrad's initial accumulator value (valid: finite and >= 0).
pub(crate) const INITIAL_ACCUMULATOR: &[f64] =
    &[0.0, 0.1, 1.0, 1e-10, 1e38, 1e300, -0.1, f64::NAN, f64::INFINITY];

/// The step number: mostly small, sometimes any `u64` (0 included).
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct Step {
    small: u8,
    raw: u64,
    use_raw: bool,
}

impl Step {
    /// The step number.
    pub(crate) fn value(self) -> u64 {
        if self.use_raw { self.raw } else { self.small as u64 }
    }
}

/// Raw buffers of one case: `streams` buffers of bit patterns (one word of
/// `W` an element), at an offset.
#[derive(Arbitrary, Clone, Debug)]
pub struct Data<W = u64> {
    /// Elements to skip at the start of each allocation (0..16).
    offset: u8,
    /// 0: all lengths equal; k > 0: buffer `k % streams` is one longer or shorter.
    skew: u8,
    bits: Vec<W>,
}

/// An element type as the fuzzer builds it from raw bits.
pub trait FuzzFloat: Float + Default {
    fn from_raw(bits: u64) -> Self;
}

impl FuzzFloat for f32 {
    fn from_raw(bits: u64) -> f32 {
        f32::from_bits(bits as u32)
    }
}

impl FuzzFloat for f64 {
    fn from_raw(bits: u64) -> f64 {
        f64::from_bits(bits)
    }
}

/// A buffer starting `offset` elements into its allocation.
#[derive(Clone)]
pub struct Buffer<T> {
    storage: Vec<T>,
    offset: usize,
}

impl<T: Copy + Default> Buffer<T> {
    /// `values` after `offset` zeros.
    fn new(offset: usize, values: impl IntoIterator<Item = T>) -> Self {
        let mut storage = vec![T::default(); offset];
        storage.extend(values);
        Buffer { storage, offset }
    }
    fn get(&self) -> &[T] {
        &self.storage[self.offset..]
    }
    fn get_mut(&mut self) -> &mut [T] {
        &mut self.storage[self.offset..]
    }
}

impl<T: FuzzFloat> Buffer<T> {
    fn bits(&self) -> Vec<u64> {
        self.get().iter().map(|x| x.to_bits_u64()).collect()
    }
}

impl<W: Copy + Into<u64>> Data<W> {
    /// Elements to skip at the start of each allocation.
    fn offset(&self) -> usize {
        self.offset as usize % 16
    }

    /// The raw bits of `streams` buffers; the skewed one differs in length by one.
    fn streams(&self, streams: usize) -> Vec<Vec<u64>> {
        let n = (self.bits.len() / streams).min(MAX_LEN);
        (0..streams)
            .map(|k| {
                let mut len = n;
                if self.skew != 0 && self.skew as usize % streams == k {
                    len = if self.skew & 0x80 != 0 { n + 1 } else { n.saturating_sub(1) };
                }
                (0..len).map(|i| self.bits.get(k * n + i).map_or(0x3ff0, |&w| w.into())).collect()
            })
            .collect()
    }

    /// `streams` buffers of `T` from the raw bits.
    fn buffers<T: FuzzFloat>(&self, streams: usize) -> Vec<Buffer<T>> {
        let offset = self.offset();
        self.streams(streams)
            .into_iter()
            .map(|raw| Buffer::new(offset, raw.into_iter().map(T::from_raw)))
            .collect()
    }
}

fn pools() -> &'static [Parallelism; 2] {
    static POOLS: OnceLock<[Parallelism; 2]> = OnceLock::new();
    POOLS.get_or_init(|| {
        // Split every step, however small, so the fuzzer reaches the driver's
        // cuts. The threshold is process-wide: fuzz targets and the replay
        // test are processes of their own.
        fused_optim::set_serial_threshold(0);
        let pool =
            |n| Parallelism::Pool(Arc::new(rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap()));
        [pool(2), pool(3)]
    })
}

/// The reproducer a failed check prints: the case's description, then the case.
fn reproducer<D: Differential>(case: &D) -> String {
    format!("reproducer ({}):\n{case:#?}", case.label())
}

/// Panics on the first element of `got` that is not `want`'s (NaN compared as NaN).
fn assert_same<D: Differential>(case: &D, got: &[Buffer<D::Value>], want: &[Buffer<D::Value>], who: &str) {
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        for (i, (a, b)) in g.get().iter().zip(w.get()).enumerate() {
            assert!(
                a.same_bits(*b),
                "{who} differs from the reference in buffer {k} element {i}: got {a:?} ({:#x}), want {b:?} ({:#x})\n{}",
                a.to_bits_u64(),
                b.to_bits_u64(),
                reproducer(case)
            );
        }
    }
}

/// Which implementation runs a case's step.
#[derive(Clone, Copy)]
pub enum Run<'p> {
    /// The public step (validation included) with this parallelism.
    Api(&'p Parallelism),
    /// The public step on a pool, as the comparison runs it: for mixed
    /// precision without the `found_inf` check (every case compared was applied).
    Driver(&'p Parallelism),
    /// The scalar reference.
    Reference,
    /// One tier, called directly.
    Tier(Tier),
    /// The dispatched kernel.
    Dispatched,
}

/// What [`differential`] needs of a case.
pub trait Differential: std::fmt::Debug {
    /// The type the outputs are compared in.
    type Value: FuzzFloat;
    /// The case's buffers.
    type State: Clone;
    /// What the reproducer says the case is (its element types).
    fn label(&self) -> String;
    /// The buffers before the step.
    fn start(&self) -> Self::State;
    /// Every stored bit of the buffers, exactly (what a refused or skipped step must leave).
    fn stored(state: &Self::State) -> Vec<Vec<u64>>;
    /// The buffers as compared.
    fn outputs(state: &Self::State) -> Cow<'_, [Buffer<Self::Value>]>;
    /// One step with `run`. Only `Run::Api` may return `Err`; the other runs
    /// are only asked for cases the API accepted.
    fn step(&self, state: &mut Self::State, run: Run<'_>) -> Result<StepOutcome, Error>;
    /// Checks the public step's outcome against what the start buffers say
    /// it must be (computed independently of the implementations).
    fn check_outcome(&self, _start: &Self::State, _outcome: StepOutcome) {}
}

/// Runs a case through every implementation; see the module essay.
pub fn differential<D: Differential>(case: &D) -> Outcome {
    let start = case.start();
    let before = D::stored(&start);
    let unwritten = |after: &D::State, what: &str| {
        assert!(before == D::stored(after), "{what} wrote to a buffer\n{}", reproducer(case));
    };
    let mut api = start.clone();
    let Ok(outcome) = case.step(&mut api, Run::Api(&Parallelism::Serial)) else {
        unwritten(&api, "a refused step");
        return Outcome::Rejected;
    };
    case.check_outcome(&start, outcome);
    let run = |how: Run<'_>| {
        let mut got = start.clone();
        let got_outcome = case.step(&mut got, how).expect("the API accepted this case");
        assert!(
            got_outcome == outcome,
            "{got_outcome:?} where the serial public step gave {outcome:?}\n{}",
            reproducer(case)
        );
        got
    };
    if outcome == StepOutcome::SkippedNonFinite {
        unwritten(&api, "a skipped step");
        for pool in pools() {
            unwritten(&run(Run::Api(pool)), &format!("a skipped step on {} threads", pool.threads()));
        }
        return Outcome::Skipped;
    }
    let want_state = run(Run::Reference);
    let want = D::outputs(&want_state);
    let same = |got: &D::State, who: &str| assert_same(case, &D::outputs(got), &want, who);
    same(&api, "the public step (serial)");
    for tier in ALL_TIERS.into_iter().filter(|t| t.is_available()) {
        same(&run(Run::Tier(tier)), &format!("tier {tier}"));
    }
    same(&run(Run::Dispatched), "dispatched");
    for pool in pools() {
        same(&run(Run::Driver(pool)), &format!("driver, {} threads", pool.threads()));
    }
    Outcome::Matched
}

/// Which kind of error the public step gives a case, if any (`None`:
/// accepted). Each distinct refusal is a kind: every hyperparameter name,
/// every buffer of a length mismatch, every buffer/option pair of a missing or
/// unexpected state buffer, every state buffer of another type, an
/// unsupported layout.
pub fn refused<D: Differential>(case: &D) -> Option<String> {
    let mut state = case.start();
    Some(match case.step(&mut state, Run::Api(&Parallelism::Serial)).err()? {
        Error::ZeroStep => "zero-step".to_string(),
        Error::InvalidHyperparameter { name, .. } => format!("hyperparameter-{name}"),
        Error::LengthMismatch { buffer, .. } => format!("length-{buffer}"),
        Error::MissingState { buffer, option } => format!("missing-{buffer}-for-{option}"),
        Error::UnexpectedState { buffer, option } => format!("unexpected-{buffer}-without-{option}"),
        Error::StateTypeMismatch { buffer } => format!("state-type-{buffer}"),
        Error::UnsupportedLayout(_) => "unsupported-layout".to_string(),
        other => format!("{other:?}"),
    })
}

/// One input of a differential target: an algorithm's hyperparameters and
/// options, the step number and the raw buffers, decoded in that order.
#[derive(Arbitrary, Clone, Debug)]
pub struct Case<A> {
    algorithm: A,
    step: Step,
    data: Data,
}

/// An Adam / AdamW / AMSGrad input.
pub type AdamCase = Case<AdamOptions>;
/// An AdaMax input.
pub type AdaMaxCase = Case<AdaMaxOptions>;
/// An AdaGrad input.
pub type AdaGradCase = Case<AdaGradOptions>;
/// An RMSprop input.
pub type RmsPropCase = Case<RmsPropOptions>;
/// An AdaDelta input.
pub type AdaDeltaCase = Case<AdaDeltaOptions>;
/// An SGD input.
pub type SgdCase = Case<SgdOptions>;
/// A Lion input.
pub type LionCase = Case<LionOptions>;

/// An algorithm's fuzzed options: they decode to its config and say which
/// optional state buffers are given.
pub trait Options: std::fmt::Debug {
    /// The algorithm.
    type Algorithm: TestAlgorithm;
    /// The hyperparameters.
    fn config(&self) -> Self::Algorithm;
    /// Whether the optional state buffer `index` is given exactly when the
    /// options keep it (else the opposite, so both mismatches occur).
    fn consistent(&self, index: usize) -> bool {
        let _ = index;
        true
    }
    /// One step `t` with `run` on `streams` (parameter, gradient, then the
    /// state in [`Algorithm::STATE`] order). Only `Run::Api` may return
    /// `Err`; the other runs are only asked for cases the API accepted.
    fn step<T: FuzzFloat>(
        &self,
        t: u64,
        streams: &mut [Buffer<T>],
        run: Run<'_>,
    ) -> Result<StepOutcome, Error> {
        let config = self.config();
        let [p, g, state @ ..] = streams else { unreachable!("a parameter and a gradient") };
        let mut slots: StateSlots<'_, T> = Default::default();
        for (i, (slot, b)) in slots.iter_mut().zip(state).enumerate() {
            *slot = (config.keeps(i) == self.consistent(i)).then(|| b.get_mut());
        }
        let b = Self::Algorithm::buffers(p.get_mut(), g.get(), slots).expect("every buffer always kept");
        let grad_scale = T::from_f64(grad_scale_of(t));
        if let Run::Api(parallelism) | Run::Driver(parallelism) = run {
            if grad_scale == T::ONE {
                return fused_optim::step(&config, t, b, parallelism).map(|()| StepOutcome::Applied);
            }
            // The clip coefficient's way in: the same checks as `step`.
            let mut validated = Validated::<Self::Algorithm, T>::new(&config, t)?;
            validated.set_grad_scale(grad_scale);
            return step_many_validated(&validated, std::iter::once(b), parallelism)
                .map(|()| StepOutcome::Applied)
                .map_err(|e| match e {
                    Error::Tensor { error, .. } => *error,
                    other => other,
                });
        }
        let (mut k, kernels) = (config.coefficients(t)?, Self::Algorithm::kernels::<T>());
        k.set_grad_scale(grad_scale);
        match run {
            Run::Tier(tier) => (kernels.on_tier)(tier, b, &k).expect("an available tier"),
            Run::Reference => (kernels.reference)(b, &k),
            _ => (kernels.dispatched)(b, &k),
        }
        Ok(StepOutcome::Applied)
    }
}

/// The gradient multiplier (a clip coefficient) a case's step uses, from its
/// step number, so that committed corpus files decode as before: 1 (no
/// clipping) for `t ≡ 0, 1 (mod 8)`, else an inexact fraction, a tiny one, a
/// value above 1, 0, one that overflows `f32` gradients, one subnormal in `f32`.
pub fn grad_scale_of(t: u64) -> f64 {
    [1.0, 1.0, 0.3, 1e-3, 2.5, 0.0, 1e30, 1e-40][(t % 8) as usize]
}

/// Streams of an algorithm's case: parameter, gradient, every state buffer.
fn streams<O: Options>() -> usize {
    2 + O::Algorithm::STATE.len()
}

/// A case of an algorithm on the element type `T`.
struct OnType<'c, O, T>(&'c Case<O>, PhantomData<T>);

impl<O: Options, T> std::fmt::Debug for OnType<'_, O, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<O: Options, T: FuzzFloat> Differential for OnType<'_, O, T> {
    type Value = T;
    type State = Vec<Buffer<T>>;
    fn label(&self) -> String {
        T::NAME.to_string()
    }
    fn start(&self) -> Vec<Buffer<T>> {
        self.0.data.buffers(streams::<O>())
    }
    fn stored(state: &Vec<Buffer<T>>) -> Vec<Vec<u64>> {
        state.iter().map(Buffer::bits).collect()
    }
    fn outputs(state: &Vec<Buffer<T>>) -> Cow<'_, [Buffer<T>]> {
        Cow::Borrowed(state)
    }
    fn step(&self, state: &mut Vec<Buffer<T>>, run: Run<'_>) -> Result<StepOutcome, Error> {
        self.0.algorithm.step(self.0.step.value(), state, run)
    }
}

/// Runs a case through every implementation on `T`; see the module essay.
pub fn check<O: Options, T: FuzzFloat>(case: &Case<O>) -> Outcome {
    differential(&OnType::<O, T>(case, PhantomData))
}

/// [`refused`] for a case on `T`.
pub fn refusal<O: Options, T: FuzzFloat>(case: &Case<O>) -> Option<String> {
    refused(&OnType::<O, T>(case, PhantomData))
}

/// Adam / AdamW / AMSGrad hyperparameters and options (ε in either place, β1 decay λ).
#[derive(Arbitrary, Clone, Debug)]
pub struct AdamOptions {
    lr: Hyper,
    beta1: Hyper,
    beta2: Hyper,
    eps: Hyper,
    weight_decay: Hyper,
    /// 0: none, 1: L2, 2: decoupled.
    decay_kind: u8,
    amsgrad: bool,
    maximize: bool,
    /// Give the AMSGrad buffer exactly when AMSGrad is on (else the opposite).
    consistent_max_buffer: bool,
    /// The paper's ε̂ form instead of PyTorch's.
    eps_hat: bool,
    beta1_decay: Hyper,
}

impl AdamOptions {
    /// Whether the AMSGrad buffer is given.
    fn max_buffer_given(&self) -> bool {
        self.amsgrad == self.consistent_max_buffer
    }
}

impl Options for AdamOptions {
    type Algorithm = AdamConfig;

    fn config(&self) -> AdamConfig {
        let wd = self.weight_decay.value(DECAY);
        AdamConfig {
            lr: self.lr.value(LR),
            betas: (self.beta1.value(BETA), self.beta2.value(BETA)),
            eps: self.eps.value(EPS),
            eps_form: if self.eps_hat { EpsForm::Hat } else { EpsForm::Standard },
            weight_decay: match self.decay_kind % 3 {
                0 => WeightDecay::None,
                1 => WeightDecay::L2(wd),
                _ => WeightDecay::Decoupled(wd),
            },
            amsgrad: self.amsgrad,
            maximize: self.maximize,
            beta1_decay: self.beta1_decay.value(BETA1_DECAY),
        }
    }

    fn consistent(&self, index: usize) -> bool {
        index != 2 || self.consistent_max_buffer
    }
}

/// AdaMax hyperparameters and options (β1 decay λ).
#[derive(Arbitrary, Clone, Debug)]
pub struct AdaMaxOptions {
    lr: Hyper,
    beta1: Hyper,
    beta2: Hyper,
    eps: Hyper,
    weight_decay: Hyper,
    maximize: bool,
    beta1_decay: Hyper,
}

impl Options for AdaMaxOptions {
    type Algorithm = AdaMaxConfig;

    fn config(&self) -> AdaMaxConfig {
        AdaMaxConfig {
            lr: self.lr.value(LR),
            betas: (self.beta1.value(BETA), self.beta2.value(BETA)),
            eps: self.eps.value(EPS),
            weight_decay: self.weight_decay.value(DECAY),
            maximize: self.maximize,
            beta1_decay: self.beta1_decay.value(BETA1_DECAY),
        }
    }
}

/// AdaGrad hyperparameters and options.
#[derive(Arbitrary, Clone, Debug)]
pub struct AdaGradOptions {
    lr: Hyper,
    lr_decay: Hyper,
    weight_decay: Hyper,
    initial_accumulator_value: Hyper,
    eps: Hyper,
    maximize: bool,
}

impl Options for AdaGradOptions {
    type Algorithm = AdaGradConfig;

    fn config(&self) -> AdaGradConfig {
        AdaGradConfig {
            lr: self.lr.value(LR),
            lr_decay: self.lr_decay.value(LR_DECAY),
            weight_decay: self.weight_decay.value(DECAY),
            initial_accumulator_value: self.initial_accumulator_value.value(INITIAL_ACCUMULATOR),
            eps: self.eps.value(EPS),
            maximize: self.maximize,
        }
    }
}

/// RMSprop hyperparameters and options: plain, centered, with momentum.
#[derive(Arbitrary, Clone, Debug)]
pub struct RmsPropOptions {
    lr: Hyper,
    alpha: Hyper,
    eps: Hyper,
    weight_decay: Hyper,
    momentum: Hyper,
    centered: bool,
    maximize: bool,
    /// Give the momentum buffer exactly when momentum is on (else the opposite).
    consistent_momentum_buffer: bool,
    /// Give the gradient average exactly when centered (else the opposite).
    consistent_grad_avg: bool,
}

impl Options for RmsPropOptions {
    type Algorithm = RmsPropConfig;

    fn config(&self) -> RmsPropConfig {
        RmsPropConfig {
            lr: self.lr.value(LR),
            alpha: self.alpha.value(RATE),
            eps: self.eps.value(EPS),
            weight_decay: self.weight_decay.value(DECAY),
            momentum: self.momentum.value(MOMENTUM),
            centered: self.centered,
            maximize: self.maximize,
        }
    }

    fn consistent(&self, index: usize) -> bool {
        match index {
            1 => self.consistent_momentum_buffer,
            2 => self.consistent_grad_avg,
            _ => true,
        }
    }
}

/// AdaDelta hyperparameters and options.
#[derive(Arbitrary, Clone, Debug)]
pub struct AdaDeltaOptions {
    lr: Hyper,
    rho: Hyper,
    eps: Hyper,
    weight_decay: Hyper,
    maximize: bool,
}

impl Options for AdaDeltaOptions {
    type Algorithm = AdaDeltaConfig;

    fn config(&self) -> AdaDeltaConfig {
        AdaDeltaConfig {
            lr: self.lr.value(LR),
            rho: self.rho.value(RATE),
            eps: self.eps.value(EPS),
            weight_decay: self.weight_decay.value(DECAY),
            maximize: self.maximize,
        }
    }
}

/// SGD hyperparameters and options: plain, with momentum (dampened or
/// not), Nesterov. The step number (from [`Step`]: often 1, often more)
/// decides the first step, which ignores the momentum buffer's raw bits.
#[derive(Arbitrary, Clone, Debug)]
pub struct SgdOptions {
    lr: Hyper,
    momentum: Hyper,
    dampening: Hyper,
    weight_decay: Hyper,
    nesterov: bool,
    maximize: bool,
    /// Give the momentum buffer exactly when momentum is on (else the opposite).
    consistent_momentum_buffer: bool,
}

impl Options for SgdOptions {
    type Algorithm = SgdConfig;

    fn config(&self) -> SgdConfig {
        SgdConfig {
            lr: self.lr.value(LR),
            momentum: self.momentum.value(MOMENTUM),
            dampening: self.dampening.value(DAMPENING),
            weight_decay: self.weight_decay.value(DECAY),
            nesterov: self.nesterov,
            maximize: self.maximize,
        }
    }

    fn consistent(&self, index: usize) -> bool {
        index != 0 || self.consistent_momentum_buffer
    }
}

/// Lion hyperparameters and options (weight decay decoupled).
#[derive(Arbitrary, Clone, Debug)]
pub struct LionOptions {
    lr: Hyper,
    beta1: Hyper,
    beta2: Hyper,
    weight_decay: Hyper,
    maximize: bool,
}

impl Options for LionOptions {
    type Algorithm = LionConfig;

    fn config(&self) -> LionConfig {
        LionConfig {
            lr: self.lr.value(LR),
            betas: (self.beta1.value(BETA), self.beta2.value(RATE)),
            weight_decay: self.weight_decay.value(DECAY),
            maximize: self.maximize,
        }
    }
}

/// Loss scales: entry 0 (1) is no scaling; powers of two, others, one
/// that makes every unscaled gradient above 3.4e3 overflow (1e-35), and bad ones.
pub(crate) const LOSS_SCALE: &[f64] =
    &[1.0, 1024.0, 0.125, 3.0, 65536.0, 1e-35, 0.0, -1.0, f64::NAN, f64::INFINITY];

/// The storage types of a mixed-precision case: mostly one of
/// [`MixedLayout::SUPPORTED`], sometimes any type per buffer (so unsupported
/// layouts and state buffers of different types occur).
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct LayoutPick {
    pick: u8,
    /// param, grad, the three state slots (each `% 3`), copy (`% 4`, 3: none).
    raw: [u8; 6],
}

impl LayoutPick {
    /// The types of param, grad, the three state slots (the algorithm's
    /// buffers in its order; the slots past its last are not built), and of
    /// the copy if one is written.
    fn dtypes(self) -> ([Dtype; 5], Option<Dtype>) {
        const DTYPES: [Dtype; 3] = [Dtype::F32, Dtype::Bf16, Dtype::F16];
        if self.pick < 224 {
            let l = MixedLayout::SUPPORTED[self.pick as usize % MixedLayout::SUPPORTED.len()];
            return ([l.param, l.grad, l.state, l.state, l.state], l.copy);
        }
        let [p, g, m, v, x, c] = self.raw.map(|r| r as usize);
        ([p, g, m, v, x].map(|r| DTYPES[r % 3]), DTYPES.get(c % 4).copied())
    }
}

/// The stochastic-rounding position of element 0: small, within 128 of 2³²
/// or of 2⁶⁴ (where positions wrap), or any `u64`.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct Position {
    kind: u8,
    raw: u64,
}

impl Position {
    fn value(self) -> u64 {
        match self.kind % 4 {
            0 => self.raw % 256,
            1 => (1 << 32) - 128 + self.raw % 256,
            2 => u64::MAX - self.raw % 256,
            _ => self.raw,
        }
    }
}

/// A storage type as the mixed-precision case builds it from raw bits.
trait Word: Storage + Default {
    /// The low bits of `bits`.
    fn from_word(bits: u64) -> Self;
    /// The stored bits.
    fn word(self) -> u64;
    /// The elements as a kernel buffer.
    fn slice(s: &mut [Self]) -> MixedSlice<'_>;
}

/// `word!(type, MixedSlice variant, bits type)`: the type's [`Word`].
macro_rules! word {
    ($t:ty, $variant:ident, $bits:ty) => {
        impl Word for $t {
            fn from_word(bits: u64) -> $t {
                <$t>::from_bits(bits as $bits)
            }
            fn word(self) -> u64 {
                self.to_bits() as u64
            }
            fn slice(s: &mut [$t]) -> MixedSlice<'_> {
                MixedSlice::$variant(s)
            }
        }
    };
}

word!(f32, F32, u32);
word!(bf16, Bf16, u16);
word!(f16, F16, u16);

/// One buffer of a mixed-precision case, in its storage type.
#[derive(Clone)]
pub enum Stored {
    F32(Buffer<f32>),
    Bf16(Buffer<bf16>),
    F16(Buffer<f16>),
}

/// Applies `$f` to the buffer inside a [`Stored`], whatever its type.
macro_rules! on_stored {
    ($stored:expr, $b:ident => $f:expr) => {
        match $stored {
            Stored::F32($b) => $f,
            Stored::Bf16($b) => $f,
            Stored::F16($b) => $f,
        }
    };
}

impl Stored {
    fn new(dtype: Dtype, offset: usize, raw: Vec<u64>) -> Stored {
        fn build<S: Word>(offset: usize, raw: Vec<u64>) -> Buffer<S> {
            Buffer::new(offset, raw.into_iter().map(S::from_word))
        }
        match dtype {
            Dtype::F32 => Stored::F32(build(offset, raw)),
            Dtype::Bf16 => Stored::Bf16(build(offset, raw)),
            Dtype::F16 => Stored::F16(build(offset, raw)),
        }
    }

    fn slice(&mut self) -> MixedSlice<'_> {
        on_stored!(self, b => Word::slice(b.get_mut()))
    }

    /// Every element's stored bits.
    fn words(&self) -> Vec<u64> {
        on_stored!(self, b => b.get().iter().map(|x| x.word()).collect())
    }

    /// Every element widened to `f32` (exact).
    fn widened(&self) -> Buffer<f32> {
        on_stored!(self, b => Buffer::new(0, b.get().iter().map(|x| x.widen())))
    }
}

/// `bits` of `dtype` as an `f32`, in plain Rust (no `half`, no kernel code).
fn widen_plain(dtype: Dtype, bits: u64) -> f32 {
    let pow2 = |e: i32| f32::from_bits(((127 + e) as u32) << 23);
    match dtype {
        Dtype::F32 => f32::from_bits(bits as u32),
        Dtype::Bf16 => f32::from_bits((bits as u32 & 0xFFFF) << 16),
        Dtype::F16 => {
            let (sign, exponent, fraction) = (bits & 0x8000 != 0, (bits >> 10) & 0x1F, (bits & 0x3FF) as f32);
            let magnitude = match exponent {
                0 => fraction * pow2(-24),
                31 if fraction == 0.0 => f32::INFINITY,
                31 => f32::NAN,
                e => (1024.0 + fraction) * pow2(e as i32 - 25),
            };
            if sign { -magnitude } else { magnitude }
        }
    }
}

/// A mixed-precision case's buffers: param, grad, the algorithm's state
/// buffers (in [`Algorithm::STATE`] order), param_copy (the optional ones
/// built whether given or not).
#[derive(Clone)]
pub struct MixedState(Vec<Stored>);

/// One input of a mixed-precision target (`diff_adam_mixed`, …) for the
/// algorithm whose fuzzed options are `O`, decoded in field order. New
/// fields go after `position`, with an entry 0 that keeps the case as it was
/// (see the module essay).
#[derive(Arbitrary, Clone, Debug)]
pub struct MixedCase<O> {
    algorithm: O,
    layout: LayoutPick,
    loss_scale: Hyper,
    zero_grad: bool,
    skip_non_finite: bool,
    stochastic_rounding: Option<u64>,
    position: Position,
    step: Step,
    data: Data<u32>,
}

/// A mixed-precision Adam / AdamW / AMSGrad input (`diff_adam_mixed`).
pub type AdamMixedCase = MixedCase<AdamOptions>;
/// A mixed-precision Lion input (`diff_lion_mixed`).
pub type LionMixedCase = MixedCase<LionOptions>;
/// A mixed-precision SGD input (`diff_sgd_mixed`).
pub type SgdMixedCase = MixedCase<SgdOptions>;

impl<O: Options> MixedCase<O> {
    fn options(&self) -> MixedOptions {
        MixedOptions {
            loss_scale: self.loss_scale.value(LOSS_SCALE),
            skip_non_finite: self.skip_non_finite,
            zero_grad: self.zero_grad,
            stochastic_rounding: self.stochastic_rounding,
        }
    }

    /// True if some gradient element times the rounded `1/loss_scale` is
    /// infinite or NaN, computed in plain Rust.
    fn unscaled_non_finite(&self, start: &MixedState) -> bool {
        let scale = (1.0 / self.options().loss_scale) as f32;
        let dtype = self.layout.dtypes().0[1];
        start.0[1].words().into_iter().any(|w| !(widen_plain(dtype, w) * scale).is_finite())
    }
}

impl<O: Options> Differential for MixedCase<O>
where
    <O::Algorithm as Algorithm>::Coefficients<f32>: MixedKernel,
{
    type Value = f32;
    type State = MixedState;

    fn label(&self) -> String {
        let (dtypes, copy) = self.layout.dtypes();
        let state = O::Algorithm::STATE.len();
        let names: Vec<_> = O::Algorithm::STATE.iter().map(|b| b.name).collect();
        format!(
            "mixed-precision {}, param/grad/{} {:?}, copy {copy:?}, {:?}, {:?}, t = {}, position {}, \
             every buffer compared widened to f32",
            O::Algorithm::NAME,
            names.join("/"),
            &dtypes[..2 + state],
            self.algorithm.config(),
            self.options(),
            self.step.value(),
            self.position.value()
        )
    }

    fn start(&self) -> MixedState {
        let (dtypes, copy) = self.layout.dtypes();
        let offset = self.data.offset();
        let state = O::Algorithm::STATE.len();
        let types = dtypes[..2 + state].iter().copied().chain([copy.unwrap_or(Dtype::F32)]);
        MixedState(
            types.zip(self.data.streams(3 + state)).map(|(d, raw)| Stored::new(d, offset, raw)).collect(),
        )
    }

    fn stored(state: &MixedState) -> Vec<Vec<u64>> {
        state.0.iter().map(Stored::words).collect()
    }

    fn outputs(state: &MixedState) -> Cow<'_, [Buffer<f32>]> {
        Cow::Owned(state.0.iter().map(Stored::widened).collect())
    }

    fn step(&self, state: &mut MixedState, run: Run<'_>) -> Result<StepOutcome, Error> {
        let options = MixedOptions {
            skip_non_finite: self.skip_non_finite && !matches!(run, Run::Driver(_)),
            ..self.options()
        };
        let (config, t) = (self.algorithm.config(), self.step.value());
        let copy = self.layout.dtypes().1.is_some();
        let [p, g, rest @ ..] = &mut state.0[..] else { unreachable!("a parameter and a gradient") };
        let (c, state) = rest.split_last_mut().expect("the copy");
        let mut slots = state
            .iter_mut()
            .enumerate()
            .map(|(i, s)| (config.keeps(i) == self.algorithm.consistent(i)).then(|| s.slice()));
        let b = MixedBuffers {
            param: p.slice(),
            grad: g.slice(),
            state: std::array::from_fn(|_| slots.next().flatten()),
            param_copy: copy.then(|| c.slice()),
            position: self.position.value(),
        };
        if let Run::Api(parallelism) | Run::Driver(parallelism) = run {
            return step_mixed(&config, t, b, &options, parallelism);
        }
        let k = mixed_coefficients(&config, t, &options)?;
        match run {
            Run::Tier(tier) => kernels::mixed_on(tier, b, &k).expect("an available tier"),
            Run::Reference => spec::mixed(b, &k),
            _ => kernels::mixed(b, &k),
        }
        Ok(StepOutcome::Applied)
    }

    fn check_outcome(&self, start: &MixedState, outcome: StepOutcome) {
        let non_finite = self.unscaled_non_finite(start);
        match outcome {
            StepOutcome::SkippedNonFinite => assert!(
                self.skip_non_finite && non_finite,
                "skipped, but the check was off or every unscaled gradient is finite\n{}",
                reproducer(self)
            ),
            StepOutcome::Applied => assert!(
                !(self.skip_non_finite && non_finite),
                "applied although the check was on and an unscaled gradient is not finite\n{}",
                reproducer(self)
            ),
        }
    }
}

/// One tensor of a [`ManyCase`].
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct TensorShape {
    /// Elements (taken modulo 700: empty tensors, tails and several cache
    /// lines all occur).
    len: u16,
    /// Elements to skip at the start of each of its allocations (0..16).
    offset: u8,
    /// Read the gradient of an earlier tensor (`share % index`) instead of
    /// one of its own, taking that tensor's length (tensors may share a
    /// gradient; they never share a written buffer).
    share: Option<u8>,
}

/// A multi-tensor Adam step ([`fused_optim::adam_step_many`]) on `f32`: up to
/// 12 tensors of any lengths, some reading one shared gradient, each at its
/// own misalignment, on a pool of 1 to 8 threads, with the serial threshold
/// at 0, a few KiB or the default (so the driver cuts tensor lists of every
/// shape, cuts moved down to cache lines included). Every tensor must get
/// the bits of the scalar reference stepping it alone; a refused step must
/// write nothing.
#[derive(Arbitrary, Clone, Debug)]
pub struct ManyCase {
    algorithm: AdamOptions,
    step: Step,
    /// Pool size: `1 + threads % 8`.
    threads: u8,
    /// Serial threshold: 0, 4 KiB or the default, by `threshold % 3`.
    threshold: u8,
    tensors: Vec<TensorShape>,
    bits: Vec<u32>,
}

/// One tensor's written buffers (parameter, m, v, vmax) and its gradient's index.
#[derive(Clone)]
struct ManyTensor {
    written: [Buffer<f32>; 4],
    grad: usize,
}

impl ManyCase {
    /// The tensors and the distinct gradients, filled from the raw bits.
    fn start(&self) -> (Vec<ManyTensor>, Vec<Buffer<f32>>) {
        let mut word = 0usize;
        let mut next = || {
            let bits = self.bits.get(word % self.bits.len().max(1)).copied().unwrap_or(0x3f80_0000);
            word += 1;
            f32::from_bits(bits.rotate_left(word as u32 % 32))
        };
        let (mut tensors, mut grads) = (Vec::<ManyTensor>::new(), Vec::<Buffer<f32>>::new());
        for (index, shape) in self.tensors.iter().take(12).enumerate() {
            let offset = shape.offset as usize % 16;
            let (len, grad) = match shape.share {
                Some(k) if index > 0 => {
                    let other = &tensors[k as usize % index];
                    (other.written[0].get().len(), other.grad)
                }
                _ => {
                    let len = shape.len as usize % 700;
                    grads.push(Buffer::new(offset, (0..len).map(|_| next())));
                    (len, grads.len() - 1)
                }
            };
            let written = std::array::from_fn(|_| Buffer::new(offset, (0..len).map(|_| next())));
            tensors.push(ManyTensor { written, grad });
        }
        (tensors, grads)
    }

    fn pool(&self) -> &'static Parallelism {
        static POOLS: OnceLock<Vec<Parallelism>> = OnceLock::new();
        let pools = POOLS.get_or_init(|| {
            (1..=8)
                .map(|n| {
                    Parallelism::Pool(Arc::new(
                        rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap(),
                    ))
                })
                .collect()
        });
        &pools[self.threads as usize % 8]
    }

    /// The multi-tensor step over `tensors`.
    fn step_many(
        &self,
        tensors: &mut [ManyTensor],
        grads: &[Buffer<f32>],
        p: &Parallelism,
    ) -> Result<(), Error> {
        let given = self.algorithm.max_buffer_given();
        let mut buffers: Vec<AdamBuffers<'_, f32>> = tensors
            .iter_mut()
            .map(|t| {
                let [p, m, v, x] = &mut t.written;
                AdamBuffers {
                    param: p.get_mut(),
                    grad: grads[t.grad].get(),
                    exp_avg: m.get_mut(),
                    exp_avg_sq: v.get_mut(),
                    max_exp_avg_sq: given.then(|| x.get_mut()),
                }
            })
            .collect();
        fused_optim::adam_step_many(&self.algorithm.config(), self.step.value(), &mut buffers, p)
    }
}

/// Runs a [`ManyCase`]: the multi-tensor step on the case's pool against the
/// reference on each tensor alone; see [`ManyCase`].
pub fn check_many(case: &ManyCase) -> Outcome {
    let (start, grads) = case.start();
    let bits = |tensors: &[ManyTensor]| -> Vec<Vec<u64>> {
        tensors.iter().flat_map(|t| t.written.iter().map(Buffer::bits)).collect()
    };
    fused_optim::set_serial_threshold(
        [0, 4 << 10, fused_optim::DEFAULT_SERIAL_BELOW_BYTES][case.threshold as usize % 3],
    );
    let mut got = start.clone();
    let pool = case.pool();
    if case.step_many(&mut got, &grads, pool).is_err() {
        assert!(bits(&got) == bits(&start), "a refused multi-tensor step wrote to a buffer\n{case:#?}");
        return Outcome::Rejected;
    }
    let config = case.algorithm.config();
    let k = config.coefficients::<f32>(case.step.value()).expect("the step accepted these hyperparameters");
    for (index, (g, mut w)) in got.iter().zip(start).enumerate() {
        let [p, m, v, x] = &mut w.written;
        spec::adam(
            AdamBuffers {
                param: p.get_mut(),
                grad: grads[w.grad].get(),
                exp_avg: m.get_mut(),
                exp_avg_sq: v.get_mut(),
                max_exp_avg_sq: case.algorithm.max_buffer_given().then(|| x.get_mut()),
            },
            &k,
        );
        for (buffer, (a, b)) in g.written.iter().zip(&w.written).enumerate() {
            for (i, (a, b)) in a.get().iter().zip(b.get()).enumerate() {
                assert!(
                    a.same_bits(*b),
                    "tensor {index} buffer {buffer} element {i}: got {a:?} ({:#x}), want {b:?} ({:#x}) on {} threads\n{case:#?}",
                    a.to_bits(),
                    b.to_bits(),
                    pool.threads()
                );
            }
        }
    }
    Outcome::Matched
}

/// [`refused`]'s kind for a [`ManyCase`]: the refused tensor's error, or the step's.
pub fn refusal_many(case: &ManyCase) -> Option<String> {
    let (mut tensors, grads) = case.start();
    let error = case.step_many(&mut tensors, &grads, &Parallelism::Serial).err()?;
    let error = match error {
        Error::Tensor { error, .. } => *error,
        other => other,
    };
    Some(match error {
        Error::ZeroStep => "zero-step".to_string(),
        Error::InvalidHyperparameter { name, .. } => format!("hyperparameter-{name}"),
        Error::MissingState { buffer, option } => format!("missing-{buffer}-for-{option}"),
        Error::UnexpectedState { buffer, option } => format!("unexpected-{buffer}-without-{option}"),
        other => format!("{other:?}"),
    })
}

/// One gradient of a [`NormCase`].
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct NormShape {
    /// Elements (0 to 65535: up to 16 blocks of the norm, tails of every size).
    len: u16,
    /// Elements to skip at the start of its allocation (0..16).
    offset: u8,
}

/// The gradient norm of clipping ([`fused_optim::clip::grad_norm`]): up to 8
/// gradients of one type (`f32`, `f64`, `bf16` or `f16`, by `dtype % 4`) of
/// any lengths and misalignments, filled from raw bits (NaN, ±inf,
/// subnormals, huge values whose squares overflow `f64`). The scalar
/// reference's norm must come out, bit for bit (NaN as NaN), of every tier
/// called directly, the dispatched kernel, and the driver on pools of 1, 2, 3
/// and 7 threads and on hosts that run their workers at once, one after
/// another or not at all, with the serial threshold at 0 (every pass split),
/// 64 KiB or the default.
#[derive(Arbitrary, Clone, Debug)]
pub struct NormCase {
    dtype: u8,
    threshold: u8,
    tensors: Vec<NormShape>,
    bits: Vec<u64>,
}

/// The executors a [`NormCase`] runs on.
fn norm_executors() -> &'static [Parallelism] {
    static EXECUTORS: OnceLock<Vec<Parallelism>> = OnceLock::new();
    EXECUTORS.get_or_init(|| {
        // A host that keeps its threads (not one that starts threads per
        // step): a thread that has just finished its job may still be
        // running its thread-local destructors when the step returns, and
        // the fuzzer's leak check after each input would count the
        // allocation glibc makes for them as leaked.
        use crate::hosts::{IdleHost, PoolHost, SerialHost};
        let pool =
            |n| Parallelism::Pool(Arc::new(rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap()));
        vec![
            Parallelism::Serial,
            pool(1),
            pool(2),
            pool(3),
            pool(7),
            Parallelism::Host(Arc::new(PoolHost::new(3))),
            Parallelism::Host(Arc::new(SerialHost(4))),
            Parallelism::Host(Arc::new(IdleHost(2))),
        ]
    })
}

impl NormCase {
    /// The gradients, as `T` from the raw bits (each at its offset).
    fn grads<T: Copy + Default>(&self, from: impl Fn(u64) -> T) -> Vec<Buffer<T>> {
        let mut word = 0usize;
        let mut next = || {
            let bits = self.bits.get(word % self.bits.len().max(1)).copied().unwrap_or(0x3ff0_0000_0000_0000);
            word += 1;
            from(bits.rotate_left(word as u32 % 64))
        };
        self.tensors
            .iter()
            .take(8)
            .map(|t| Buffer::new(t.offset as usize % 16, (0..t.len as usize).map(|_| next())))
            .collect()
    }

    fn compare<T: kernels::NormElement + Default + Copy>(&self, from: impl Fn(u64) -> T) {
        let buffers = self.grads(from);
        let grads: Vec<&[T]> = buffers.iter().map(Buffer::get).collect();
        let want = spec::grad_norm(&grads);
        let same = |got: f64, who: &str| {
            assert!(
                got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                "{who}: norm {got:e} ({:#x}), the reference {want:e} ({:#x})\n{self:#?}",
                got.to_bits(),
                want.to_bits()
            );
        };
        for tier in ALL_TIERS.into_iter().filter(|t| t.is_available()) {
            same(kernels::grad_norm_on(tier, &grads).expect("an available tier"), &format!("tier {tier}"));
        }
        same(kernels::grad_norm(&grads), "dispatched");
        for p in norm_executors() {
            same(fused_optim::clip::grad_norm(&grads, p), &format!("driver on {p:?}"));
        }
    }
}

/// Runs a [`NormCase`]: the norm on every implementation against the reference.
pub fn check_norm(case: &NormCase) -> Outcome {
    norm_executors();
    fused_optim::set_serial_threshold(
        [0, 64 << 10, fused_optim::DEFAULT_SERIAL_BELOW_BYTES][case.threshold as usize % 3],
    );
    match case.dtype % 4 {
        0 => case.compare(|b| f32::from_bits(b as u32)),
        1 => case.compare(f64::from_bits),
        2 => case.compare(|b| bf16::from_bits(b as u16)),
        _ => case.compare(|b| f16::from_bits(b as u16)),
    }
    Outcome::Matched
}

/// A [`NormCase`] is never refused.
pub fn refusal_norm(_: &NormCase) -> Option<String> {
    None
}

/// One input of the 8-bit-state target (`diff_quantized`): the kernels'
/// 8-bit step ([`kernels::quantized`]) of Adam (every weight-decay mode,
/// AMSGrad, maximize), Lion or SGD (momentum, Nesterov, none), chosen by the
/// input, with its `f32` scalars straight from the input (mostly from tables
/// of meaningful values, sometimes raw bits), a few chained steps over raw
/// parameter, gradient, code and scale bits. The reference, every tier and
/// the dispatched kernel cut at a block boundary must give the same bytes
/// and bits; the kernels take any scalars, so no case is refused.
#[derive(Arbitrary, Clone, Debug)]
pub struct QuantizedCase {
    algorithm: u8,
    scalars: [Hyper; 6],
    maximize: bool,
    zero_grad: bool,
    grad_scale: Hyper,
    steps: u8,
    len: u16,
    split: u8,
    /// Raw scale bits (else small positive values) for the blocks whose bit is set.
    raw_scales: u8,
    bits: Vec<u32>,
}

/// The owned buffers of a [`QuantizedCase`].
#[derive(Clone, Debug)]
struct QuantizedState {
    param: Vec<f32>,
    grad: Vec<f32>,
    state: [Option<(Vec<u8>, Vec<f32>)>; kernels::MAX_MIXED_STATE],
}

impl QuantizedState {
    fn buffers(&mut self) -> kernels::QuantizedBuffers<'_> {
        kernels::QuantizedBuffers {
            param: &mut self.param,
            grad: &mut self.grad,
            state: self
                .state
                .each_mut()
                .map(|s| s.as_mut().map(|(codes, scales)| kernels::QuantizedSlot { codes, scales })),
        }
    }

    /// Every buffer as bits, for comparison.
    fn words(&self) -> Vec<Vec<u64>> {
        let f =
            |v: &[f32]| v.iter().map(|x| if x.is_nan() { u64::MAX } else { x.to_bits() as u64 }).collect();
        let mut out: Vec<Vec<u64>> = vec![f(&self.param), f(&self.grad)];
        for (codes, scales) in self.state.iter().flatten() {
            out.push(codes.iter().map(|&c| c as u64).collect());
            out.push(f(scales));
        }
        out
    }
}

/// Scalars for the 8-bit cases, as `f32`.
const QUANT_SCALARS: [&[f64]; 6] = [
    &[0.9, 0.0, 0.5, 0.99, 1.0, -0.1, f64::NAN],
    &[0.1, 1.0, 0.5, 0.01, 0.0, 2.0, f64::NAN],
    &[0.999, 0.99, 0.0, 0.5, 1.0, f64::NAN],
    &[0.001, 0.01, 1.0, 0.5, 0.0, f64::NAN],
    &[1e-3, 0.1, 0.0, 1.0, 1e-8, 10.0, 1e30, -1e-3, f64::NAN, f64::INFINITY],
    &[1e-8, 0.0, 0.01, 0.999, 1.0, 1e30, f64::NAN],
];

impl QuantizedCase {
    fn scalar(&self, i: usize) -> f32 {
        self.scalars[i].value(QUANT_SCALARS[i]) as f32
    }

    fn word(&self, i: usize) -> u32 {
        if self.bits.is_empty() { 0 } else { self.bits[i % self.bits.len()] }
    }

    fn len(&self) -> usize {
        self.len as usize % (MAX_LEN + 1)
    }

    /// The start: raw parameter bits, codes from the words' bytes, scales
    /// small and positive (raw bits in the blocks `raw_scales` marks).
    fn start(&self, given: [bool; kernels::MAX_MIXED_STATE]) -> QuantizedState {
        let n = self.len();
        let param = (0..n).map(|i| f32::from_bits(self.word(i))).collect();
        let state = core::array::from_fn(|k| {
            given[k].then(|| {
                let codes = (0..n).map(|i| (self.word(i + k * 7) >> (8 * k)) as u8).collect();
                let scales = (0..kernels::quant_blocks(n))
                    .map(|j| {
                        let w = self.word(n + j * 3 + k);
                        if self.raw_scales >> (j % 8) & 1 == 1 {
                            f32::from_bits(w)
                        } else {
                            (w >> 9) as f32 / (1u32 << 23) as f32
                        }
                    })
                    .collect();
                (codes, scales)
            })
        });
        QuantizedState { param, grad: Vec::new(), state }
    }

    /// Step `s`'s gradient: raw bits.
    fn gradient(&self, s: usize) -> Vec<f32> {
        (0..self.len()).map(|i| f32::from_bits(self.word(i.wrapping_mul(3) + s * 11 + 5))).collect()
    }

    /// Runs the chained steps of the algorithm `U` (its scalars per step
    /// from `at`) on every implementation and compares.
    fn compare<U: kernels::QuantizedKernel>(
        &self,
        given: [bool; kernels::MAX_MIXED_STATE],
        at: impl Fn(usize) -> U,
    ) {
        let n = self.len();
        let start = self.start(given);
        let tiers: Vec<Tier> = ALL_TIERS.into_iter().filter(|t| t.is_available()).collect();
        let mut reference = start.clone();
        let mut got: Vec<QuantizedState> = vec![start; tiers.len() + 1];
        let blocks = kernels::quant_blocks(n);
        let mid =
            if blocks == 0 { 0 } else { (self.split as usize % (blocks + 1) * kernels::QUANT_BLOCK).min(n) };
        for s in 0..(self.steps as usize % 3 + 1) {
            let c = kernels::QuantizedCoefficients {
                algorithm: at(s),
                grad_scale: self.grad_scale.value(&[1.0, 0.5, 1.0 / 65536.0, -1.0, 0.0, 1e30, f64::NAN])
                    as f32,
                zero_grad: self.zero_grad,
            };
            let g = self.gradient(s);
            reference.grad = g.clone();
            spec::quantized(reference.buffers(), &c);
            let want = reference.words();
            for (i, state) in got.iter_mut().enumerate() {
                state.grad = g.clone();
                let name = match tiers.get(i) {
                    Some(&tier) => {
                        kernels::quantized_on(tier, state.buffers(), &c).expect("an available tier");
                        format!("tier {tier}")
                    }
                    None => {
                        let (a, b) = kernels::KernelBuffers::split_at(state.buffers(), mid);
                        kernels::quantized(a, &c);
                        kernels::quantized(b, &c);
                        format!("dispatched, split at {mid}")
                    }
                };
                let words = state.words();
                for (b, (w, r)) in words.iter().zip(&want).enumerate() {
                    if let Some(e) = (0..w.len()).find(|&e| w[e] != r[e]) {
                        panic!(
                            "8-bit {} step {s}, n = {n}, {name}: buffer {b} element {e}: {:#x}, reference {:#x}\n{self:?}",
                            U::NAME,
                            w[e],
                            r[e]
                        );
                    }
                }
            }
        }
    }
}

/// Runs a [`QuantizedCase`]: every implementation against the reference.
pub fn check_quantized(case: &QuantizedCase) -> Outcome {
    let s = |i| case.scalar(i);
    let (maximize, grad_scale) = (case.maximize, 1.0);
    match case.algorithm % 9 {
        a @ 0..=5 => {
            let decay = match a % 3 {
                0 => kernels::Decay::None,
                1 => kernels::Decay::L2(s(5)),
                _ => kernels::Decay::Decoupled(1.0 - s(5)),
            };
            let c = kernels::AdamCoefficients {
                beta1: s(0),
                one_minus_beta1: s(1),
                beta2: s(2),
                one_minus_beta2: s(3),
                step_size: s(4),
                eps_hat: 1e-8,
                decay,
                grad_scale,
                maximize,
            };
            case.compare([true, true, a >= 3], |_| c);
        }
        6 => {
            let c = kernels::LionCoefficients {
                beta1: s(0),
                one_minus_beta1: s(1),
                beta2: s(2),
                one_minus_beta2: s(3),
                lr: s(4),
                decay_factor: (s(5) != 0.0).then(|| 1.0 - s(5)),
                grad_scale,
                maximize,
            };
            case.compare([true, false, false], |_| c);
        }
        a => {
            let c = kernels::SgdCoefficients {
                lr: s(4),
                momentum: s(0),
                one_minus_dampening: s(1),
                nesterov: case.zero_grad ^ maximize,
                first: true,
                weight_decay: (s(5) != 0.0).then(|| s(5)),
                grad_scale,
                maximize,
            };
            case.compare([a == 7, false, false], |step| kernels::SgdCoefficients { first: step == 0, ..c });
        }
    }
    Outcome::Matched
}

/// A [`QuantizedCase`] is never refused.
pub fn refusal_quantized(_: &QuantizedCase) -> Option<String> {
    None
}
