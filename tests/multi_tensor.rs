//! The multi-tensor step gives the same bits as stepping each tensor alone
//! with the reference, on every thread count, with the work cut across and
//! within tensors; and refuses a bad tensor by index, writing nothing.

use fused_optim::{
    AdaDeltaConfig, AdaGradConfig, AdaMaxConfig, AdamConfig, Error, LionConfig, Parallelism, RmsPropConfig,
    SgdConfig, adam_step_many,
};
use fused_optim_testkit::harness::api_step_many;
use fused_optim_testkit::{Fill, Implementation, Offset, Tensor, TestAlgorithm, TestFloat, by_profile, rng};
use std::sync::{Arc, Once};

/// Lengths from empty to several pieces' worth, in an order that puts large
/// tensors across cuts and small ones between them (smaller large ones in a
/// debug build).
const LENGTHS: [usize; 12] = by_profile(
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
fn many_matches_each_tensor_alone<A: TestAlgorithm, T: TestFloat>() {
    split_everything();
    for config in A::configs() {
        let start: Vec<Tensor<A, T>> = LENGTHS
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                Tensor::<A, T>::new(
                    &config,
                    &mut rng(i as u64),
                    [Fill::Random, Fill::Special][i % 2],
                    n,
                    i % 4,
                )
            })
            .collect();
        for t in [1, 2, 1_000_000] {
            let mut want = start.clone();
            for s in &mut want {
                s.step(&config, t, &Implementation::Reference);
            }
            for parallelism in parallelisms() {
                let mut got = start.clone();
                api_step_many(&config, &mut got, t, &parallelism).unwrap();
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(g.guards_intact(), "{} tensor {i} wrote outside its buffers", A::NAME);
                    for ((name, a), (_, b)) in g.outputs().into_iter().zip(w.outputs()) {
                        let threads = parallelism.threads();
                        let what =
                            format!("{} {config:?} t={t} {threads} threads, tensor {i} {name}", A::NAME);
                        fused_optim_testkit::assert_same_bits(a, b, &what);
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
    adam_many_f32_matches_each_tensor_alone: AdamConfig, f32;
    adam_many_f64_matches_each_tensor_alone: AdamConfig, f64;
    adamax_many_f32_matches_each_tensor_alone: AdaMaxConfig, f32;
    adagrad_many_f64_matches_each_tensor_alone: AdaGradConfig, f64;
    rmsprop_many_f32_matches_each_tensor_alone: RmsPropConfig, f32;
    adadelta_many_f64_matches_each_tensor_alone: AdaDeltaConfig, f64;
    sgd_many_f32_matches_each_tensor_alone: SgdConfig, f32;
    sgd_many_f64_matches_each_tensor_alone: SgdConfig, f64;
    lion_many_f32_matches_each_tensor_alone: LionConfig, f32;
}

#[test]
fn a_bad_tensor_is_named_and_nothing_is_written() {
    split_everything();
    let config = AdamConfig { amsgrad: true, ..AdamConfig::default() };
    let mut states: Vec<Tensor<AdamConfig, f32>> = LENGTHS
        .iter()
        .enumerate()
        .map(|(i, &n)| Tensor::<AdamConfig, f32>::new(&config, &mut rng(i as u64), Fill::Random, n, 0))
        .collect();
    *states[5].state_mut("max_exp_avg_sq") = None;
    *states[9].state_mut("exp_avg") = Some(Offset::new(&[1.0; 4], 0));
    let bits = |s: &[Tensor<AdamConfig, f32>]| -> Vec<Vec<u32>> {
        s.iter()
            .flat_map(|s| s.outputs().into_iter().map(|(_, b)| b.iter().map(|x| x.to_bits()).collect()))
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
