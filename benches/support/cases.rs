#![allow(dead_code)] // each includer uses a part
//! What the benches and the roofline report time: each algorithm × element
//! type with its buffers, runnable by every implementation and by the
//! bandwidth probe of its shape. Shared by `benches/kernels.rs` and
//! `examples/roofline.rs` (included with `#[path]`).

use fused_optim::kernels::{self, reference};
use fused_optim::{
    AdaMaxBuffers, AdaMaxConfig, AdamBuffers, AdamConfig, Float, Parallelism, ProbeBuffers, Tier, adam_step,
    adamax_step, probe_step,
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

pub fn kinds() -> Vec<Kind> {
    let adam = AdamConfig::default();
    let adamax = AdaMaxConfig::default();
    vec![
        Kind {
            algorithm: "adam",
            dtype: "f32",
            bytes_per_element: adam.bytes_per_element::<f32>(),
            build: adam_case::<f32>,
        },
        Kind {
            algorithm: "adam",
            dtype: "f64",
            bytes_per_element: adam.bytes_per_element::<f64>(),
            build: adam_case::<f64>,
        },
        Kind {
            algorithm: "adamax",
            dtype: "f32",
            bytes_per_element: adamax.bytes_per_element::<f32>(),
            build: adamax_case::<f32>,
        },
        Kind {
            algorithm: "adamax",
            dtype: "f64",
            bytes_per_element: adamax.bytes_per_element::<f64>(),
            build: adamax_case::<f64>,
        },
    ]
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

struct AdamCase<F> {
    config: AdamConfig,
    p: Vec<F>,
    g: Vec<F>,
    m: Vec<F>,
    v: Vec<F>,
}

fn adam_case<F: Float>(n: usize) -> Box<dyn Case> {
    Box::new(AdamCase::<F> {
        config: AdamConfig::default(),
        p: wave(n, 0, 1.0, false),
        g: wave(n, 3, 0.1, false),
        m: wave(n, 5, 0.01, false),
        v: wave(n, 7, 0.01, true),
    })
}

impl<F: Float> Case for AdamCase<F> {
    fn run(&mut self, run: Run) {
        let k = self.config.coefficients::<F>(T).expect("valid");
        let b = AdamBuffers {
            param: &mut self.p,
            grad: &self.g,
            exp_avg: &mut self.m,
            exp_avg_sq: &mut self.v,
            max_exp_avg_sq: None,
        };
        match run {
            Run::Reference => reference::adam(b, &k),
            Run::Tier(tier) => kernels::adam_on(tier, b, &k).expect("an available tier"),
            Run::Dispatched => kernels::adam(b, &k),
            Run::Driver => adam_step(&self.config, T, b, &Parallelism::Global).expect("valid"),
            Run::Probe { threaded } => {
                let probe = ProbeBuffers { written: [b.param, b.exp_avg, b.exp_avg_sq], read: b.grad };
                probe_step(probe, &parallelism(threaded)).expect("equal lengths");
            }
            Run::ForcedSplit => unreachable!("`Case::step` runs it as the driver"),
        }
    }

    fn output_bits(&self) -> Vec<u64> {
        bits(&[&self.p, &self.m, &self.v])
    }
}

struct AdaMaxCase<F> {
    config: AdaMaxConfig,
    p: Vec<F>,
    g: Vec<F>,
    m: Vec<F>,
    u: Vec<F>,
}

fn adamax_case<F: Float>(n: usize) -> Box<dyn Case> {
    Box::new(AdaMaxCase::<F> {
        config: AdaMaxConfig::default(),
        p: wave(n, 0, 1.0, false),
        g: wave(n, 3, 0.1, false),
        m: wave(n, 5, 0.01, false),
        u: wave(n, 7, 0.1, true),
    })
}

impl<F: Float> Case for AdaMaxCase<F> {
    fn run(&mut self, run: Run) {
        let k = self.config.coefficients::<F>(T).expect("valid");
        let b =
            AdaMaxBuffers { param: &mut self.p, grad: &self.g, exp_avg: &mut self.m, exp_inf: &mut self.u };
        match run {
            Run::Reference => reference::adamax(b, &k),
            Run::Tier(tier) => kernels::adamax_on(tier, b, &k).expect("an available tier"),
            Run::Dispatched => kernels::adamax(b, &k),
            Run::Driver => adamax_step(&self.config, T, b, &Parallelism::Global).expect("valid"),
            Run::Probe { threaded } => {
                let probe = ProbeBuffers { written: [b.param, b.exp_avg, b.exp_inf], read: b.grad };
                probe_step(probe, &parallelism(threaded)).expect("equal lengths");
            }
            Run::ForcedSplit => unreachable!("`Case::step` runs it as the driver"),
        }
    }

    fn output_bits(&self) -> Vec<u64> {
        bits(&[&self.p, &self.m, &self.u])
    }
}
