//! One harness per algorithm, so every property test runs every algorithm.
#![allow(dead_code)]

use super::{Fill, Offset, TestFloat, gradient, values};
use fused_optim::kernels::{self, reference};
use fused_optim::{
    AdaMaxBuffers, AdaMaxConfig, AdamBuffers, AdamConfig, Parallelism, Tier, WeightDecay, adam_step,
    adamax_step,
};
use rand::rngs::StdRng;

/// Which implementation runs a step.
#[derive(Clone, Debug)]
pub enum Implementation {
    /// The scalar reference loop (the spec).
    Reference,
    /// One tier, called directly.
    Tier(Tier),
    /// The kernels crate's dispatched entry point.
    Dispatched,
    /// The root crate's stateless step through the driver.
    Driver(Parallelism),
}

impl std::fmt::Display for Implementation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Implementation::Reference => f.write_str("reference"),
            Implementation::Tier(t) => write!(f, "tier {t}"),
            Implementation::Dispatched => write!(f, "dispatched ({})", Tier::dispatched()),
            Implementation::Driver(p) => write!(f, "driver ({} threads)", p.threads()),
        }
    }
}

/// Every tier this CPU has, called directly, plus the dispatched entry point.
/// Tiers the CPU lacks are named on stderr, never skipped silently.
pub fn kernel_implementations() -> Vec<Implementation> {
    let mut out = Vec::new();
    for tier in fused_optim::kernels::ALL_TIERS {
        if tier.is_available() {
            out.push(Implementation::Tier(tier));
        } else {
            eprintln!("SKIPPED: tier {tier} is not available on this CPU");
        }
    }
    out.push(Implementation::Dispatched);
    out
}

/// The buffers of one algorithm's step, owned, each at an offset into its allocation.
pub trait Algorithm {
    type Config: Copy + std::fmt::Debug;
    type State<T: TestFloat>: Clone;
    const NAME: &'static str;

    /// Every combination of the algorithm's options.
    fn configs() -> Vec<Self::Config>;
    fn state<T: TestFloat>(
        c: &Self::Config,
        rng: &mut StdRng,
        fill: Fill,
        len: usize,
        offset: usize,
    ) -> Self::State<T>;
    fn step<T: TestFloat>(c: &Self::Config, s: &mut Self::State<T>, t: u64, with: &Implementation);
    /// Every buffer the step writes, by name.
    fn outputs<T: TestFloat>(s: &Self::State<T>) -> Vec<(&'static str, &[T])>;
    /// True when nothing was written outside any buffer.
    fn guards_intact<T: TestFloat>(s: &Self::State<T>) -> bool;
}

pub struct Adam;

#[derive(Clone)]
pub struct AdamState<T> {
    pub param: Offset<T>,
    pub grad: Offset<T>,
    pub exp_avg: Offset<T>,
    pub exp_avg_sq: Offset<T>,
    pub max_exp_avg_sq: Option<Offset<T>>,
}

impl<T: TestFloat> AdamState<T> {
    pub fn buffers(&mut self) -> AdamBuffers<'_, T> {
        AdamBuffers {
            param: self.param.get_mut(),
            grad: self.grad.get(),
            exp_avg: self.exp_avg.get_mut(),
            exp_avg_sq: self.exp_avg_sq.get_mut(),
            max_exp_avg_sq: self.max_exp_avg_sq.as_mut().map(|x| x.get_mut()),
        }
    }
}

impl Algorithm for Adam {
    type Config = AdamConfig;
    type State<T: TestFloat> = AdamState<T>;
    const NAME: &'static str = "adam";

    fn configs() -> Vec<AdamConfig> {
        let mut out = Vec::new();
        for weight_decay in [WeightDecay::None, WeightDecay::L2(0.25), WeightDecay::Decoupled(0.1)] {
            for amsgrad in [false, true] {
                for maximize in [false, true] {
                    out.push(AdamConfig {
                        lr: 0.01,
                        weight_decay,
                        amsgrad,
                        maximize,
                        ..AdamConfig::default()
                    });
                }
            }
        }
        out
    }

    fn state<T: TestFloat>(
        c: &AdamConfig,
        rng: &mut StdRng,
        fill: Fill,
        len: usize,
        offset: usize,
    ) -> AdamState<T> {
        // Each buffer at its own misalignment, so no two start alike.
        AdamState {
            param: Offset::new(&values::<T>(rng, fill, len, false), offset),
            grad: Offset::new(&gradient::<T>(rng, fill, len), (offset + 1) % 8),
            exp_avg: Offset::new(&values::<T>(rng, fill, len, false), (offset + 2) % 8),
            exp_avg_sq: Offset::new(&values::<T>(rng, fill, len, true), (offset + 3) % 8),
            max_exp_avg_sq: c
                .amsgrad
                .then(|| Offset::new(&values::<T>(rng, fill, len, true), (offset + 5) % 8)),
        }
    }

    fn step<T: TestFloat>(c: &AdamConfig, s: &mut AdamState<T>, t: u64, with: &Implementation) {
        let k = c.coefficients::<T>(t).unwrap();
        let b = s.buffers();
        match with {
            Implementation::Reference => reference::adam(b, &k),
            Implementation::Tier(tier) => kernels::adam_on(*tier, b, &k).unwrap(),
            Implementation::Dispatched => kernels::adam(b, &k),
            Implementation::Driver(p) => adam_step(c, t, b, p).unwrap(),
        }
    }

    fn outputs<T: TestFloat>(s: &AdamState<T>) -> Vec<(&'static str, &[T])> {
        let mut out =
            vec![("param", s.param.get()), ("exp_avg", s.exp_avg.get()), ("exp_avg_sq", s.exp_avg_sq.get())];
        if let Some(x) = &s.max_exp_avg_sq {
            out.push(("max_exp_avg_sq", x.get()));
        }
        out
    }

    fn guards_intact<T: TestFloat>(s: &AdamState<T>) -> bool {
        [&s.param, &s.grad, &s.exp_avg, &s.exp_avg_sq]
            .into_iter()
            .chain(&s.max_exp_avg_sq)
            .all(Offset::guards_intact)
    }
}

pub struct AdaMax;

#[derive(Clone)]
pub struct AdaMaxState<T> {
    pub param: Offset<T>,
    pub grad: Offset<T>,
    pub exp_avg: Offset<T>,
    pub exp_inf: Offset<T>,
}

impl<T: TestFloat> AdaMaxState<T> {
    pub fn buffers(&mut self) -> AdaMaxBuffers<'_, T> {
        AdaMaxBuffers {
            param: self.param.get_mut(),
            grad: self.grad.get(),
            exp_avg: self.exp_avg.get_mut(),
            exp_inf: self.exp_inf.get_mut(),
        }
    }
}

impl Algorithm for AdaMax {
    type Config = AdaMaxConfig;
    type State<T: TestFloat> = AdaMaxState<T>;
    const NAME: &'static str = "adamax";

    fn configs() -> Vec<AdaMaxConfig> {
        let mut out = Vec::new();
        for weight_decay in [0.0, 0.25] {
            for maximize in [false, true] {
                for eps in [1e-8, 0.0] {
                    out.push(AdaMaxConfig {
                        lr: 0.01,
                        weight_decay,
                        maximize,
                        eps,
                        ..AdaMaxConfig::default()
                    });
                }
            }
        }
        out
    }

    fn state<T: TestFloat>(
        _: &AdaMaxConfig,
        rng: &mut StdRng,
        fill: Fill,
        len: usize,
        offset: usize,
    ) -> AdaMaxState<T> {
        AdaMaxState {
            param: Offset::new(&values::<T>(rng, fill, len, false), offset),
            grad: Offset::new(&gradient::<T>(rng, fill, len), (offset + 1) % 8),
            exp_avg: Offset::new(&values::<T>(rng, fill, len, false), (offset + 2) % 8),
            exp_inf: Offset::new(&values::<T>(rng, fill, len, true), (offset + 3) % 8),
        }
    }

    fn step<T: TestFloat>(c: &AdaMaxConfig, s: &mut AdaMaxState<T>, t: u64, with: &Implementation) {
        let k = c.coefficients::<T>(t).unwrap();
        let b = s.buffers();
        match with {
            Implementation::Reference => reference::adamax(b, &k),
            Implementation::Tier(tier) => kernels::adamax_on(*tier, b, &k).unwrap(),
            Implementation::Dispatched => kernels::adamax(b, &k),
            Implementation::Driver(p) => adamax_step(c, t, b, p).unwrap(),
        }
    }

    fn outputs<T: TestFloat>(s: &AdaMaxState<T>) -> Vec<(&'static str, &[T])> {
        vec![("param", s.param.get()), ("exp_avg", s.exp_avg.get()), ("exp_inf", s.exp_inf.get())]
    }

    fn guards_intact<T: TestFloat>(s: &AdaMaxState<T>) -> bool {
        [&s.param, &s.grad, &s.exp_avg, &s.exp_inf].into_iter().all(Offset::guards_intact)
    }
}

/// The steps every differential test takes: five consecutive, then a jump to a large `t`.
pub const STEPS: [u64; 6] = [1, 2, 3, 4, 5, 1_000_000];

/// Runs `STEPS` with the reference and with each of `implementations` from
/// the same start, and asserts every output buffer has the reference's bits
/// after every step.
pub fn assert_matches_reference<A: Algorithm, T: TestFloat>(
    config: &A::Config,
    start: &A::State<T>,
    implementations: &[Implementation],
    context: &dyn std::fmt::Display,
) {
    let mut want = start.clone();
    let mut got: Vec<A::State<T>> = implementations.iter().map(|_| start.clone()).collect();
    for t in STEPS {
        A::step(config, &mut want, t, &Implementation::Reference);
        for (state, with) in got.iter_mut().zip(implementations) {
            A::step(config, state, t, with);
            assert!(
                A::guards_intact(state),
                "{} {} {with} {config:?} t={t} {context}: wrote outside a buffer",
                A::NAME,
                T::NAME
            );
            for ((name, g), (_, w)) in A::outputs(state).into_iter().zip(A::outputs(&want)) {
                let what = format!("{} {} {with} {config:?} t={t} {context}: {name}", A::NAME, T::NAME);
                super::assert_same_bits(g, w, &what);
            }
        }
    }
}
