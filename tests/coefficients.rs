//! A step computes its step's coefficients once per call, not once per
//! tensor or per piece: the validated value is what the driver and the
//! kernel use, on the calling thread and on every pool thread.
//!
//! The count is process-wide, so this binary holds this one test alone.

use fused_optim::algorithms::coefficient_computations;
use fused_optim::{AdamConfig, Parallelism, adam_step_many};

/// Every Rust path: the named step, the multi-tensor step, the owning
/// optimizer, the mixed-precision step.
#[test]
fn a_call_computes_its_coefficients_once() {
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
