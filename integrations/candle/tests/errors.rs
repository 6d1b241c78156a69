//! Errors and the edges of the candle API: every refused step changes no
//! variable, no state and no step count; variables without a gradient are
//! skipped; the learning rate round-trips.

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::Optimizer as _;
use fused_optim_candle::{AdaGrad, AdamConfig, AdamW, ParamsAdamW, Sgd, SgdConfig};

fn var(values: &[f32], shape: (usize, usize)) -> Var {
    Var::from_tensor(&Tensor::from_slice(values, shape, &Device::Cpu).unwrap()).unwrap()
}

fn ones(shape: (usize, usize), dtype: DType) -> Tensor {
    Tensor::ones(shape, dtype, &Device::Cpu).unwrap()
}

fn bits(v: &Var) -> Vec<u32> {
    v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap().into_iter().map(f32::to_bits).collect()
}

/// A store with `grad` for each `(var, grad)`, nothing else.
fn store(pairs: &[(&Var, Tensor)]) -> GradStore {
    let mut grads = pairs[0].0.as_tensor().sum_all().unwrap().backward().unwrap();
    for (v, _) in pairs {
        grads.remove(v.as_tensor());
    }
    for (v, g) in pairs {
        grads.insert(v.as_tensor(), g.clone());
    }
    grads
}

const A: [f32; 6] = [1.0, -2.0, 3.0, -4.0, 5.0, -6.0];
const B: [f32; 4] = [0.5, 0.25, -0.5, 2.0];

fn params() -> ParamsAdamW {
    ParamsAdamW { lr: 0.1, ..ParamsAdamW::default() }
}

/// A refused step, then the same optimizer's good step: its result must be
/// a fresh optimizer's first step (the refused one changed no state), and
/// the variables must be untouched in between.
fn refused_then_recovers(bad: impl Fn(&Var, &Var) -> GradStore, message: &str) {
    let (a, b) = (var(&A, (2, 3)), var(&B, (2, 2)));
    let mut opt = AdamW::new(vec![a.clone(), b.clone()], params()).unwrap();
    let ga = Tensor::from_slice(&[0.1f32, 0.2, 0.3, 0.4, 0.5, 0.6], (2, 3), &Device::Cpu).unwrap();
    let gb = Tensor::from_slice(&[1.0f32, -1.0, 1.0, -1.0], (2, 2), &Device::Cpu).unwrap();
    let (before_a, before_b) = (bits(&a), bits(&b));
    let err = opt.step(&bad(&a, &b)).unwrap_err().to_string();
    assert!(err.contains(message), "error {err:?} does not say {message:?}");
    assert_eq!((bits(&a), bits(&b), opt.steps()), (before_a.clone(), before_b.clone(), 0));

    opt.step(&store(&[(&a, ga.clone()), (&b, gb.clone())])).unwrap();
    let (fa, fb) = (var(&A, (2, 3)), var(&B, (2, 2)));
    let mut fresh = AdamW::new(vec![fa.clone(), fb.clone()], params()).unwrap();
    fresh.step(&store(&[(&fa, ga), (&fb, gb)])).unwrap();
    assert_eq!((bits(&a), bits(&b)), (bits(&fa), bits(&fb)));
    assert_ne!(bits(&a), before_a);
    assert_eq!(opt.steps(), 1);
}

#[test]
fn dtype_mismatch_changes_nothing() {
    refused_then_recovers(
        |a, b| store(&[(a, ones((2, 3), DType::F32)), (b, ones((2, 2), DType::F64))]),
        "variable 1 (F32, [2, 2]): its gradient is F64",
    );
}

#[test]
fn shape_mismatch_changes_nothing() {
    refused_then_recovers(
        |a, b| store(&[(a, ones((2, 3), DType::F32)), (b, ones((4, 1), DType::F32))]),
        "its gradient has the shape [4, 1]",
    );
}

/// A gradient that is the variable itself (same storage) is refused, not a
/// deadlock of the two nested in-place ops.
#[test]
fn gradient_sharing_the_variable_is_refused() {
    refused_then_recovers(
        |a, b| store(&[(a, ones((2, 3), DType::F32)), (b, b.as_tensor().clone())]),
        "shares storage",
    );
}

#[test]
fn bad_learning_rate_changes_nothing_and_round_trips() {
    let a = var(&A, (2, 3));
    let mut opt = AdamW::new(vec![a.clone()], params()).unwrap();
    assert_eq!(opt.learning_rate(), 0.1);
    opt.set_learning_rate(-1.0);
    assert_eq!(opt.learning_rate(), -1.0);
    let grads = store(&[(&a, ones((2, 3), DType::F32))]);
    let before = bits(&a);
    let err = opt.step(&grads).unwrap_err().to_string();
    assert!(err.contains("lr"), "{err}");
    assert_eq!((bits(&a), opt.steps()), (before.clone(), 0));
    opt.set_learning_rate(0.25);
    assert_eq!(opt.learning_rate(), 0.25);
    assert_eq!(opt.config().lr, 0.25);
    opt.step(&grads).unwrap();
    // AdamW's first step moves each element by lr·sign(g) after the decay.
    let decay = 1.0 - 0.25 * 0.01;
    for (got, x) in a.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().zip(A) {
        assert!((got - (x * decay as f32 - 0.25)).abs() < 1e-5, "{got} from {x}");
    }
}

#[test]
fn learning_rate_of_every_alias() {
    let a = var(&A, (2, 3));
    let mut sgd = Sgd::new(vec![a.clone()], SgdConfig { lr: 0.5, ..SgdConfig::default() }).unwrap();
    assert_eq!(sgd.learning_rate(), 0.5);
    sgd.set_learning_rate(0.125);
    assert_eq!(sgd.learning_rate(), 0.125);
    sgd.step(&store(&[(&a, ones((2, 3), DType::F32))])).unwrap();
    let got = a.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(got, A.map(|x| x - 0.125));
}

#[test]
fn variables_without_gradient_are_skipped() {
    let (a, b) = (var(&A, (2, 3)), var(&B, (2, 2)));
    let mut opt = AdamW::new(vec![a.clone(), b.clone()], params()).unwrap();
    let loss = a.as_tensor().sqr().unwrap().sum_all().unwrap(); // b takes no part
    let grads = loss.backward().unwrap();
    assert!(grads.get(b.as_tensor()).is_none());
    let before_b = bits(&b);
    opt.step(&grads).unwrap();
    assert_eq!(bits(&b), before_b, "no gradient, no step (no decay either)");
    assert_ne!(bits(&a), A.map(f32::to_bits));
    assert_eq!(opt.steps(), 1);
}

#[test]
fn integer_variables_are_left_out() {
    let ints = Var::from_tensor(&Tensor::new(&[1u32, 2, 3], &Device::Cpu).unwrap()).unwrap();
    let a = var(&A, (2, 3));
    let opt = AdamW::new(vec![ints, a.clone()], params()).unwrap();
    assert_eq!(opt.vars().len(), 1);
    assert_eq!(opt.vars().next().unwrap().id(), a.id());
}

#[test]
fn refused_at_construction() {
    let half = Var::from_tensor(&Tensor::ones(4, DType::BF16, &Device::Cpu).unwrap()).unwrap();
    let err = AdaGrad::new(vec![var(&A, (2, 3)), half], Default::default()).unwrap_err().to_string();
    assert!(err.contains("variable 1 (BF16, [4]): AdaGrad has no bf16/f16 step"), "{err}");

    let bad = ParamsAdamW { beta1: 1.0, ..ParamsAdamW::default() };
    let err = AdamW::new(vec![var(&A, (2, 3))], bad).unwrap_err().to_string();
    assert!(err.contains("beta1"), "{err}");

    let f8 = Var::from_tensor(
        &Tensor::ones(4, DType::F32, &Device::Cpu).unwrap().to_dtype(DType::F8E4M3).unwrap(),
    );
    if let Ok(f8) = f8 {
        let err = AdamW::new(vec![f8], params()).unwrap_err().to_string();
        assert!(err.contains("no step for F8E4M3"), "{err}");
    }
}

/// candle 0.11 gives no way to make a non-contiguous `Var`: `Var::from_tensor`
/// copies a strided tensor into contiguous storage, so the optimizer's
/// contiguity check (at `new`) is a guard that this test cannot reach. A
/// non-contiguous *gradient* is made contiguous (a copy) and steps as the
/// contiguous one does.
#[test]
fn transposed_tensors() {
    let t = Tensor::from_slice(&A, (2, 3), &Device::Cpu).unwrap().t().unwrap();
    assert!(!t.is_contiguous());
    let v = Var::from_tensor(&t).unwrap();
    assert!(v.is_contiguous());

    let grad = Tensor::from_slice(&[0.1f32, 0.2, 0.3, -0.4, -0.5, 0.6], (3, 2), &Device::Cpu).unwrap();
    let strided = grad.t().unwrap();
    assert!(!strided.is_contiguous());
    let (a, b) = (var(&A, (2, 3)), var(&A, (2, 3)));
    let config = AdamConfig { lr: 0.1, ..AdamConfig::adamw() };
    let mut opt_a = fused_optim_candle::Adam::new(vec![a.clone()], config).unwrap();
    let mut opt_b = fused_optim_candle::Adam::new(vec![b.clone()], config).unwrap();
    opt_a.step(&store(&[(&a, strided.clone())])).unwrap();
    opt_b.step(&store(&[(&b, strided.contiguous().unwrap())])).unwrap();
    assert_eq!(bits(&a), bits(&b));
    assert_ne!(bits(&a), A.map(f32::to_bits));
}
