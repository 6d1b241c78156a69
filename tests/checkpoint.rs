//! Checkpoints: a round trip gives the same bits (and the same next steps);
//! truncated, foreign or inconsistent bytes are errors, never panics.

use fused_optim::{
    AdaMax, AdaMaxConfig, Adam, AdamConfig, CheckpointError, Optimizer, Parallelism, WeightDecay,
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
