//! What the benches and the roofline report time: each algorithm × element
//! type with its buffers, runnable by every implementation and by the
//! bandwidth probe of its shape. Used by `bench/benches/kernels.rs` and
//! `bench/examples/roofline.rs`.

use crate::harness::{Implementation, TestAlgorithm, available_tiers, name, run_step};
use fused_optim::algorithms::{StateSlots, bytes_per_element};
use fused_optim::kernels::{self, spec};
use fused_optim::mixed::{
    Dtype, MixedAdamBuffers, MixedLayout, MixedOptions, MixedSlice, StepOutcome, adam_step_mixed, bf16,
    mixed_bytes_per_element, mixed_coefficients,
};
use fused_optim::{
    AdaDeltaConfig, AdaGradConfig, AdaMaxConfig, AdamConfig, Float, LionConfig, Parallelism, ProbeBuffers,
    RmsPropConfig, SgdConfig, Tier, probe_step,
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
    pub algorithm: String,
    pub dtype: &'static str,
    pub bytes_per_element: usize,
    pub build: fn(usize) -> Box<dyn Case>,
}

/// Every algorithm, at PyTorch's defaults, in f32 and f64.
pub fn kinds() -> Vec<Kind> {
    let mut out = Vec::new();
    kinds_of::<AdamConfig>(&mut out);
    kinds_of::<AdaMaxConfig>(&mut out);
    kinds_of::<AdaGradConfig>(&mut out);
    kinds_of::<RmsPropConfig>(&mut out);
    kinds_of::<AdaDeltaConfig>(&mut out);
    kinds_of::<SgdConfig>(&mut out);
    kinds_of::<LionConfig>(&mut out);
    out.push(Kind {
        algorithm: "adam-mix".into(),
        dtype: "bf16",
        bytes_per_element: MixedCase::bytes_per_element(),
        build: MixedCase::build,
    });
    out
}

/// An algorithm at its defaults, in f32 and f64.
fn kinds_of<A: TestAlgorithm>(out: &mut Vec<Kind>) {
    out.push(Kind {
        algorithm: name::<A>(),
        dtype: "f32",
        bytes_per_element: bytes_per_element::<A, f32>(&A::default()),
        build: StepCase::<f32, A>::build,
    });
    out.push(Kind {
        algorithm: name::<A>(),
        dtype: "f64",
        bytes_per_element: bytes_per_element::<A, f64>(&A::default()),
        build: StepCase::<f64, A>::build,
    });
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

/// The buffers of one algorithm × element type at the algorithm's defaults:
/// each state buffer the defaults keep.
struct StepCase<F, A> {
    p: Vec<F>,
    g: Vec<F>,
    states: Vec<Vec<F>>,
    _algorithm: std::marker::PhantomData<A>,
}

impl<F: Float, A: TestAlgorithm> StepCase<F, A> {
    fn build(n: usize) -> Box<dyn Case> {
        let config = A::default();
        let kept = (0..A::STATE.len()).filter(|&i| config.keeps(i));
        Box::new(StepCase::<F, A> {
            p: wave(n, 0, 1.0, false),
            g: wave(n, 3, 0.1, false),
            states: kept.map(|i| wave(n, 5 + 2 * i, A::BENCH_SCALE[i], A::NON_NEGATIVE[i])).collect(),
            _algorithm: std::marker::PhantomData,
        })
    }

    /// One step of `run` (not a probe) at the defaults, step [`T`].
    fn step(&mut self, run: Run) {
        let mut states = self.states.iter_mut();
        let slots: StateSlots<'_, F> = std::array::from_fn(|i| {
            (i < A::STATE.len() && A::default().keeps(i)).then(|| &mut states.next().unwrap()[..])
        });
        let b = A::buffers(&mut self.p, &self.g, slots).expect("the defaults' buffers");
        let with = match run {
            Run::Reference => Implementation::Reference,
            Run::Tier(tier) => Implementation::Tier(tier),
            Run::Dispatched => Implementation::Dispatched,
            Run::Driver => Implementation::Driver(Parallelism::Global),
            Run::Probe { .. } | Run::ForcedSplit | Run::Phase { .. } => unreachable!("not a kernel run"),
        };
        run_step(&A::default(), T, b, &with);
    }
}

impl<F: Float, A: TestAlgorithm> Case for StepCase<F, A> {
    fn run(&mut self, run: Run) {
        let Run::Probe { threaded } = run else {
            return self.step(run);
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
            Run::ForcedSplit | Run::Phase { .. } => unreachable!("not a kernel run"),
        }
    }

    fn output_bits(&self) -> Vec<u64> {
        let copy: Vec<f32> = self.copy.iter().map(|x| x.to_f32()).collect();
        bits(&[&self.p, &self.m, &self.v, &copy])
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
