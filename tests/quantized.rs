//! The 8-bit-state step through the library (`fused_optim::quantized`): the
//! thread driver cuts only at block boundaries and gives the reference's
//! bytes at every thread count; the checks refuse bad buffers and write
//! nothing; the found_inf skip and clipping; the state's size; loading and
//! exporting `f32` state.

use fused_optim::clip::ClipGradNorm;
use fused_optim::mixed::{MixedOptions, StateFormat, StepOutcome, state_bytes_per_param};
use fused_optim::parallel::{Parallelism, set_serial_threshold};
use fused_optim::quantized::{
    QUANT_BLOCK, QuantizedAdam, QuantizedBuffers, QuantizedCoefficients, QuantizedState,
    quantized_coefficients, scales_len, step_quantized, step_quantized_many,
};
use fused_optim::{AdamConfig, Algorithm, Error, LionConfig, SgdConfig};
use fused_optim_kernels::spec;
use std::sync::Arc;

/// Reproducible values in about ±`scale`, with exact zeros now and then.
fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if i % 97 == 5 { 0.0 } else { ((x >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale }
        })
        .collect()
}

/// One tensor's owned buffers: parameter, gradient and `slots` state buffers.
#[derive(Clone, Debug, PartialEq)]
struct Tensor {
    param: Vec<f32>,
    grad: Vec<f32>,
    state: Vec<QuantizedState>,
}

impl Tensor {
    fn new(n: usize, seed: u64, signed: &[bool]) -> Tensor {
        Tensor {
            param: values(n, seed, 1.0),
            grad: values(n, seed + 1, 0.1),
            state: signed.iter().map(|&s| QuantizedState::zeros(n, s)).collect(),
        }
    }

    fn buffers(&mut self) -> QuantizedBuffers<'_> {
        let mut state = [None, None, None];
        for (k, s) in self.state.iter_mut().enumerate() {
            state[k] = Some(s.slot());
        }
        QuantizedBuffers { param: &mut self.param, grad: &mut self.grad, state }
    }

    /// Bits of everything, for comparisons (NaN compared by bits is fine: no NaN arises here).
    fn bits(&self) -> (Vec<u32>, Vec<u8>, Vec<u32>) {
        let codes = self.state.iter().flat_map(|s| s.codes().to_vec()).collect();
        let scales = self.state.iter().flat_map(|s| s.scales().iter().map(|x| x.to_bits())).collect();
        (self.param.iter().map(|x| x.to_bits()).collect(), codes, scales)
    }
}

/// Lengths around the block size, laid end to end in one multi-tensor step.
const LENGTHS: [usize; 6] = [1, 255, 257, 3 * QUANT_BLOCK, 5000, 70_001];

fn tensors(signed: &[bool]) -> Vec<Tensor> {
    LENGTHS.iter().enumerate().map(|(i, &n)| Tensor::new(n, 10 * i as u64, signed)).collect()
}

/// `steps` steps of `config` over every tensor with `parallelism`, new gradients each step.
fn run<A: Algorithm>(config: &A, signed: &[bool], steps: u64, parallelism: &Parallelism) -> Vec<Tensor>
where
    A::Coefficients<f32>: fused_optim::mixed::MixedKernel + fused_optim::quantized::QuantizedKernel,
{
    let mut all = tensors(signed);
    for t in 1..=steps {
        for (i, x) in all.iter_mut().enumerate() {
            x.grad = values(x.grad.len(), 1000 * t + i as u64, 0.1);
        }
        let mut buffers: Vec<QuantizedBuffers<'_>> = all.iter_mut().map(Tensor::buffers).collect();
        let (outcome, _) =
            step_quantized_many(config, t, None, &mut buffers, &MixedOptions::default(), parallelism)
                .unwrap();
        assert_eq!(outcome, StepOutcome::Applied);
    }
    all
}

/// The same steps through the kernels' scalar reference, one tensor at a time.
fn reference<A: Algorithm>(config: &A, signed: &[bool], steps: u64) -> Vec<Tensor>
where
    A::Coefficients<f32>: fused_optim::mixed::MixedKernel + fused_optim::quantized::QuantizedKernel,
{
    let mut all = tensors(signed);
    for t in 1..=steps {
        let c: QuantizedCoefficients<_> =
            quantized_coefficients(config, t, &MixedOptions::default()).unwrap();
        for (i, x) in all.iter_mut().enumerate() {
            x.grad = values(x.grad.len(), 1000 * t + i as u64, 0.1);
            spec::quantized::quantized(x.buffers(), &c);
        }
    }
    all
}

fn pools() -> Vec<(usize, Parallelism)> {
    let mut out = vec![(1, Parallelism::Serial)];
    for threads in [2, 3, 7] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        out.push((threads, Parallelism::Pool(Arc::new(pool))));
    }
    out
}

fn every_thread_count<A: Algorithm>(config: A, signed: &[bool])
where
    A::Coefficients<f32>: fused_optim::mixed::MixedKernel + fused_optim::quantized::QuantizedKernel,
{
    set_serial_threshold(0); // split even these small steps
    let expected: Vec<_> = reference(&config, signed, 3).iter().map(Tensor::bits).collect();
    for (threads, parallelism) in pools() {
        let got: Vec<_> = run(&config, signed, 3, &parallelism).iter().map(Tensor::bits).collect();
        assert!(got == expected, "{} with {threads} threads differs from the reference", A::NAME);
    }
}

#[test]
fn adamw_is_the_reference_at_every_thread_count() {
    every_thread_count(AdamConfig::adamw(), &[true, false]);
}

#[test]
fn amsgrad_is_the_reference_at_every_thread_count() {
    every_thread_count(AdamConfig { amsgrad: true, ..AdamConfig::default() }, &[true, false, false]);
}

#[test]
fn lion_is_the_reference_at_every_thread_count() {
    every_thread_count(LionConfig { lr: 1e-3, weight_decay: 0.1, ..LionConfig::default() }, &[true]);
}

#[test]
fn sgd_momentum_is_the_reference_at_every_thread_count() {
    every_thread_count(SgdConfig { lr: 0.1, momentum: 0.9, nesterov: true, ..SgdConfig::default() }, &[true]);
}

/// A call that must be refused.
type Refusal = Box<dyn Fn(&mut Tensor) -> Result<StepOutcome, Error>>;

/// Every refusal leaves every buffer as it was.
#[test]
fn refusals_write_nothing() {
    let fresh = Tensor::new(1000, 3, &[true, false]);
    let cases: Vec<(&str, Refusal)> = vec![
        (
            "short grad",
            Box::new(|x: &mut Tensor| {
                let b = x.buffers();
                let grad = &mut b.grad[..999];
                step_quantized(
                    &AdamConfig::default(),
                    1,
                    QuantizedBuffers { param: b.param, grad, state: b.state },
                    &MixedOptions::default(),
                    &Parallelism::Serial,
                )
            }),
        ),
        (
            "short codes",
            Box::new(|x: &mut Tensor| {
                let mut b = x.buffers();
                let s = b.state[1].as_mut().unwrap();
                s.codes = &mut std::mem::take(&mut s.codes)[..999];
                step_quantized(&AdamConfig::default(), 1, b, &MixedOptions::default(), &Parallelism::Serial)
            }),
        ),
        (
            "short scales",
            Box::new(|x: &mut Tensor| {
                let mut b = x.buffers();
                let s = b.state[0].as_mut().unwrap();
                s.scales = &mut std::mem::take(&mut s.scales)[..3];
                step_quantized(&AdamConfig::default(), 1, b, &MixedOptions::default(), &Parallelism::Serial)
            }),
        ),
        (
            "missing exp_avg_sq",
            Box::new(|x: &mut Tensor| {
                let mut b = x.buffers();
                b.state[1] = None;
                step_quantized(&AdamConfig::default(), 1, b, &MixedOptions::default(), &Parallelism::Serial)
            }),
        ),
        (
            "max_exp_avg_sq without amsgrad",
            Box::new(|x: &mut Tensor| {
                let mut extra = QuantizedState::zeros(1000, false);
                let mut b = x.buffers();
                b.state[2] = Some(extra.slot());
                step_quantized(&AdamConfig::default(), 1, b, &MixedOptions::default(), &Parallelism::Serial)
            }),
        ),
        (
            "stochastic rounding",
            Box::new(|x: &mut Tensor| {
                let options = MixedOptions { stochastic_rounding: Some(1), ..MixedOptions::default() };
                step_quantized(&AdamConfig::default(), 1, x.buffers(), &options, &Parallelism::Serial)
            }),
        ),
        (
            "step 0",
            Box::new(|x: &mut Tensor| {
                step_quantized(
                    &AdamConfig::default(),
                    0,
                    x.buffers(),
                    &MixedOptions::default(),
                    &Parallelism::Serial,
                )
            }),
        ),
    ];
    for (name, case) in cases {
        let mut x = fresh.clone();
        let before = x.clone();
        assert!(case(&mut x).is_err(), "{name} was accepted");
        assert!(x == before, "{name}: a refused step wrote");
    }
}

#[test]
fn a_non_finite_gradient_skips_the_step_and_writes_nothing() {
    let mut x = Tensor::new(3000, 4, &[true, false]);
    x.grad[2999] = f32::INFINITY;
    let before = x.clone();
    let outcome = step_quantized(
        &AdamConfig::default(),
        1,
        x.buffers(),
        &MixedOptions::default(),
        &Parallelism::Serial,
    )
    .unwrap();
    assert_eq!(outcome, StepOutcome::SkippedNonFinite);
    assert!(x == before);
}

/// A clipped step is the unclipped step of the gradients scaled by the
/// coefficient inside (the report's norm is `grad_norm`'s).
#[test]
fn clipping_reports_the_norm_and_scales_inside_the_step() {
    let mut x = Tensor::new(5000, 5, &[true, false]);
    let norm = fused_optim::clip::grad_norm(&[&x.grad[..]], &Parallelism::Serial);
    let clip = ClipGradNorm::new(norm / 4.0);
    let (_, report) = step_quantized_many(
        &AdamConfig::default(),
        1,
        Some(&clip),
        &mut [x.buffers()],
        &MixedOptions::default(),
        &Parallelism::Serial,
    )
    .unwrap();
    let report = report.unwrap();
    assert_eq!(report.norm, norm);
    assert!((report.coefficient - 0.25).abs() < 1e-6);
}

#[test]
fn state_bytes_per_param_are_reported_and_true() {
    assert_eq!(state_bytes_per_param(&AdamConfig::adamw(), StateFormat::Int8), 2.0 + 8.0 / 256.0);
    let n = 1 << 20;
    let adam = QuantizedAdam::new(AdamConfig::adamw(), MixedOptions::default(), n).unwrap();
    let amsgrad =
        QuantizedAdam::new(AdamConfig { amsgrad: true, ..AdamConfig::default() }, MixedOptions::default(), n)
            .unwrap();
    for (opt, slots) in [(&adam, 2.0), (&amsgrad, 3.0)] {
        assert_eq!(opt.state_bytes_per_param(), slots * (1.0 + 4.0 / QUANT_BLOCK as f64));
        // What the optimizer really holds, counted.
        let held: usize = opt.state().iter().flatten().map(|s| s.codes().len() + 4 * s.scales().len()).sum();
        assert_eq!(held as f64 / n as f64, opt.state_bytes_per_param());
    }
    assert_eq!(scales_len(0), 0);
    assert_eq!(scales_len(257), 2);
}

/// Loading `f32` state quantizes it as a step stores it; exporting decodes
/// it; the round trip is within the code's precision (3 mantissa bits: a
/// relative error of at most 2⁻⁴ above the flush region).
#[test]
fn f32_state_loads_and_exports() {
    for signed in [true, false] {
        let mut v = values(10_000, 9, 3.0);
        if !signed {
            v.iter_mut().for_each(|x| *x = x.abs());
        }
        let q = QuantizedState::quantize(&v, signed);
        let back = q.dequantize();
        for (block, (a, b)) in v.chunks(QUANT_BLOCK).zip(back.chunks(QUANT_BLOCK)).enumerate() {
            let absmax = a.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            assert_eq!(q.scales()[block], absmax);
            for (x, y) in a.iter().zip(b) {
                if x.abs() > absmax * 2f32.powi(-14) {
                    assert!((x - y).abs() <= x.abs() / 16.0, "{x} decoded as {y}");
                }
            }
        }
        // Quantizing what was decoded gives the same bytes back.
        assert_eq!(QuantizedState::quantize(&back, signed), q);
    }
}

#[test]
fn the_owning_optimizer_counts_applied_steps() {
    let mut opt = QuantizedAdam::new(AdamConfig::adamw(), MixedOptions::default(), 600).unwrap();
    let mut p = vec![1.0f32; 600];
    let mut g = vec![0.25f32; 600];
    assert_eq!(opt.step(&mut p, &mut g).unwrap(), StepOutcome::Applied);
    g[7] = f32::NAN;
    assert_eq!(opt.step(&mut p, &mut g).unwrap(), StepOutcome::SkippedNonFinite);
    assert_eq!(opt.steps(), 1);
    assert!(opt.state()[2].is_none());
}

/// The lean-state probe through the driver leaves finite data as it was at
/// every thread count, with bf16 words and with 8-bit codes (whose pieces
/// the driver must cut at block boundaries: a cut inside a block panics).
#[test]
fn the_state_probe_changes_nothing_at_every_thread_count() {
    use fused_optim::mixed::bf16;
    use fused_optim::{ProbeState, StateProbeBuffers, probe_state_step};
    set_serial_threshold(0); // split even these small steps
    for (threads, parallelism) in pools() {
        for n in [0, 1, 15, 17, 255, 256, 257, 1000, 4097, 70_000] {
            let mut x = Tensor::new(n, 11, &[true, false]);
            let before = x.clone();
            let [m, v] = &mut x.state[..] else { unreachable!() };
            let state = ProbeState::Codes([m.slot(), v.slot()]);
            probe_state_step(StateProbeBuffers { param: &mut x.param, grad: &x.grad, state }, &parallelism)
                .expect("equal lengths");
            assert!(x == before, "8-bit state, {threads} threads, n = {n}");
            let words = |seed| values(n, seed, 1.0).into_iter().map(bf16::from_f32).collect::<Vec<_>>();
            let (mut m, mut v) = (words(12), words(13));
            let (m0, v0) = (m.clone(), v.clone());
            let state = ProbeState::Bf16([&mut m, &mut v]);
            probe_state_step(StateProbeBuffers { param: &mut x.param, grad: &x.grad, state }, &parallelism)
                .expect("equal lengths");
            assert!(x == before && m == m0 && v == v0, "bf16 state, {threads} threads, n = {n}");
        }
    }
}
