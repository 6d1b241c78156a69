//! The optimizer step of a model of about 10 M parameters in 50 tensors
//! (40 matrices of four shapes, 10 bias vectors: 10_496_000 `f32`
//! parameters), AdamW, on 1 and 2 threads, in one run:
//!
//! - `candle_nn::AdamW`: candle's step, about ten tensor operations per
//!   variable, each a pass that allocates its result;
//! - `fused_optim_candle::AdamW`: this crate, one fused in-place pass per
//!   variable through candle's in-place ops;
//! - `adam_step_many`: the core crate's one multi-tensor call over the same
//!   sizes in plain `Vec`s, what candle's one-variable-at-a-time access costs
//!   against one call that balances every tensor across the threads.
//!
//! Each runs inside a rayon pool of 1 or 2 threads (`pool.install`): the
//! fused steps split tensors across that pool; candle's elementwise ops,
//! which `candle_nn::AdamW` is made of, run on the calling thread whatever
//! the count (its thread count, `candle_core::utils::get_num_threads()`,
//! `RAYON_NUM_THREADS`, serves its matrix products only), so its rows at 1
//! and 2 threads measure the same code. Before timing, one step of this
//! crate is checked bit for bit against the core crate's multi-tensor call.
//!
//! ```text
//! cargo bench -p fused-optim-candle --bench step                           # about 2 minutes
//! FUSED_OPTIM_BENCH_QUICK=1 cargo bench -p fused-optim-candle --bench step # CI's pass
//! ```

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use candle_nn::{Optimizer, ParamsAdamW};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use fused_optim::{AdamBuffers, AdamConfig, Parallelism, adam_step_many};
use std::time::Duration;

#[path = "../tests/support/mod.rs"]
mod support;

fn quick() -> bool {
    std::env::var_os("FUSED_OPTIM_BENCH_QUICK").is_some_and(|v| v != "0")
}

/// The model's 50 shapes: 10 of each of four matrices, 10 biases.
fn shapes() -> Vec<Vec<usize>> {
    let matrices = [[512, 512], [256, 1024], [384, 512], [512, 640]];
    (0..10).flat_map(|_| matrices.iter().map(|m| m.to_vec()).chain([vec![1024]])).collect()
}

/// Deterministic values in [-1, 1), as `f32`.
fn values(seed: u64, n: usize) -> Vec<f32> {
    support::values(seed, n, 1.0).into_iter().map(|x| x as f32).collect()
}

/// The model's variables and a gradient store with a gradient for each.
fn model() -> (Vec<Var>, GradStore) {
    let vars: Vec<Var> = shapes()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let n = s.iter().product();
            Var::from_tensor(&Tensor::from_vec(values(i as u64, n), s.as_slice(), &Device::Cpu).unwrap())
                .unwrap()
        })
        .collect();
    let mut grads = vars[0].as_tensor().sum_all().unwrap().backward().unwrap();
    for (i, v) in vars.iter().enumerate() {
        let g = Tensor::from_vec(values(1000 + i as u64, v.elem_count()), v.shape(), &Device::Cpu).unwrap();
        grads.insert(v.as_tensor(), g);
    }
    (vars, grads)
}

/// Plain buffers of the same sizes and values: parameter, gradient, m, v.
type Flat = Vec<(Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>)>;

fn flat() -> Flat {
    shapes()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let n = s.iter().product();
            (values(i as u64, n), values(1000 + i as u64, n), vec![0.0; n], vec![0.0; n])
        })
        .collect()
}

fn step_flat(config: &AdamConfig, t: u64, buffers: &mut Flat) {
    let mut tensors: Vec<AdamBuffers<'_, f32>> = buffers
        .iter_mut()
        .map(|(p, g, m, v)| AdamBuffers {
            param: p,
            grad: g,
            exp_avg: m,
            exp_avg_sq: v,
            max_exp_avg_sq: None,
        })
        .collect();
    adam_step_many(config, t, &mut tensors, &Parallelism::Global).unwrap();
}

fn params() -> ParamsAdamW {
    ParamsAdamW { lr: 1e-3, weight_decay: 0.01, ..ParamsAdamW::default() }
}

/// One step of this crate against the core crate's multi-tensor call: the same bits.
fn check() {
    let (vars, grads) = model();
    let mut opt = fused_optim_candle::AdamW::new(vars.clone(), params()).unwrap();
    opt.step(&grads).unwrap();
    let mut buffers = flat();
    step_flat(&fused_optim_candle::Params::algorithm(&params()), 1, &mut buffers);
    for (v, (p, ..)) in vars.iter().zip(&buffers) {
        let got = v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(
            got.iter().zip(p).all(|(a, b)| a.to_bits() == b.to_bits()),
            "the candle step differs from the core's"
        );
    }
}

fn bench_step(c: &mut Criterion) {
    check();
    let parameters: usize = shapes().iter().map(|s| s.iter().product::<usize>()).sum();
    let mut group = c.benchmark_group(format!("adamw-f32-{parameters}-in-50"));
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    if quick() {
        group.warm_up_time(Duration::from_millis(100)).measurement_time(Duration::from_millis(500));
    } else {
        group.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(6));
    }
    // The bytes a fused AdamW step must move: 28 per f32 parameter.
    group.throughput(Throughput::Bytes(28 * parameters as u64));
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();

        let (vars, grads) = model();
        let mut opt = candle_nn::AdamW::new(vars, params()).unwrap();
        group.bench_function(BenchmarkId::new("candle_nn::AdamW", threads), |b| {
            b.iter(|| pool.install(|| opt.step(&grads).unwrap()))
        });
        drop(opt);

        let (vars, grads) = model();
        let mut opt = fused_optim_candle::AdamW::new(vars, params()).unwrap();
        group.bench_function(BenchmarkId::new("fused_optim_candle::AdamW", threads), |b| {
            b.iter(|| pool.install(|| opt.step(&grads).unwrap()))
        });
        drop(opt);

        let mut buffers = flat();
        let config = fused_optim_candle::Params::algorithm(&params());
        let mut t = 0;
        group.bench_function(BenchmarkId::new("adam_step_many", threads), |b| {
            b.iter(|| {
                t += 1;
                pool.install(|| step_flat(&config, t, &mut buffers))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_step);
criterion_main!(benches);
