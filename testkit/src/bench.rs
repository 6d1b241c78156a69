//! What the benches and the roofline report time: each algorithm × element
//! type with its buffers, runnable by every implementation and by the
//! bandwidth probe of its shape. Used by `bench/benches/kernels.rs` and
//! `bench/examples/roofline.rs`.

use crate::harness::{Implementation, TestAlgorithm, available_tiers, name, run_step};
use fused_optim::algorithms::{Algorithm, StateSlots, bytes_per_element};
use fused_optim::clip::{self, ClipGradNorm};
use fused_optim::kernels::{self, spec};
use fused_optim::mixed::{
    Dtype, MixedAdamBuffers, MixedLayout, MixedOptions, MixedSlice, StepOutcome, adam_step_mixed, bf16,
    mixed_bytes_per_element, mixed_coefficients,
};
use fused_optim::quantized::{QuantizedBuffers, QuantizedState, quantized_coefficients, step_quantized};
use fused_optim::{
    AdaDeltaConfig, AdaGradConfig, AdaMaxConfig, AdamBuffers, AdamConfig, Float, LionConfig, Parallelism,
    ProbeBuffers, ProbeState, RmsPropConfig, SgdConfig, StateProbeBuffers, Tier, adam_step_many,
    probe_state_step, probe_step,
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
    /// A mixed-precision training phase (unscale, overflow check, step,
    /// zero-grad, bf16 copy of the master weights): fused into the check and
    /// one step, or as the separate passes a framework runs; serial or on
    /// all threads. Only [`Phase`] runs it.
    Phase { fused: bool, threaded: bool },
    /// An AdamW step with the gradients clipped by their global norm: fused
    /// (`clip::step_many_clipped`: the norm pass, then the step scaling the
    /// gradients inside it) or in two passes as PyTorch's
    /// `clip_grad_norm_` + `step()` (the norm, the gradients scaled in
    /// place, the plain step); serial or on all threads. Only [`Clip`] runs it.
    Clip { fused: bool, threaded: bool },
    /// The gradient-norm pass alone (`clip::grad_norm`, read only), serial
    /// or on all threads. Only [`Clip`] runs it.
    Norm { threaded: bool },
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
            Run::Phase { fused, threaded } => format!(
                "phase-{}-{}t",
                if fused { "fused" } else { "separate" },
                if threaded { rayon::current_num_threads() } else { 1 }
            ),
            Run::Clip { fused, threaded } => format!(
                "clip-{}-{}t",
                if fused { "fused" } else { "two-pass" },
                if threaded { rayon::current_num_threads() } else { 1 }
            ),
            Run::Norm { threaded } => {
                format!("norm-{}t", if threaded { rayon::current_num_threads() } else { 1 })
            }
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

/// An algorithm × element type: its name, the bytes one element's step
/// moves, the bytes one element of its probe moves, how to build it.
pub struct Kind {
    pub algorithm: String,
    pub dtype: &'static str,
    pub bytes_per_element: usize,
    /// What `Run::Probe` moves per element: the step's bytes, except where
    /// the probe has no kernel of the step's shape (plain SGD: one stream
    /// read and written, one read; the probe has 2 to 4 written streams),
    /// whose probe is the nearest shape (two written).
    pub probe_bytes_per_element: usize,
    pub build: fn(usize) -> Box<dyn Case>,
}

/// Every algorithm, at PyTorch's defaults, in f32 and f64; SGD also with
/// momentum 0.9 (`sgd-momentum`: its defaults have none, a step with no state).
pub fn kinds() -> Vec<Kind> {
    let mut out = Vec::new();
    kinds_of::<AdamConfig>(&mut out);
    kinds_of::<AdaMaxConfig>(&mut out);
    kinds_of::<AdaGradConfig>(&mut out);
    kinds_of::<RmsPropConfig>(&mut out);
    kinds_of::<AdaDeltaConfig>(&mut out);
    kinds_of::<SgdConfig>(&mut out);
    kinds_of::<SgdMomentum>(&mut out);
    kinds_of::<LionConfig>(&mut out);
    // AdamW in f32 and with lean bf16 state (issue 18), side by side.
    out.push(kind::<AdamW, f32>("f32"));
    out.push(Kind {
        algorithm: "adamw-lean".into(),
        dtype: "bf16",
        bytes_per_element: LeanCase::bytes_per_element(),
        probe_bytes_per_element: LeanCase::bytes_per_element(),
        build: LeanCase::build,
    });
    out.push(Kind {
        algorithm: "adamw-8bit".into(),
        dtype: "u8",
        bytes_per_element: QuantizedCase::BYTES_PER_ELEMENT,
        probe_bytes_per_element: QuantizedCase::BYTES_PER_ELEMENT,
        build: QuantizedCase::build,
    });
    out.push(Kind {
        algorithm: "adam-mix".into(),
        dtype: "bf16",
        bytes_per_element: MixedCase::bytes_per_element(),
        probe_bytes_per_element: MixedCase::bytes_per_element(),
        build: MixedCase::build,
    });
    out
}

/// A configuration the benches time: an algorithm's defaults, or a variant of them.
trait BenchConfig: 'static {
    type Algorithm: TestAlgorithm;
    /// The name in tables and bench groups.
    fn name() -> String;
    fn config() -> Self::Algorithm;
}

impl<A: TestAlgorithm + 'static> BenchConfig for A {
    type Algorithm = A;
    fn name() -> String {
        name::<A>()
    }
    fn config() -> A {
        A::default()
    }
}

/// SGD with momentum 0.9 (PyTorch's defaults otherwise): a momentum buffer
/// read and written, as SGD usually trains.
struct SgdMomentum;

impl BenchConfig for SgdMomentum {
    type Algorithm = SgdConfig;
    fn name() -> String {
        "sgd-momentum".into()
    }
    fn config() -> SgdConfig {
        SgdConfig { momentum: 0.9, ..SgdConfig::default() }
    }
}

/// AdamW at PyTorch's defaults (decoupled weight decay 0.01): the f32-state
/// step the lean-state `adamw-lean` is compared with.
struct AdamW;

impl BenchConfig for AdamW {
    type Algorithm = AdamConfig;
    fn name() -> String {
        "adamw".into()
    }
    fn config() -> AdamConfig {
        AdamConfig::adamw()
    }
}

/// A configuration in f32 and f64.
fn kinds_of<C: BenchConfig>(out: &mut Vec<Kind>) {
    out.push(kind::<C, f32>("f32"));
    out.push(kind::<C, f64>("f64"));
}

fn kind<C: BenchConfig, F: Float>(dtype: &'static str) -> Kind {
    let states = StepCase::<F, C>::kept().count();
    Kind {
        algorithm: C::name(),
        dtype,
        bytes_per_element: bytes_per_element::<C::Algorithm, F>(&C::config()),
        probe_bytes_per_element: (2 * states.max(1) + 3) * F::BYTES,
        build: StepCase::<F, C>::build,
    }
}

/// Every implementation a bench times: the reference, each tier this CPU
/// has (the others named on stderr), the dispatched kernel and the driver.
pub fn implementations() -> Vec<Run> {
    let mut out = vec![Run::Reference];
    out.extend(available_tiers().into_iter().map(Run::Tier));
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

/// The buffers of one algorithm × element type at one configuration
/// ([`BenchConfig`]): each state buffer the configuration keeps, and for a
/// step without state a scratch stream for the probe.
struct StepCase<F, C> {
    p: Vec<F>,
    g: Vec<F>,
    states: Vec<Vec<F>>,
    _config: std::marker::PhantomData<C>,
}

impl<F: Float, C: BenchConfig> StepCase<F, C> {
    /// The indices of the state buffers the configuration keeps.
    fn kept() -> impl Iterator<Item = usize> {
        let config = C::config();
        (0..<C::Algorithm as Algorithm>::STATE.len()).filter(move |&i| config.keeps(i))
    }

    fn build(n: usize) -> Box<dyn Case> {
        let (scale, non_negative) = (C::Algorithm::BENCH_SCALE, C::Algorithm::NON_NEGATIVE);
        let mut states: Vec<Vec<F>> =
            Self::kept().map(|i| wave(n, 5 + 2 * i, scale[i], non_negative[i])).collect();
        if states.is_empty() {
            states.push(wave(n, 5, 0.01, false)); // the probe's second written stream; no step reads it
        }
        Box::new(StepCase::<F, C> {
            p: wave(n, 0, 1.0, false),
            g: wave(n, 3, 0.1, false),
            states,
            _config: std::marker::PhantomData,
        })
    }

    /// One step of `run` (not a probe) at the configuration, step [`T`].
    fn step(&mut self, run: Run) {
        let config = C::config();
        let mut states = self.states.iter_mut();
        let slots: StateSlots<'_, F> = std::array::from_fn(|i| {
            (i < <C::Algorithm as Algorithm>::STATE.len() && config.keeps(i))
                .then(|| &mut states.next().unwrap()[..])
        });
        let b = C::Algorithm::buffers(&mut self.p, &self.g, slots).expect("the configuration's buffers");
        let with = match run {
            Run::Reference => Implementation::Reference,
            Run::Tier(tier) => Implementation::Tier(tier),
            Run::Dispatched => Implementation::Dispatched,
            Run::Driver => Implementation::Driver(Parallelism::Global),
            other => unreachable!("not a kernel run: {other:?}"),
        };
        run_step(&config, T, b, &with);
    }
}

impl<F: Float, C: BenchConfig> Case for StepCase<F, C> {
    fn run(&mut self, run: Run) {
        let Run::Probe { threaded } = run else {
            return self.step(run);
        };
        // The probe of the same shape: the parameter and every state written,
        // the gradient read (a step without state: the scratch stream written too).
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

/// Mixed-precision Adam as frameworks train: bf16 gradients, f32 master
/// weights and state, a bf16 copy of the new weights written in the same
/// pass. Its probe is f32 Adam's (three streams read and written, one read)
/// on the master, the state and an f32 stand-in for the gradient: the
/// machine's bandwidth for a step of about the same mix of reads and writes.
struct MixedCase {
    p: Vec<f32>,
    g: Vec<bf16>,
    m: Vec<f32>,
    v: Vec<f32>,
    copy: Vec<bf16>,
    probe_read: Vec<f32>,
}

impl MixedCase {
    fn layout() -> MixedLayout {
        MixedLayout { param: Dtype::F32, grad: Dtype::Bf16, state: Dtype::F32, copy: Some(Dtype::Bf16) }
    }

    /// p read and written (8), g read (2), m and v read and written (16), the copy written (2).
    fn bytes_per_element() -> usize {
        mixed_bytes_per_element(&Self::layout(), 2, false)
    }

    fn build(n: usize) -> Box<dyn Case> {
        let g: Vec<f32> = wave(n, 3, 0.1, false);
        Box::new(MixedCase {
            p: wave(n, 0, 1.0, false),
            g: g.iter().map(|&x| bf16::from_f32(x)).collect(),
            m: wave(n, 5, 0.01, false),
            v: wave(n, 7, 0.01, true),
            copy: vec![bf16::ZERO; n],
            probe_read: g,
        })
    }

    fn buffers(&mut self) -> MixedAdamBuffers<'_> {
        mixed_buffers(&mut self.p, &mut self.g, &mut self.m, &mut self.v, Some(&mut self.copy))
    }
}

/// The buffers of mixed-precision Adam as frameworks train: f32 master
/// weights and state, bf16 gradients, a bf16 copy if one is written.
fn mixed_buffers<'a>(
    p: &'a mut [f32],
    g: &'a mut [bf16],
    m: &'a mut [f32],
    v: &'a mut [f32],
    copy: Option<&'a mut [bf16]>,
) -> MixedAdamBuffers<'a> {
    MixedAdamBuffers {
        param: MixedSlice::F32(p),
        grad: MixedSlice::Bf16(g),
        exp_avg: MixedSlice::F32(m),
        exp_avg_sq: MixedSlice::F32(v),
        max_exp_avg_sq: None,
        param_copy: copy.map(MixedSlice::Bf16),
        position: 0,
    }
}

impl Case for MixedCase {
    fn run(&mut self, run: Run) {
        let config = AdamConfig::default();
        let options = MixedOptions { skip_non_finite: false, ..MixedOptions::default() };
        let k = mixed_coefficients(&config, T, &options).expect("valid");
        match run {
            Run::Reference => spec::mixed(self.buffers().into(), &k),
            Run::Tier(tier) => kernels::mixed_on(tier, self.buffers().into(), &k).expect("an available tier"),
            Run::Dispatched => kernels::mixed(self.buffers().into(), &k),
            Run::Driver => {
                let outcome = adam_step_mixed(&config, T, self.buffers(), &options, &Parallelism::Global);
                assert_eq!(outcome, Ok(StepOutcome::Applied));
            }
            Run::Probe { threaded } => {
                let written = [&mut self.p[..], &mut self.m, &mut self.v];
                probe_step(ProbeBuffers { written, read: &self.probe_read }, &parallelism(threaded))
                    .expect("equal lengths");
            }
            other => unreachable!("not a kernel run: {other:?}"),
        }
    }

    fn output_bits(&self) -> Vec<u64> {
        let copy: Vec<f32> = self.copy.iter().map(|x| x.to_f32()).collect();
        bits(&[&self.p, &self.m, &self.v, &copy])
    }
}

/// AdamW with f32 parameters and gradients and bf16 `exp_avg`/`exp_avg_sq`
/// (issue 18's lean state, round to nearest even): p read and written (8),
/// g read (4), m and v read and written (8): 20 bytes per element, 0.71 of
/// f32 AdamW's 28. Its probe runs over the same buffers with the same byte
/// widths and read/write pattern and trivial arithmetic
/// ([`probe_state_step`]).
struct LeanCase {
    p: Vec<f32>,
    g: Vec<f32>,
    m: Vec<bf16>,
    v: Vec<bf16>,
}

impl LeanCase {
    fn layout() -> MixedLayout {
        MixedLayout { param: Dtype::F32, grad: Dtype::F32, state: Dtype::Bf16, copy: None }
    }

    fn bytes_per_element() -> usize {
        mixed_bytes_per_element(&Self::layout(), 2, false)
    }

    fn build(n: usize) -> Box<dyn Case> {
        let narrow = |x: Vec<f32>| x.into_iter().map(bf16::from_f32).collect();
        Box::new(LeanCase {
            p: wave(n, 0, 1.0, false),
            g: wave(n, 3, 0.1, false),
            m: narrow(wave(n, 5, 0.01, false)),
            v: narrow(wave(n, 7, 0.01, true)),
        })
    }

    fn buffers(&mut self) -> MixedAdamBuffers<'_> {
        MixedAdamBuffers {
            param: MixedSlice::F32(&mut self.p),
            grad: MixedSlice::F32(&mut self.g),
            exp_avg: MixedSlice::Bf16(&mut self.m),
            exp_avg_sq: MixedSlice::Bf16(&mut self.v),
            max_exp_avg_sq: None,
            param_copy: None,
            position: 0,
        }
    }
}

impl Case for LeanCase {
    fn run(&mut self, run: Run) {
        let config = AdamConfig::adamw();
        let options = MixedOptions { skip_non_finite: false, ..MixedOptions::default() };
        let k = mixed_coefficients(&config, T, &options).expect("valid");
        match run {
            Run::Reference => spec::mixed(self.buffers().into(), &k),
            Run::Tier(tier) => kernels::mixed_on(tier, self.buffers().into(), &k).expect("an available tier"),
            Run::Dispatched => kernels::mixed(self.buffers().into(), &k),
            Run::Driver => {
                let outcome = adam_step_mixed(&config, T, self.buffers(), &options, &Parallelism::Global);
                assert_eq!(outcome, Ok(StepOutcome::Applied));
            }
            Run::Probe { threaded } => {
                let state = ProbeState::Bf16([&mut self.m, &mut self.v]);
                let buffers = StateProbeBuffers { param: &mut self.p, grad: &self.g, state };
                probe_state_step(buffers, &parallelism(threaded)).expect("equal lengths")
            }
            other => unreachable!("not a kernel run: {other:?}"),
        }
    }

    fn output_bits(&self) -> Vec<u64> {
        let widen = |x: &[bf16]| x.iter().map(|x| x.to_f32()).collect::<Vec<f32>>();
        bits(&[&self.p, &widen(&self.m), &widen(&self.v)])
    }
}

/// AdamW with f32 parameters and gradients and 8-bit blockwise
/// `exp_avg`/`exp_avg_sq` (issue 18): p read and written (8), g read (4),
/// the two code bytes read and written (4): 16 bytes per element, 0.57 of
/// f32 AdamW's 28 (the scales, 16 bytes per block of 256, are 0.4% more and
/// not counted). Its probe runs over the same buffers, scales included
/// ([`probe_state_step`]).
struct QuantizedCase {
    p: Vec<f32>,
    g: Vec<f32>,
    m: QuantizedState,
    v: QuantizedState,
}

impl QuantizedCase {
    const BYTES_PER_ELEMENT: usize = 16;

    fn build(n: usize) -> Box<dyn Case> {
        Box::new(QuantizedCase {
            p: wave(n, 0, 1.0, false),
            g: wave(n, 3, 0.1, false),
            m: QuantizedState::quantize(&wave::<f32>(n, 5, 0.01, false), true),
            v: QuantizedState::quantize(&wave::<f32>(n, 7, 0.01, true), false),
        })
    }

    fn buffers(&mut self) -> QuantizedBuffers<'_> {
        QuantizedBuffers {
            param: &mut self.p,
            grad: &mut self.g,
            state: [Some(self.m.slot()), Some(self.v.slot()), None],
        }
    }
}

impl Case for QuantizedCase {
    fn run(&mut self, run: Run) {
        let config = AdamConfig::adamw();
        let options = MixedOptions { skip_non_finite: false, ..MixedOptions::default() };
        let k = quantized_coefficients(&config, T, &options).expect("valid");
        match run {
            Run::Reference => spec::quantized::quantized(self.buffers(), &k),
            Run::Tier(tier) => kernels::quantized_on(tier, self.buffers(), &k).expect("an available tier"),
            Run::Dispatched => kernels::quantized(self.buffers(), &k),
            Run::Driver => {
                let outcome = step_quantized(&config, T, self.buffers(), &options, &Parallelism::Global);
                assert_eq!(outcome, Ok(StepOutcome::Applied));
            }
            Run::Probe { threaded } => {
                let state = ProbeState::Codes([self.m.slot(), self.v.slot()]);
                let buffers = StateProbeBuffers { param: &mut self.p, grad: &self.g, state };
                probe_state_step(buffers, &parallelism(threaded)).expect("equal lengths")
            }
            other => unreachable!("not a kernel run: {other:?}"),
        }
    }

    fn output_bits(&self) -> Vec<u64> {
        let codes = |s: &QuantizedState| s.codes().iter().map(|&c| f32::from(c)).collect::<Vec<f32>>();
        bits(&[&self.p, &codes(&self.m), self.m.scales(), &codes(&self.v), self.v.scales()])
    }
}

/// Loss scale of the phase: gradients carry it, the phase removes it.
const LOSS_SCALE: f32 = 1024.0;

/// One mixed-precision training phase over bf16 gradients scaled by
/// `LOSS_SCALE`, f32 master weights and state, and a bf16 copy:
///
/// - **separate**, as a framework does it without fusion: unscale the
///   gradient in place, check it for infinities and NaNs, step, zero the
///   gradient, copy the master weights to bf16; five passes, each split
///   across the threads by rayon when threaded;
/// - **fused**: [`adam_step_mixed`] with the check on, the unscaling, the
///   zeroing and the copy inside the step; two passes.
///
/// Both compute the same bits (checked by `same_bits_both_ways`).
pub struct Phase {
    p: Vec<f32>,
    g: Vec<bf16>,
    m: Vec<f32>,
    v: Vec<f32>,
    copy: Vec<bf16>,
}

impl Phase {
    pub fn new(n: usize) -> Phase {
        Phase {
            p: wave(n, 0, 1.0, false),
            g: wave::<f32>(n, 3, 0.1 * LOSS_SCALE as f64, false).iter().map(|&x| bf16::from_f32(x)).collect(),
            m: wave(n, 5, 0.01, false),
            v: wave(n, 7, 0.01, true),
            copy: vec![bf16::ZERO; n],
        }
    }

    /// Bytes the fused phase moves per element: the check reads g (2), the
    /// step moves 28 and writes the zeroed g (2).
    pub fn fused_bytes_per_element() -> usize {
        2 + mixed_bytes_per_element(&MixedCase::layout(), 2, true)
    }

    /// Bytes the separate passes move per element: unscale (2 + 2), check
    /// (2), step without copy (26), zero (2), copy (4 + 2).
    pub fn separate_bytes_per_element() -> usize {
        let step = MixedLayout { copy: None, ..MixedCase::layout() };
        4 + 2 + mixed_bytes_per_element(&step, 2, false) + 2 + 6
    }

    fn fused(&mut self, threaded: bool) {
        let options =
            MixedOptions { loss_scale: LOSS_SCALE as f64, zero_grad: true, ..MixedOptions::default() };
        let b = mixed_buffers(&mut self.p, &mut self.g, &mut self.m, &mut self.v, Some(&mut self.copy));
        let outcome = adam_step_mixed(&AdamConfig::default(), T, b, &options, &parallelism(threaded));
        assert_eq!(outcome, Ok(StepOutcome::Applied));
    }

    fn separate(&mut self, threaded: bool) {
        use rayon::prelude::*;
        let chunk = if threaded {
            self.p.len().div_ceil(rayon::current_num_threads()).max(1 << 16)
        } else {
            usize::MAX
        };
        let chunk = chunk.min(self.p.len()).max(1);
        let unscale = |g: &mut [bf16]| kernels::scale_in_place(&mut MixedSlice::Bf16(g), 1.0 / LOSS_SCALE);
        let non_finite = |g: &mut [bf16]| kernels::grad_non_finite(&MixedSlice::Bf16(g), 1.0);
        let copy = |(p, c): (&mut [f32], &mut [bf16])| {
            kernels::convert(&MixedSlice::F32(p), &mut MixedSlice::Bf16(c), 1.0)
        };
        let found_inf = if threaded {
            self.g.par_chunks_mut(chunk).for_each(unscale);
            self.g.par_chunks_mut(chunk).map(non_finite).reduce(|| false, |a, b| a | b)
        } else {
            unscale(&mut self.g);
            non_finite(&mut self.g)
        };
        assert!(!found_inf);
        let options = MixedOptions { skip_non_finite: false, ..MixedOptions::default() };
        let b = mixed_buffers(&mut self.p, &mut self.g, &mut self.m, &mut self.v, None);
        let outcome = adam_step_mixed(&AdamConfig::default(), T, b, &options, &parallelism(threaded));
        assert_eq!(outcome, Ok(StepOutcome::Applied));
        if threaded {
            self.g.par_chunks_mut(chunk).for_each(|g| g.fill(bf16::ZERO));
            self.p.par_chunks_mut(chunk).zip(self.copy.par_chunks_mut(chunk)).for_each(copy);
        } else {
            self.g.fill(bf16::ZERO);
            copy((&mut self.p, &mut self.copy));
        }
    }

    /// Puts the scaled gradients back (the phase consumed them), untimed.
    pub fn refill(&mut self) {
        let n = self.g.len();
        let g: Vec<f32> = wave(n, 3, 0.1 * LOSS_SCALE as f64, false);
        for (x, y) in self.g.iter_mut().zip(g) {
            *x = bf16::from_f32(y);
        }
    }
}

impl Case for Phase {
    fn run(&mut self, run: Run) {
        match run {
            Run::Phase { fused: true, threaded } => self.fused(threaded),
            Run::Phase { fused: false, threaded } => self.separate(threaded),
            other => unreachable!("a phase runs only phases, not {other:?}"),
        }
    }

    fn output_bits(&self) -> Vec<u64> {
        let copy: Vec<f32> = self.copy.iter().chain(&self.g).map(|x| x.to_f32()).collect();
        bits(&[&self.p, &self.m, &self.v, &copy])
    }
}

/// The clip coefficient [`Clip`] runs at: `max_norm` is this fraction of the
/// gradients' norm, so every step really clips.
const CLIP_FRACTION: f64 = 0.5;

/// An f32 AdamW step (PyTorch's `AdamW` defaults) with its gradients clipped
/// by their global norm to half of it, three ways:
///
/// - **fused** ([`Run::Clip`] `fused: true`): `clip::step_many_clipped` over
///   the one tensor: a read-only norm pass, then the step with every gradient
///   element multiplied by the coefficient inside it. 4 + 28 = 32 bytes per
///   element;
/// - **two-pass** (`fused: false`), as `clip_grad_norm_` then `step()`:
///   `clip::grad_norm`, the gradients scaled in place by the coefficient with
///   the library's own `kernels::scale_in_place` (dispatched SIMD; split into
///   chunks across the threads by rayon when threaded), then the plain
///   `adam_step_many`. 4 + 8 + 28 = 40 bytes per element;
/// - **the norm pass alone** ([`Run::Norm`]): `clip::grad_norm`, 4 bytes per
///   element read;
///
/// and [`Run::Probe`]: f32 Adam's probe (p, m, v read and written, g read;
/// 28 bytes per element), the roof of the step's shape.
///
/// The two-pass run writes the gradients: [`Clip::refill`] restores them
/// (untimed) before every timed call, so every call clips the same gradients
/// by the same coefficient (0.5). The fused and two-pass runs compute the
/// same bits (the test `clip_same_bits_both_ways`; the roofline report and
/// the bench check it again before timing).
pub struct Clip {
    p: Vec<f32>,
    g: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    /// The gradients as built, for [`Clip::refill`].
    g0: Vec<f32>,
    clip: ClipGradNorm,
}

impl Clip {
    pub fn new(n: usize) -> Clip {
        let g: Vec<f32> = wave(n, 3, 0.1, false);
        let norm = clip::grad_norm(&[&g[..]], &Parallelism::Serial);
        Clip {
            p: wave(n, 0, 1.0, false),
            m: wave(n, 5, 0.01, false),
            v: wave(n, 7, 0.01, true),
            g0: g.clone(),
            g,
            clip: ClipGradNorm::new(CLIP_FRACTION * norm),
        }
    }

    /// The fused step's bytes per element: the norm reads g (4), the step moves 28.
    pub fn fused_bytes_per_element() -> usize {
        4 + bytes_per_element::<AdamConfig, f32>(&AdamConfig::adamw())
    }

    /// The two-pass bytes per element: the norm (4), the scaling reads and
    /// writes g (8), the step (28).
    pub fn two_pass_bytes_per_element() -> usize {
        4 + 8 + bytes_per_element::<AdamConfig, f32>(&AdamConfig::adamw())
    }

    /// The norm pass's bytes per element: g read (4).
    pub fn norm_bytes_per_element() -> usize {
        4
    }

    /// The probe's bytes per element: f32 Adam's shape (28).
    pub fn probe_bytes_per_element() -> usize {
        fused_optim::probe_bytes_per_element::<f32, 3>()
    }

    /// Puts the gradients back as built (the two-pass run scales them), untimed.
    pub fn refill(&mut self) {
        self.g.copy_from_slice(&self.g0);
    }

    fn adamw_buffers(&mut self) -> AdamBuffers<'_, f32> {
        AdamBuffers {
            param: &mut self.p,
            grad: &self.g,
            exp_avg: &mut self.m,
            exp_avg_sq: &mut self.v,
            max_exp_avg_sq: None,
        }
    }

    fn fused(&mut self, threaded: bool) {
        let clip = self.clip;
        let mut tensors = [self.adamw_buffers()];
        let report =
            clip::step_many_clipped(&AdamConfig::adamw(), T, &clip, &mut tensors, &parallelism(threaded))
                .expect("valid");
        assert!(report.coefficient < 1.0);
    }

    fn two_pass(&mut self, threaded: bool) {
        use rayon::prelude::*;
        let parallelism = parallelism(threaded);
        let norm = clip::grad_norm(&[&self.g[..]], &parallelism);
        let coefficient = self.clip.coefficient(norm);
        assert!(coefficient < 1.0);
        let scale = |g: &mut [f32]| kernels::scale_in_place(&mut MixedSlice::F32(g), coefficient as f32);
        if threaded {
            let chunk = self.g.len().div_ceil(rayon::current_num_threads()).max(1 << 16);
            self.g.par_chunks_mut(chunk).for_each(scale);
        } else {
            scale(&mut self.g);
        }
        let mut tensors = [self.adamw_buffers()];
        adam_step_many(&AdamConfig::adamw(), T, &mut tensors, &parallelism).expect("valid");
    }
}

impl Case for Clip {
    fn run(&mut self, run: Run) {
        match run {
            Run::Clip { fused: true, threaded } => self.fused(threaded),
            Run::Clip { fused: false, threaded } => self.two_pass(threaded),
            Run::Norm { threaded } => {
                std::hint::black_box(clip::grad_norm(&[&self.g[..]], &parallelism(threaded)));
            }
            Run::Probe { threaded } => {
                let written = [&mut self.p[..], &mut self.m, &mut self.v];
                probe_step(ProbeBuffers { written, read: &self.g }, &parallelism(threaded))
                    .expect("equal lengths");
            }
            other => unreachable!("a clipped step runs only clipped steps, norms and probes, not {other:?}"),
        }
    }

    fn output_bits(&self) -> Vec<u64> {
        bits(&[&self.p, &self.m, &self.v])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind builds, steps with every implementation and runs its probe
    /// (a step without state has a scratch stream for it), and its output
    /// matches the reference's.
    #[test]
    #[cfg_attr(
        miri,
        ignore = "times real kernels over large buffers; the differential tests cover them under Miri"
    )]
    fn every_kind_runs_and_probes() {
        for kind in kinds() {
            let mut want = (kind.build)(1000);
            want.step(Run::Reference);
            for run in implementations() {
                let mut case = (kind.build)(1000);
                case.step(run);
                assert!(
                    case.output_bits() == want.output_bits(),
                    "{} {} {run:?}",
                    kind.algorithm,
                    kind.dtype
                );
                case.step(Run::Probe { threaded: false });
                case.step(Run::Probe { threaded: true });
            }
            assert!(kind.probe_bytes_per_element >= kind.bytes_per_element);
        }
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "times real kernels over large buffers; the differential tests cover them under Miri"
    )]
    fn bytes_per_element_of_sgd_and_lion() {
        let of = |name: &str, dtype: &str| {
            let k = kinds().into_iter().find(|k| k.algorithm == name && k.dtype == dtype).expect("a kind");
            (k.bytes_per_element, k.probe_bytes_per_element)
        };
        assert_eq!(of("sgd", "f32"), (12, 20));
        assert_eq!(of("sgd-momentum", "f32"), (20, 20));
        assert_eq!(of("sgd-momentum", "f64"), (40, 40));
        assert_eq!(of("lion", "f32"), (20, 20));
        assert_eq!(of("adam", "f32"), (28, 28));
    }

    /// The fused clipped step and the two passes write the same bits, and
    /// the refill puts the two-pass run's gradients back.
    #[test]
    #[cfg_attr(
        miri,
        ignore = "times real kernels over large buffers; the differential tests cover them under Miri"
    )]
    fn clip_same_bits_both_ways() {
        for threaded in [false, true] {
            let (mut a, mut b) = (Clip::new(3 << 12), Clip::new(3 << 12));
            for _ in 0..3 {
                a.step(Run::Clip { fused: true, threaded });
                b.step(Run::Clip { fused: false, threaded });
                assert!(a.output_bits() == b.output_bits(), "threaded: {threaded}");
                assert!(b.g != b.g0);
                b.refill();
                assert!(a.g == b.g);
            }
        }
        assert_eq!((Clip::fused_bytes_per_element(), Clip::two_pass_bytes_per_element()), (32, 40));
    }
}
