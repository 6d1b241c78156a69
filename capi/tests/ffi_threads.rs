//! The C ABI's threaded path: every `fo_*` step of every algorithm (with its
//! options), f32 and f64, one tensor and many, split across 2, 3 and 7
//! threads (`fo_set_threads`, with `fo_set_serial_threshold(0)` so that even
//! small steps are split), on a C host's parallel-for (`fo_set_parallel_for`:
//! a callback that runs each worker on a thread, one that runs them all on
//! the calling thread) and on the process's OpenMP team
//! (`fo_set_threads_openmp`, where the machine has a runtime), gives the
//! bits of the serial run (`fo_set_threads(1)`) of the same inputs.
//!
//! The many-tensor lists are chosen so that the driver's cuts move down to
//! 64-byte boundaries and push elements into later pieces: a long tensor then
//! a short one (118 and 2 elements), odd lengths, many tiny tensors before
//! and after one big one, empty tensors; each buffer starts at its own offset
//! from a cache line. (Mixed-precision Adam's threaded C steps are in
//! `tests/ffi_mixed.rs`, which runs every step split.)
//!
//! The thread setting and the threshold are process-wide: each test holds
//! one lock while it runs.

use fused_optim_capi::*;
use fused_optim_core::Float;
use std::array::from_fn;
use std::ptr::{null, null_mut};
use std::sync::{Mutex, MutexGuard};

use fused_optim_testkit::c_steps::Api;

/// The thread counts compared with the serial run.
const THREADS: [usize; 3] = [2, 3, 7];
/// Steps per run (the second reads the state the first wrote).
const STEPS: u64 = 2;
/// Lengths of the one-tensor cases.
const SINGLE: [usize; 4] = [1, 37, 1001, 4099];

/// Lengths of the many-tensor cases.
fn lists() -> Vec<Vec<usize>> {
    vec![
        vec![118, 2],
        vec![2, 118],
        vec![1, 3, 5, 7, 9, 11, 13, 101, 17],
        [vec![1; 40], vec![3001]].concat(),
        [vec![3001], vec![1; 40]].concat(),
        [vec![2; 20], vec![999], vec![3; 20]].concat(),
        vec![0, 65, 0, 63, 64, 0, 129],
        vec![1000, 999, 998, 1],
    ]
}

/// Holds the process-wide settings for one test: every step split.
fn split_everything() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    fo_set_serial_threshold(0);
    guard
}

/// One buffer, `offset` elements into its allocation.
#[derive(Clone)]
struct Buf<T> {
    alloc: Vec<T>,
    offset: usize,
}

impl<T: Float> Buf<T> {
    /// `len` deterministic values in [-2, 2) (non-negative with `positive`).
    fn new(seed: u64, offset: usize, len: usize, positive: bool) -> Self {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut alloc = vec![T::from_f64(0.0); offset];
        alloc.extend((0..len).map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let v = (x >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0;
            T::from_f64(if positive { v.abs() } else { v })
        }));
        Buf { alloc, offset }
    }

    fn ptr(&mut self) -> *mut T {
        self.alloc[self.offset..].as_mut_ptr()
    }

    /// Every element's bits, every NaN as one (the contract compares NaN as NaN).
    fn bits(&self) -> Vec<u64> {
        self.alloc[self.offset..]
            .iter()
            .map(|x| if x.is_nan() { u64::MAX } else { x.to_bits_u64() })
            .collect()
    }
}

/// One tensor: parameters, gradient and `K` state buffers.
type Tensor<T, const K: usize> = (Buf<T>, Buf<T>, [Buf<T>; K]);

/// Tensor `i` of a list.
fn tensor<T: Float, const K: usize>(i: usize, len: usize) -> Tensor<T, K> {
    let seed = 100 * i as u64;
    let offset = |k: usize| (i * 5 + k * 3) % 16;
    (
        Buf::new(seed, offset(0), len, false),
        Buf::new(seed + 1, offset(1), len, false),
        from_fn(|k| Buf::new(seed + 2 + k as u64, offset(k + 2), len, true)),
    )
}

type One<T, const K: usize> = dyn Fn(*mut T, *const T, [*mut T; K], usize, u64) -> fo_status;
type Many<T, const K: usize> =
    dyn Fn(*const *mut T, *const *const T, [*const *mut T; K], *const usize, usize, u64) -> fo_status;

/// One algorithm and config through its C entry points on `T`: the one-tensor
/// and the many-tensor step, over `K` state buffers (an optional one whose
/// option is off is passed as null by the closures).
struct Algo<T, const K: usize> {
    name: String,
    one: Box<One<T, K>>,
    many: Box<Many<T, K>>,
}

/// What one case ended with: every buffer's bits, or why it failed.
type Ended = Result<Vec<Vec<u64>>, String>;

/// `STEPS` steps of every case (each list through the many-tensor step, each
/// length of [`SINGLE`] through the one-tensor step) on the current threads.
fn run_cases<T: Float, const K: usize>(algo: &Algo<T, K>) -> Vec<(String, Ended)> {
    let mut out = Vec::new();
    for lens in lists() {
        let mut tensors: Vec<_> = lens.iter().enumerate().map(|(i, &n)| tensor::<T, K>(i, n)).collect();
        let p: Vec<*mut T> = tensors.iter_mut().map(|(p, _, _)| p.ptr()).collect();
        let g: Vec<*const T> = tensors.iter_mut().map(|(_, g, _)| g.ptr().cast_const()).collect();
        let s: [Vec<*mut T>; K] = from_fn(|k| tensors.iter_mut().map(|(_, _, s)| s[k].ptr()).collect());
        let ended = (1..=STEPS)
            .map(|t| {
                (algo.many)(p.as_ptr(), g.as_ptr(), from_fn(|k| s[k].as_ptr()), lens.as_ptr(), lens.len(), t)
            })
            .find(|&status| status != fo_status::FO_OK)
            .map_or_else(|| Ok(all_bits(&tensors)), |status| Err(format!("{status:?}")));
        out.push((format!("many {lens:?}"), ended));
    }
    for n in SINGLE {
        let mut tensors = vec![tensor::<T, K>(1, n)];
        let (p, g, s) = &mut tensors[0];
        let (p, g, s) = (p.ptr(), g.ptr().cast_const(), s.each_mut().map(|s| s.ptr()));
        let ended = (1..=STEPS)
            .map(|t| (algo.one)(p, g, s, n, t))
            .find(|&status| status != fo_status::FO_OK)
            .map_or_else(|| Ok(all_bits(&tensors)), |status| Err(format!("{status:?}")));
        out.push((format!("one tensor of {n}"), ended));
    }
    out
}

fn all_bits<T: Float, const K: usize>(tensors: &[Tensor<T, K>]) -> Vec<Vec<u64>> {
    tensors
        .iter()
        .flat_map(|(p, g, s)| [p.bits(), g.bits()].into_iter().chain(s.iter().map(Buf::bits)))
        .collect()
}

/// Runs every case serially and on each of [`THREADS`]; returns one line per
/// case that failed or differs from the serial run.
fn threaded_equals_serial<T: Float, const K: usize>(algo: &Algo<T, K>) -> Vec<String> {
    assert_eq!(fo_set_threads(1), fo_status::FO_OK);
    let serial = run_cases(algo);
    let mut failures = Vec::new();
    for (case, ended) in &serial {
        if let Err(status) = ended {
            failures.push(format!("{} {}: {case}, serial: {status}", algo.name, T::NAME));
        }
    }
    for setting in settings() {
        let threads = setting.apply();
        assert_eq!((fo_threads(), fo_serial_threshold()), (threads, 0), "the setting took");
        for ((case, want), (_, got)) in serial.iter().zip(run_cases(algo)) {
            let what = format!("{} {}: {case}, {setting:?}", algo.name, T::NAME);
            match (got, want) {
                (Err(status), _) => failures.push(format!("{what}: {status}")),
                (Ok(got), Ok(want)) if got != *want => {
                    let k = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(0);
                    failures.push(format!("{what}: buffer {k} differs from the serial run"));
                }
                _ => {}
            }
        }
    }
    assert_eq!(fo_set_threads(1), fo_status::FO_OK);
    failures
}

/// A thread setting of the C ABI: the library's own threads, a C host's
/// parallel-for, the process's OpenMP team.
#[derive(Debug, Clone, Copy)]
enum Setting {
    Own(usize),
    /// `fo_set_parallel_for` with a callback that runs each worker on a thread of its own.
    HostThreads(usize),
    /// `fo_set_parallel_for` with a callback that runs every worker on the calling thread, in reverse.
    HostSerial(usize),
    OpenMp(usize),
}

impl Setting {
    /// Applies the setting; the thread count `fo_threads` then reports.
    fn apply(self) -> usize {
        let (status, threads) = match self {
            Setting::Own(n) => (fo_set_threads(n), n),
            Setting::HostThreads(n) => (fo_set_parallel_for(Some(threads_host), null_mut(), n), n),
            Setting::HostSerial(n) => (fo_set_parallel_for(Some(serial_host), null_mut(), n), n),
            Setting::OpenMp(n) => (fo_set_threads_openmp(n), n),
        };
        assert_eq!(status, fo_status::FO_OK, "{self:?}");
        threads
    }
}

/// Every setting compared with the serial run: OpenMP's if the machine has a runtime.
fn settings() -> Vec<Setting> {
    let mut out: Vec<Setting> = THREADS.iter().map(|&n| Setting::Own(n)).collect();
    out.extend([Setting::HostThreads(3), Setting::HostSerial(2)]);
    if fused_optim_testkit::hosts::openmp().is_some() {
        out.extend([Setting::OpenMp(2), Setting::OpenMp(3)]);
    }
    out
}

/// A C host's parallel-for: each worker on a scoped thread of its own.
unsafe extern "C" fn threads_host(
    _ctx: *mut std::ffi::c_void, workers: usize, job: fo_job, job_ctx: *mut std::ffi::c_void,
) {
    let job_ctx = job_ctx as usize; // an address, to cross threads
    std::thread::scope(|s| {
        for w in 0..workers {
            // SAFETY: the library's job and context, called before this returns.
            s.spawn(move || unsafe { job(job_ctx as *mut std::ffi::c_void, w) });
        }
    });
}

/// A C host's parallel-for that runs every worker on the calling thread, last first.
unsafe extern "C" fn serial_host(
    _ctx: *mut std::ffi::c_void, workers: usize, job: fo_job, job_ctx: *mut std::ffi::c_void,
) {
    for w in (0..workers).rev() {
        // SAFETY: the library's job and context, called before this returns.
        unsafe { job(job_ctx, w) };
    }
}

#[test]
fn a_host_parallel_for_is_refused_without_a_callback_or_threads() {
    let _settings = split_everything();
    assert_eq!(fo_set_threads(2), fo_status::FO_OK);
    assert_eq!(fo_set_parallel_for(None, null_mut(), 2), fo_status::FO_ERROR_NULL_POINTER);
    assert_eq!(fo_set_parallel_for(Some(serial_host), null_mut(), 0), fo_status::FO_ERROR_THREADS);
    assert_eq!(
        fo_set_parallel_for(Some(serial_host), null_mut(), FO_MAX_THREADS + 1),
        fo_status::FO_ERROR_THREADS
    );
    assert_eq!(fo_set_threads_openmp(FO_MAX_THREADS + 1), fo_status::FO_ERROR_THREADS);
    assert_eq!(fo_threads(), 2, "a refused setting leaves the one before");
    assert_eq!(fo_set_threads(1), fo_status::FO_OK);
}

/// Asserts that no case failed, listing every one that did.
fn assert_none(failures: Vec<String>) {
    assert!(failures.is_empty(), "{} threaded cases failed:\n{}", failures.len(), failures.join("\n"));
}

/// An optional state array: the array when its option is on, else null.
fn given<T>(on: bool, array: *const *mut T) -> *const *mut T {
    if on { array } else { null() }
}

/// An optional one-tensor state buffer: the buffer when its option is on, else null.
fn given_one<T>(on: bool, buffer: *mut T) -> *mut T {
    if on { buffer } else { null_mut() }
}

fn adam<T: Api>() -> Vec<String> {
    let d = fo_adam_config_default();
    let configs = [
        ("adam", d),
        ("adamw amsgrad maximize", fo_adam_config { amsgrad: 1, maximize: 1, ..fo_adamw_config_default() }),
        (
            "adam L2 eps_hat beta1_decay",
            fo_adam_config {
                weight_decay: 0.1,
                weight_decay_mode: FO_WEIGHT_DECAY_L2,
                eps_hat: 1,
                eps: 1e-3,
                beta1_decay: 0.9,
                ..d
            },
        ),
    ];
    let mut failures = Vec::new();
    for (name, c) in configs {
        let on = c.amsgrad != 0;
        let algo = Algo::<T, 3> {
            name: name.to_string(),
            // SAFETY: every pointer is valid for its tensor's length; the config is valid.
            one: Box::new(move |p, g, [m, v, x], n, t| unsafe {
                T::ADAM(p, g, m, v, given_one(on, x), n, &c, t)
            }),
            many: Box::new(move |p, g, [m, v, x], lens, count, t| {
                // SAFETY: arrays of `count` pointers valid for their tensor's length.
                unsafe { T::ADAM_MANY(p, g, m, v, given(on, x), lens, count, &c, t) }
            }),
        };
        failures.extend(threaded_equals_serial(&algo));
    }
    failures
}

fn adamax<T: Api>() -> Vec<String> {
    let c =
        fo_adamax_config { weight_decay: 0.1, beta1_decay: 0.5, maximize: 1, ..fo_adamax_config_default() };
    let algo = Algo::<T, 2> {
        name: "adamax wd beta1_decay maximize".into(),
        // SAFETY: as for Adam.
        one: Box::new(move |p, g, [m, u], n, t| unsafe { T::ADAMAX(p, g, m, u, n, &c, t) }),
        // SAFETY: as for Adam.
        many: Box::new(move |p, g, [m, u], lens, count, t| unsafe {
            T::ADAMAX_MANY(p, g, m, u, lens, count, &c, t)
        }),
    };
    threaded_equals_serial(&algo)
}

fn adagrad<T: Api>() -> Vec<String> {
    let c = fo_adagrad_config {
        lr_decay: 0.1,
        weight_decay: 0.01,
        initial_accumulator_value: 0.25,
        maximize: 1,
        ..fo_adagrad_config_default()
    };
    let algo = Algo::<T, 1> {
        name: "adagrad lr_decay wd maximize".into(),
        // SAFETY: as for Adam.
        one: Box::new(move |p, g, [s], n, t| unsafe { T::ADAGRAD(p, g, s, n, &c, t) }),
        // SAFETY: as for Adam.
        many: Box::new(move |p, g, [s], lens, count, t| unsafe {
            T::ADAGRAD_MANY(p, g, s, lens, count, &c, t)
        }),
    };
    threaded_equals_serial(&algo)
}

fn rmsprop<T: Api>() -> Vec<String> {
    let mut failures = Vec::new();
    for (momentum, centered) in [(0.0, 0), (0.9, 0), (0.0, 1), (0.5, 1)] {
        let c = fo_rmsprop_config { momentum, centered, weight_decay: 0.01, ..fo_rmsprop_config_default() };
        let (on_b, on_a) = (momentum > 0.0, centered != 0);
        let algo = Algo::<T, 3> {
            name: format!("rmsprop momentum {momentum} centered {centered}"),
            one: Box::new(move |p, g, [v, b, a], n, t| {
                let (b, a) = (given_one(on_b, b), given_one(on_a, a));
                // SAFETY: as for Adam.
                unsafe { T::RMSPROP(p, g, v, b, a, n, &c, t) }
            }),
            many: Box::new(move |p, g, [v, b, a], lens, count, t| {
                let (b, a) = (given(on_b, b), given(on_a, a));
                // SAFETY: as for Adam.
                unsafe { T::RMSPROP_MANY(p, g, v, b, a, lens, count, &c, t) }
            }),
        };
        failures.extend(threaded_equals_serial(&algo));
    }
    failures
}

fn adadelta<T: Api>() -> Vec<String> {
    let c = fo_adadelta_config { weight_decay: 0.1, maximize: 1, ..fo_adadelta_config_default() };
    let algo = Algo::<T, 2> {
        name: "adadelta wd maximize".into(),
        // SAFETY: as for Adam.
        one: Box::new(move |p, g, [s, x], n, t| unsafe { T::ADADELTA(p, g, s, x, n, &c, t) }),
        many: Box::new(move |p, g, [s, x], lens, count, t| {
            // SAFETY: as for Adam.
            unsafe { T::ADADELTA_MANY(p, g, s, x, lens, count, &c, t) }
        }),
    };
    threaded_equals_serial(&algo)
}

#[test]
fn adam_threaded_equals_serial() {
    let _settings = split_everything();
    assert_none([adam::<f32>(), adam::<f64>()].concat());
}

#[test]
fn adamax_threaded_equals_serial() {
    let _settings = split_everything();
    assert_none([adamax::<f32>(), adamax::<f64>()].concat());
}

#[test]
fn adagrad_threaded_equals_serial() {
    let _settings = split_everything();
    assert_none([adagrad::<f32>(), adagrad::<f64>()].concat());
}

#[test]
fn rmsprop_threaded_equals_serial() {
    let _settings = split_everything();
    assert_none([rmsprop::<f32>(), rmsprop::<f64>()].concat());
}

#[test]
fn adadelta_threaded_equals_serial() {
    let _settings = split_everything();
    assert_none([adadelta::<f32>(), adadelta::<f64>()].concat());
}

/// The threshold's setter and getter; the default is the Rust API's.
#[test]
fn serial_threshold_round_trips() {
    let _settings = split_everything();
    assert_eq!(fo_serial_threshold(), 0);
    fo_set_serial_threshold(usize::MAX);
    assert_eq!((fo_serial_threshold(), fused_optim_core::serial_threshold()), (usize::MAX, usize::MAX));
    fo_set_serial_threshold(fused_optim_core::DEFAULT_SERIAL_BELOW_BYTES);
    assert_eq!(fo_serial_threshold(), 512 << 10);
}
