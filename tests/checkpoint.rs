//! Checkpoints: a round trip gives the same bits (and the same next steps);
//! truncated, foreign or inconsistent bytes are errors, never panics.

use fused_optim::{
    AdaMax, AdaMaxConfig, Adam, AdamConfig, Checkpoint, CheckpointError, LrSchedule, Optimizer, Parallelism,
    WeightDecay,
};

fn stepped_adam(config: AdamConfig, n: usize) -> (Adam<f32>, Vec<f32>) {
    let mut opt = Adam::<f32>::new(config, n).unwrap();
    let mut p: Vec<f32> = (0..n).map(|i| (i % 17) as f32 * 0.1 - 0.8).collect();
    for t in 0..5 {
        let g: Vec<f32> = p.iter().map(|x| x * 2.0 + t as f32 * 0.01).collect();
        opt.step(&mut p, &g).unwrap();
    }
    (opt, p)
}

#[test]
fn round_trip_gives_the_same_bits_and_the_same_next_steps() {
    for config in [
        AdamConfig::default(),
        AdamConfig { amsgrad: true, maximize: true, ..AdamConfig::adamw() },
        AdamConfig { weight_decay: WeightDecay::L2(0.5), ..AdamConfig::default() },
    ] {
        let (mut original, mut p) = stepped_adam(config, 1000);
        let bytes = original.save();
        assert_eq!(bytes.len(), 128 + 1000 * 4 * if config.amsgrad { 3 } else { 2 });
        let mut loaded = Adam::<f32>::load(&bytes, Parallelism::Serial).unwrap();
        assert_eq!(loaded.config(), original.config());
        assert_eq!(loaded.steps(), 5);
        assert_eq!(loaded.state(), original.state());
        assert_eq!(loaded.save(), bytes);
        let mut q = p.clone();
        let g: Vec<f32> = p.iter().map(|x| x - 0.25).collect();
        original.step(&mut p, &g).unwrap();
        loaded.step(&mut q, &g).unwrap();
        assert_eq!(p, q);
        assert_eq!(loaded.state(), original.state());
    }
    let mut adamax =
        AdaMax::<f64>::new(AdaMaxConfig { weight_decay: 0.1, ..AdaMaxConfig::default() }, 33).unwrap();
    let mut p = vec![1.5f64; 33];
    adamax.step(&mut p, &[0.25; 33]).unwrap();
    let loaded = AdaMax::<f64>::load(&adamax.save(), Parallelism::Global).unwrap();
    assert_eq!((loaded.config(), loaded.steps(), loaded.state()), (adamax.config(), 1, adamax.state()));
    let empty = Adam::<f64>::new(AdamConfig::default(), 0).unwrap();
    assert_eq!(Adam::<f64>::load(&empty.save(), Parallelism::Serial).unwrap().len(), 0);
}

#[test]
fn every_truncation_is_an_error() {
    let (opt, _) = stepped_adam(AdamConfig { amsgrad: true, ..AdamConfig::default() }, 40);
    let bytes = opt.save();
    for len in 0..bytes.len() {
        match Adam::<f32>::load(&bytes[..len], Parallelism::Serial) {
            Err(CheckpointError::Truncated { got, .. }) => assert_eq!(got, len),
            other => panic!("{len} bytes: {:?}", other.map(|o| o.len())),
        }
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        Adam::<f32>::load(&longer, Parallelism::Serial),
        Err(CheckpointError::TrailingBytes { .. })
    ));
}

#[test]
fn foreign_and_inconsistent_bytes_are_errors() {
    let (opt, _) = stepped_adam(AdamConfig::default(), 16);
    let good = opt.save();
    let load = |bytes: &[u8]| Adam::<f32>::load(bytes, Parallelism::Serial).map(|o| o.len());
    let patched = |at: usize, with: &[u8]| {
        let mut b = good.clone();
        b[at..at + with.len()].copy_from_slice(with);
        b
    };
    assert_eq!(load(&[0x5a; 4096]), Err(CheckpointError::NotACheckpoint));
    assert_eq!(load(&patched(8, &1u32.to_le_bytes())), Err(CheckpointError::UnsupportedVersion(1)));
    assert_eq!(load(&patched(12, &9u32.to_le_bytes())), Err(CheckpointError::Malformed("unknown algorithm")));
    assert_eq!(
        load(&patched(20, &0x400u32.to_le_bytes())),
        Err(CheckpointError::Malformed("unknown weight decay mode"))
    );
    let unused =
        Err(CheckpointError::Malformed("a flag or hyperparameter slot the algorithm does not use is set"));
    assert_eq!(load(&patched(20, &0x10u32.to_le_bytes())), unused);
    assert_eq!(load(&patched(48 + 8 * 7, &1.0f64.to_le_bytes())), unused);
    assert_eq!(load(&patched(120, &[1])), Err(CheckpointError::Malformed("reserved bytes are not zero")));
    assert_eq!(
        load(&patched(44, &2u32.to_le_bytes())),
        Err(CheckpointError::Malformed("unknown learning-rate schedule"))
    );
    assert!(matches!(load(&patched(48, &f64::NAN.to_le_bytes())), Err(CheckpointError::Invalid(_))));
    assert!(matches!(load(&patched(40, &7u32.to_le_bytes())), Err(CheckpointError::Malformed(_))));
    // An element count that would need exabytes: refused before allocating.
    assert!(matches!(
        load(&patched(32, &(1u64 << 60).to_le_bytes())),
        Err(CheckpointError::Truncated { .. })
    ));
    assert!(matches!(load(&patched(32, &u64::MAX.to_le_bytes())), Err(CheckpointError::Malformed(_))));
    // Another algorithm or element type than asked for.
    assert_eq!(
        AdaMax::<f32>::load(&good, Parallelism::Serial).map(|o| o.len()),
        Err(CheckpointError::Mismatch { found: "Adam", expected: "AdaMax" })
    );
    assert_eq!(
        Optimizer::<AdamConfig, f64>::load(&good, Parallelism::Serial).map(|o| o.len()),
        Err(CheckpointError::Mismatch { found: "f32", expected: "f64" })
    );
}

/// Saves an optimizer after a few steps, loads it, and checks the config,
/// schedule, step count and state, that saving again gives the same bytes,
/// and that both take the same next step.
fn round_trip<A: Checkpoint + PartialEq, T: fused_optim::Float + bytemuck::Pod>(
    config: A,
    schedule: LrSchedule,
    n: usize,
) where
    A::State<T>: PartialEq,
{
    let mut original = Optimizer::<A, T>::new(config, n).unwrap().with_lr_schedule(schedule);
    let mut p: Vec<T> = (0..n).map(|i| T::from_f64((i % 11) as f64 * 0.2 - 1.0)).collect();
    for t in 0..4 {
        let g: Vec<T> = p.iter().map(|&x| T::from_f64(x.to_f64() * 2.0 + t as f64 * 0.01)).collect();
        original.step(&mut p, &g).unwrap();
    }
    let bytes = original.save();
    let mut loaded = Optimizer::<A, T>::load(&bytes, Parallelism::Serial).unwrap();
    assert_eq!(loaded.config(), original.config());
    assert_eq!((loaded.steps(), loaded.lr_schedule(), loaded.len()), (4, schedule, n));
    assert!(loaded.state() == original.state());
    assert_eq!(loaded.save(), bytes);
    let mut q = p.clone();
    let g: Vec<T> = p.iter().map(|&x| T::from_f64(x.to_f64() - 0.25)).collect();
    original.step(&mut p, &g).unwrap();
    loaded.step(&mut q, &g).unwrap();
    assert!(p.iter().zip(&q).all(|(a, b)| a.to_f64().to_bits() == b.to_f64().to_bits()));
    assert!(loaded.state() == original.state());
}

#[test]
fn every_algorithm_and_option_round_trips() {
    use fused_optim::{AdaDeltaConfig, AdaGradConfig, EpsForm, RmsPropConfig};
    let adam = AdamConfig { eps_form: EpsForm::Hat, beta1_decay: 0.9, ..AdamConfig::default() };
    round_trip::<AdamConfig, f64>(adam, LrSchedule::InverseSqrt, 40);
    let adamax = AdaMaxConfig { beta1_decay: 0.5, maximize: true, ..AdaMaxConfig::default() };
    round_trip::<AdaMaxConfig, f32>(adamax, LrSchedule::Constant, 41);
    let adagrad = AdaGradConfig {
        lr_decay: 0.1,
        initial_accumulator_value: 0.5,
        weight_decay: 0.01,
        ..Default::default()
    };
    round_trip::<AdaGradConfig, f32>(adagrad, LrSchedule::InverseSqrt, 42);
    round_trip::<AdaGradConfig, f64>(AdaGradConfig { maximize: true, ..adagrad }, LrSchedule::Constant, 0);
    for (momentum, centered) in [(0.0, false), (0.9, false), (0.0, true), (0.5, true)] {
        let rmsprop = RmsPropConfig { momentum, centered, ..RmsPropConfig::default() };
        round_trip::<RmsPropConfig, f32>(rmsprop, LrSchedule::Constant, 43);
        round_trip::<RmsPropConfig, f64>(
            RmsPropConfig { weight_decay: 0.1, ..rmsprop },
            LrSchedule::InverseSqrt,
            44,
        );
    }
    let adadelta = AdaDeltaConfig { rho: 0.5, weight_decay: 0.2, ..AdaDeltaConfig::default() };
    round_trip::<AdaDeltaConfig, f64>(adadelta, LrSchedule::Constant, 45);
    // The buffer count follows RMSprop's options: centered with momentum keeps three.
    let both = RmsPropConfig { momentum: 0.9, centered: true, ..RmsPropConfig::default() };
    let opt = Optimizer::<RmsPropConfig, f32>::new(both, 10).unwrap();
    assert_eq!(opt.save().len(), 128 + 3 * 10 * 4);
    // Asking for another algorithm names both.
    assert_eq!(
        Optimizer::<AdaDeltaConfig, f32>::load(&opt.save(), Parallelism::Serial).map(|o| o.len()),
        Err(CheckpointError::Mismatch { found: "RMSprop", expected: "AdaDelta" })
    );
}
