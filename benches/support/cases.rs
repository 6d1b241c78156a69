#![allow(dead_code)] // each includer uses a part
//! What the benches and the roofline report time: each algorithm × element
//! type with its buffers, runnable by every implementation and by the
//! bandwidth probe of its shape. Shared by `benches/kernels.rs` and
//! `examples/roofline.rs` (included with `#[path]`).

use fused_optim::kernels::{self, reference};
use fused_optim::{
    AdaDeltaBuffers, AdaDeltaConfig, AdaGradBuffers, AdaGradConfig, AdaMaxBuffers, AdaMaxConfig, AdamBuffers,
    AdamConfig, Float, Parallelism, ProbeBuffers, RmsPropBuffers, RmsPropConfig, Tier, probe_step,
};

/// What one call runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Run {
    /// The scalar reference loop.
    Reference,
    /// One tier, forced, on the calling thread.
    Tier(Tier),
    /// The dispatched kernel on the calling thread.
    Dispatched,
    /// The public stateless step through the driver on the global pool.
    Driver,
    /// The probe of the kernel's shape: on the calling thread, or through the driver.
    Probe { threaded: bool },
    /// The driver with the serial threshold at 0 for this call: split whatever the size.
    ForcedSplit,
}

impl Run {
    /// A short name for tables and benchmark ids.
    pub fn name(self) -> String {
        match self {
            Run::Reference => "reference".into(),
            Run::Tier(t) => t.name().into(),
            Run::Dispatched => format!("dispatched-{}", Tier::dispatched()),
            Run::Driver => format!("driver-{}t", rayon::current_num_threads()),
            Run::Probe { threaded: false } => "probe-1t".into(),
            Run::Probe { threaded: true } => format!("probe-{}t", rayon::current_num_threads()),
            Run::ForcedSplit => "forced-split".into(),
        }
    }
}

/// One algorithm × element type with its buffers allocated.
pub trait Case {
    /// One call of `run` on the buffers.
    fn step(&mut self, run: Run) {
        if run == Run::ForcedSplit {
            let saved = fused_optim::serial_threshold();
            fused_optim::set_serial_threshold(0);
            self.run(Run::Driver);
            fused_optim::set_serial_threshold(saved);
        } else {
            self.run(run);
        }
    }
    /// One call of `run` (never `ForcedSplit`) on the buffers.
    fn run(&mut self, run: Run);
    /// Every buffer the step writes, as bits (every NaN as one pattern).
    fn output_bits(&self) -> Vec<u64>;
}

/// An algorithm × element type: its name, the bytes one element's step moves, how to build it.
pub struct Kind {
    pub algorithm: &'static str,
    pub dtype: &'static str,
    pub bytes_per_element: usize,
    pub build: fn(usize) -> Box<dyn Case>,
}

/// Every algorithm, at PyTorch's defaults, in f32 and f64.
pub fn kinds() -> Vec<Kind> {
    let mut out = Vec::new();
    kinds_of::<Adam>(&mut out);
    kinds_of::<AdaMax>(&mut out);
    kinds_of::<AdaGrad>(&mut out);
    kinds_of::<RmsProp>(&mut out);
    kinds_of::<AdaDelta>(&mut out);
    out
}

fn kinds_of<A: Bench>(out: &mut Vec<Kind>) {
    out.push(Kind {
        algorithm: A::NAME,
        dtype: "f32",
        bytes_per_element: A::bytes_per_element::<f32>(),
        build: StepCase::<f32, A>::build,
    });
    out.push(Kind {
        algorithm: A::NAME,
        dtype: "f64",
        bytes_per_element: A::bytes_per_element::<f64>(),
        build: StepCase::<f64, A>::build,
    });
}

/// Every implementation a bench times: the reference, each tier this CPU
/// has (the others named on stderr), the dispatched kernel and the driver.
pub fn implementations() -> Vec<Run> {
    let mut out = vec![Run::Reference];
    for tier in kernels::ALL_TIERS {
        if tier.is_available() {
            out.push(Run::Tier(tier));
        } else {
            eprintln!("SKIPPED: tier {tier} is not available on this CPU");
        }
    }
    out.extend([Run::Dispatched, Run::Driver]);
    out
}

/// Normal, non-zero values: a zero gradient would decay its moment into the
/// subnormal range over thousands of repeated steps, where x86 arithmetic
/// takes microcode assists and the figures stop describing training.
fn wave<T: Float>(n: usize, k: usize, scale: f64, square: bool) -> Vec<T> {
    (0..n)
        .map(|i| {
            let x = scale * (((i * 7 + k) % 13) as f64 - 6.5) / 6.5;
            T::from_f64(if square { x * x } else { x })
        })
        .collect()
}

fn bits<T: Float>(buffers: &[&[T]]) -> Vec<u64> {
    buffers
        .iter()
        .flat_map(|b| b.iter())
        .map(|x| if x.is_nan() { u64::MAX } else { x.to_bits_u64() })
        .collect()
}

fn parallelism(threaded: bool) -> Parallelism {
    if threaded { Parallelism::Global } else { Parallelism::Serial }
}

/// The step number the benches run (any `t >= 1` costs the same).
const T: u64 = 10;

/// One algorithm as the benches drive it: its default config, its state
/// buffers (as `(scale, non-negative)` waves) and one step over slices.
trait Bench: 'static {
    const NAME: &'static str;
    /// Each state buffer's wave: scale, and whether it is a square (non-negative).
    const STATES: &'static [(f64, bool)];
    fn bytes_per_element<F: Float>() -> usize;
    /// One step (not a probe) of `run` over the parameter, gradient and states.
    fn run<F: Float>(p: &mut [F], g: &[F], states: &mut [Vec<F>], run: Run);
}

/// Runs `$run` on buffers `$b` with the algorithm's reference, forced tier,
/// dispatched kernel or public step, for the default config at step `T`.
macro_rules! run_kernel {
    ($run:expr, $config:expr, $b:expr, $name:ident, $forced:ident, $step:ident) => {{
        let config = $config;
        let k = config.coefficients::<F>(T).expect("valid");
        match $run {
            Run::Reference => reference::$name($b, &k),
            Run::Tier(tier) => kernels::$forced(tier, $b, &k).expect("an available tier"),
            Run::Dispatched => kernels::$name($b, &k),
            Run::Driver => fused_optim::$step(&config, T, $b, &Parallelism::Global).expect("valid"),
            Run::Probe { .. } | Run::ForcedSplit => unreachable!("`StepCase` runs these"),
        }
    }};
}

/// The buffers of one algorithm × element type.
struct StepCase<F, A> {
    p: Vec<F>,
    g: Vec<F>,
    states: Vec<Vec<F>>,
    _algorithm: std::marker::PhantomData<A>,
}

impl<F: Float, A: Bench> StepCase<F, A> {
    fn build(n: usize) -> Box<dyn Case> {
        Box::new(StepCase::<F, A> {
            p: wave(n, 0, 1.0, false),
            g: wave(n, 3, 0.1, false),
            states: A::STATES
                .iter()
                .enumerate()
                .map(|(i, &(scale, sq))| wave(n, 5 + 2 * i, scale, sq))
                .collect(),
            _algorithm: std::marker::PhantomData,
        })
    }
}

impl<F: Float, A: Bench> Case for StepCase<F, A> {
    fn run(&mut self, run: Run) {
        let Run::Probe { threaded } = run else {
            return A::run(&mut self.p, &self.g, &mut self.states, run);
        };
        // The probe of the same shape: the parameter and every state written, the gradient read.
        let (read, parallelism) = (&self.g[..], parallelism(threaded));
        let result = match &mut self.states[..] {
            [a] => probe_step(ProbeBuffers { written: [&mut self.p[..], a], read }, &parallelism),
            [a, b] => probe_step(ProbeBuffers { written: [&mut self.p[..], a, b], read }, &parallelism),
            [a, b, c] => probe_step(ProbeBuffers { written: [&mut self.p[..], a, b, c], read }, &parallelism),
            _ => unreachable!("the probe has 2 to 4 written streams"),
        };
        result.expect("equal lengths");
    }

    fn output_bits(&self) -> Vec<u64> {
        let mut all: Vec<&[F]> = vec![&self.p];
        all.extend(self.states.iter().map(|s| &s[..]));
        bits(&all)
    }
}

struct Adam;

impl Bench for Adam {
    const NAME: &'static str = "adam";
    const STATES: &'static [(f64, bool)] = &[(0.01, false), (0.01, true)];
    fn bytes_per_element<F: Float>() -> usize {
        AdamConfig::default().bytes_per_element::<F>()
    }
    fn run<F: Float>(p: &mut [F], g: &[F], states: &mut [Vec<F>], run: Run) {
        let [m, v] = states else { unreachable!() };
        let b = AdamBuffers { param: p, grad: g, exp_avg: m, exp_avg_sq: v, max_exp_avg_sq: None };
        run_kernel!(run, AdamConfig::default(), b, adam, adam_on, adam_step)
    }
}

struct AdaMax;

impl Bench for AdaMax {
    const NAME: &'static str = "adamax";
    const STATES: &'static [(f64, bool)] = &[(0.01, false), (0.1, true)];
    fn bytes_per_element<F: Float>() -> usize {
        AdaMaxConfig::default().bytes_per_element::<F>()
    }
    fn run<F: Float>(p: &mut [F], g: &[F], states: &mut [Vec<F>], run: Run) {
        let [m, u] = states else { unreachable!() };
        let b = AdaMaxBuffers { param: p, grad: g, exp_avg: m, exp_inf: u };
        run_kernel!(run, AdaMaxConfig::default(), b, adamax, adamax_on, adamax_step)
    }
}

struct AdaGrad;

impl Bench for AdaGrad {
    const NAME: &'static str = "adagrad";
    const STATES: &'static [(f64, bool)] = &[(1.0, true)];
    fn bytes_per_element<F: Float>() -> usize {
        AdaGradConfig::default().bytes_per_element::<F>()
    }
    fn run<F: Float>(p: &mut [F], g: &[F], states: &mut [Vec<F>], run: Run) {
        let [sum] = states else { unreachable!() };
        let b = AdaGradBuffers { param: p, grad: g, sum };
        run_kernel!(run, AdaGradConfig::default(), b, adagrad, adagrad_on, adagrad_step)
    }
}

struct RmsProp;

impl Bench for RmsProp {
    const NAME: &'static str = "rmsprop";
    const STATES: &'static [(f64, bool)] = &[(0.01, true)];
    fn bytes_per_element<F: Float>() -> usize {
        RmsPropConfig::default().bytes_per_element::<F>()
    }
    fn run<F: Float>(p: &mut [F], g: &[F], states: &mut [Vec<F>], run: Run) {
        let [v] = states else { unreachable!() };
        let b = RmsPropBuffers { param: p, grad: g, square_avg: v, momentum_buffer: None, grad_avg: None };
        run_kernel!(run, RmsPropConfig::default(), b, rmsprop, rmsprop_on, rmsprop_step)
    }
}

struct AdaDelta;

impl Bench for AdaDelta {
    const NAME: &'static str = "adadelta";
    const STATES: &'static [(f64, bool)] = &[(0.01, true), (1e-4, true)];
    fn bytes_per_element<F: Float>() -> usize {
        AdaDeltaConfig::default().bytes_per_element::<F>()
    }
    fn run<F: Float>(p: &mut [F], g: &[F], states: &mut [Vec<F>], run: Run) {
        let [s, x] = states else { unreachable!() };
        let b = AdaDeltaBuffers { param: p, grad: g, square_avg: s, acc_delta: x };
        run_kernel!(run, AdaDeltaConfig::default(), b, adadelta, adadelta_on, adadelta_step)
    }
}
