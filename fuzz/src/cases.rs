//! Differential fuzz cases: one `Arbitrary` input per algorithm, and the
//! check that runs it through every implementation and compares bits.
//!
//! Shared by the cargo-fuzz targets (`fuzz_targets/diff_*.rs`, nightly) and
//! the corpus replay test (`tests/fuzz_corpus.rs`, stable), so `cargo test`
//! re-checks every corpus file with exactly the fuzzer's comparison.
//!
//! A case carries raw bit patterns for every buffer (so NaN payloads, ±inf,
//! subnormals and extreme magnitudes all occur), a start misalignment, an
//! optional length mismatch, every hyperparameter (usually from a table of
//! meaningful values, sometimes raw `f64` bits, so bad values occur too),
//! every option and the step number. [`check`] (through [`check_adam`] /
//! [`check_adamax`]) first
//! call the public stateless step: if it refuses the case, they assert that
//! nothing was written and report [`Outcome::Rejected`]; otherwise they run
//! the scalar reference, every tier this CPU has (called directly), the
//! dispatched kernel and the driver on pools of 2 and 3 threads with the
//! serial threshold at 0 (so every step is split), each on its own copy, and
//! panic on the first bit that differs, printing a reproducer.

#![allow(dead_code)]

use arbitrary::Arbitrary;
use fused_optim::Tier;
use fused_optim::kernels::{self, ALL_TIERS, reference};
use fused_optim::{
    AdaMaxBuffers, AdaMaxConfig, AdamBuffers, AdamConfig, Float, Parallelism, WeightDecay, adam_step,
    adamax_step,
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

/// What the differential check needs of an algorithm's case.
pub trait FuzzCase: std::fmt::Debug {
    /// Streams per case (parameter, gradient, then the state).
    const STREAMS: usize;
    /// One step with `run` on `streams`. Only `Run::Api` may return `Err`;
    /// the other runs are only asked for cases the API accepted.
    fn step<T: FuzzFloat>(&self, streams: &mut [Buffer<T>], run: Run<'_>) -> Result<(), fused_optim::Error>;
}

/// Runs a case through every implementation; see the module essay.
pub fn check<C: FuzzCase, T: FuzzFloat>(case: &C, start: Vec<Buffer<T>>) -> Outcome {
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

/// Runs an Adam case on `T`; see the module essay.
pub fn check_adam<T: FuzzFloat>(case: &AdamCase) -> Outcome {
    check(case, case.data.buffers::<T>(AdamCase::STREAMS))
}

/// Runs an AdaMax case on `T`; see the module essay.
pub fn check_adamax<T: FuzzFloat>(case: &AdaMaxCase) -> Outcome {
    check(case, case.data.buffers::<T>(AdaMaxCase::STREAMS))
}

/// Which kind of error the public step gives a case, if any (`None`: accepted).
pub fn refusal<C: FuzzCase, T: FuzzFloat>(case: &C, mut streams: Vec<Buffer<T>>) -> Option<String> {
    use fused_optim::Error;
    Some(match case.step(&mut streams, Run::Api(&Parallelism::Serial)).err()? {
        Error::InvalidHyperparameter { name, .. } => format!("hyperparameter-{name}"),
        Error::LengthMismatch { buffer, .. } => format!("length-{buffer}"),
        other => format!("{other:?}"),
    })
}

/// The refusal of an Adam case on `T`.
pub fn adam_refusal<T: FuzzFloat>(case: &AdamCase) -> Option<String> {
    refusal(case, case.data.buffers::<T>(AdamCase::STREAMS))
}

/// The refusal of an AdaMax case on `T`.
pub fn adamax_refusal<T: FuzzFloat>(case: &AdaMaxCase) -> Option<String> {
    refusal(case, case.data.buffers::<T>(AdaMaxCase::STREAMS))
}

/// An Adam / AdamW / AMSGrad case.
#[derive(Arbitrary, Clone, Debug)]
pub struct AdamCase {
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
    step: Step,
    data: Data,
}

impl FuzzCase for AdamCase {
    /// p, g, m, v, vmax.
    const STREAMS: usize = 5;

    fn step<T: FuzzFloat>(&self, s: &mut [Buffer<T>], run: Run<'_>) -> Result<(), fused_optim::Error> {
        let wd = self.weight_decay.value(DECAY);
        let config = AdamConfig {
            lr: self.lr.value(LR),
            betas: (self.beta1.value(BETA), self.beta2.value(BETA)),
            eps: self.eps.value(EPS),
            weight_decay: match self.decay_kind % 3 {
                0 => WeightDecay::None,
                1 => WeightDecay::L2(wd),
                _ => WeightDecay::Decoupled(wd),
            },
            amsgrad: self.amsgrad,
            maximize: self.maximize,
            ..AdamConfig::default()
        };
        let t = self.step.value();
        let [p, g, m, v, x] = s else { unreachable!("five streams") };
        let b = AdamBuffers {
            param: p.get_mut(),
            grad: g.get(),
            exp_avg: m.get_mut(),
            exp_avg_sq: v.get_mut(),
            max_exp_avg_sq: (self.amsgrad == self.consistent_max_buffer).then(|| x.get_mut()),
        };
        if let Run::Api(parallelism) = run {
            return adam_step(&config, t, b, parallelism);
        }
        let k = config.coefficients::<T>(t)?;
        match run {
            Run::Reference => reference::adam(b, &k),
            Run::Tier(tier) => kernels::adam_on(tier, b, &k).expect("an available tier"),
            _ => kernels::adam(b, &k),
        }
        Ok(())
    }
}

/// An AdaMax case.
#[derive(Arbitrary, Clone, Debug)]
pub struct AdaMaxCase {
    lr: Hyper,
    beta1: Hyper,
    beta2: Hyper,
    eps: Hyper,
    weight_decay: Hyper,
    maximize: bool,
    step: Step,
    data: Data,
}

impl FuzzCase for AdaMaxCase {
    /// p, g, m, u.
    const STREAMS: usize = 4;

    fn step<T: FuzzFloat>(&self, s: &mut [Buffer<T>], run: Run<'_>) -> Result<(), fused_optim::Error> {
        let config = AdaMaxConfig {
            lr: self.lr.value(LR),
            betas: (self.beta1.value(BETA), self.beta2.value(BETA)),
            eps: self.eps.value(EPS),
            weight_decay: self.weight_decay.value(DECAY),
            maximize: self.maximize,
            ..AdaMaxConfig::default()
        };
        let t = self.step.value();
        let [p, g, m, u] = s else { unreachable!("four streams") };
        let b =
            AdaMaxBuffers { param: p.get_mut(), grad: g.get(), exp_avg: m.get_mut(), exp_inf: u.get_mut() };
        if let Run::Api(parallelism) = run {
            return adamax_step(&config, t, b, parallelism);
        }
        let k = config.coefficients::<T>(t)?;
        match run {
            Run::Reference => reference::adamax(b, &k),
            Run::Tier(tier) => kernels::adamax_on(tier, b, &k).expect("an available tier"),
            _ => kernels::adamax(b, &k),
        }
        Ok(())
    }
}
