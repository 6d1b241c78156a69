//! Criterion benches: one group per algorithm × element type; one
//! `BenchmarkId(implementation, n)` per implementation and size;
//! `Throughput::Bytes` is the traffic the step must move (f32 Adam: 28 bytes
//! per element). Before timing, each implementation's output is checked
//! against the reference's bits once.
//!
//! ```text
//! cargo bench --bench kernels                          # sizes 2^10, 2^16, 2^20
//! FUSED_OPTIM_BENCH_SIZES=10,12,16,20,24,26 cargo bench --bench kernels
//! cargo bench --bench kernels -- --quick               # a fast pass (CI)
//! ```

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fused_optim::kernels::{self, reference};
use fused_optim::{
    AdaMaxBuffers, AdaMaxConfig, AdamBuffers, AdamConfig, Float, Parallelism, Tier, adam_step, adamax_step,
};

#[derive(Clone, Copy, Debug)]
enum Implementation {
    Reference,
    Tier(Tier),
    Dispatched,
    Driver,
}

impl Implementation {
    fn all() -> Vec<Implementation> {
        let mut out = vec![Implementation::Reference];
        for tier in kernels::ALL_TIERS {
            if tier.is_available() {
                out.push(Implementation::Tier(tier));
            } else {
                eprintln!("SKIPPED: tier {tier} is not available on this CPU");
            }
        }
        out.extend([Implementation::Dispatched, Implementation::Driver]);
        out
    }

    fn name(self) -> String {
        match self {
            Implementation::Reference => "reference".into(),
            Implementation::Tier(t) => t.name().into(),
            Implementation::Dispatched => format!("dispatched-{}", Tier::dispatched()),
            Implementation::Driver => format!("driver-{}t", rayon::current_num_threads()),
        }
    }
}

fn sizes() -> Vec<usize> {
    let list = std::env::var("FUSED_OPTIM_BENCH_SIZES").unwrap_or_else(|_| "10,16,20".into());
    list.split(',').map(|s| 1usize << s.trim().parse::<u32>().expect("log2 sizes, e.g. 10,16,20")).collect()
}

/// Normal, non-zero values (a zero gradient would drive its moment subnormal
/// over thousands of repeated steps).
fn wave<T: Float>(n: usize, k: usize, scale: f64, square: bool) -> Vec<T> {
    (0..n)
        .map(|i| {
            let x = scale * (((i * 7 + k) % 13) as f64 - 6.5) / 6.5;
            T::from_f64(if square { x * x } else { x })
        })
        .collect()
}

fn assert_same<T: Float>(got: &[T], want: &[T], what: &str) {
    assert!(got.iter().zip(want).all(|(a, b)| a.same_bits(*b)), "{what}: differs from the reference");
}

fn bench_adam<T: Float>(c: &mut Criterion) {
    let config = AdamConfig::default();
    let k = config.coefficients::<T>(10).unwrap();
    let mut group = c.benchmark_group(format!("adam-{}", T::NAME));
    for n in sizes() {
        group.throughput(Throughput::Bytes((n * config.bytes_per_element::<T>()) as u64));
        let g = wave::<T>(n, 3, 0.1, false);
        let start =
            || (wave::<T>(n, 0, 1.0, false), wave::<T>(n, 5, 0.01, false), wave::<T>(n, 7, 0.01, true));
        let run = |imp: Implementation, (p, m, v): &mut (Vec<T>, Vec<T>, Vec<T>)| {
            let b = AdamBuffers { param: p, grad: &g, exp_avg: m, exp_avg_sq: v, max_exp_avg_sq: None };
            match imp {
                Implementation::Reference => reference::adam(b, &k),
                Implementation::Tier(t) => kernels::adam_on(t, b, &k).unwrap(),
                Implementation::Dispatched => kernels::adam(b, &k),
                Implementation::Driver => adam_step(&config, 10, b, &Parallelism::Global).unwrap(),
            }
        };
        let mut want = start();
        run(Implementation::Reference, &mut want);
        for imp in Implementation::all() {
            let mut state = start();
            run(imp, &mut state);
            for (got, want, name) in
                [(&state.0, &want.0, "param"), (&state.1, &want.1, "m"), (&state.2, &want.2, "v")]
            {
                assert_same(got, want, &format!("adam {} {} n={n} {name}", T::NAME, imp.name()));
            }
            group.bench_with_input(BenchmarkId::new(imp.name(), n), &n, |bench, _| {
                bench.iter(|| run(imp, &mut state))
            });
        }
    }
    group.finish();
}

fn bench_adamax<T: Float>(c: &mut Criterion) {
    let config = AdaMaxConfig::default();
    let k = config.coefficients::<T>(10).unwrap();
    let mut group = c.benchmark_group(format!("adamax-{}", T::NAME));
    for n in sizes() {
        group.throughput(Throughput::Bytes((n * config.bytes_per_element::<T>()) as u64));
        let g = wave::<T>(n, 3, 0.1, false);
        let start =
            || (wave::<T>(n, 0, 1.0, false), wave::<T>(n, 5, 0.01, false), wave::<T>(n, 7, 0.1, true));
        let run = |imp: Implementation, (p, m, u): &mut (Vec<T>, Vec<T>, Vec<T>)| {
            let b = AdaMaxBuffers { param: p, grad: &g, exp_avg: m, exp_inf: u };
            match imp {
                Implementation::Reference => reference::adamax(b, &k),
                Implementation::Tier(t) => kernels::adamax_on(t, b, &k).unwrap(),
                Implementation::Dispatched => kernels::adamax(b, &k),
                Implementation::Driver => adamax_step(&config, 10, b, &Parallelism::Global).unwrap(),
            }
        };
        let mut want = start();
        run(Implementation::Reference, &mut want);
        for imp in Implementation::all() {
            let mut state = start();
            run(imp, &mut state);
            for (got, want, name) in
                [(&state.0, &want.0, "param"), (&state.1, &want.1, "m"), (&state.2, &want.2, "u")]
            {
                assert_same(got, want, &format!("adamax {} {} n={n} {name}", T::NAME, imp.name()));
            }
            group.bench_with_input(BenchmarkId::new(imp.name(), n), &n, |bench, _| {
                bench.iter(|| run(imp, &mut state))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_adam::<f32>, bench_adam::<f64>, bench_adamax::<f32>, bench_adamax::<f64>);
criterion_main!(benches);
