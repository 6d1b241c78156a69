//! The main job: time the kernels on this machine.
//!
//! For Adam and AdaMax, f32 and f64, at a few sizes, it times the scalar
//! reference loop, the dispatched kernel on one thread, and the threaded
//! driver, and prints ns/element, GB/s (of the bytes the step must move: f32
//! Adam reads p, g, m, v and writes p, m, v, 28 bytes per element) and the
//! speed-up over the reference. Every figure is the median of several timed
//! samples taken after a warm-up step (so page faults stay outside).
//!
//! ```text
//! cargo run --release --example roofline                 # default sizes 2^12, 2^16, 2^20, 2^24
//! cargo run --release --example roofline -- --sizes 12,24 --samples 15
//! cargo run --release --example roofline -- --crossover  # serial vs two threads, 2^10..2^20
//! ```

use fused_optim::kernels::{self, reference};
use fused_optim::{
    AdaMaxBuffers, AdaMaxConfig, AdamBuffers, AdamConfig, Float, Parallelism, Tier, adam_step, adamax_step,
};
use std::time::{Duration, Instant};

/// What runs a step.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Runner {
    /// The scalar reference loop.
    Reference,
    /// The dispatched kernel on the calling thread.
    Serial,
    /// The public step through the driver on the global pool.
    Threaded,
    /// Two halves on two threads with `rayon::join`, whatever the size
    /// (what the driver does above its threshold): for the crossover.
    ForcedSplit,
}

impl Runner {
    fn name(self) -> &'static str {
        match self {
            Runner::Reference => "reference",
            Runner::Serial => "dispatched, 1 thread",
            Runner::Threaded => "driver, all threads",
            Runner::ForcedSplit => "forced 2-way split",
        }
    }
}

struct Options {
    sizes: Vec<u32>,
    samples: usize,
    crossover: bool,
}

fn parse_options() -> Options {
    let mut options = Options { sizes: vec![12, 16, 20, 24], samples: 9, crossover: false };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--sizes" => {
                let list = args.next().expect("--sizes takes a list of log2 sizes, e.g. 12,24");
                options.sizes = list.split(',').map(|s| s.trim().parse().expect("a log2 size")).collect();
            }
            "--samples" => options.samples = args.next().and_then(|s| s.parse().ok()).expect("--samples N"),
            "--crossover" => options.crossover = true,
            "--help" | "-h" => {
                println!("usage: roofline [--sizes 12,16,20,24] [--samples 9] [--crossover]");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other:?} (try --help)"),
        }
    }
    options
}

/// Median time of one call of `step`, over `samples` samples of at least
/// ~20 ms each (a sample repeats `step` as often as that takes).
fn time_step(samples: usize, mut step: impl FnMut()) -> Duration {
    step(); // warm-up: page faults, caches, the dispatch decision
    let start = Instant::now();
    step();
    let once = start.elapsed().max(Duration::from_nanos(50));
    let repeats = (Duration::from_millis(20).as_nanos() / once.as_nanos()).clamp(1, 1 << 20) as u32;
    let mut times: Vec<Duration> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..repeats {
                step();
            }
            start.elapsed() / repeats
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// Buffers of one step: values that keep the state normal over many steps.
///
/// No value is zero: a zero gradient decays its moment by β each step, and a
/// benchmark repeating the step thousands of times would drive it into the
/// subnormal range, where x86 arithmetic takes microcode assists and the
/// figures stop describing training.
fn buffers<T: Float>(n: usize) -> [Vec<T>; 5] {
    let wave = |k: usize, scale: f64| -> Vec<T> {
        (0..n).map(|i| T::from_f64(scale * (((i * 7 + k) % 13) as f64 - 6.5) / 6.5)).collect()
    };
    let square = |v: Vec<T>| v.into_iter().map(|x| x * x).collect::<Vec<T>>();
    [wave(0, 1.0), wave(3, 0.1), wave(5, 0.01), square(wave(7, 0.01)), square(wave(9, 0.01))]
}

fn time_adam<T: Float>(n: usize, runner: Runner, samples: usize) -> Duration {
    let config = AdamConfig::default();
    let coefficients = config.coefficients::<T>(10).expect("valid");
    let [mut p, g, mut m, mut v, _] = buffers::<T>(n);
    time_step(samples, || {
        let b = AdamBuffers {
            param: &mut p,
            grad: &g,
            exp_avg: &mut m,
            exp_avg_sq: &mut v,
            max_exp_avg_sq: None,
        };
        match runner {
            Runner::Reference => reference::adam(b, &coefficients),
            Runner::Serial => kernels::adam(b, &coefficients),
            Runner::Threaded => adam_step(&config, 10, b, &Parallelism::Global).expect("valid"),
            Runner::ForcedSplit => {
                let (l, r) = b.split_at(n / 2 / 16 * 16);
                rayon::join(|| kernels::adam(l, &coefficients), || kernels::adam(r, &coefficients));
            }
        }
    })
}

fn time_adamax<T: Float>(n: usize, runner: Runner, samples: usize) -> Duration {
    let config = AdaMaxConfig::default();
    let coefficients = config.coefficients::<T>(10).expect("valid");
    let [mut p, g, mut m, _, mut u] = buffers::<T>(n);
    time_step(samples, || {
        let b = AdaMaxBuffers { param: &mut p, grad: &g, exp_avg: &mut m, exp_inf: &mut u };
        match runner {
            Runner::Reference => reference::adamax(b, &coefficients),
            Runner::Serial => kernels::adamax(b, &coefficients),
            Runner::Threaded => adamax_step(&config, 10, b, &Parallelism::Global).expect("valid"),
            Runner::ForcedSplit => {
                let (l, r) = b.split_at(n / 2 / 16 * 16);
                rayon::join(|| kernels::adamax(l, &coefficients), || kernels::adamax(r, &coefficients));
            }
        }
    })
}

/// One algorithm × element type: how to time it and how many bytes an element moves.
struct Case {
    name: &'static str,
    dtype: &'static str,
    bytes_per_element: usize,
    time: fn(usize, Runner, usize) -> Duration,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "adam",
            dtype: "f32",
            bytes_per_element: AdamConfig::default().bytes_per_element::<f32>(),
            time: time_adam::<f32>,
        },
        Case {
            name: "adam",
            dtype: "f64",
            bytes_per_element: AdamConfig::default().bytes_per_element::<f64>(),
            time: time_adam::<f64>,
        },
        Case {
            name: "adamax",
            dtype: "f32",
            bytes_per_element: AdaMaxConfig::default().bytes_per_element::<f32>(),
            time: time_adamax::<f32>,
        },
        Case {
            name: "adamax",
            dtype: "f64",
            bytes_per_element: AdaMaxConfig::default().bytes_per_element::<f64>(),
            time: time_adamax::<f64>,
        },
    ]
}

fn main() {
    let options = parse_options();
    let threads = rayon::current_num_threads();
    println!(
        "fused-optim roofline: dispatched tier {} (available: {}), {threads} rayon threads, serial below {} KiB of traffic",
        Tier::dispatched(),
        Tier::available().map(Tier::name).collect::<Vec<_>>().join(", "),
        fused_optim::SERIAL_BELOW_BYTES >> 10,
    );
    if options.crossover {
        return crossover(&options);
    }
    println!(
        "{:<7} {:<4} {:>9}  {:<22} {:>9} {:>8} {:>9}",
        "algo", "type", "n", "implementation", "ns/elem", "GB/s", "vs ref"
    );
    for case in cases() {
        for &log2 in &options.sizes {
            let n = 1usize << log2;
            let reference = (case.time)(n, Runner::Reference, options.samples);
            for runner in [Runner::Reference, Runner::Serial, Runner::Threaded] {
                let t = if runner == Runner::Reference {
                    reference
                } else {
                    (case.time)(n, runner, options.samples)
                };
                let ns = t.as_secs_f64() * 1e9 / n as f64;
                let gbps = case.bytes_per_element as f64 / ns;
                let speedup = reference.as_secs_f64() / t.as_secs_f64();
                println!(
                    "{:<7} {:<4} {:>9}  {:<22} {:>9.3} {:>8.1} {:>8.1}x",
                    case.name,
                    case.dtype,
                    format!("2^{log2}"),
                    runner.name(),
                    ns,
                    gbps,
                    speedup
                );
            }
        }
    }
}

/// Serial against a forced two-way split, to place the driver's threshold.
fn crossover(options: &Options) {
    println!(
        "{:<7} {:<4} {:>9} {:>11} {:>11} {:>8}",
        "algo", "type", "n", "serial ns", "split ns", "split/serial"
    );
    for case in cases() {
        for log2 in 10..=20 {
            let n = 1usize << log2;
            let serial = (case.time)(n, Runner::Serial, options.samples);
            let split = (case.time)(n, Runner::ForcedSplit, options.samples);
            println!(
                "{:<7} {:<4} {:>9} {:>11.0} {:>11.0} {:>8.2}  ({} KiB of traffic)",
                case.name,
                case.dtype,
                format!("2^{log2}"),
                serial.as_secs_f64() * 1e9,
                split.as_secs_f64() * 1e9,
                split.as_secs_f64() / serial.as_secs_f64(),
                (n * case.bytes_per_element) >> 10
            );
        }
    }
}
