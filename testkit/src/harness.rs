//! Every algorithm and every implementation, named once: [`TestAlgorithm`]
//! adds to the root's descriptor ([`fused_optim::Algorithm`]) what only the
//! tests need (the option combinations, the scalar reference, the forced
//! tier, the dispatched entry point), and [`Tensor`] is one tensor's buffers,
//! owned, at offsets, built and stepped through the descriptor for every
//! algorithm alike.

use crate::values::{Fill, Offset, TestFloat, assert_same_bits, gradient, values};
use fused_optim::algorithms::{MAX_STATE_BUFFERS, StateSlots};
use fused_optim::kernels::{self, GradScale, TierUnavailable, spec};
use fused_optim::{
    AdaDeltaConfig, AdaGradConfig, AdaMaxConfig, AdamConfig, Algorithm, EpsForm, Error, Float, LionConfig,
    Parallelism, RmsPropConfig, SgdConfig, Tier, WeightDecay,
};
use rand::rngs::StdRng;
use std::marker::PhantomData;

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

/// The tiers this CPU has; the others are named on stderr, never skipped silently.
pub fn available_tiers() -> Vec<Tier> {
    let (available, missing): (Vec<Tier>, Vec<Tier>) =
        kernels::ALL_TIERS.into_iter().partition(|t| t.is_available());
    for tier in missing {
        eprintln!("SKIPPED: tier {tier} is not available on this CPU");
    }
    available
}

/// Every tier this CPU has, called directly, plus the dispatched entry point.
pub fn kernel_implementations() -> Vec<Implementation> {
    let mut out: Vec<_> = available_tiers().into_iter().map(Implementation::Tier).collect();
    out.push(Implementation::Dispatched);
    out
}

/// What the tests, the fuzz targets and the benches need of an algorithm
/// beyond its descriptor: the one place each algorithm's kernels are named.
pub trait TestAlgorithm: Algorithm + Copy + Default {
    /// Per state buffer (in [`Algorithm::STATE`] order): whether it holds
    /// non-negative values (a second moment), which random fills keep and
    /// the benches' buffers are.
    const NON_NEGATIVE: &'static [bool];
    /// Per state buffer: the magnitude of the benches' values (normal and
    /// non-zero over thousands of steps).
    const BENCH_SCALE: &'static [f64];

    /// Every combination of the algorithm's options.
    fn configs() -> Vec<Self>;
    /// The algorithm's kernels on `T`.
    fn kernels<T: Float>() -> Kernels<Self, T>;
}

/// A kernel of algorithm `A` on `T`: one step over buffers with the step's coefficients.
pub type Kernel<A, T> =
    for<'a, 'k> fn(<A as Algorithm>::Buffers<'a, T>, &'k <A as Algorithm>::Coefficients<T>);

/// [`Kernel`] on a forced tier, which the CPU may lack.
pub type TierKernel<A, T> = for<'a, 'k> fn(
    Tier,
    <A as Algorithm>::Buffers<'a, T>,
    &'k <A as Algorithm>::Coefficients<T>,
) -> Result<(), TierUnavailable>;

/// An algorithm's kernels on one element type, as the kernels crate names them.
pub struct Kernels<A: Algorithm, T: Float> {
    /// The scalar reference loop (`fused_optim::kernels::spec`).
    pub reference: Kernel<A, T>,
    /// The kernel on a forced tier (`kernels::<algorithm>_on`).
    pub on_tier: TierKernel<A, T>,
    /// The kernels crate's dispatched entry point.
    pub dispatched: Kernel<A, T>,
}

/// The algorithm's name in lower case (`adam`, `rmsprop`): test messages and bench groups.
pub fn name<A: Algorithm>() -> String {
    A::NAME.to_lowercase()
}

/// One step `t` of `config` on `b` with `with` (which may not be `Driver`
/// when called by the kernels directly; the driver's refusal is a panic).
pub fn run_step<A: TestAlgorithm, T: Float>(config: &A, t: u64, b: A::Buffers<'_, T>, with: &Implementation) {
    run_step_scaled(config, t, 1.0, b, with)
}

/// [`run_step`] with the gradient multiplied by `grad_scale` (rounded once
/// to `T`) first: the clip coefficient's way into every kernel.
pub fn run_step_scaled<A: TestAlgorithm, T: Float>(
    config: &A,
    t: u64,
    grad_scale: f64,
    b: A::Buffers<'_, T>,
    with: &Implementation,
) {
    if let Implementation::Driver(p) = with {
        if grad_scale == 1.0 {
            return fused_optim::step(config, t, b, p).unwrap();
        }
        let mut validated = fused_optim::Validated::<A, T>::new(config, t).unwrap();
        validated.set_grad_scale(T::from_f64(grad_scale));
        return fused_optim::step::step_many_validated(&validated, std::iter::once(b), p).unwrap();
    }
    let (mut k, kernels) = (config.coefficients::<T>(t).unwrap(), A::kernels::<T>());
    k.set_grad_scale(T::from_f64(grad_scale));
    match with {
        Implementation::Reference => (kernels.reference)(b, &k),
        Implementation::Tier(tier) => (kernels.on_tier)(*tier, b, &k).unwrap(),
        _ => (kernels.dispatched)(b, &k),
    }
}

/// One tensor of algorithm `A`: parameter, gradient and every state buffer,
/// owned, each at its own offset into an allocation with guard elements.
pub struct Tensor<A, T> {
    pub param: Offset<T>,
    pub grad: Offset<T>,
    /// The state buffers in [`Algorithm::STATE`] order; `None` where the
    /// options do not keep one (or a test took it away).
    pub state: [Option<Offset<T>>; MAX_STATE_BUFFERS],
    algorithm: PhantomData<A>,
}

impl<A, T: Clone> Clone for Tensor<A, T> {
    fn clone(&self) -> Self {
        Tensor {
            param: self.param.clone(),
            grad: self.grad.clone(),
            state: self.state.clone(),
            algorithm: PhantomData,
        }
    }
}

/// Where each state buffer starts, past the tensor's offset: no two buffers alike.
const STATE_SHIFT: [usize; MAX_STATE_BUFFERS] = [2, 3, 5];

impl<A: TestAlgorithm, T: TestFloat> Tensor<A, T> {
    /// `len` elements of `fill` in every buffer `config` keeps, the
    /// parameter `offset` elements into its allocation.
    pub fn new(config: &A, rng: &mut StdRng, fill: Fill, len: usize, offset: usize) -> Self {
        let param = Offset::new(&values::<T>(rng, fill, len, false), offset);
        let grad = Offset::new(&gradient::<T>(rng, fill, len), (offset + 1) % 8);
        let state = std::array::from_fn(|i| {
            (i < A::STATE.len() && config.keeps(i)).then(|| {
                Offset::new(&values::<T>(rng, fill, len, A::NON_NEGATIVE[i]), (offset + STATE_SHIFT[i]) % 8)
            })
        });
        Tensor { param, grad, state, algorithm: PhantomData }
    }

    /// The state buffer named `name` (PyTorch's name, as in [`Algorithm::STATE`]).
    pub fn state_mut(&mut self, name: &str) -> &mut Option<Offset<T>> {
        let i = A::STATE.iter().position(|b| b.name == name).unwrap_or_else(|| panic!("no buffer {name}"));
        &mut self.state[i]
    }

    /// The kernel's buffer set over this tensor.
    pub fn buffers(&mut self) -> A::Buffers<'_, T> {
        let slots: StateSlots<'_, T> = self.state.each_mut().map(|s| s.as_mut().map(Offset::get_mut));
        A::buffers(self.param.get_mut(), self.grad.get(), slots)
            .expect("every buffer the algorithm always keeps")
    }

    /// One step with `with`.
    pub fn step(&mut self, config: &A, t: u64, with: &Implementation) {
        run_step(config, t, self.buffers(), with);
    }

    /// One step with `with`, the gradient multiplied by `grad_scale` first.
    pub fn step_scaled(&mut self, config: &A, t: u64, grad_scale: f64, with: &Implementation) {
        run_step_scaled(config, t, grad_scale, self.buffers(), with);
    }

    /// The public stateless step, which may refuse.
    pub fn api_step(&mut self, config: &A, t: u64, p: &Parallelism) -> Result<(), Error> {
        fused_optim::step(config, t, self.buffers(), p)
    }

    /// Every buffer the step writes, by name.
    pub fn outputs(&self) -> Vec<(&'static str, &[T])> {
        let state = A::STATE.iter().zip(&self.state).filter_map(|(b, s)| Some((b.name, s.as_ref()?.get())));
        std::iter::once(("param", self.param.get())).chain(state).collect()
    }

    /// True when nothing was written outside any buffer.
    pub fn guards_intact(&self) -> bool {
        [&self.param, &self.grad].into_iter().chain(self.state.iter().flatten()).all(Offset::guards_intact)
    }
}

/// The public multi-tensor step over several tensors.
pub fn api_step_many<A: TestAlgorithm, T: TestFloat>(
    config: &A,
    tensors: &mut [Tensor<A, T>],
    t: u64,
    p: &Parallelism,
) -> Result<(), Error> {
    let mut buffers: Vec<_> = tensors.iter_mut().map(Tensor::buffers).collect();
    fused_optim::step_many(config, t, &mut buffers, p)
}

impl TestAlgorithm for AdamConfig {
    const NON_NEGATIVE: &'static [bool] = &[false, true, true];
    const BENCH_SCALE: &'static [f64] = &[0.01, 0.01, 0.01];

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

    fn kernels<T: Float>() -> Kernels<Self, T> {
        Kernels { reference: spec::adam, on_tier: kernels::adam_on, dispatched: kernels::adam }
    }
}

impl TestAlgorithm for AdaMaxConfig {
    const NON_NEGATIVE: &'static [bool] = &[false, true];
    const BENCH_SCALE: &'static [f64] = &[0.01, 0.1];

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

    fn kernels<T: Float>() -> Kernels<Self, T> {
        Kernels { reference: spec::adamax, on_tier: kernels::adamax_on, dispatched: kernels::adamax }
    }
}

impl TestAlgorithm for AdaGradConfig {
    const NON_NEGATIVE: &'static [bool] = &[true];
    const BENCH_SCALE: &'static [f64] = &[1.0];

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

    fn kernels<T: Float>() -> Kernels<Self, T> {
        Kernels { reference: spec::adagrad, on_tier: kernels::adagrad_on, dispatched: kernels::adagrad }
    }
}

impl TestAlgorithm for RmsPropConfig {
    const NON_NEGATIVE: &'static [bool] = &[true, false, false];
    const BENCH_SCALE: &'static [f64] = &[0.01, 0.01, 0.01];

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

    fn kernels<T: Float>() -> Kernels<Self, T> {
        Kernels { reference: spec::rmsprop, on_tier: kernels::rmsprop_on, dispatched: kernels::rmsprop }
    }
}

impl TestAlgorithm for AdaDeltaConfig {
    const NON_NEGATIVE: &'static [bool] = &[true, true];
    const BENCH_SCALE: &'static [f64] = &[0.01, 1e-4];

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

    fn kernels<T: Float>() -> Kernels<Self, T> {
        Kernels { reference: spec::adadelta, on_tier: kernels::adadelta_on, dispatched: kernels::adadelta }
    }
}

impl TestAlgorithm for SgdConfig {
    const NON_NEGATIVE: &'static [bool] = &[false];
    const BENCH_SCALE: &'static [f64] = &[0.01];

    /// No momentum, momentum, momentum with dampening, Nesterov; each with
    /// and without L2 and maximize. [`STEPS`] starts at `t = 1` (the first
    /// step, which overwrites the momentum buffer's random start) and goes on
    /// to `t > 1` (which decays it).
    fn configs() -> Vec<SgdConfig> {
        let mut out = Vec::new();
        for weight_decay in [0.0, 0.25] {
            for maximize in [false, true] {
                for (momentum, dampening, nesterov) in
                    [(0.0, 0.0, false), (0.9, 0.0, false), (0.9, 0.5, false), (0.9, 0.0, true)]
                {
                    out.push(SgdConfig { lr: 0.01, momentum, dampening, weight_decay, nesterov, maximize });
                }
            }
        }
        out
    }

    fn kernels<T: Float>() -> Kernels<Self, T> {
        Kernels { reference: spec::sgd, on_tier: kernels::sgd_on, dispatched: kernels::sgd }
    }
}

impl TestAlgorithm for LionConfig {
    const NON_NEGATIVE: &'static [bool] = &[false];
    const BENCH_SCALE: &'static [f64] = &[0.01];

    fn configs() -> Vec<LionConfig> {
        let mut out = Vec::new();
        for weight_decay in [0.0, 0.25] {
            for maximize in [false, true] {
                out.push(LionConfig { lr: 0.01, weight_decay, maximize, ..LionConfig::default() });
            }
        }
        // Extreme betas: c = g (β1 = 0), m = g (β2 = 0), and both next to 1.
        out.push(LionConfig { lr: 0.5, betas: (0.0, 0.0), weight_decay: 1.0, ..LionConfig::default() });
        let near_one = 1.0 - f64::EPSILON;
        out.push(LionConfig { betas: (near_one, near_one), maximize: true, ..LionConfig::default() });
        out
    }

    fn kernels<T: Float>() -> Kernels<Self, T> {
        Kernels { reference: spec::lion, on_tier: kernels::lion_on, dispatched: kernels::lion }
    }
}

/// The steps every differential test takes: five consecutive, then a jump to a large `t`.
#[cfg(not(miri))]
pub const STEPS: &[u64] = &[1, 2, 3, 4, 5, 1_000_000];
/// Under Miri: two consecutive steps (the second reads state the first
/// wrote), then a jump to a large `t`.
#[cfg(miri)]
pub const STEPS: &[u64] = &[1, 2, 1_000_000];

/// The gradient multiplier of each of [`STEPS`] (by position, cycling): 1
/// (no clipping), then clip coefficients of several kinds (inexact in
/// binary, tiny, above 1, 0), so `grad_scale` is exercised on every tier.
pub const STEP_GRAD_SCALES: &[f64] = &[1.0, 0.3, 1e-3, 2.5, 0.0, 0.7];

/// Runs [`STEPS`] with the reference and with each of `implementations` from
/// the same start (step `i` with the gradient multiplier
/// [`STEP_GRAD_SCALES`]`[i]`), and asserts every output buffer has the reference's bits
/// after every step, and nothing was written outside a buffer.
pub fn assert_matches_reference<A: TestAlgorithm, T: TestFloat>(
    config: &A,
    start: &Tensor<A, T>,
    implementations: &[Implementation],
    context: &dyn std::fmt::Display,
) {
    let mut want = start.clone();
    let mut got: Vec<Tensor<A, T>> = implementations.iter().map(|_| start.clone()).collect();
    for (i, &t) in STEPS.iter().enumerate() {
        let scale = STEP_GRAD_SCALES[i % STEP_GRAD_SCALES.len()];
        want.step_scaled(config, t, scale, &Implementation::Reference);
        for (tensor, with) in got.iter_mut().zip(implementations) {
            tensor.step_scaled(config, t, scale, with);
            assert!(
                tensor.guards_intact(),
                "{} {} {with} {config:?} t={t} {context}: wrote outside a buffer",
                A::NAME,
                T::NAME
            );
            for ((name, g), (_, w)) in tensor.outputs().into_iter().zip(want.outputs()) {
                // Formatted only on failure: interpreting it for every buffer of every step is slow under Miri.
                let what = format_args!(
                    "{} {} {with} {config:?} t={t} grad_scale={scale} {context}: {name}",
                    A::NAME,
                    T::NAME
                );
                assert_same_bits(g, w, &what);
            }
        }
    }
}
