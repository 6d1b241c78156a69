//! Every algorithm, every dtype it steps: a few steps through candle give
//! exactly the bits of the core crate's own step on a copy of the same data
//! (the wrapper adds nothing to the numerics), on a tensor large enough to be
//! split across threads and with a tail (not a multiple of any SIMD width).

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var, WithDType};
use candle_nn::Optimizer as _;
use fused_optim::mixed::{MixedBuffers, MixedOptions, MixedSlice, bf16, f16, step_mixed};
use fused_optim::{Algorithm, Float, Parallelism, new_state};
use fused_optim_candle::{
    AdaDeltaConfig, AdaGradConfig, AdaMaxConfig, AdamConfig, LionConfig, Optimizer, Params, ParamsAdamW,
    RmsPropConfig, SgdConfig, WeightDecay,
};

mod support;

/// Past the core crate's serial threshold in every dtype (f64 Adam moves 56
/// bytes per element: 300_007 of them are 16 MB), odd.
const N: usize = 300_007;
const STEPS: u64 = 3;

/// Deterministic values in [-2, 2), different per `seed`.
fn values(seed: u64, n: usize) -> Vec<f64> {
    support::values(seed, n, 2.0)
}

/// The gradient store of `var.sum_all()`'s backward pass, with `grad` as `var`'s gradient.
fn grads_for(var: &Var, grad: Tensor) -> GradStore {
    let mut grads = var.as_tensor().sum_all().unwrap().backward().unwrap();
    grads.insert(var.as_tensor(), grad);
    grads
}

/// `STEPS` steps of `params` through candle on a var of `dtype`, then the
/// var's values as `T` (the dtype's own element type).
fn through_candle<P: Params, T: WithDType>(params: &P, dtype: DType) -> Vec<T> {
    let var =
        Var::from_tensor(&Tensor::new(values(1, N), &Device::Cpu).unwrap().to_dtype(dtype).unwrap()).unwrap();
    let mut opt = Optimizer::<P>::new(vec![var.clone()], params.clone()).unwrap();
    for t in 1..=STEPS {
        let grad = Tensor::new(values(100 + t, N), &Device::Cpu).unwrap().to_dtype(dtype).unwrap();
        opt.step(&grads_for(&var, grad)).unwrap();
    }
    assert_eq!(opt.steps(), STEPS);
    var.as_tensor().to_vec1::<T>().unwrap()
}

/// The same steps by the core crate's `Optimizer` over slices.
fn through_core<A: Algorithm, T: Float>(config: &A, from: fn(f64) -> T) -> Vec<T> {
    let mut param: Vec<T> = values(1, N).into_iter().map(from).collect();
    let mut opt = fused_optim::Optimizer::<A, T>::new(config.clone(), N).unwrap();
    for t in 1..=STEPS {
        let grad: Vec<T> = values(100 + t, N).into_iter().map(from).collect();
        opt.step(&mut param, &grad).unwrap();
    }
    param
}

/// The same steps by the core crate's mixed-precision step over 16-bit
/// slices with `f32` state (`wrap` makes the slice).
fn through_core_mixed<A: Algorithm, H: Copy>(
    config: &A,
    from: fn(f64) -> H,
    wrap: fn(&mut [H]) -> MixedSlice<'_>,
) -> Vec<H>
where
    A::Coefficients<f32>: fused_optim::mixed::MixedKernel,
{
    let mut param: Vec<H> = values(1, N).into_iter().map(from).collect();
    let mut state = new_state::<A, f32>(config, N).unwrap();
    let options = MixedOptions { skip_non_finite: false, ..MixedOptions::default() };
    for t in 1..=STEPS {
        let mut grad: Vec<H> = values(100 + t, N).into_iter().map(from).collect();
        let state = A::slots(A::view_mut(&mut state)).map(|s| s.map(MixedSlice::F32));
        let buffers = MixedBuffers {
            param: wrap(&mut param),
            grad: wrap(&mut grad),
            state,
            param_copy: None,
            position: 0,
        };
        let _applied = step_mixed(config, t, buffers, &options, &Parallelism::Serial).unwrap();
    }
    param
}

/// `got` is `want` bit for bit, and the steps moved some element away from
/// the start (`from` converts the starting values): the comparison is not of
/// two copies of the input.
fn same_bits<T: Copy + std::fmt::Debug, B: PartialEq + std::fmt::Debug>(
    name: &str,
    got: &[T],
    want: &[T],
    from: fn(f64) -> T,
    bits: fn(T) -> B,
) {
    assert_eq!(got.len(), want.len());
    let first = got.iter().zip(want).position(|(&g, &w)| bits(g) != bits(w));
    if let Some(i) = first {
        panic!("{name}: element {i} is {:?}, the core crate's {:?}", got[i], want[i]);
    }
    let moved = got.iter().zip(values(1, N)).filter(|&(&g, x)| bits(g) != bits(from(x))).count();
    assert!(moved > 0, "{name}: no element moved");
}

/// f32 and f64 through candle against the core crate's bits.
fn check_full<P: Params>(name: &str, params: P) {
    let config = params.algorithm();
    same_bits(
        &format!("{name} f32"),
        &through_candle::<P, f32>(&params, DType::F32),
        &through_core(&config, |x| x as f32),
        |x| x as f32,
        f32::to_bits,
    );
    same_bits(
        &format!("{name} f64"),
        &through_candle::<P, f64>(&params, DType::F64),
        &through_core(&config, |x| x),
        |x| x,
        f64::to_bits,
    );
}

/// bf16 and f16 through candle against the core crate's mixed-precision bits.
fn check_half<P: Params>(name: &str, params: P)
where
    <P::Algorithm as Algorithm>::Coefficients<f32>: fused_optim::mixed::MixedKernel,
{
    let config = params.algorithm();
    same_bits(
        &format!("{name} bf16"),
        &through_candle::<P, bf16>(&params, DType::BF16),
        &through_core_mixed(&config, bf16::from_f64, |s| MixedSlice::Bf16(s)),
        bf16::from_f64,
        bf16::to_bits,
    );
    same_bits(
        &format!("{name} f16"),
        &through_candle::<P, f16>(&params, DType::F16),
        &through_core_mixed(&config, f16::from_f64, |s| MixedSlice::F16(s)),
        f16::from_f64,
        f16::to_bits,
    );
}

#[test]
fn adamw_as_candle_params() {
    let params = ParamsAdamW { lr: 0.01, weight_decay: 0.1, ..ParamsAdamW::default() };
    check_full("AdamW", params.clone());
    check_half("AdamW", params);
}

#[test]
fn adam_l2_amsgrad() {
    let config =
        AdamConfig { lr: 0.01, amsgrad: true, weight_decay: WeightDecay::L2(0.01), ..AdamConfig::default() };
    check_full("Adam", config);
    check_half("Adam", config);
}

#[test]
fn lion() {
    let config = LionConfig { lr: 1e-3, weight_decay: 0.1, ..LionConfig::default() };
    check_full("Lion", config);
    check_half("Lion", config);
}

#[test]
fn sgd_nesterov() {
    let config =
        SgdConfig { lr: 0.01, momentum: 0.9, nesterov: true, weight_decay: 1e-4, ..SgdConfig::default() };
    check_full("SGD", config);
    check_half("SGD", config);
}

#[test]
fn adamax() {
    check_full("AdaMax", AdaMaxConfig { lr: 0.01, weight_decay: 0.01, ..AdaMaxConfig::default() });
}

#[test]
fn adagrad() {
    check_full(
        "AdaGrad",
        AdaGradConfig { lr: 0.1, lr_decay: 0.01, initial_accumulator_value: 0.1, ..AdaGradConfig::default() },
    );
}

#[test]
fn rmsprop_centered_momentum() {
    check_full(
        "RMSprop",
        RmsPropConfig { lr: 0.01, centered: true, momentum: 0.9, ..RmsPropConfig::default() },
    );
}

#[test]
fn adadelta() {
    check_full("AdaDelta", AdaDeltaConfig { lr: 1.0, weight_decay: 0.01, ..AdaDeltaConfig::default() });
}
