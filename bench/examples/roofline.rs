//! The main job: every kernel on this machine against its bandwidth roofline.
//!
//! For each algorithm × element type × size it times, in one process:
//!
//! - the scalar reference loop (one thread);
//! - the dispatched kernel on one thread, and through the driver on all threads;
//! - the bandwidth probe of the same shape (the same streams read and written
//!   in place, one addition per element) on one thread and on all threads,
//!   on the same buffers: the roof.
//!
//! It prints ns/element, GB/s of the bytes the step must move (f32 Adam reads
//! p, g, m, v and writes p, m, v: 28 bytes per element; SGD without momentum
//! 12, `sgd-momentum` and Lion 20), the fraction of the probe's bandwidth
//! (plain SGD's probe, which has no one-stream shape, moves 20 bytes per
//! element: p and a scratch stream read and written, g read), the tier and the speed-up over the reference. Each figure
//! is the median of several samples (each ≥ 20 ms) after a warm-up step, so
//! page faults and first touches stay outside the timed region; the samples of
//! the reference, the kernels and the probes are interleaved, so the machine's
//! slow spells fall on all of them alike. The probe adds `g − g` (zero), so it
//! leaves the kernels' data as it was.
//!
//! ```text
//! cargo run --release -p fused-optim-bench --example roofline                 # 2^10 … 2^26
//! cargo run --release -p fused-optim-bench --example roofline -- --sizes 12,24 --samples 15
//! cargo run --release -p fused-optim-bench --example roofline -- --csv roofline.csv --png roofline.png
//! cargo run --release -p fused-optim-bench --example roofline -- --crossover  # serial, split, default: 2^10 … 2^22
//! cargo run --release -p fused-optim-bench --example roofline -- --clip       # clipped AdamW, fused vs two-pass: 2^24, 2^26
//! cargo run --release -p fused-optim-bench --example roofline -- --lean       # AdamW, bf16 vs f32 state: 2^24, 2^26
//! ```
//!
//! `--lean` times, instead of the report, f32 AdamW (`adamw f32`: 28 bytes per
//! element) against AdamW with f32 parameters and gradients and bf16 state
//! (`adamw-lean bf16`: 20 bytes, 0.71 of it), each through the driver on all
//! threads and each against the probe over its own streams, all four samples
//! interleaved; it prints the lean step's time as a fraction of the f32 one's
//! and each step's fraction of its probe's bandwidth.
//!
//! `--clip` times, instead of the report, an f32 AdamW step with gradient-norm
//! clipping (to half the gradients' norm) on 1 thread and on all threads:
//! fused (`clip::step_many_clipped`: the norm pass, then the step scaling the
//! gradients inside it, 4 + 28 = 32 bytes per element) against two passes as
//! `clip_grad_norm_` + `step()` (`clip::grad_norm`, `kernels::scale_in_place`
//! on the gradients, `adam_step_many`: 4 + 8 + 28 = 40), and the norm pass
//! alone (4 bytes per element, read only) against Adam's probe (28). The
//! gradients are restored, untimed, before every timed call (the two-pass run
//! scales them in place), so every call clips by the same coefficient.

use fused_optim::Tier;
use fused_optim_testkit::bench::{Case, Clip, Phase, Run, kinds};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

struct Options {
    sizes: Vec<u32>,
    /// `--sizes` was given.
    sized: bool,
    samples: usize,
    crossover: bool,
    clip: bool,
    lean: bool,
    csv: Option<String>,
    png: Option<String>,
}

fn parse_options() -> Options {
    let mut o = Options {
        sizes: vec![10, 12, 16, 20, 24, 26],
        sized: false,
        samples: 9,
        crossover: false,
        clip: false,
        lean: false,
        csv: None,
        png: None,
    };
    let mut args = std::env::args().skip(1);
    let usage = "usage: roofline [--sizes 10,12,16,20,24,26] [--samples 9] [--csv FILE] [--png FILE] [--crossover] \
                 [--clip (default sizes 24,26)] [--lean (default sizes 24,26)]";
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} takes a value; {usage}"));
        match arg.as_str() {
            "--sizes" => {
                o.sizes = value().split(',').map(|s| s.trim().parse().expect("log2 sizes")).collect();
                o.sized = true;
            }
            "--samples" => o.samples = value().parse().expect("--samples N"),
            "--csv" => o.csv = Some(value()),
            "--png" => o.png = Some(value()),
            "--crossover" => o.crossover = true,
            "--clip" => o.clip = true,
            "--lean" => o.lean = true,
            "--help" | "-h" => {
                println!("{usage}");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other:?}; {usage}"),
        }
    }
    o
}

/// Median time of one call of each of `runs`, over up to `samples` samples
/// of ≥ 20 ms each (fewer, but at least 3, where one call alone is long, so
/// the whole report stays under a minute). The samples of the runs are
/// interleaved (a, b, c, a, b, c, …), so a slow spell of this shared machine
/// lands on all of them instead of biasing one against another.
fn time_interleaved(case: &mut dyn Case, runs: &[Run], samples: usize) -> Vec<Duration> {
    let repeats: Vec<u32> = runs
        .iter()
        .map(|&run| {
            case.step(run); // warm-up: page faults, caches, the dispatch decision
            let start = Instant::now();
            case.step(run);
            let once = start.elapsed().max(Duration::from_nanos(20));
            (Duration::from_millis(20).as_nanos() / once.as_nanos()).clamp(1, 1 << 22) as u32
        })
        .collect();
    let samples = if repeats.contains(&1) { samples.min(3) } else { samples }.max(1);
    let mut times = vec![Vec::with_capacity(samples); runs.len()];
    for _ in 0..samples {
        for ((&run, &repeats), times) in runs.iter().zip(&repeats).zip(&mut times) {
            let start = Instant::now();
            for _ in 0..repeats {
                case.step(run);
            }
            times.push(start.elapsed() / repeats);
        }
    }
    times
        .into_iter()
        .map(|mut t| {
            t.sort();
            t[t.len() / 2]
        })
        .collect()
}

/// One printed row: one kernel at one size on one or all threads.
struct Row {
    algorithm: String,
    dtype: &'static str,
    log2: u32,
    threads: usize,
    ns: f64,
    gbps: f64,
    probe_gbps: f64,
    reference_ns: f64,
}

fn main() {
    let o = parse_options();
    let threads = rayon::current_num_threads();
    println!(
        "fused-optim roofline: tier {} (available: {}), {threads} rayon threads, serial below {} KiB of traffic",
        Tier::dispatched(),
        Tier::available().map(Tier::name).collect::<Vec<_>>().join(", "),
        fused_optim::serial_threshold() >> 10,
    );
    if o.crossover {
        return crossover(&o);
    }
    if o.clip {
        return clip(&o);
    }
    if o.lean {
        return lean(&o);
    }
    println!(
        "{:<12} {:<4} {:>5} {:>4}  {:>8} {:>8} {:>10} {:>8}  {:>7} {:>8}",
        "algo", "type", "n", "thr", "ns/elem", "GB/s", "probe GB/s", "of probe", "ref ns", "vs ref"
    );
    let mut rows = Vec::new();
    for kind in kinds() {
        for &log2 in &o.sizes {
            let n = 1usize << log2;
            let mut case = (kind.build)(n);
            let runs = [
                Run::Reference,
                Run::Dispatched,
                Run::Probe { threaded: false },
                Run::Driver,
                Run::Probe { threaded: true },
            ];
            let t = time_interleaved(&mut *case, &runs, o.samples);
            let reference = t[0];
            for (threaded, kernel, probe) in [(false, t[1], t[2]), (true, t[3], t[4])] {
                let per = |d: Duration| d.as_secs_f64() * 1e9 / n as f64;
                let row = Row {
                    algorithm: kind.algorithm.clone(),
                    dtype: kind.dtype,
                    log2,
                    threads: if threaded { threads } else { 1 },
                    ns: per(kernel),
                    gbps: kind.bytes_per_element as f64 / per(kernel),
                    probe_gbps: kind.probe_bytes_per_element as f64 / per(probe),
                    reference_ns: per(reference),
                };
                println!(
                    "{:<12} {:<4} {:>5} {:>4}  {:>8.3} {:>8.1} {:>10.1} {:>7.0}%  {:>7.3} {:>7.1}x",
                    row.algorithm,
                    row.dtype,
                    format!("2^{log2}"),
                    row.threads,
                    row.ns,
                    row.gbps,
                    row.probe_gbps,
                    100.0 * row.gbps / row.probe_gbps,
                    row.reference_ns,
                    row.reference_ns / row.ns
                );
                rows.push(row);
            }
        }
    }
    phase(&o, &rows);
    if let Some(path) = &o.csv {
        write_csv(path, &rows);
        println!("wrote {path}");
    }
    if let Some(path) = &o.png {
        draw_png(path, &rows, threads).expect("draw the chart");
        println!("wrote {path}");
    }
}

/// AdamW with f32 state against AdamW with bf16 state (f32 parameters and
/// gradients), on all threads, each against the probe over its own streams;
/// one call per sample, the four runs' samples interleaved.
fn lean(o: &Options) {
    let sizes = if o.sized { o.sizes.clone() } else { vec![24, 26] };
    let all = kinds();
    let find = |algorithm: &str, dtype: &str| {
        all.iter().find(|k| k.algorithm == algorithm && k.dtype == dtype).expect("a bench kind")
    };
    let (wide, narrow) = (find("adamw", "f32"), find("adamw-lean", "bf16"));
    let threads = rayon::current_num_threads();
    println!(
        "{:<16} {:>5} {:>4}  {:>8} {:>8} {:>10} {:>8}",
        "step", "n", "thr", "ns/elem", "GB/s", "probe GB/s", "of probe"
    );
    for log2 in sizes {
        let n = 1usize << log2;
        let mut cases = [(wide.build)(n), (narrow.build)(n)];
        let runs = [Run::Driver, Run::Probe { threaded: true }];
        for case in &mut cases {
            for run in runs {
                case.step(run); // warm-up: page faults, caches
            }
        }
        let mut times: Vec<Vec<Duration>> = (0..4).map(|_| Vec::with_capacity(o.samples)).collect();
        for _ in 0..o.samples.max(1) {
            for (c, case) in cases.iter_mut().enumerate() {
                for (r, &run) in runs.iter().enumerate() {
                    let start = Instant::now();
                    case.step(run);
                    times[2 * c + r].push(start.elapsed());
                }
            }
        }
        let median: Vec<f64> = times
            .into_iter()
            .map(|mut t| {
                t.sort();
                t[t.len() / 2].as_secs_f64() * 1e9 / n as f64
            })
            .collect();
        for (c, kind) in [wide, narrow].iter().enumerate() {
            let (ns, probe_ns) = (median[2 * c], median[2 * c + 1]);
            let bytes = kind.bytes_per_element as f64;
            println!(
                "{:<16} {:>5} {:>4}  {:>8.3} {:>8.1} {:>10.1} {:>7.0}%",
                format!("{} {}", kind.algorithm, kind.dtype),
                format!("2^{log2}"),
                threads,
                ns,
                bytes / ns,
                kind.probe_bytes_per_element as f64 / probe_ns,
                100.0 * probe_ns / ns
            );
        }
        println!(
            "  2^{log2}: bf16-state step / f32-state step = {:.3} (bytes {:.3}); medians of {} interleaved samples",
            median[2] / median[0],
            narrow.bytes_per_element as f64 / wide.bytes_per_element as f64,
            o.samples.max(1)
        );
    }
}

/// The whole mixed-precision phase (unscale, found_inf check, step,
/// zero-grad, bf16 copy), fused against separate passes, at the sizes of at
/// least 2^20. Each sample is one call after an untimed refill of the
/// gradients (the phase zeroes them); the four runs' samples are interleaved.
fn phase(o: &Options, rows: &[Row]) {
    let sizes: Vec<u32> = o.sizes.iter().copied().filter(|&l| l >= 20).collect();
    if sizes.is_empty() {
        return;
    }
    let threads = rayon::current_num_threads();
    println!(
        "\nmixed-precision phase: bf16 gradients scaled by 1024 -> unscale, found_inf check, Adam step on f32 master \
         weights and state, zero-grad, bf16 copy\nseparate: five passes, {} B/element; fused: check + one step, {} B/element",
        Phase::separate_bytes_per_element(),
        Phase::fused_bytes_per_element()
    );
    println!(
        "{:>5} {:>4}  {:>12} {:>9} {:>8}  {:>13} {:>10} {:>15}",
        "n", "thr", "separate ms", "fused ms", "speedup", "separate GB/s", "fused GB/s", "fused of probe"
    );
    for log2 in sizes {
        let n = 1usize << log2;
        let (mut a, mut b) = (Phase::new(n), Phase::new(n));
        a.step(Run::Phase { fused: true, threaded: true });
        b.step(Run::Phase { fused: false, threaded: true });
        assert!(a.output_bits() == b.output_bits(), "the fused and separate phases differ at 2^{log2}");
        let runs: Vec<Run> = [false, true]
            .into_iter()
            .flat_map(|threaded| [false, true].map(|fused| Run::Phase { fused, threaded }))
            .collect();
        let mut times = vec![Vec::new(); runs.len()];
        for _ in 0..o.samples.max(5) {
            for (&run, times) in runs.iter().zip(&mut times) {
                a.refill();
                let start = Instant::now();
                a.step(run);
                times.push(start.elapsed());
            }
        }
        let median = |t: &mut Vec<Duration>| {
            t.sort();
            t[t.len() / 2].as_secs_f64()
        };
        let t: Vec<f64> = times.iter_mut().map(median).collect();
        for (i, thr) in [(0, 1), (2, threads)] {
            let (separate, fused) = (t[i], t[i + 1]);
            let gbps = |bytes: usize, s: f64| (bytes * n) as f64 / s / 1e9;
            let probe = rows
                .iter()
                .find(|r| r.algorithm == "adam-mix" && r.log2 == log2 && r.threads == thr)
                .map_or(String::from("-"), |r| {
                    format!("{:.0}%", 100.0 * gbps(Phase::fused_bytes_per_element(), fused) / r.probe_gbps)
                });
            println!(
                "{:>5} {:>4}  {:>12.3} {:>9.3} {:>7.2}x  {:>13.1} {:>10.1} {:>15}",
                format!("2^{log2}"),
                thr,
                separate * 1e3,
                fused * 1e3,
                separate / fused,
                gbps(Phase::separate_bytes_per_element(), separate),
                gbps(Phase::fused_bytes_per_element(), fused),
                probe
            );
        }
    }
}

/// Clipped AdamW (f32): fused against two passes, and the norm pass alone
/// against Adam's probe, at each size, on 1 and on all threads. Each sample
/// is one call after an untimed refill of the gradients (the two-pass run
/// scales them in place); the eight runs' samples are interleaved.
fn clip(o: &Options) {
    let sizes = if o.sized { o.sizes.clone() } else { vec![24, 26] };
    let threads = rayon::current_num_threads();
    println!(
        "\nclipped AdamW f32, max_norm = half the gradients' norm (coefficient 0.5), gradients restored untimed before each call\n\
         fused: clip::step_many_clipped, norm pass + step scaling g inside it, {} B/element\n\
         two-pass: clip::grad_norm, kernels::scale_in_place on g, adam_step_many, {} B/element\n\
         norm: clip::grad_norm alone, {} B/element read; probe: Adam's shape, {} B/element",
        Clip::fused_bytes_per_element(),
        Clip::two_pass_bytes_per_element(),
        Clip::norm_bytes_per_element(),
        Clip::probe_bytes_per_element(),
    );
    println!(
        "{:>5} {:>4}  {:>9} {:>11} {:>9}  {:>10} {:>13}  {:>8} {:>9} {:>10} {:>13}",
        "n",
        "thr",
        "fused ms",
        "two-pass ms",
        "two/fused",
        "fused GB/s",
        "two-pass GB/s",
        "norm ms",
        "norm GB/s",
        "probe GB/s",
        "norm of probe"
    );
    for log2 in sizes {
        let n = 1usize << log2;
        let (mut a, mut b) = (Clip::new(n), Clip::new(n));
        a.step(Run::Clip { fused: true, threaded: true });
        b.step(Run::Clip { fused: false, threaded: true });
        assert!(
            a.output_bits() == b.output_bits(),
            "the fused and two-pass clipped steps differ at 2^{log2}"
        );
        drop(b);
        let runs: Vec<Run> = [false, true]
            .into_iter()
            .flat_map(|threaded| {
                [
                    Run::Clip { fused: true, threaded },
                    Run::Clip { fused: false, threaded },
                    Run::Norm { threaded },
                    Run::Probe { threaded },
                ]
            })
            .collect();
        let mut times = vec![Vec::new(); runs.len()];
        for _ in 0..o.samples.max(5) {
            for (&run, times) in runs.iter().zip(&mut times) {
                a.refill();
                let start = Instant::now();
                a.step(run);
                times.push(start.elapsed());
            }
        }
        let median = |t: &mut Vec<Duration>| {
            t.sort();
            t[t.len() / 2].as_secs_f64()
        };
        let t: Vec<f64> = times.iter_mut().map(median).collect();
        let gbps = |bytes: usize, s: f64| (bytes * n) as f64 / s / 1e9;
        for (i, thr) in [(0, 1), (4, threads)] {
            let (fused, two_pass, norm, probe) = (t[i], t[i + 1], t[i + 2], t[i + 3]);
            let (norm_gbps, probe_gbps) =
                (gbps(Clip::norm_bytes_per_element(), norm), gbps(Clip::probe_bytes_per_element(), probe));
            println!(
                "{:>5} {:>4}  {:>9.3} {:>11.3} {:>8.2}x  {:>10.1} {:>13.1}  {:>8.3} {:>9.1} {:>10.1} {:>12.0}%",
                format!("2^{log2}"),
                thr,
                fused * 1e3,
                two_pass * 1e3,
                two_pass / fused,
                gbps(Clip::fused_bytes_per_element(), fused),
                gbps(Clip::two_pass_bytes_per_element(), two_pass),
                norm * 1e3,
                norm_gbps,
                probe_gbps,
                100.0 * norm_gbps / probe_gbps
            );
        }
    }
}

fn write_csv(path: &str, rows: &[Row]) {
    let mut out = String::from(
        "algorithm,dtype,n,threads,tier,ns_per_element,gb_per_s,probe_gb_per_s,fraction_of_probe,reference_ns_per_element,speedup_vs_reference\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{:.4},{:.2},{:.2},{:.4},{:.4},{:.3}",
            r.algorithm,
            r.dtype,
            1usize << r.log2,
            r.threads,
            Tier::dispatched(),
            r.ns,
            r.gbps,
            r.probe_gbps,
            r.gbps / r.probe_gbps,
            r.reference_ns,
            r.reference_ns / r.ns
        );
    }
    std::fs::write(path, out).expect("write the CSV file");
}

/// A chart line: label, points, colour, dashed.
type Line = (String, Vec<(u32, f64)>, plotters::style::RGBColor, bool);

/// GB/s against size, one panel per algorithm × type; the probes drawn dashed as the roof.
fn draw_png(path: &str, rows: &[Row], threads: usize) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    use plotters::style::{FontStyle, register_font};
    register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| "the embedded DejaVu font did not load")?;
    let kinds = kinds();
    let panel_rows = kinds.len().div_ceil(2);
    let root = BitMapBackend::new(path, (1400, 50 + 380 * panel_rows as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(50);
    title.titled(
        &format!(
            "fused-optim roofline: tier {}, {threads} threads (dashed: bandwidth probe)",
            Tier::dispatched()
        ),
        ("sans-serif", 26),
    )?;
    for (panel, kind) in body.split_evenly((panel_rows, 2)).iter().zip(&kinds) {
        let mine: Vec<&Row> =
            rows.iter().filter(|r| r.algorithm == kind.algorithm && r.dtype == kind.dtype).collect();
        if mine.is_empty() {
            continue;
        }
        let x0 = mine.iter().map(|r| r.log2).min().unwrap_or(10);
        let x1 = mine.iter().map(|r| r.log2).max().unwrap_or(26).max(x0 + 1);
        let top = mine.iter().map(|r| r.gbps.max(r.probe_gbps)).fold(1.0, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{} {}", kind.algorithm, kind.dtype), ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("elements (log2)")
            .y_desc("GB/s moved")
            .x_label_formatter(&|x| format!("2^{x}"))
            .label_style(("sans-serif", 14))
            .draw()?;
        let series = |t: usize, f: &dyn Fn(&Row) -> f64| -> Vec<(u32, f64)> {
            mine.iter().filter(|r| r.threads == t).map(|r| (r.log2, f(r))).collect()
        };
        let reference = |r: &Row| kind.bytes_per_element as f64 / r.reference_ns;
        let lines: [Line; 5] = [
            ("kernel, 1 thread".into(), series(1, &|r| r.gbps), BLUE, false),
            (format!("kernel, {threads} threads"), series(threads, &|r| r.gbps), RED, false),
            ("probe, 1 thread".into(), series(1, &|r| r.probe_gbps), BLUE, true),
            (format!("probe, {threads} threads"), series(threads, &|r| r.probe_gbps), RED, true),
            ("reference loop".into(), series(1, &reference), BLACK, false),
        ];
        for (label, points, color, dashed) in lines {
            let style = color.stroke_width(if dashed { 1 } else { 2 });
            let drawn = if dashed {
                chart.draw_series(DashedLineSeries::new(points.clone(), 8, 5, style))?
            } else {
                chart.draw_series(LineSeries::new(points.clone(), style))?
            };
            drawn.label(label).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// Serial, split and the default driver, to place (and check) the driver's threshold.
fn crossover(o: &Options) {
    println!(
        "{:<12} {:<4} {:>5} {:>10} {:>10} {:>10} {:>12} {:>15} {:>10}",
        "algo", "type", "n", "serial ns", "split ns", "driver ns", "split/serial", "driver/best", "traffic"
    );
    for kind in kinds() {
        for log2 in 10..=22 {
            let n = 1usize << log2;
            let mut case = (kind.build)(n);
            let runs = [Run::Dispatched, Run::ForcedSplit, Run::Driver];
            let t: Vec<f64> = time_interleaved(&mut *case, &runs, o.samples)
                .iter()
                .map(|d| d.as_secs_f64() * 1e9)
                .collect();
            println!(
                "{:<12} {:<4} {:>5} {:>10.0} {:>10.0} {:>10.0} {:>12.2} {:>15.2} {:>7} KiB",
                kind.algorithm,
                kind.dtype,
                format!("2^{log2}"),
                t[0],
                t[1],
                t[2],
                t[1] / t[0],
                t[2] / t[0].min(t[1]),
                (n * kind.bytes_per_element) >> 10
            );
        }
    }
}
