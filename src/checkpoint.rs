//! Saving and loading an optimizer's state: hyperparameters, step count and
//! every state buffer, in one documented little-endian byte layout.
//!
//! # Layout (version 2)
//!
//! All integers and floats little-endian. A 128-byte header, then the state
//! buffers, each `n` elements of the element type, back to back:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `FOPTSTAT` |
//! | 8 | 4 | format version: 2 |
//! | 12 | 4 | algorithm: 1 Adam (and AdamW, AMSGrad), 2 AdaMax, 3 AdaGrad, 4 RMSprop, 5 AdaDelta |
//! | 16 | 4 | element type: 1 `f32`, 2 `f64` |
//! | 20 | 4 | flags: bit 1 maximize; Adam: bit 0 AMSGrad, bit 2 ε̂ form, bits 8–9 weight decay (0 none, 1 L2, 2 decoupled); RMSprop: bit 3 centered |
//! | 24 | 8 | step count (`u64`) |
//! | 32 | 8 | elements per buffer `n` (`u64`) |
//! | 40 | 4 | number of buffers (`u32`) |
//! | 44 | 4 | learning-rate schedule: 0 constant, 1 `lr/√t` |
//! | 48 | 64 | eight `f64` slots, unused ones 0: Adam and AdaMax: lr, β1, β2, ε, weight decay, β1 decay λ; AdaGrad: lr, lr decay, weight decay, initial accumulator value, ε; RMSprop: lr, α, ε, weight decay, momentum; AdaDelta: lr, ρ, ε, weight decay |
//! | 112 | 16 | reserved, 0 |
//! | 128 | … | buffers: Adam: `exp_avg`, `exp_avg_sq`, then `max_exp_avg_sq` with AMSGrad; AdaMax: `exp_avg`, `exp_inf`; AdaGrad: `sum`; RMSprop: `square_avg`, then `momentum_buffer` with momentum, then `grad_avg` when centered; AdaDelta: `square_avg`, `acc_delta` |
//!
//! Version 1 (Adam and AdaMax only, five hyperparameter slots) was never
//! released; this build reads version 2 only.
//!
//! The buffers are written and read through `bytemuck` views of the state
//! vectors (one copy, no per-element work on little-endian hosts; big-endian
//! hosts swap bytes). Reading checks everything before it builds anything: a
//! truncated, foreign or inconsistent file is an error, never a panic, and
//! the hyperparameters it holds are validated like any others.
//!
//! The file cannot say which buffer an element belongs to: the header holds
//! one `n` and the buffers follow back to back. So writing checks too:
//! [`Optimizer::save`] refuses, with an [`Error`] naming the buffer, a state
//! that does not hold exactly the buffers its config needs, each `n` long,
//! rather than write a file that [`Optimizer::load`] would refuse, or read
//! with elements moved from one buffer into the next. The built-in
//! algorithms cannot reach such a state ([`Optimizer::state_mut`] lends
//! slices, and the optional buffers follow the config); the check guards
//! against an [`Algorithm`] implemented elsewhere that gets it wrong.

use crate::optimizer::{AdaDeltaState, AdaGradState, AdaMaxState, AdamState, RmsPropState};
use crate::{
    AdaDeltaConfig, AdaGradConfig, AdaMaxConfig, AdamConfig, Algorithm, EpsForm, Error, Float, LrSchedule,
    Optimizer, Parallelism, RmsPropConfig, WeightDecay,
};
use std::fmt;

const MAGIC: &[u8; 8] = b"FOPTSTAT";
const VERSION: u32 = 2;
const HEADER: usize = 128;

/// Why a checkpoint could not be read. Nothing was built.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Fewer bytes than the header or the buffers it announces.
    Truncated {
        /// Bytes the layout needs.
        needed: u64,
        /// Bytes given.
        got: usize,
    },
    /// More bytes than the layout accounts for.
    TrailingBytes {
        /// Bytes the layout needs.
        needed: u64,
        /// Bytes given.
        got: usize,
    },
    /// Not a fused-optim checkpoint (the magic bytes differ).
    NotACheckpoint,
    /// A format version this build does not read.
    UnsupportedVersion(u32),
    /// A field holds a value the layout does not define.
    Malformed(&'static str),
    /// The checkpoint is of another algorithm or element type than asked for.
    Mismatch {
        /// What the file holds.
        found: &'static str,
        /// What was asked for.
        expected: &'static str,
    },
    /// The hyperparameters it holds are invalid.
    Invalid(Error),
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckpointError::Truncated { needed, got } => {
                write!(f, "checkpoint truncated: {got} bytes, the layout needs {needed}")
            }
            CheckpointError::TrailingBytes { needed, got } => {
                write!(f, "checkpoint has {got} bytes, the layout accounts for {needed}")
            }
            CheckpointError::NotACheckpoint => f.write_str("not a fused-optim checkpoint (bad magic)"),
            CheckpointError::UnsupportedVersion(v) => {
                write!(f, "checkpoint format version {v} is not supported")
            }
            CheckpointError::Malformed(what) => write!(f, "malformed checkpoint: {what}"),
            CheckpointError::Mismatch { found, expected } => {
                write!(f, "checkpoint holds {found}, not {expected}")
            }
            CheckpointError::Invalid(e) => write!(f, "checkpoint hyperparameters: {e}"),
        }
    }
}

impl std::error::Error for CheckpointError {}

/// What an algorithm writes into and reads from a checkpoint.
pub trait Checkpoint: Algorithm {
    /// The algorithm's number in the layout, and its name.
    const ID: (u32, &'static str);
    /// Each optional state buffer with the option that keeps it, as
    /// `(buffer, option)`: Adam's `("max_exp_avg_sq", "amsgrad")`, say. Names
    /// the option when [`Optimizer::save`] finds the buffer missing or extra.
    const OPTIONAL_BUFFERS: &'static [(&'static str, &'static str)] = &[];
    /// Flags and up to eight hyperparameters (unused slots 0), in the
    /// algorithm's order (see [the module](crate::checkpoint)).
    fn encode(&self) -> (u32, [f64; 8]);
    /// The config back from its flags and hyperparameters.
    fn decode(flags: u32, h: [f64; 8]) -> Result<Self, CheckpointError>;
    /// The state buffers, named, in layout order.
    fn buffers<T: Float>(state: &Self::State<T>) -> Vec<(&'static str, &[T])>;
    /// The state buffers, in layout order, to fill.
    fn buffers_mut<T: Float>(state: &mut Self::State<T>) -> Vec<&mut [T]>;
}

/// Bit 1 of every algorithm's flags.
const MAXIMIZE: u32 = 1 << 1;

fn flag(flags: u32, bit: u32) -> bool {
    flags & bit != 0
}

impl Checkpoint for AdamConfig {
    const ID: (u32, &'static str) = (1, "Adam");
    const OPTIONAL_BUFFERS: &'static [(&'static str, &'static str)] = &[("max_exp_avg_sq", "amsgrad")];
    fn encode(&self) -> (u32, [f64; 8]) {
        let (mode, wd) = match self.weight_decay {
            WeightDecay::None => (0, 0.0),
            WeightDecay::L2(wd) => (1, wd),
            WeightDecay::Decoupled(wd) => (2, wd),
        };
        let hat = matches!(self.eps_form, EpsForm::Hat) as u32;
        let flags = self.amsgrad as u32 | (self.maximize as u32) << 1 | hat << 2 | mode << 8;
        (flags, [self.lr, self.betas.0, self.betas.1, self.eps, wd, self.beta1_decay, 0.0, 0.0])
    }
    fn decode(flags: u32, [lr, b1, b2, eps, wd, beta1_decay, ..]: [f64; 8]) -> Result<Self, CheckpointError> {
        let weight_decay = match flags >> 8 {
            0 => WeightDecay::None,
            1 => WeightDecay::L2(wd),
            2 => WeightDecay::Decoupled(wd),
            _ => return Err(CheckpointError::Malformed("unknown weight decay mode")),
        };
        Ok(AdamConfig {
            lr,
            betas: (b1, b2),
            eps,
            eps_form: if flag(flags, 1 << 2) { EpsForm::Hat } else { EpsForm::Standard },
            weight_decay,
            amsgrad: flag(flags, 1),
            maximize: flag(flags, MAXIMIZE),
            beta1_decay,
        })
    }
    fn buffers<T: Float>(s: &AdamState<T>) -> Vec<(&'static str, &[T])> {
        [("exp_avg", &s.exp_avg[..]), ("exp_avg_sq", &s.exp_avg_sq[..])]
            .into_iter()
            .chain(s.max_exp_avg_sq.as_deref().map(|b| ("max_exp_avg_sq", b)))
            .collect()
    }
    fn buffers_mut<T: Float>(s: &mut AdamState<T>) -> Vec<&mut [T]> {
        [&mut s.exp_avg[..], &mut s.exp_avg_sq[..]]
            .into_iter()
            .chain(s.max_exp_avg_sq.as_deref_mut())
            .collect()
    }
}

impl Checkpoint for AdaMaxConfig {
    const ID: (u32, &'static str) = (2, "AdaMax");
    fn encode(&self) -> (u32, [f64; 8]) {
        let h =
            [self.lr, self.betas.0, self.betas.1, self.eps, self.weight_decay, self.beta1_decay, 0.0, 0.0];
        ((self.maximize as u32) << 1, h)
    }
    fn decode(
        flags: u32,
        [lr, b1, b2, eps, weight_decay, beta1_decay, ..]: [f64; 8],
    ) -> Result<Self, CheckpointError> {
        Ok(AdaMaxConfig {
            lr,
            betas: (b1, b2),
            eps,
            weight_decay,
            maximize: flag(flags, MAXIMIZE),
            beta1_decay,
        })
    }
    fn buffers<T: Float>(s: &AdaMaxState<T>) -> Vec<(&'static str, &[T])> {
        vec![("exp_avg", &s.exp_avg), ("exp_inf", &s.exp_inf)]
    }
    fn buffers_mut<T: Float>(s: &mut AdaMaxState<T>) -> Vec<&mut [T]> {
        vec![&mut s.exp_avg, &mut s.exp_inf]
    }
}

impl Checkpoint for AdaGradConfig {
    const ID: (u32, &'static str) = (3, "AdaGrad");
    fn encode(&self) -> (u32, [f64; 8]) {
        let c = self;
        let h = [c.lr, c.lr_decay, c.weight_decay, c.initial_accumulator_value, c.eps, 0.0, 0.0, 0.0];
        ((self.maximize as u32) << 1, h)
    }
    fn decode(
        flags: u32,
        [lr, lr_decay, weight_decay, initial, eps, ..]: [f64; 8],
    ) -> Result<Self, CheckpointError> {
        let maximize = flag(flags, MAXIMIZE);
        Ok(AdaGradConfig { lr, lr_decay, weight_decay, initial_accumulator_value: initial, eps, maximize })
    }
    fn buffers<T: Float>(s: &AdaGradState<T>) -> Vec<(&'static str, &[T])> {
        vec![("sum", &s.sum)]
    }
    fn buffers_mut<T: Float>(s: &mut AdaGradState<T>) -> Vec<&mut [T]> {
        vec![&mut s.sum]
    }
}

impl Checkpoint for RmsPropConfig {
    const ID: (u32, &'static str) = (4, "RMSprop");
    const OPTIONAL_BUFFERS: &'static [(&'static str, &'static str)] =
        &[("momentum_buffer", "momentum"), ("grad_avg", "centered")];
    fn encode(&self) -> (u32, [f64; 8]) {
        let flags = (self.maximize as u32) << 1 | (self.centered as u32) << 3;
        (flags, [self.lr, self.alpha, self.eps, self.weight_decay, self.momentum, 0.0, 0.0, 0.0])
    }
    fn decode(
        flags: u32,
        [lr, alpha, eps, weight_decay, momentum, ..]: [f64; 8],
    ) -> Result<Self, CheckpointError> {
        let (maximize, centered) = (flag(flags, MAXIMIZE), flag(flags, 1 << 3));
        Ok(RmsPropConfig { lr, alpha, eps, weight_decay, momentum, centered, maximize })
    }
    fn buffers<T: Float>(s: &RmsPropState<T>) -> Vec<(&'static str, &[T])> {
        [("square_avg", &s.square_avg[..])]
            .into_iter()
            .chain(s.momentum_buffer.as_deref().map(|b| ("momentum_buffer", b)))
            .chain(s.grad_avg.as_deref().map(|b| ("grad_avg", b)))
            .collect()
    }
    fn buffers_mut<T: Float>(s: &mut RmsPropState<T>) -> Vec<&mut [T]> {
        [&mut s.square_avg[..]]
            .into_iter()
            .chain(s.momentum_buffer.as_deref_mut())
            .chain(s.grad_avg.as_deref_mut())
            .collect()
    }
}

impl Checkpoint for AdaDeltaConfig {
    const ID: (u32, &'static str) = (5, "AdaDelta");
    fn encode(&self) -> (u32, [f64; 8]) {
        ((self.maximize as u32) << 1, [self.lr, self.rho, self.eps, self.weight_decay, 0.0, 0.0, 0.0, 0.0])
    }
    fn decode(flags: u32, [lr, rho, eps, weight_decay, ..]: [f64; 8]) -> Result<Self, CheckpointError> {
        Ok(AdaDeltaConfig { lr, rho, eps, weight_decay, maximize: flag(flags, MAXIMIZE) })
    }
    fn buffers<T: Float>(s: &AdaDeltaState<T>) -> Vec<(&'static str, &[T])> {
        vec![("square_avg", &s.square_avg), ("acc_delta", &s.acc_delta)]
    }
    fn buffers_mut<T: Float>(s: &mut AdaDeltaState<T>) -> Vec<&mut [T]> {
        vec![&mut s.square_avg, &mut s.acc_delta]
    }
}

/// The algorithms' numbers in the layout, with their names.
const ALGORITHMS: [(u32, &str); 5] =
    [AdamConfig::ID, AdaMaxConfig::ID, AdaGradConfig::ID, RmsPropConfig::ID, AdaDeltaConfig::ID];

fn schedule_id(schedule: LrSchedule) -> u32 {
    match schedule {
        LrSchedule::Constant => 0,
        LrSchedule::InverseSqrt => 1,
    }
}

fn dtype_id<T: Float>() -> u32 {
    if T::BYTES == 4 { 1 } else { 2 }
}

fn field<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    bytes[at..at + N].try_into().expect("inside the checked header")
}

/// The option that keeps `buffer`, for an error message.
fn option_of<A: Checkpoint>(buffer: &'static str) -> &'static str {
    A::OPTIONAL_BUFFERS.iter().find(|&&(b, _)| b == buffer).map_or("the algorithm's options", |&(_, o)| o)
}

/// `buffers` are exactly the buffers `config` needs, in layout order, each
/// `n` long: what [`Optimizer::load`] will read back as they are.
fn check_buffers<A: Checkpoint, T: Float>(
    config: &A,
    buffers: &[(&'static str, &[T])],
    n: usize,
) -> Result<(), Error> {
    let expected =
        A::buffers(&config.new_state::<T>(0)?).into_iter().map(|(name, _)| name).collect::<Vec<_>>();
    for &name in &expected {
        if !buffers.iter().any(|&(b, _)| b == name) {
            return Err(Error::MissingState { buffer: name, option: option_of::<A>(name) });
        }
    }
    for (i, &(name, buffer)) in buffers.iter().enumerate() {
        // An extra buffer, a repeated one, or one out of layout order.
        if expected.get(i) != Some(&name) {
            return Err(Error::UnexpectedState { buffer: name, option: option_of::<A>(name) });
        }
        if buffer.len() != n {
            return Err(Error::LengthMismatch { buffer: name, len: buffer.len(), expected: n });
        }
    }
    Ok(())
}

impl<A: Checkpoint, T: Float + bytemuck::Pod> Optimizer<A, T> {
    /// The state, step count and hyperparameters in the checkpoint layout
    /// (see [the module](crate::checkpoint)).
    ///
    /// # Errors
    /// If the state does not hold exactly the buffers the config needs
    /// ([`Error::MissingState`], [`Error::UnexpectedState`]), each
    /// [`len`](Self::len) long ([`Error::LengthMismatch`]), or the config has
    /// no state for `T` ([`Error::InvalidHyperparameter`]): a file
    /// [`load`](Self::load) would refuse or misread is never written. The
    /// built-in algorithms never fail here; an [`Algorithm`] implemented
    /// elsewhere may.
    ///
    /// ```
    /// use fused_optim::{AdaGrad, AdaGradConfig, Parallelism};
    /// let mut opt = AdaGrad::<f32>::new(AdaGradConfig::default(), 3)?;
    /// opt.step(&mut [1.0, 2.0, 3.0], &[0.5, -0.5, 0.25])?;
    /// let bytes = opt.save()?;
    /// let loaded = AdaGrad::<f32>::load(&bytes, Parallelism::Serial).unwrap();
    /// assert_eq!((loaded.steps(), loaded.state()), (1, opt.state()));
    /// # Ok::<(), fused_optim::Error>(())
    /// ```
    pub fn save(&self) -> Result<Vec<u8>, Error> {
        let buffers = A::buffers(self.state());
        check_buffers(self.config(), &buffers, self.len())?;
        let (flags, hyper) = self.config().encode();
        let mut out = Vec::with_capacity(HEADER + buffers.len() * self.len() * T::BYTES);
        out.extend_from_slice(MAGIC);
        for x in [VERSION, A::ID.0, dtype_id::<T>(), flags] {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.extend_from_slice(&self.steps().to_le_bytes());
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        out.extend_from_slice(&(buffers.len() as u32).to_le_bytes());
        out.extend_from_slice(&schedule_id(self.lr_schedule()).to_le_bytes());
        for h in hyper {
            out.extend_from_slice(&h.to_le_bytes());
        }
        out.resize(HEADER, 0);
        for (_, buffer) in buffers {
            if cfg!(target_endian = "little") {
                out.extend_from_slice(bytemuck::cast_slice(buffer));
            } else {
                for x in buffer {
                    out.extend(bytemuck::bytes_of(x).iter().rev());
                }
            }
        }
        Ok(out)
    }

    /// An optimizer from [`save`](Self::save)'s bytes, stepping with
    /// `parallelism`. Every field is checked before anything is built.
    pub fn load(bytes: &[u8], parallelism: Parallelism) -> Result<Self, CheckpointError> {
        if bytes.len() < HEADER {
            return Err(CheckpointError::Truncated { needed: HEADER as u64, got: bytes.len() });
        }
        if &bytes[..8] != MAGIC {
            return Err(CheckpointError::NotACheckpoint);
        }
        let u32_at = |at| u32::from_le_bytes(field(bytes, at));
        let u64_at = |at| u64::from_le_bytes(field(bytes, at));
        match u32_at(8) {
            VERSION => {}
            v => return Err(CheckpointError::UnsupportedVersion(v)),
        }
        if u32_at(12) != A::ID.0 {
            let found = match ALGORITHMS.iter().find(|a| a.0 == u32_at(12)) {
                Some(&(_, name)) => name,
                None => return Err(CheckpointError::Malformed("unknown algorithm")),
            };
            return Err(CheckpointError::Mismatch { found, expected: A::ID.1 });
        }
        if u32_at(16) != dtype_id::<T>() {
            let found = match u32_at(16) {
                1 => "f32",
                2 => "f64",
                _ => return Err(CheckpointError::Malformed("unknown element type")),
            };
            return Err(CheckpointError::Mismatch { found, expected: T::NAME });
        }
        let hyper: [f64; 8] = std::array::from_fn(|i| f64::from_le_bytes(field(bytes, 48 + 8 * i)));
        let config = A::decode(u32_at(20), hyper)?;
        config.validate().map_err(CheckpointError::Invalid)?;
        let (flags, encoded) = config.encode();
        if flags != u32_at(20) || encoded.map(f64::to_bits) != hyper.map(f64::to_bits) {
            return Err(CheckpointError::Malformed(
                "a flag or hyperparameter slot the algorithm does not use is set",
            ));
        }
        if bytes[112..HEADER].iter().any(|&b| b != 0) {
            return Err(CheckpointError::Malformed("reserved bytes are not zero"));
        }
        let lr_schedule = match u32_at(44) {
            0 => LrSchedule::Constant,
            1 => LrSchedule::InverseSqrt,
            _ => return Err(CheckpointError::Malformed("unknown learning-rate schedule")),
        };
        let (steps, n, count) = (u64_at(24), u64_at(32), u32_at(40) as u64);
        let expected_count =
            A::buffers(&config.new_state::<T>(0).map_err(CheckpointError::Invalid)?).len() as u64;
        if count != expected_count {
            return Err(CheckpointError::Malformed("buffer count does not match the algorithm and flags"));
        }
        let needed = n
            .checked_mul(count * T::BYTES as u64)
            .and_then(|b| b.checked_add(HEADER as u64))
            .ok_or(CheckpointError::Malformed("element count overflows"))?;
        match (bytes.len() as u64).cmp(&needed) {
            std::cmp::Ordering::Less => return Err(CheckpointError::Truncated { needed, got: bytes.len() }),
            std::cmp::Ordering::Greater => {
                return Err(CheckpointError::TrailingBytes { needed, got: bytes.len() });
            }
            std::cmp::Ordering::Equal => {}
        }
        let n = usize::try_from(n).map_err(|_| CheckpointError::Malformed("element count overflows"))?;
        let (body, size) = (&bytes[HEADER..], n * T::BYTES);
        let mut state = config.new_state::<T>(n).map_err(CheckpointError::Invalid)?;
        for (dst, src) in A::buffers_mut(&mut state).into_iter().zip(body.chunks_exact(size.max(1))) {
            // Every chunk is whole: the length check above counted `count` buffers of `size` bytes.
            let dst_bytes: &mut [u8] = bytemuck::cast_slice_mut(dst);
            dst_bytes.copy_from_slice(&src[..size]);
            if cfg!(target_endian = "big") {
                dst_bytes.chunks_exact_mut(T::BYTES).for_each(<[u8]>::reverse);
            }
        }
        Ok(Optimizer::from_parts(config, state, n, steps, parallelism, lr_schedule))
    }
}
