//! Differential fuzz cases: one `Arbitrary` input per algorithm, and the
//! check that runs it through every implementation and compares bits.
//!
//! Shared by the cargo-fuzz targets (`fuzz_targets/diff_*.rs`, nightly) and
//! the corpus replay test (`tests/fuzz_corpus.rs`, stable), so `cargo test`
//! re-checks every corpus file with exactly the fuzzer's comparison.
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
//! Fields are only ever added at the end of an algorithm's options, and every
//! table's entry 0 is the value that keeps the algorithm as it was (λ = 1, ε
//! in the standard place): zero bytes inserted where a committed corpus file
//! had none decode to the case it was before.

#![allow(dead_code)]

use arbitrary::Arbitrary;
use fused_optim::kernels::{self, ALL_TIERS, TierUnavailable, reference};
use fused_optim::{
    AdaDeltaBuffers, AdaDeltaConfig, AdaGradBuffers, AdaGradConfig, AdaMaxBuffers, AdaMaxConfig, AdamBuffers,
    AdamConfig, EpsForm, Error, Float, Parallelism, RmsPropBuffers, RmsPropConfig, Tier, WeightDecay,
    adadelta_step, adagrad_step, adam_step, adamax_step, rmsprop_step,
};
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
}

/// A hyperparameter: mostly one of a table of meaningful values, sometimes raw bits.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct Hyper {
    pick: u8,
    raw: f64,
}

impl Hyper {
    fn value(self, table: &[f64]) -> f64 {
        if self.pick < 224 { table[self.pick as usize % table.len()] } else { self.raw }
    }
}

const LR: &[f64] = &[1e-3, 0.1, 0.0, 1.0, 2e-3, 1e-8, 10.0, 1e30, -1e-3, f64::NAN, f64::INFINITY];
const BETA: &[f64] = &[0.9, 0.999, 0.0, 0.5, 0.999999, 1.0 - f64::EPSILON, 1.0, -0.1, f64::NAN];
const EPS: &[f64] = &[1e-8, 0.0, 1e-30, 1e-3, 1.0, 1e300, -1e-8, f64::NAN, 5e-324];
const DECAY: &[f64] = &[0.0, 1e-2, 0.25, 1.0, 100.0, 1e300, -0.1, f64::NAN, f64::INFINITY];
/// λ, the decay of β1 (valid in (0, 1]; 1 is none).
const BETA1_DECAY: &[f64] =
    &[1.0, 1.0 - 1e-8, 0.9, 0.5, 1e-300, 5e-324, 0.0, 1.0 + f64::EPSILON, -0.5, f64::NAN, f64::INFINITY];
/// RMSprop's α and AdaDelta's ρ (valid in [0, 1)).
const RATE: &[f64] = &[0.99, 0.9, 0.95, 0.0, 0.5, 0.999999, 1.0 - f64::EPSILON, 5e-324, 1.0, -0.1, f64::NAN];
/// RMSprop's momentum μ (valid: finite and >= 0; 1e300 overflows f32).
const MOMENTUM: &[f64] = &[0.0, 0.9, 0.5, 0.99, 1.0, 10.0, 1e30, 1e300, -0.1, f64::NAN, f64::INFINITY];
/// AdaGrad's learning-rate decay (valid: finite and >= 0).
const LR_DECAY: &[f64] = &[0.0, 1e-4, 1e-2, 1.0, 1e10, 1e300, -1e-3, f64::NAN, f64::INFINITY];
/// AdaGrad's initial accumulator value (valid: finite and >= 0).
const INITIAL_ACCUMULATOR: &[f64] = &[0.0, 0.1, 1.0, 1e-10, 1e38, 1e300, -0.1, f64::NAN, f64::INFINITY];

/// The step number: mostly small, sometimes any `u64` (0 included).
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct Step {
    small: u8,
    raw: u64,
    use_raw: bool,
}

impl Step {
    fn value(self) -> u64 {
        if self.use_raw { self.raw } else { self.small as u64 }
    }
}

/// Raw buffers of one case: `streams` buffers of bit patterns, at an offset.
#[derive(Arbitrary, Clone, Debug)]
pub struct Data {
    /// Elements to skip at the start of each allocation (0..16).
    offset: u8,
    /// 0: all lengths equal; k > 0: buffer `k % streams` is one longer or shorter.
    skew: u8,
    bits: Vec<u64>,
}

/// An element type as the fuzzer builds it from raw bits.
pub trait FuzzFloat: Float {
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

impl<T: FuzzFloat> Buffer<T> {
    fn get(&self) -> &[T] {
        &self.storage[self.offset..]
    }
    fn get_mut(&mut self) -> &mut [T] {
        &mut self.storage[self.offset..]
    }
    fn bits(&self) -> Vec<u64> {
        self.get().iter().map(|x| x.to_bits_u64()).collect()
    }
}

impl Data {
    /// `streams` buffers from the raw bits; the skewed one differs in length by one.
    fn buffers<T: FuzzFloat>(&self, streams: usize) -> Vec<Buffer<T>> {
        let n = (self.bits.len() / streams).min(MAX_LEN);
        let offset = self.offset as usize % 16;
        (0..streams)
            .map(|k| {
                let mut len = n;
                if self.skew != 0 && self.skew as usize % streams == k {
                    len = if self.skew & 0x80 != 0 { n + 1 } else { n.saturating_sub(1) };
                }
                let mut storage = vec![T::ZERO; offset];
                storage.extend(
                    (0..len).map(|i| T::from_raw(self.bits.get(k * n + i).copied().unwrap_or(0x3ff0))),
                );
                Buffer { storage, offset }
            })
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

fn assert_same<T: FuzzFloat>(got: &[Buffer<T>], want: &[Buffer<T>], who: &str, case: &dyn std::fmt::Debug) {
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        for (i, (a, b)) in g.get().iter().zip(w.get()).enumerate() {
            assert!(
                a.same_bits(*b),
                "{who} differs from the reference in buffer {k} element {i}: got {a:?} ({:#x}), want {b:?} ({:#x})\n\
                 reproducer ({}):\n{case:#?}",
                a.to_bits_u64(),
                b.to_bits_u64(),
                T::NAME
            );
        }
    }
}

/// Which implementation runs a case's step.
#[derive(Clone, Copy)]
pub enum Run<'p> {
    /// The public stateless step (validation included) with this parallelism.
    Api(&'p Parallelism),
    /// The scalar reference.
    Reference,
    /// One tier, called directly.
    Tier(Tier),
    /// The dispatched kernel.
    Dispatched,
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

/// What the differential check needs of an algorithm.
pub trait Algorithm: std::fmt::Debug {
    /// Streams per case (parameter, gradient, then the state).
    const STREAMS: usize;
    /// One step `t` with `run` on `streams`. Only `Run::Api` may return
    /// `Err`; the other runs are only asked for cases the API accepted.
    fn step<T: FuzzFloat>(&self, t: u64, streams: &mut [Buffer<T>], run: Run<'_>) -> Result<(), Error>;
}

impl<A: Algorithm> Case<A> {
    fn buffers<T: FuzzFloat>(&self) -> Vec<Buffer<T>> {
        self.data.buffers(A::STREAMS)
    }

    fn step<T: FuzzFloat>(&self, streams: &mut [Buffer<T>], run: Run<'_>) -> Result<(), Error> {
        self.algorithm.step(self.step.value(), streams, run)
    }
}

/// An algorithm's entry points: the public step, the config's per-step
/// scalars, the reference, a forced tier, the dispatched tier.
struct Entry<C, B, K> {
    api: fn(&C, u64, B, &Parallelism) -> Result<(), Error>,
    coefficients: fn(&C, u64) -> Result<K, Error>,
    reference: fn(B, &K),
    forced: fn(Tier, B, &K) -> Result<(), TierUnavailable>,
    dispatched: fn(B, &K),
}

/// `entry!(Config, public_step, kernel, forced_kernel)`: an [`Entry`].
macro_rules! entry {
    ($config:ident, $api:ident, $kernel:ident, $forced:ident) => {
        Entry {
            api: $api,
            coefficients: $config::coefficients,
            reference: reference::$kernel,
            forced: kernels::$forced,
            dispatched: kernels::$kernel,
        }
    };
}

/// Step `t` of an algorithm with `run`: the public step for `Run::Api`,
/// else the kernel `run` names on the config's coefficients.
fn run_step<C, B, K>(
    run: Run<'_>,
    config: &C,
    t: u64,
    buffers: B,
    entry: Entry<C, B, K>,
) -> Result<(), Error> {
    if let Run::Api(parallelism) = run {
        return (entry.api)(config, t, buffers, parallelism);
    }
    let k = (entry.coefficients)(config, t)?;
    match run {
        Run::Tier(tier) => (entry.forced)(tier, buffers, &k).expect("an available tier"),
        Run::Reference => (entry.reference)(buffers, &k),
        _ => (entry.dispatched)(buffers, &k),
    }
    Ok(())
}

/// Runs a case through every implementation on `T`; see the module essay.
pub fn check<A: Algorithm, T: FuzzFloat>(case: &Case<A>) -> Outcome {
    let start = case.buffers::<T>();
    let mut api = start.clone();
    let before: Vec<Vec<u64>> = api.iter().map(Buffer::bits).collect();
    if case.step(&mut api, Run::Api(&Parallelism::Serial)).is_err() {
        let after: Vec<Vec<u64>> = api.iter().map(Buffer::bits).collect();
        assert!(before == after, "a refused step wrote to a buffer\nreproducer ({}):\n{case:#?}", T::NAME);
        return Outcome::Rejected;
    }
    let run = |how: Run<'_>| {
        let mut got = start.clone();
        case.step(&mut got, how).expect("the API accepted this case");
        got
    };
    let want = run(Run::Reference);
    assert_same(&api, &want, "the public step (serial)", case);
    for tier in ALL_TIERS.into_iter().filter(|t| t.is_available()) {
        assert_same(&run(Run::Tier(tier)), &want, &format!("tier {tier}"), case);
    }
    assert_same(&run(Run::Dispatched), &want, "dispatched", case);
    for pool in pools() {
        assert_same(&run(Run::Api(pool)), &want, &format!("driver, {} threads", pool.threads()), case);
    }
    Outcome::Matched
}

/// Which kind of error the public step gives a case on `T`, if any (`None`:
/// accepted). Each distinct refusal is a kind: every hyperparameter name,
/// every buffer of a length mismatch, every buffer/option pair of a missing or
/// unexpected state buffer.
pub fn refusal<A: Algorithm, T: FuzzFloat>(case: &Case<A>) -> Option<String> {
    let mut streams = case.buffers::<T>();
    Some(match case.step(&mut streams, Run::Api(&Parallelism::Serial)).err()? {
        Error::ZeroStep => "zero-step".to_string(),
        Error::InvalidHyperparameter { name, .. } => format!("hyperparameter-{name}"),
        Error::LengthMismatch { buffer, .. } => format!("length-{buffer}"),
        Error::MissingState { buffer, option } => format!("missing-{buffer}-for-{option}"),
        Error::UnexpectedState { buffer, option } => format!("unexpected-{buffer}-without-{option}"),
        other => format!("{other:?}"),
    })
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

impl Algorithm for AdamOptions {
    /// p, g, m, v, vmax.
    const STREAMS: usize = 5;

    fn step<T: FuzzFloat>(&self, t: u64, s: &mut [Buffer<T>], run: Run<'_>) -> Result<(), Error> {
        let wd = self.weight_decay.value(DECAY);
        let config = AdamConfig {
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
        };
        let [p, g, m, v, x] = s else { unreachable!("five streams") };
        let b = AdamBuffers {
            param: p.get_mut(),
            grad: g.get(),
            exp_avg: m.get_mut(),
            exp_avg_sq: v.get_mut(),
            max_exp_avg_sq: (self.amsgrad == self.consistent_max_buffer).then(|| x.get_mut()),
        };
        run_step(run, &config, t, b, entry!(AdamConfig, adam_step, adam, adam_on))
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

impl Algorithm for AdaMaxOptions {
    /// p, g, m, u.
    const STREAMS: usize = 4;

    fn step<T: FuzzFloat>(&self, t: u64, s: &mut [Buffer<T>], run: Run<'_>) -> Result<(), Error> {
        let config = AdaMaxConfig {
            lr: self.lr.value(LR),
            betas: (self.beta1.value(BETA), self.beta2.value(BETA)),
            eps: self.eps.value(EPS),
            weight_decay: self.weight_decay.value(DECAY),
            maximize: self.maximize,
            beta1_decay: self.beta1_decay.value(BETA1_DECAY),
        };
        let [p, g, m, u] = s else { unreachable!("four streams") };
        let b =
            AdaMaxBuffers { param: p.get_mut(), grad: g.get(), exp_avg: m.get_mut(), exp_inf: u.get_mut() };
        run_step(run, &config, t, b, entry!(AdaMaxConfig, adamax_step, adamax, adamax_on))
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

impl Algorithm for AdaGradOptions {
    /// p, g, s.
    const STREAMS: usize = 3;

    fn step<T: FuzzFloat>(&self, t: u64, s: &mut [Buffer<T>], run: Run<'_>) -> Result<(), Error> {
        let config = AdaGradConfig {
            lr: self.lr.value(LR),
            lr_decay: self.lr_decay.value(LR_DECAY),
            weight_decay: self.weight_decay.value(DECAY),
            initial_accumulator_value: self.initial_accumulator_value.value(INITIAL_ACCUMULATOR),
            eps: self.eps.value(EPS),
            maximize: self.maximize,
        };
        let [p, g, sum] = s else { unreachable!("three streams") };
        let b = AdaGradBuffers { param: p.get_mut(), grad: g.get(), sum: sum.get_mut() };
        run_step(run, &config, t, b, entry!(AdaGradConfig, adagrad_step, adagrad, adagrad_on))
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

impl Algorithm for RmsPropOptions {
    /// p, g, v, b, a.
    const STREAMS: usize = 5;

    fn step<T: FuzzFloat>(&self, t: u64, s: &mut [Buffer<T>], run: Run<'_>) -> Result<(), Error> {
        let config = RmsPropConfig {
            lr: self.lr.value(LR),
            alpha: self.alpha.value(RATE),
            eps: self.eps.value(EPS),
            weight_decay: self.weight_decay.value(DECAY),
            momentum: self.momentum.value(MOMENTUM),
            centered: self.centered,
            maximize: self.maximize,
        };
        let [p, g, v, mb, a] = s else { unreachable!("five streams") };
        let b = RmsPropBuffers {
            param: p.get_mut(),
            grad: g.get(),
            square_avg: v.get_mut(),
            momentum_buffer: ((config.momentum > 0.0) == self.consistent_momentum_buffer)
                .then(|| mb.get_mut()),
            grad_avg: (self.centered == self.consistent_grad_avg).then(|| a.get_mut()),
        };
        run_step(run, &config, t, b, entry!(RmsPropConfig, rmsprop_step, rmsprop, rmsprop_on))
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

impl Algorithm for AdaDeltaOptions {
    /// p, g, s, x.
    const STREAMS: usize = 4;

    fn step<T: FuzzFloat>(&self, t: u64, s: &mut [Buffer<T>], run: Run<'_>) -> Result<(), Error> {
        let config = AdaDeltaConfig {
            lr: self.lr.value(LR),
            rho: self.rho.value(RATE),
            eps: self.eps.value(EPS),
            weight_decay: self.weight_decay.value(DECAY),
            maximize: self.maximize,
        };
        let [p, g, sq, x] = s else { unreachable!("four streams") };
        let b = AdaDeltaBuffers {
            param: p.get_mut(),
            grad: g.get(),
            square_avg: sq.get_mut(),
            acc_delta: x.get_mut(),
        };
        run_step(run, &config, t, b, entry!(AdaDeltaConfig, adadelta_step, adadelta, adadelta_on))
    }
}
