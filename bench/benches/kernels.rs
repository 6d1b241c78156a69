//! Criterion benches: one group per algorithm × element type (`adam-f32`, …);
//! one `BenchmarkId(implementation, n)` per implementation and size;
//! `Throughput::Bytes` is the traffic the step must move (f32 Adam: 28 bytes
//! per element), so criterion's GB/s compare with the machine's bandwidth.
//!
//! Implementations: the scalar reference, each tier this CPU has (forced),
//! the dispatched kernel, the driver on all threads, and the bandwidth probe
//! of the same shape on one and on all threads (the roof). Before timing,
//! each implementation's output is checked against the reference's bits once.
//!
//! `mixed-phase-adam` times a whole mixed-precision training phase, fused
//! against separate passes (see `fused_optim_testkit::bench::Phase`).
//!
//! `clip-adamw-f32` times an AdamW step with gradient-norm clipping, fused
//! (`clip::step_many_clipped`, 32 bytes per element) against two passes
//! (`clip::grad_norm`, `kernels::scale_in_place`, `adam_step_many`: 40), and
//! the norm pass alone (4) and Adam's probe (28), on 1 and all threads, at the
//! sizes from 2^16 (see `fused_optim_testkit::bench::Clip`). At 2^24 and 2^26
//! it takes minutes: the roofline example's `--clip` is the quicker table, or
//! name the group with a filter (`-- clip-adamw`).
//!
//! ```text
//! cargo bench -p fused-optim-bench --bench kernels                                # 2^10, 2^12, 2^16, 2^20, 2^24, 2^26
//! FUSED_OPTIM_BENCH_SIZES=12,20 cargo bench -p fused-optim-bench --bench kernels  # chosen sizes (log2)
//! FUSED_OPTIM_BENCH_QUICK=1 cargo bench -p fused-optim-bench --bench kernels      # about a minute: CI's pass
//! ```

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use fused_optim_testkit::bench::{Run, implementations, kinds};
use std::time::Duration;

fn quick() -> bool {
    std::env::var_os("FUSED_OPTIM_BENCH_QUICK").is_some_and(|v| v != "0")
}

fn sizes() -> Vec<u32> {
    let default = if quick() { "10,16,20" } else { "10,12,16,20,24,26" };
    let list = std::env::var("FUSED_OPTIM_BENCH_SIZES").unwrap_or_else(|_| default.into());
    list.split(',').map(|s| s.trim().parse().expect("log2 sizes, e.g. 10,16,20")).collect()
}

fn bench_kernels(c: &mut Criterion) {
    for kind in kinds() {
        let mut group = c.benchmark_group(format!("{}-{}", kind.algorithm, kind.dtype));
        if quick() {
            group.warm_up_time(Duration::from_millis(100)).measurement_time(Duration::from_millis(300));
            group.sample_size(10);
        }
        for log2 in sizes() {
            let n = 1usize << log2;
            group.throughput(Throughput::Bytes((n * kind.bytes_per_element) as u64));
            if log2 >= 22 {
                group.sample_size(10).sampling_mode(SamplingMode::Flat);
            }
            let mut want = (kind.build)(n);
            want.step(Run::Reference);
            let want = want.output_bits();
            let runs = implementations()
                .into_iter()
                .chain([Run::Probe { threaded: false }, Run::Probe { threaded: true }]);
            for run in runs {
                if matches!(run, Run::Probe { .. }) {
                    // Plain SGD's probe moves more than its step (no one-stream probe).
                    group.throughput(Throughput::Bytes((n * kind.probe_bytes_per_element) as u64));
                }
                let mut case = (kind.build)(n);
                if !matches!(run, Run::Probe { .. }) {
                    case.step(run);
                    assert!(
                        case.output_bits() == want,
                        "{} {} {} n=2^{log2}: output differs from the reference",
                        kind.algorithm,
                        kind.dtype,
                        run.name()
                    );
                }
                group.bench_function(BenchmarkId::new(run.name(), n), |b| b.iter(|| case.step(run)));
            }
        }
        group.finish();
    }
}

/// Adam's buffers over a gradient and a (param, m, v) state.
fn buffers<'a>(
    g: &'a [f32],
    (p, m, v): &'a mut (Vec<f32>, Vec<f32>, Vec<f32>),
) -> fused_optim::AdamBuffers<'a, f32> {
    fused_optim::AdamBuffers { param: p, grad: g, exp_avg: m, exp_avg_sq: v, max_exp_avg_sq: None }
}

/// Small calls through the public stateless API: validation, per-step
/// scalars in f64, the length checks, the driver's serial decision and the
/// dispatch, against the bare dispatched kernel on the same buffers.
fn bench_small_calls(c: &mut Criterion) {
    use fused_optim::{AdamConfig, Parallelism, adam_step, kernels};
    use std::hint::black_box;
    let mut group = c.benchmark_group("small-calls-adam-f32");
    if quick() {
        group.warm_up_time(Duration::from_millis(100)).measurement_time(Duration::from_millis(300));
    }
    let config = AdamConfig::default();
    let k = config.coefficients::<f32>(10).unwrap();
    for n in [1usize, 16, 64, 256] {
        let g: Vec<f32> = (0..n).map(|i| (i as f32 - 31.5) / 32.0).collect();
        let mut state = (vec![1.0f32; n], vec![0.01f32; n], vec![1e-4f32; n]);
        group.bench_function(BenchmarkId::new("adam_step", n), |b| {
            b.iter(|| {
                adam_step(&config, black_box(10), buffers(&g, &mut state), &Parallelism::Global).unwrap()
            })
        });
        group.bench_function(BenchmarkId::new("dispatched-kernel", n), |b| {
            b.iter(|| kernels::adam(buffers(&g, &mut state), black_box(&k)))
        });
    }
    group.finish();
}

/// 10,000 tensors of mixed sizes (1 to 2^20 elements, about 2^24 in all)
/// through one `adam_step_many` call, against one flat buffer of the same
/// total through `adam_step`, both on the global pool.
fn bench_multi_tensor(c: &mut Criterion) {
    use fused_optim::{AdamBuffers, AdamConfig, Parallelism, adam_step, adam_step_many};
    let mut group = c.benchmark_group("multi-tensor-adam-f32");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    if quick() {
        group.warm_up_time(Duration::from_millis(200)).measurement_time(Duration::from_millis(1000));
    }
    // 9,989 small tensors (1 to 1000 elements) and 11 of 2^20.
    let sizes: Vec<usize> =
        (0..10_000).map(|i| if i % 909 == 0 { 1 << 20 } else { 1 + (i * 7919) % 1000 }).collect();
    let total: usize = sizes.iter().sum();
    let config = AdamConfig::default();
    group.throughput(Throughput::Bytes(
        (total * fused_optim::algorithms::bytes_per_element::<AdamConfig, f32>(&config)) as u64,
    ));
    let fill = |n: usize, x: f32| vec![x; n];
    let grads: Vec<Vec<f32>> = sizes.iter().map(|&n| fill(n, 0.1)).collect();
    let mut state: Vec<(Vec<f32>, Vec<f32>, Vec<f32>)> =
        sizes.iter().map(|&n| (fill(n, 1.0), fill(n, 0.01), fill(n, 1e-4))).collect();
    group.bench_function(BenchmarkId::new("many", format!("{}-tensors-{total}", sizes.len())), |b| {
        b.iter(|| {
            let mut tensors: Vec<AdamBuffers<'_, f32>> = state
                .iter_mut()
                .zip(&grads)
                .map(|((p, m, v), g)| AdamBuffers {
                    param: p,
                    grad: g,
                    exp_avg: m,
                    exp_avg_sq: v,
                    max_exp_avg_sq: None,
                })
                .collect();
            adam_step_many(&config, 10, &mut tensors, &Parallelism::Global).unwrap()
        })
    });
    let g = fill(total, 0.1);
    let mut flat = (fill(total, 1.0), fill(total, 0.01), fill(total, 1e-4));
    group.bench_function(BenchmarkId::new("flat", total), |b| {
        b.iter(|| {
            let (p, m, v) = &mut flat;
            let buffers = AdamBuffers { param: p, grad: &g, exp_avg: m, exp_avg_sq: v, max_exp_avg_sq: None };
            adam_step(&config, 10, buffers, &Parallelism::Global).unwrap()
        })
    });
    group.finish();
}

/// The mixed-precision training phase (bf16 gradients scaled by 1024,
/// f32 master weights, bf16 copy): the fused check + step against the five
/// separate passes, serial and on all threads. Each iteration refills the
/// gradients first, untimed (the phase zeroes them).
fn bench_mixed_phase(c: &mut Criterion) {
    use fused_optim_testkit::bench::{Case, Phase};
    use std::time::Instant;
    let mut group = c.benchmark_group("mixed-phase-adam");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    if quick() {
        group.warm_up_time(Duration::from_millis(200)).measurement_time(Duration::from_millis(1000));
    }
    let sizes: Vec<u32> = sizes().into_iter().filter(|&l| l >= 16).collect();
    for log2 in sizes {
        let n = 1usize << log2;
        let mut phase = Phase::new(n);
        for threaded in [false, true] {
            for fused in [false, true] {
                let run = Run::Phase { fused, threaded };
                let bytes = if fused {
                    Phase::fused_bytes_per_element()
                } else {
                    Phase::separate_bytes_per_element()
                };
                group.throughput(Throughput::Bytes((n * bytes) as u64));
                group.bench_function(BenchmarkId::new(run.name(), n), |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            phase.refill();
                            let start = Instant::now();
                            phase.step(run);
                            total += start.elapsed();
                        }
                        total
                    })
                });
            }
        }
    }
    group.finish();
}

/// An AdamW step with its gradients clipped by their global norm: fused
/// against two passes, and the norm pass alone against Adam's probe, serial
/// and on all threads. Each iteration restores the gradients first, untimed
/// (the two-pass run scales them in place), so every call clips by the same
/// coefficient.
fn bench_clip(c: &mut Criterion) {
    use fused_optim_testkit::bench::{Case, Clip};
    use std::time::Instant;
    let mut group = c.benchmark_group("clip-adamw-f32");
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    if quick() {
        group.warm_up_time(Duration::from_millis(100)).measurement_time(Duration::from_millis(300));
    }
    let sizes: Vec<u32> = sizes().into_iter().filter(|&l| l >= 16).collect();
    for log2 in sizes {
        let n = 1usize << log2;
        let (mut clip, mut two_pass) = (Clip::new(n), Clip::new(n));
        clip.step(Run::Clip { fused: true, threaded: true });
        two_pass.step(Run::Clip { fused: false, threaded: true });
        assert!(
            clip.output_bits() == two_pass.output_bits(),
            "clip-adamw-f32 n=2^{log2}: fused and two-pass differ"
        );
        drop(two_pass);
        for threaded in [false, true] {
            let runs = [
                (Run::Clip { fused: true, threaded }, Clip::fused_bytes_per_element()),
                (Run::Clip { fused: false, threaded }, Clip::two_pass_bytes_per_element()),
                (Run::Norm { threaded }, Clip::norm_bytes_per_element()),
                (Run::Probe { threaded }, Clip::probe_bytes_per_element()),
            ];
            for (run, bytes) in runs {
                group.throughput(Throughput::Bytes((n * bytes) as u64));
                group.bench_function(BenchmarkId::new(run.name(), n), |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            clip.refill();
                            let start = Instant::now();
                            clip.step(run);
                            total += start.elapsed();
                        }
                        total
                    })
                });
            }
        }
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_small_calls,
    bench_multi_tensor,
    bench_mixed_phase,
    bench_clip,
    bench_kernels
);
criterion_main!(benches);
