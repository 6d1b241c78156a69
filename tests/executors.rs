//! The host executors where a host makes it hard: a step called from inside
//! an OpenMP region (nested: a team of one), from a rayon worker, from many
//! host threads at once; a host of one thread; a panicking host. No
//! deadlock, the reference's bits, the error reported. (That every executor
//! gives the reference's bits at every size is `tests/threads.rs`.)

use fused_optim::parallel::{OpenMp, ParallelFor};
use fused_optim::{AdamBuffers, AdamConfig, Parallelism, adam_step, set_serial_threshold};
use fused_optim_testkit::hosts::{ScopedHost, openmp};
use std::sync::Arc;

const N: usize = 300_001; // about 8 MiB of traffic: split into pieces

/// The serial step's bits for these inputs.
fn expected() -> Vec<f32> {
    run(&Parallelism::Serial)
}

/// One f32 Adam step over fixed inputs with `parallelism`; the parameters.
fn run(parallelism: &Parallelism) -> Vec<f32> {
    let mut p: Vec<f32> = (0..N).map(|i| (i as f32 * 0.37).sin()).collect();
    let g: Vec<f32> = (0..N).map(|i| (i as f32 * 0.11).cos()).collect();
    let (mut m, mut v) = (vec![0.25f32; N], vec![0.5f32; N]);
    let b =
        AdamBuffers { param: &mut p, grad: &g, exp_avg: &mut m, exp_avg_sq: &mut v, max_exp_avg_sq: None };
    adam_step(&AdamConfig::adamw(), 3, b, parallelism).unwrap();
    p
}

fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

#[test]
fn openmp_is_found_where_the_machine_has_libgomp() {
    let has_libgomp = ["/usr/lib/x86_64-linux-gnu/libgomp.so.1", "/usr/lib/aarch64-linux-gnu/libgomp.so.1"]
        .iter()
        .any(|p| std::path::Path::new(p).exists());
    if has_libgomp {
        let team = openmp().expect("libgomp.so.1 is on this machine: loaded, it must be found");
        assert!(team.threads() >= 1);
    }
}

#[test]
fn a_step_inside_an_openmp_region_runs_on_its_caller() {
    let Some(team) = openmp() else { return eprintln!("no OpenMP runtime: skipped") };
    let want = expected();
    let inner = Parallelism::Host(Arc::new(team.with_threads(2)));
    let results = std::sync::Mutex::new(Vec::new());
    // Each thread of an outer region steps through the same runtime: the
    // nested region has one thread, which claims every piece.
    team.with_threads(2).run(2, &|_| {
        let p = run(&inner);
        results.lock().unwrap().push(p);
    });
    let results = results.into_inner().unwrap();
    assert!(!results.is_empty());
    assert!(results.iter().all(|p| same_bits(p, &want)));
}

#[test]
fn a_step_from_rayon_workers_on_a_host_executor() {
    let want = expected();
    let mut hosts = vec![Parallelism::Host(Arc::new(ScopedHost(2)))];
    if let Some(team) = openmp() {
        hosts.push(Parallelism::Host(Arc::new(team)));
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    for host in &hosts {
        let results: Vec<Vec<f32>> = pool.install(|| {
            use rayon::prelude::*;
            (0..3).into_par_iter().map(|_| run(host)).collect()
        });
        assert!(results.iter().all(|p| same_bits(p, &want)), "{host:?}");
    }
}

#[test]
fn many_callers_share_one_openmp_executor() {
    let Some(team) = openmp() else { return eprintln!("no OpenMP runtime: skipped") };
    let want = expected();
    let shared = Parallelism::Host(Arc::new(team.with_threads(2)));
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| run(&shared))).collect();
        for h in handles {
            assert!(same_bits(&h.join().unwrap(), &want));
        }
    });
}

#[test]
fn a_host_of_one_thread_is_serial() {
    let want = expected();
    assert!(same_bits(&run(&Parallelism::Host(Arc::new(ScopedHost(1)))), &want));
    if let Some(team) = openmp() {
        assert!(same_bits(&run(&Parallelism::Host(Arc::new(team.with_threads(1)))), &want));
    }
}

/// A host whose `run` panics before it starts anything: the caller runs the
/// whole step itself, then the panic reaches it (no hang, no half step).
struct PanickingHost;

impl ParallelFor for PanickingHost {
    fn threads(&self) -> usize {
        2
    }
    fn run(&self, _workers: usize, _job: &(dyn Fn(usize) + Sync)) {
        panic!("the host's pool is gone");
    }
}

#[test]
fn a_panicking_host_reports_its_panic_after_the_whole_step() {
    set_serial_threshold(0);
    let want = expected();
    let mut p: Vec<f32> = (0..N).map(|i| (i as f32 * 0.37).sin()).collect();
    let g: Vec<f32> = (0..N).map(|i| (i as f32 * 0.11).cos()).collect();
    let (mut m, mut v) = (vec![0.25f32; N], vec![0.5f32; N]);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let b = AdamBuffers {
            param: &mut p,
            grad: &g,
            exp_avg: &mut m,
            exp_avg_sq: &mut v,
            max_exp_avg_sq: None,
        };
        adam_step(&AdamConfig::adamw(), 3, b, &Parallelism::Host(Arc::new(PanickingHost)))
    }));
    let payload = caught.expect_err("the host panicked");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"the host's pool is gone"));
    assert!(same_bits(&p, &want), "the caller ran every piece before the panic went on");
}

#[test]
fn openmp_follows_the_runtimes_thread_count() {
    let Some(team) = openmp() else { return eprintln!("no OpenMP runtime: skipped") };
    let follows: &dyn ParallelFor = &team;
    let fixed: &dyn ParallelFor = &team.with_threads(5);
    assert!(follows.threads() >= 1);
    assert_eq!(fixed.threads(), 5);
    assert_eq!(
        format!("{:?}", Parallelism::Host(Arc::new(OpenMp::loaded().unwrap().with_threads(5)))),
        "Host(OpenMP (5 threads))"
    );
}
