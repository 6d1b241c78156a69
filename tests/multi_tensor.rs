//! The multi-tensor step gives the same bits as stepping each tensor alone
//! with the reference, on every thread count, with the work cut across and
//! within tensors; and refuses a bad tensor by index, writing nothing.

mod common;

use common::algos::{AdaDelta, AdaGrad, AdaMax, Adam, AdamState, Algorithm, Implementation, RmsProp};
use common::{Fill, TestFloat, rng};
use fused_optim::{AdamConfig, Error, Parallelism, adam_step_many};
use std::sync::{Arc, Once};

/// Lengths from empty to several pieces' worth, in an order that puts large
/// tensors across cuts and small ones between them (smaller large ones in a
/// debug build).
const LENGTHS: [usize; 12] = common::by_profile(
    [0, 1, 5, 17, 64, 100, 1000, 4099, 50_000, 3, 200_003, 31],
    [0, 1, 5, 17, 64, 100, 1000, 4099, 5_003, 3, 20_011, 31],
);

/// Every step of this binary is split, however small (the threshold is process-wide).
fn split_everything() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| fused_optim::set_serial_threshold(0));
}

fn parallelisms() -> Vec<Parallelism> {
    let mut out = vec![Parallelism::Serial, Parallelism::Global];
    for n in [1, 2, 3, 7] {
        out.push(Parallelism::Pool(Arc::new(
            rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap(),
        )));
    }
    out
}

/// Every option combination, steps 1, 2 and 10^6: one multi-tensor call per
/// parallelism against the reference on each tensor alone.
fn many_matches_each_tensor_alone<A: Algorithm, T: TestFloat>() {
    split_everything();
    for config in A::configs() {
        let start: Vec<A::State<T>> = LENGTHS
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                A::state::<T>(&config, &mut rng(i as u64), [Fill::Random, Fill::Special][i % 2], n, i % 4)
            })
            .collect();
        for t in [1, 2, 1_000_000] {
            let mut want = start.clone();
            for s in &mut want {
                A::step(&config, s, t, &Implementation::Reference);
            }
            for parallelism in parallelisms() {
                let mut got = start.clone();
                A::api_step_many(&config, &mut got, t, &parallelism).unwrap();
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(A::guards_intact(g), "{} tensor {i} wrote outside its buffers", A::NAME);
                    for ((name, a), (_, b)) in A::outputs(g).into_iter().zip(A::outputs(w)) {
                        let threads = parallelism.threads();
                        let what =
                            format!("{} {config:?} t={t} {threads} threads, tensor {i} {name}", A::NAME);
                        common::assert_same_bits(a, b, &what);
                    }
                }
            }
        }
    }
}

/// One test per algorithm and element type.
macro_rules! many_tests {
    ($($name:ident: $algorithm:ty, $t:ty;)*) => {
        $(
            #[test]
            fn $name() {
                many_matches_each_tensor_alone::<$algorithm, $t>();
            }
        )*
    };
}

many_tests! {
    adam_many_f32_matches_each_tensor_alone: Adam, f32;
    adam_many_f64_matches_each_tensor_alone: Adam, f64;
    adamax_many_f32_matches_each_tensor_alone: AdaMax, f32;
    adagrad_many_f64_matches_each_tensor_alone: AdaGrad, f64;
    rmsprop_many_f32_matches_each_tensor_alone: RmsProp, f32;
    adadelta_many_f64_matches_each_tensor_alone: AdaDelta, f64;
}

#[test]
fn a_bad_tensor_is_named_and_nothing_is_written() {
    split_everything();
    let config = AdamConfig { amsgrad: true, ..AdamConfig::default() };
    let mut states: Vec<AdamState<f32>> = LENGTHS
        .iter()
        .enumerate()
        .map(|(i, &n)| Adam::state::<f32>(&config, &mut rng(i as u64), Fill::Random, n, 0))
        .collect();
    states[5].max_exp_avg_sq = None;
    states[9].exp_avg = common::Offset::new(&[1.0; 4], 0);
    let bits = |s: &[AdamState<f32>]| -> Vec<Vec<u32>> {
        s.iter()
            .flat_map(|s| Adam::outputs(s).into_iter().map(|(_, b)| b.iter().map(|x| x.to_bits()).collect()))
            .collect()
    };
    let before = bits(&states);
    let mut tensors: Vec<_> = states.iter_mut().map(|s| s.buffers()).collect();
    let err = adam_step_many(&config, 1, &mut tensors, &Parallelism::Global).unwrap_err();
    assert_eq!(
        err,
        Error::Tensor {
            index: 5,
            error: Box::new(Error::MissingState { buffer: "max_exp_avg_sq", option: "amsgrad" })
        }
    );
    assert!(err.to_string().starts_with("tensor 5: `amsgrad` is on"), "{err}");
    drop(tensors);
    assert_eq!(bits(&states), before);
    // An empty list is a step of nothing.
    assert_eq!(adam_step_many::<f64>(&config, 1, &mut [], &Parallelism::Global), Ok(()));
}

/// A step computes its coefficients once per call, not once per tensor or
/// per piece: the checked value that validation produces is what the driver
/// and the kernel use.
#[test]
fn a_call_computes_its_coefficients_once() {
    use fused_optim::algorithms::coefficient_computations;
    use fused_optim::mixed::{MixedAdamBuffers, MixedOptions, MixedSlice, adam_step_mixed, bf16};
    use fused_optim::{Adam, AdamBuffers, adam_step};
    let n = 300_000; // several pieces on every thread count
    let (mut p, g, mut m, mut v) = (vec![1.0f32; n], vec![0.5f32; n], vec![0.0f32; n], vec![0.0f32; n]);
    let config = AdamConfig::default();
    let counted = |f: &mut dyn FnMut()| {
        let before = coefficient_computations();
        f();
        coefficient_computations() - before
    };
    fn one<'a>(p: &'a mut [f32], g: &'a [f32], m: &'a mut [f32], v: &'a mut [f32]) -> AdamBuffers<'a, f32> {
        AdamBuffers { param: p, grad: g, exp_avg: m, exp_avg_sq: v, max_exp_avg_sq: None }
    }
    let step = counted(&mut || {
        adam_step(&config, 1, one(&mut p, &g, &mut m, &mut v), &Parallelism::Global).unwrap();
    });
    assert_eq!(step, 1, "adam_step");
    let (mut p2, mut m2, mut v2) = (p.clone(), m.clone(), v.clone());
    let many = counted(&mut || {
        let mut tensors = [one(&mut p, &g, &mut m, &mut v), one(&mut p2, &g, &mut m2, &mut v2)];
        adam_step_many(&config, 2, &mut tensors, &Parallelism::Global).unwrap();
    });
    assert_eq!(many, 1, "adam_step_many over two tensors");
    let mut opt = Adam::<f32>::new(config, n).unwrap();
    let owning = counted(&mut || opt.step(&mut p, &g).unwrap());
    assert_eq!(owning, 1, "Optimizer::step");
    let (mut pb, gb) = (vec![bf16::from_f32(1.0); n], vec![bf16::from_f32(0.5); n]);
    let mixed = counted(&mut || {
        let buffers = MixedAdamBuffers {
            param: MixedSlice::Bf16(&mut pb),
            grad: MixedSlice::Bf16(&mut gb.clone()),
            exp_avg: MixedSlice::F32(&mut m),
            exp_avg_sq: MixedSlice::F32(&mut v),
            max_exp_avg_sq: None,
            param_copy: None,
            position: 0,
        };
        let _ = adam_step_mixed(&config, 3, buffers, &MixedOptions::default(), &Parallelism::Global).unwrap();
    });
    assert_eq!(mixed, 1, "adam_step_mixed");
}
