//! One harness per algorithm, so every property test runs every algorithm.
#![allow(dead_code)]

use super::{Fill, Offset, TestFloat, gradient, values};
use fused_optim::kernels::{self, spec};
use fused_optim::{
    AdaDeltaBuffers, AdaDeltaConfig, AdaGradBuffers, AdaGradConfig, AdaMaxBuffers, AdaMaxConfig, AdamBuffers,
    AdamConfig, EpsForm, Parallelism, RmsPropBuffers, RmsPropConfig, Tier, WeightDecay,
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

/// Runs one step of algorithm `$name` on `$with`: the reference loop, a
/// forced tier, the dispatched kernel, or the public stateless step.
macro_rules! run_with {
    ($with:expr, $config:expr, $t:expr, $buffers:expr, $name:ident, $forced:ident, $step:ident) => {{
        let k = $config.coefficients::<T>($t).unwrap();
        let b = $buffers;
        match $with {
            Implementation::Reference => spec::$name(b, &k),
            Implementation::Tier(tier) => kernels::$forced(*tier, b, &k).unwrap(),
            Implementation::Dispatched => kernels::$name(b, &k),
            Implementation::Driver(p) => fused_optim::$step($config, $t, b, p).unwrap(),
        }
    }};
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
    /// The public stateless step, which may refuse.
    fn api_step<T: TestFloat>(
        c: &Self::Config,
        s: &mut Self::State<T>,
        t: u64,
        p: &Parallelism,
    ) -> Result<(), fused_optim::Error>;
    /// The public multi-tensor step over several states.
    fn api_step_many<T: TestFloat>(
        c: &Self::Config,
        states: &mut [Self::State<T>],
        t: u64,
        p: &Parallelism,
    ) -> Result<(), fused_optim::Error>;
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
        // The paper's ε̂ form and β1 decay λ, with and against the other options.
        for (weight_decay, amsgrad, maximize) in [
            (WeightDecay::None, false, false),
            (WeightDecay::L2(0.25), true, false),
            (WeightDecay::Decoupled(0.1), false, true),
        ] {
            out.push(AdamConfig {
                lr: 0.01,
                eps_form: EpsForm::Hat,
                beta1_decay: 0.99,
                weight_decay,
                amsgrad,
                maximize,
                ..AdamConfig::default()
            });
        }
        out.push(AdamConfig { beta1_decay: 0.5, eps_form: EpsForm::Hat, eps: 0.0, ..AdamConfig::default() });
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
        run_with!(with, c, t, s.buffers(), adam, adam_on, adam_step)
    }

    fn api_step<T: TestFloat>(
        c: &AdamConfig,
        s: &mut AdamState<T>,
        t: u64,
        p: &Parallelism,
    ) -> Result<(), fused_optim::Error> {
        fused_optim::adam_step(c, t, s.buffers(), p)
    }

    fn api_step_many<T: TestFloat>(
        c: &AdamConfig,
        states: &mut [AdamState<T>],
        t: u64,
        p: &Parallelism,
    ) -> Result<(), fused_optim::Error> {
        let mut tensors: Vec<_> = states.iter_mut().map(|s| s.buffers()).collect();
        fused_optim::adam_step_many(c, t, &mut tensors, p)
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
        out.push(AdaMaxConfig { beta1_decay: 0.9, weight_decay: 0.25, ..AdaMaxConfig::default() });
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
        run_with!(with, c, t, s.buffers(), adamax, adamax_on, adamax_step)
    }

    fn api_step<T: TestFloat>(
        c: &AdaMaxConfig,
        s: &mut AdaMaxState<T>,
        t: u64,
        p: &Parallelism,
    ) -> Result<(), fused_optim::Error> {
        fused_optim::adamax_step(c, t, s.buffers(), p)
    }

    fn api_step_many<T: TestFloat>(
        c: &AdaMaxConfig,
        states: &mut [AdaMaxState<T>],
        t: u64,
        p: &Parallelism,
    ) -> Result<(), fused_optim::Error> {
        let mut tensors: Vec<_> = states.iter_mut().map(|s| s.buffers()).collect();
        fused_optim::adamax_step_many(c, t, &mut tensors, p)
    }

    fn outputs<T: TestFloat>(s: &AdaMaxState<T>) -> Vec<(&'static str, &[T])> {
        vec![("param", s.param.get()), ("exp_avg", s.exp_avg.get()), ("exp_inf", s.exp_inf.get())]
    }

    fn guards_intact<T: TestFloat>(s: &AdaMaxState<T>) -> bool {
        [&s.param, &s.grad, &s.exp_avg, &s.exp_inf].into_iter().all(Offset::guards_intact)
    }
}

pub struct AdaGrad;

#[derive(Clone)]
pub struct AdaGradState<T> {
    pub param: Offset<T>,
    pub grad: Offset<T>,
    pub sum: Offset<T>,
}

impl<T: TestFloat> AdaGradState<T> {
    pub fn buffers(&mut self) -> AdaGradBuffers<'_, T> {
        AdaGradBuffers { param: self.param.get_mut(), grad: self.grad.get(), sum: self.sum.get_mut() }
    }
}

impl Algorithm for AdaGrad {
    type Config = AdaGradConfig;
    type State<T: TestFloat> = AdaGradState<T>;
    const NAME: &'static str = "adagrad";

    fn configs() -> Vec<AdaGradConfig> {
        let mut out = Vec::new();
        for weight_decay in [0.0, 0.25] {
            for maximize in [false, true] {
                for (lr_decay, eps) in [(0.0, 1e-10), (0.1, 0.0)] {
                    out.push(AdaGradConfig {
                        lr: 0.01,
                        lr_decay,
                        weight_decay,
                        eps,
                        maximize,
                        ..AdaGradConfig::default()
                    });
                }
            }
        }
        out
    }

    fn state<T: TestFloat>(
        _: &AdaGradConfig,
        rng: &mut StdRng,
        fill: Fill,
        len: usize,
        offset: usize,
    ) -> AdaGradState<T> {
        AdaGradState {
            param: Offset::new(&values::<T>(rng, fill, len, false), offset),
            grad: Offset::new(&gradient::<T>(rng, fill, len), (offset + 1) % 8),
            sum: Offset::new(&values::<T>(rng, fill, len, true), (offset + 2) % 8),
        }
    }

    fn step<T: TestFloat>(c: &AdaGradConfig, s: &mut AdaGradState<T>, t: u64, with: &Implementation) {
        run_with!(with, c, t, s.buffers(), adagrad, adagrad_on, adagrad_step)
    }

    fn api_step<T: TestFloat>(
        c: &AdaGradConfig,
        s: &mut AdaGradState<T>,
        t: u64,
        p: &Parallelism,
    ) -> Result<(), fused_optim::Error> {
        fused_optim::adagrad_step(c, t, s.buffers(), p)
    }

    fn api_step_many<T: TestFloat>(
        c: &AdaGradConfig,
        states: &mut [AdaGradState<T>],
        t: u64,
        p: &Parallelism,
    ) -> Result<(), fused_optim::Error> {
        let mut tensors: Vec<_> = states.iter_mut().map(|s| s.buffers()).collect();
        fused_optim::adagrad_step_many(c, t, &mut tensors, p)
    }

    fn outputs<T: TestFloat>(s: &AdaGradState<T>) -> Vec<(&'static str, &[T])> {
        vec![("param", s.param.get()), ("sum", s.sum.get())]
    }

    fn guards_intact<T: TestFloat>(s: &AdaGradState<T>) -> bool {
        [&s.param, &s.grad, &s.sum].into_iter().all(Offset::guards_intact)
    }
}

pub struct RmsProp;

#[derive(Clone)]
pub struct RmsPropState<T> {
    pub param: Offset<T>,
    pub grad: Offset<T>,
    pub square_avg: Offset<T>,
    pub momentum_buffer: Option<Offset<T>>,
    pub grad_avg: Option<Offset<T>>,
}

impl<T: TestFloat> RmsPropState<T> {
    pub fn buffers(&mut self) -> RmsPropBuffers<'_, T> {
        RmsPropBuffers {
            param: self.param.get_mut(),
            grad: self.grad.get(),
            square_avg: self.square_avg.get_mut(),
            momentum_buffer: self.momentum_buffer.as_mut().map(|x| x.get_mut()),
            grad_avg: self.grad_avg.as_mut().map(|x| x.get_mut()),
        }
    }
}

impl Algorithm for RmsProp {
    type Config = RmsPropConfig;
    type State<T: TestFloat> = RmsPropState<T>;
    const NAME: &'static str = "rmsprop";

    fn configs() -> Vec<RmsPropConfig> {
        let mut out = Vec::new();
        for weight_decay in [0.0, 0.25] {
            for maximize in [false, true] {
                for centered in [false, true] {
                    for momentum in [0.0, 0.9] {
                        out.push(RmsPropConfig {
                            weight_decay,
                            maximize,
                            centered,
                            momentum,
                            ..RmsPropConfig::default()
                        });
                    }
                }
            }
        }
        out
    }

    fn state<T: TestFloat>(
        c: &RmsPropConfig,
        rng: &mut StdRng,
        fill: Fill,
        len: usize,
        offset: usize,
    ) -> RmsPropState<T> {
        RmsPropState {
            param: Offset::new(&values::<T>(rng, fill, len, false), offset),
            grad: Offset::new(&gradient::<T>(rng, fill, len), (offset + 1) % 8),
            square_avg: Offset::new(&values::<T>(rng, fill, len, true), (offset + 2) % 8),
            momentum_buffer: (c.momentum > 0.0)
                .then(|| Offset::new(&values::<T>(rng, fill, len, false), (offset + 3) % 8)),
            grad_avg: c.centered.then(|| Offset::new(&values::<T>(rng, fill, len, false), (offset + 5) % 8)),
        }
    }

    fn step<T: TestFloat>(c: &RmsPropConfig, s: &mut RmsPropState<T>, t: u64, with: &Implementation) {
        run_with!(with, c, t, s.buffers(), rmsprop, rmsprop_on, rmsprop_step)
    }

    fn api_step<T: TestFloat>(
        c: &RmsPropConfig,
        s: &mut RmsPropState<T>,
        t: u64,
        p: &Parallelism,
    ) -> Result<(), fused_optim::Error> {
        fused_optim::rmsprop_step(c, t, s.buffers(), p)
    }

    fn api_step_many<T: TestFloat>(
        c: &RmsPropConfig,
        states: &mut [RmsPropState<T>],
        t: u64,
        p: &Parallelism,
    ) -> Result<(), fused_optim::Error> {
        let mut tensors: Vec<_> = states.iter_mut().map(|s| s.buffers()).collect();
        fused_optim::rmsprop_step_many(c, t, &mut tensors, p)
    }

    fn outputs<T: TestFloat>(s: &RmsPropState<T>) -> Vec<(&'static str, &[T])> {
        let mut out = vec![("param", s.param.get()), ("square_avg", s.square_avg.get())];
        out.extend(s.momentum_buffer.as_ref().map(|x| ("momentum_buffer", x.get())));
        out.extend(s.grad_avg.as_ref().map(|x| ("grad_avg", x.get())));
        out
    }

    fn guards_intact<T: TestFloat>(s: &RmsPropState<T>) -> bool {
        [&s.param, &s.grad, &s.square_avg]
            .into_iter()
            .chain(&s.momentum_buffer)
            .chain(&s.grad_avg)
            .all(Offset::guards_intact)
    }
}

pub struct AdaDelta;

#[derive(Clone)]
pub struct AdaDeltaState<T> {
    pub param: Offset<T>,
    pub grad: Offset<T>,
    pub square_avg: Offset<T>,
    pub acc_delta: Offset<T>,
}

impl<T: TestFloat> AdaDeltaState<T> {
    pub fn buffers(&mut self) -> AdaDeltaBuffers<'_, T> {
        AdaDeltaBuffers {
            param: self.param.get_mut(),
            grad: self.grad.get(),
            square_avg: self.square_avg.get_mut(),
            acc_delta: self.acc_delta.get_mut(),
        }
    }
}

impl Algorithm for AdaDelta {
    type Config = AdaDeltaConfig;
    type State<T: TestFloat> = AdaDeltaState<T>;
    const NAME: &'static str = "adadelta";

    fn configs() -> Vec<AdaDeltaConfig> {
        let mut out = Vec::new();
        for weight_decay in [0.0, 0.25] {
            for maximize in [false, true] {
                out.push(AdaDeltaConfig { weight_decay, maximize, ..AdaDeltaConfig::default() });
            }
        }
        out.push(AdaDeltaConfig { lr: 0.5, rho: 0.0, eps: 0.0, ..AdaDeltaConfig::default() });
        out
    }

    fn state<T: TestFloat>(
        _: &AdaDeltaConfig,
        rng: &mut StdRng,
        fill: Fill,
        len: usize,
        offset: usize,
    ) -> AdaDeltaState<T> {
        AdaDeltaState {
            param: Offset::new(&values::<T>(rng, fill, len, false), offset),
            grad: Offset::new(&gradient::<T>(rng, fill, len), (offset + 1) % 8),
            square_avg: Offset::new(&values::<T>(rng, fill, len, true), (offset + 2) % 8),
            acc_delta: Offset::new(&values::<T>(rng, fill, len, true), (offset + 3) % 8),
        }
    }

    fn step<T: TestFloat>(c: &AdaDeltaConfig, s: &mut AdaDeltaState<T>, t: u64, with: &Implementation) {
        run_with!(with, c, t, s.buffers(), adadelta, adadelta_on, adadelta_step)
    }

    fn api_step<T: TestFloat>(
        c: &AdaDeltaConfig,
        s: &mut AdaDeltaState<T>,
        t: u64,
        p: &Parallelism,
    ) -> Result<(), fused_optim::Error> {
        fused_optim::adadelta_step(c, t, s.buffers(), p)
    }

    fn api_step_many<T: TestFloat>(
        c: &AdaDeltaConfig,
        states: &mut [AdaDeltaState<T>],
        t: u64,
        p: &Parallelism,
    ) -> Result<(), fused_optim::Error> {
        let mut tensors: Vec<_> = states.iter_mut().map(|s| s.buffers()).collect();
        fused_optim::adadelta_step_many(c, t, &mut tensors, p)
    }

    fn outputs<T: TestFloat>(s: &AdaDeltaState<T>) -> Vec<(&'static str, &[T])> {
        vec![("param", s.param.get()), ("square_avg", s.square_avg.get()), ("acc_delta", s.acc_delta.get())]
    }

    fn guards_intact<T: TestFloat>(s: &AdaDeltaState<T>) -> bool {
        [&s.param, &s.grad, &s.square_avg, &s.acc_delta].into_iter().all(Offset::guards_intact)
    }
}

/// The steps every differential test takes: five consecutive, then a jump to a large `t`.
#[cfg(not(miri))]
pub const STEPS: &[u64] = &[1, 2, 3, 4, 5, 1_000_000];
/// Under Miri: two consecutive steps (the second reads state the first
/// wrote), then a jump to a large `t`.
#[cfg(miri)]
pub const STEPS: &[u64] = &[1, 2, 1_000_000];

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
    for &t in STEPS {
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
                // Formatted only on failure: interpreting it for every buffer of every step is slow under Miri.
                let what = format_args!("{} {} {with} {config:?} t={t} {context}: {name}", A::NAME, T::NAME);
                super::assert_same_bits(g, w, &what);
            }
        }
    }
}
