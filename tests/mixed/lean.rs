//! Issue 18's lean state: `f32` parameters and gradients with `bf16` state
//! (the last of `MixedLayout::SUPPORTED`). The generic tests run it on every
//! tier and thread count with every option set; these pin what the layout
//! means: each step is the `f32`-state step from the widened state, with the
//! new state rounded to `bf16` (to nearest even, or stochastically and then
//! the same on every thread count), and the owning optimizer's memory,
//! checkpoints and bits.

use super::{Buf, MixedLayout, MixedTest, State, f32s, implementations, split_everything, step};
use fused_optim::kernels::Dtype;
use fused_optim::mixed::{
    MixedAdam, MixedKernel, MixedOptions, MixedSlice, StateBuffer, StateFormat, StepOutcome, adam_step_mixed,
    state_bytes_per_param,
};
use fused_optim::{Adam, AdamConfig, CheckpointError, LionConfig, Parallelism, WeightDecay};
use fused_optim_testkit::{Fill, Implementation};

const LEAN: MixedLayout = MixedLayout { param: Dtype::F32, grad: Dtype::F32, state: Dtype::Bf16, copy: None };

#[test]
fn the_lean_layout_is_the_last_supported_and_the_first_twelve_are_unchanged() {
    assert_eq!(MixedLayout::SUPPORTED.len(), 13);
    assert_eq!(MixedLayout::SUPPORTED[12], LEAN);
    assert!(MixedLayout::SUPPORTED[..12].iter().all(|l| *l != LEAN));
}

/// With round-to-nearest, a lean-state step is the `f32`-state step from the
/// widened state, the new state then rounded to `bf16` to nearest even: for
/// AdamW (with and without AMSGrad) and Lion, on every implementation.
fn lean_is_rounded_f32<A: MixedTest>(c: &A)
where
    A::Coefficients<f32>: MixedKernel,
{
    let o = MixedOptions { loss_scale: 8.0, ..MixedOptions::default() };
    for w in implementations() {
        let mut lean = State::new(&LEAN, c, Fill::Random, 1000, 1, 11);
        for t in 1..=5 {
            let mut wide = lean.clone();
            wide.state = lean.state.clone().map(|b| b.map(|b| Buf::new(Dtype::F32, &f32s(&b), 0)));
            step(c, &o, &mut lean, t, &w);
            step(c, &o, &mut wide, t, &Implementation::Reference);
            assert_eq!(lean.param.bits(), wide.param.bits(), "{c:?} {w:?} t={t}: param");
            for (k, (got, wide)) in lean.state.iter().zip(&wide.state).enumerate() {
                let rounded = wide.as_ref().map(|b| Buf::new(Dtype::Bf16, &f32s(b), 0).bits());
                assert_eq!(got.as_ref().map(Buf::bits), rounded, "{c:?} {w:?} t={t} slot {k}");
            }
        }
    }
}

/// With round-to-nearest, a lean-state step is the `f32`-state step from the
/// widened state, the new state then rounded to `bf16` to nearest even: for
/// AdamW (with and without AMSGrad) and Lion, on every implementation.
#[test]
fn lean_state_is_the_f32_step_with_its_state_rounded_to_nearest_even() {
    split_everything();
    let adamw = AdamConfig { lr: 0.01, ..AdamConfig::adamw() };
    lean_is_rounded_f32(&adamw);
    lean_is_rounded_f32(&AdamConfig { amsgrad: true, ..adamw });
    lean_is_rounded_f32(&LionConfig { lr: 0.01, weight_decay: 0.1, ..LionConfig::default() });
}

/// Stochastic rounding of the `bf16` state: the same bits on every tier and
/// 1, 2, 3 and 7 threads (the reference's), other bits than round-to-nearest,
/// and another seed draws otherwise. The `f32` parameter is never rounded.
#[test]
fn stochastic_rounding_of_the_lean_state_is_reproducible_across_thread_counts() {
    split_everything();
    let c = AdamConfig {
        lr: 0.01,
        amsgrad: true,
        weight_decay: WeightDecay::Decoupled(0.1),
        ..AdamConfig::adamw()
    };
    let run = |seed: Option<u64>, w: &Implementation| {
        let o = MixedOptions { stochastic_rounding: seed, loss_scale: 64.0, ..MixedOptions::default() };
        let mut s = State::new(&LEAN, &c, Fill::Random, 5000, 3, 21);
        for t in 1..=3 {
            step(&c, &o, &mut s, t, w);
        }
        s.outputs()
    };
    let want = run(Some(5), &Implementation::Reference);
    for w in implementations() {
        assert_eq!(run(Some(5), &w), want, "{w:?}");
    }
    let nearest = run(None, &Implementation::Reference);
    let other_seed = run(Some(6), &Implementation::Reference);
    for k in 2..5 {
        assert_ne!(want[k].1, nearest[k].1, "{}: stochastic rounding applied to the state", want[k].0);
        assert_ne!(want[k].1, other_seed[k].1, "{}: the seed matters", want[k].0);
    }
}

#[test]
fn state_bytes_per_param_by_format() {
    let adamw = AdamConfig::adamw();
    let ams = AdamConfig { amsgrad: true, ..adamw };
    let q8 = 1.0 + 4.0 / 256.0;
    for (format, slot) in [(StateFormat::F32, 4.0), (StateFormat::Bf16, 2.0), (StateFormat::Int8, q8)] {
        assert_eq!(format.bytes_per_slot(), slot);
        assert_eq!(state_bytes_per_param(&adamw, format), 2.0 * slot, "{format}");
        assert_eq!(state_bytes_per_param(&ams, format), 3.0 * slot, "{format}");
        assert_eq!(state_bytes_per_param(&LionConfig::default(), format), slot, "{format}");
    }
    assert_eq!(state_bytes_per_param(&adamw, StateFormat::Int8), 2.0 + 8.0 / 256.0);
    for (dtype, config, bytes) in [
        (Dtype::F32, adamw, 8.0),
        (Dtype::Bf16, adamw, 4.0),
        (Dtype::F32, ams, 12.0),
        (Dtype::Bf16, ams, 6.0),
    ] {
        let opt = MixedAdam::new(config, MixedOptions::default(), dtype, 10).unwrap();
        assert_eq!(opt.state_bytes_per_param(), bytes, "{dtype} {config:?}");
        assert_eq!(opt.state_format().dtype(), Some(dtype));
        // The bytes the buffers really hold.
        let (m, v, x) = opt.state();
        let held: usize =
            [Some(m), Some(v), x].into_iter().flatten().map(|b| b.len() * b.dtype().bytes()).sum();
        assert_eq!(held as f64, bytes * 10.0);
    }
    assert_eq!(Adam::<f32>::new(ams, 3).unwrap().state_bytes_per_param(), 12.0);
    assert_eq!(Adam::<f64>::new(adamw, 3).unwrap().state_bytes_per_param(), 16.0);
}

/// The owning optimizer with `f32` master weights and `bf16` state takes the
/// stateless step's bits; its checkpoint records the state's type and
/// round-trips (stepping on from the loaded one gives the same bits).
#[test]
fn owning_lean_optimizer_and_its_checkpoint() {
    for amsgrad in [false, true] {
        let config = AdamConfig { amsgrad, lr: 0.01, ..AdamConfig::adamw() };
        let options = MixedOptions { stochastic_rounding: Some(9), ..MixedOptions::default() };
        let mut opt = MixedAdam::new(config, options, Dtype::Bf16, 300).unwrap();
        let mut s = State::new(&LEAN, &config, Fill::Random, 300, 0, 2);
        for b in s.state.iter_mut().flatten() {
            *b = Buf::new(Dtype::Bf16, &[0.0; 300], 0);
        }
        let (mut p, mut g) = (s.param.clone(), s.grad.clone());
        for t in 1..=3 {
            let _ = adam_step_mixed(&config, t, s.adam_buffers(), &options, &Parallelism::Serial).unwrap();
            assert_eq!(opt.step(p.slice(), g.slice(), None), Ok(StepOutcome::Applied));
        }
        assert_eq!((opt.steps(), p.bits()), (3, s.param.bits()));
        let StateBuffer::Bf16(m) = opt.state().0 else { panic!("bf16 state") };
        let m: Vec<f32> = m.iter().map(|x| x.to_f32()).collect();
        assert_eq!(Buf::new(Dtype::Bf16, &m, 0).bits(), s.state[0].as_ref().unwrap().bits());

        let bytes = opt.save().unwrap();
        assert_eq!(bytes.len(), 128 + 300 * 2 * if amsgrad { 3 } else { 2 });
        assert_eq!(u32::from_le_bytes(bytes[16..20].try_into().unwrap()), 3, "element type bf16");
        let mut loaded = MixedAdam::load(&bytes, options, Parallelism::Serial).unwrap();
        assert_eq!((loaded.steps(), loaded.state_dtype(), loaded.state()), (3, Dtype::Bf16, opt.state()));
        assert_eq!(loaded.config(), opt.config());
        let (mut p2, mut g2) = (p.clone(), g.clone());
        assert_eq!(opt.step(p.slice(), g.slice(), None), Ok(StepOutcome::Applied));
        assert_eq!(loaded.step(p2.slice(), g2.slice(), None), Ok(StepOutcome::Applied));
        assert_eq!((p.bits(), opt.state()), (p2.bits(), loaded.state()));

        // An f32 optimizer's reader refuses the bf16 file by name; bad lengths are errors.
        assert_eq!(
            Adam::<f32>::load(&bytes, Parallelism::Serial).err(),
            Some(CheckpointError::Mismatch { found: "bf16", expected: "f32" })
        );
        assert!(matches!(
            MixedAdam::load(&bytes[..bytes.len() - 1], options, Parallelism::Serial),
            Err(CheckpointError::Truncated { .. })
        ));
    }
}

/// With `f32` state the file is the one `Adam<f32>` writes: each reads the other's.
#[test]
fn f32_state_checkpoints_interoperate_with_adam_f32() {
    let config = AdamConfig { lr: 0.01, ..AdamConfig::adamw() };
    let mut opt = MixedAdam::new(config, MixedOptions::default(), Dtype::F32, 5).unwrap();
    let mut p = vec![1.0f32, -2.0, 3.0, 0.5, 0.0];
    let g = vec![0.25f32, 0.5, -1.0, 2.0, -0.125];
    let mut plain = Adam::<f32>::new(config, 5).unwrap().with_parallelism(Parallelism::Serial);
    let mut q = p.clone();
    for _ in 0..2 {
        let _ = opt.step(MixedSlice::F32(&mut p), MixedSlice::F32(&mut g.clone()), None).unwrap();
        plain.step(&mut q, &g).unwrap();
    }
    assert_eq!(opt.save().unwrap(), plain.save().unwrap());
    let back = MixedAdam::load(&plain.save().unwrap(), MixedOptions::default(), Parallelism::Serial).unwrap();
    assert_eq!((back.state_dtype(), back.steps()), (Dtype::F32, 2));
    let StateBuffer::F32(m) = back.state().0 else { panic!("f32 state") };
    assert_eq!(m, &plain.state().exp_avg);
}
