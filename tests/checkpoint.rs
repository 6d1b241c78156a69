//! Checkpoints: a round trip gives the same bits (and the same next steps);
//! truncated, foreign or inconsistent bytes are errors, never panics.

use fused_optim::{
    AdaMax, AdaMaxConfig, Adam, AdamConfig, CheckpointError, LrSchedule, Optimizer, Parallelism, WeightDecay,
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
        // Under Miri (`.ci/miri`) fewer elements: the same paths, in a tenth of the time.
        let n = if cfg!(miri) { 100 } else { 1000 };
        let (mut original, mut p) = stepped_adam(config, n);
        let bytes = original.save().unwrap();
        assert_eq!(bytes.len(), 128 + n * 4 * if config.amsgrad { 3 } else { 2 });
        let mut loaded = Adam::<f32>::load(&bytes, Parallelism::Serial).unwrap();
        assert_eq!(loaded.config(), original.config());
        assert_eq!(loaded.steps(), 5);
        assert_eq!(loaded.state(), original.state());
        assert_eq!(loaded.save().unwrap(), bytes);
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
    let loaded = AdaMax::<f64>::load(&adamax.save().unwrap(), Parallelism::Global).unwrap();
    assert_eq!((loaded.config(), loaded.steps(), loaded.state()), (adamax.config(), 1, adamax.state()));
    let empty = Adam::<f64>::new(AdamConfig::default(), 0).unwrap();
    assert_eq!(Adam::<f64>::load(&empty.save().unwrap(), Parallelism::Serial).unwrap().len(), 0);
}

#[test]
fn every_truncation_is_an_error() {
    // Every byte of the file is cut at; under Miri the file is shorter (a
    // load costs milliseconds there), with the same header and three buffers.
    let n = if cfg!(miri) { 4 } else { 40 };
    let (opt, _) = stepped_adam(AdamConfig { amsgrad: true, ..AdamConfig::default() }, n);
    let bytes = opt.save().unwrap();
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
    let good = opt.save().unwrap();
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
fn round_trip<A: Algorithm + PartialEq, T: fused_optim::Float + bytemuck::Pod>(
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
    let bytes = original.save().unwrap();
    let mut loaded = Optimizer::<A, T>::load(&bytes, Parallelism::Serial).unwrap();
    assert_eq!(loaded.config(), original.config());
    assert_eq!((loaded.steps(), loaded.lr_schedule(), loaded.len()), (4, schedule, n));
    assert!(loaded.state() == original.state());
    assert_eq!(loaded.save().unwrap(), bytes);
    let mut q = p.clone();
    let g: Vec<T> = p.iter().map(|&x| T::from_f64(x.to_f64() - 0.25)).collect();
    original.step(&mut p, &g).unwrap();
    loaded.step(&mut q, &g).unwrap();
    assert!(p.iter().zip(&q).all(|(a, b)| a.to_f64().to_bits() == b.to_f64().to_bits()));
    assert!(loaded.state() == original.state());
}

#[test]
fn every_algorithm_and_option_round_trips() {
    use fused_optim::{AdaDeltaConfig, AdaGradConfig, EpsForm, LionConfig, RmsPropConfig, SgdConfig};
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
    for (momentum, dampening, nesterov) in [(0.0, 0.0, false), (0.9, 0.25, false), (0.5, 0.0, true)] {
        let sgd = SgdConfig { lr: 0.01, momentum, dampening, nesterov, ..SgdConfig::default() };
        round_trip::<SgdConfig, f32>(sgd, LrSchedule::Constant, 46);
        let sgd = SgdConfig { weight_decay: 0.1, maximize: true, ..sgd };
        round_trip::<SgdConfig, f64>(sgd, LrSchedule::InverseSqrt, 47);
    }
    // SGD without momentum keeps no buffer: the header alone.
    let plain = Optimizer::<SgdConfig, f32>::new(SgdConfig::default(), 10).unwrap();
    assert_eq!(plain.save().unwrap().len(), 128);
    let nesterov = SgdConfig { momentum: 0.9, nesterov: true, ..SgdConfig::default() };
    let saved = Optimizer::<SgdConfig, f64>::new(nesterov, 10).unwrap().save().unwrap();
    assert_eq!(saved.len(), 128 + 10 * 8);
    assert_eq!(u32::from_le_bytes(saved[12..16].try_into().unwrap()), 7, "SGD's checkpoint number");
    assert_eq!(Optimizer::<SgdConfig, f64>::load(&saved, Parallelism::Serial).unwrap().config(), &nesterov);
    let lion = LionConfig { weight_decay: 0.5, maximize: true, ..LionConfig::default() };
    round_trip::<LionConfig, f32>(lion, LrSchedule::InverseSqrt, 46);
    round_trip::<LionConfig, f64>(
        LionConfig { betas: (0.0, 0.5), ..LionConfig::default() },
        LrSchedule::Constant,
        47,
    );
    // Lion keeps one buffer; its checkpoint names it.
    let opt = Optimizer::<LionConfig, f64>::new(lion, 10).unwrap();
    assert_eq!(opt.save().unwrap().len(), 128 + 10 * 8);
    assert_eq!(
        Optimizer::<AdaMaxConfig, f64>::load(&opt.save().unwrap(), Parallelism::Serial).map(|o| o.len()),
        Err(CheckpointError::Mismatch { found: "Lion", expected: "AdaMax" })
    );
    // The buffer count follows RMSprop's options: centered with momentum keeps three.
    let both = RmsPropConfig { momentum: 0.9, centered: true, ..RmsPropConfig::default() };
    let opt = Optimizer::<RmsPropConfig, f32>::new(both, 10).unwrap();
    assert_eq!(opt.save().unwrap().len(), 128 + 3 * 10 * 4);
    // Asking for another algorithm names both.
    assert_eq!(
        Optimizer::<AdaDeltaConfig, f32>::load(&opt.save().unwrap(), Parallelism::Serial).map(|o| o.len()),
        Err(CheckpointError::Mismatch { found: "RMSprop", expected: "AdaDelta" })
    );
}

// A checkpoint could once silently move state between buffers: `save`
// wrote `n = len()` and then whatever buffers the state held. `state_mut()`
// lends slices (its doc tests show that lengths and the buffer set cannot
// change through it), and `save` checks the buffer set and every length. The
// only way left to a state that does not fit its config is an `Algorithm`
// implemented outside the crate that builds it wrong; `Skewed` below is one.

use fused_optim::algorithms::{MAX_STATE_BUFFERS, StateSlots};
use fused_optim::kernels::{AdamCoefficients, Checked};
use fused_optim::{AdamBuffers, AdamState, AdamStateMut, Algorithm, Error, Float, StateBuffer};

/// How [`Skewed`]'s `state_from` bends Adam's state.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Skew {
    /// Leaves it alone.
    None,
    /// Moves `exp_avg`'s last element to the front of `exp_avg_sq`: the same total.
    Shuffle,
    /// Adds a `max_exp_avg_sq` (whatever AMSGrad says).
    ExtraMax,
    /// Drops `max_exp_avg_sq` (whatever AMSGrad says).
    DropMax,
}

/// Adam, whose `state_from` applies a [`Skew`]: an algorithm implemented
/// outside the crate that gets its state wrong. Everything else is Adam's.
#[derive(Clone, Debug, PartialEq)]
struct Skewed {
    adam: AdamConfig,
    skew: Skew,
}

thread_local! {
    /// The skew `state_from` applies (it has no config to read it from).
    static SKEW: std::cell::Cell<Skew> = const { std::cell::Cell::new(Skew::None) };
}

impl Algorithm for Skewed {
    const NAME: &'static str = AdamConfig::NAME;
    const CHECKPOINT_ID: u32 = AdamConfig::CHECKPOINT_ID;
    const STATE: &'static [StateBuffer] = AdamConfig::STATE;
    type Coefficients<T: Float> = AdamCoefficients<T>;
    type Buffers<'a, T: Float> = AdamBuffers<'a, T>;
    type State<T: Float> = AdamState<T>;
    type StateMut<'a, T: Float + 'a> = AdamStateMut<'a, T>;
    fn validate(&self) -> Result<(), Error> {
        Algorithm::validate(&self.adam)
    }
    fn coefficients<T: Float>(&self, t: u64) -> Result<AdamCoefficients<T>, Error> {
        Algorithm::coefficients(&self.adam, t)
    }
    fn keeps(&self, index: usize) -> bool {
        self.adam.keeps(index)
    }
    fn lr(&self) -> f64 {
        self.adam.lr
    }
    fn with_lr(&self, lr: f64) -> Self {
        Skewed { adam: AdamConfig { lr, ..self.adam }, skew: self.skew }
    }
    fn encode(&self) -> (u32, [f64; 8]) {
        self.adam.encode()
    }
    fn decode(flags: u32, h: [f64; 8]) -> Result<Self, &'static str> {
        Ok(Skewed { adam: AdamConfig::decode(flags, h)?, skew: Skew::None })
    }
    fn state_from<T: Float>(buffers: [Option<Vec<T>>; MAX_STATE_BUFFERS]) -> Option<AdamState<T>> {
        let mut state = AdamConfig::state_from(buffers)?;
        let len = state.exp_avg.len();
        match SKEW.with(|s| s.get()) {
            Skew::None => {}
            Skew::Shuffle => {
                let moved = state.exp_avg.pop().unwrap();
                state.exp_avg_sq.insert(0, moved);
            }
            Skew::ExtraMax => state.max_exp_avg_sq = Some(vec![T::ZERO; len]),
            Skew::DropMax => state.max_exp_avg_sq = None,
        }
        Some(state)
    }
    fn state_slices<T: Float>(state: &AdamState<T>) -> [Option<&[T]>; MAX_STATE_BUFFERS] {
        AdamConfig::state_slices(state)
    }
    fn view_mut<T: Float>(state: &mut AdamState<T>) -> AdamStateMut<'_, T> {
        AdamConfig::view_mut(state)
    }
    fn slots<'a, T: Float + 'a>(view: AdamStateMut<'a, T>) -> StateSlots<'a, T> {
        AdamConfig::slots(view)
    }
    fn buffers<'a, T: Float>(
        param: &'a mut [T],
        grad: &'a [T],
        state: StateSlots<'a, T>,
    ) -> Option<AdamBuffers<'a, T>> {
        AdamConfig::buffers(param, grad, state)
    }
    fn given<T: Float>(buffers: &AdamBuffers<'_, T>) -> [bool; MAX_STATE_BUFFERS] {
        AdamConfig::given(buffers)
    }
    fn grad<'s, T: Float>(buffers: &'s AdamBuffers<'_, T>) -> &'s [T] {
        AdamConfig::grad(buffers)
    }
    fn reborrow<'s, T: Float>(buffers: &'s mut AdamBuffers<'_, T>) -> AdamBuffers<'s, T> {
        AdamConfig::reborrow(buffers)
    }
    fn kernel<T: Float>(buffers: Checked<AdamBuffers<'_, T>>, coefficients: &AdamCoefficients<T>) {
        AdamConfig::kernel(buffers, coefficients)
    }
}

/// An optimizer of eight parameters whose state `skew` bent when it was
/// made. Checks that a step on a bent state is refused with nothing written,
/// and returns what `save` says after five steps (or none, when bent).
fn save_skewed(adam: AdamConfig, skew: Skew) -> Result<Vec<u8>, Error> {
    SKEW.with(|s| s.set(skew));
    let made = Optimizer::<Skewed, f32>::new(Skewed { adam, skew }, 8);
    SKEW.with(|s| s.set(Skew::None));
    let mut opt = made.unwrap();
    let mut p = vec![0.5f32; 8];
    let (state, before) = (opt.state().clone(), p.clone());
    if skew != Skew::None {
        assert!(opt.step(&mut p, &[0.25; 8]).is_err(), "{skew:?}: the step ran on a bent state");
        assert_eq!((opt.state(), &p, opt.steps()), (&state, &before, 0), "{skew:?}: a refused step wrote");
    } else {
        for _ in 0..5 {
            opt.step(&mut p, &[0.25; 8]).unwrap();
        }
    }
    let state = opt.state().clone();
    let saved = opt.save();
    if let Ok(bytes) = &saved {
        // What the old `save` did: the file loads shifted, or not at all.
        match Adam::<f32>::load(bytes, Parallelism::Serial) {
            Ok(loaded) => assert_eq!(loaded.state(), &state, "{skew:?}: load misread what save wrote"),
            Err(e) => panic!("{skew:?}: save wrote a file load refuses: {e}"),
        }
    }
    saved
}

#[test]
fn save_refuses_lengths_shuffled_between_buffers_with_the_same_total() {
    assert_eq!(
        save_skewed(AdamConfig::default(), Skew::Shuffle),
        Err(Error::LengthMismatch { buffer: "exp_avg", len: 7, expected: 8 })
    );
    // The unbent state saves and loads back.
    let bytes = save_skewed(AdamConfig::default(), Skew::None);
    assert_eq!(bytes.map(|b| b.len()), Ok(128 + 2 * 8 * 4));
}

#[test]
fn save_refuses_an_optional_buffer_its_option_does_not_keep() {
    assert_eq!(
        save_skewed(AdamConfig::default(), Skew::ExtraMax),
        Err(Error::UnexpectedState { buffer: "max_exp_avg_sq", option: "amsgrad" })
    );
}

#[test]
fn save_refuses_a_missing_buffer() {
    assert_eq!(
        save_skewed(AdamConfig { amsgrad: true, ..AdamConfig::default() }, Skew::DropMax),
        Err(Error::MissingState { buffer: "max_exp_avg_sq", option: "amsgrad" })
    );
}

/// The public route the three bent states came from before: `state_mut`
/// now lends slices, so values change and nothing else does.
#[test]
fn state_mut_changes_values_but_not_the_buffer_set_or_lengths() {
    use fused_optim::{RmsProp, RmsPropConfig};
    let (mut opt, _) = stepped_adam(AdamConfig::default(), 8);
    let mut elsewhere = vec![9.0f32; 9];
    let mut view = opt.state_mut();
    view.exp_avg.fill(0.5);
    view.exp_avg_sq.copy_from_slice(&[0.25; 8]);
    // Replacing the view's fields changes the view, not the optimizer's buffers.
    view.max_exp_avg_sq = Some(&mut elsewhere);
    view.exp_avg_sq = &mut [];
    assert!(view.max_exp_avg_sq.is_some() && view.exp_avg_sq.is_empty());
    assert_eq!(opt.state().max_exp_avg_sq, None);
    assert_eq!((opt.state().exp_avg.len(), opt.state().exp_avg_sq.len()), (8, 8));
    let loaded = Adam::<f32>::load(&opt.save().unwrap(), Parallelism::Serial).unwrap();
    assert_eq!(loaded.state(), opt.state());
    assert_eq!(loaded.state().exp_avg_sq, [0.25; 8]);
    // Optional buffers follow the config, zeroed when they come on.
    let mut rms = RmsProp::<f64>::new(RmsPropConfig::default(), 4).unwrap();
    rms.set_config(RmsPropConfig { momentum: 0.9, ..RmsPropConfig::default() }).unwrap();
    rms.state_mut().momentum_buffer.unwrap().fill(1.5);
    assert!(rms.state_mut().grad_avg.is_none());
    let loaded = RmsProp::<f64>::load(&rms.save().unwrap(), Parallelism::Serial).unwrap();
    assert_eq!(loaded.state().momentum_buffer.as_deref(), Some(&[1.5; 4][..]));
}
