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
//! | 12 | 4 | algorithm: 1 Adam (and AdamW, AMSGrad), 2 AdaMax, 3 AdaGrad, 4 RMSprop, 5 AdaDelta, 6 Lion, 7 SGD |
//! | 16 | 4 | element type of the state buffers: 1 `f32`, 2 `f64`, 3 `bf16` (a [`MixedAdam`]'s lean state; issue 18) |
//! | 20 | 4 | flags: bit 1 maximize; Adam: bit 0 AMSGrad, bit 2 ε̂ form, bits 8–9 weight decay (0 none, 1 L2, 2 decoupled); RMSprop: bit 3 centered; SGD: bit 4 Nesterov |
//! | 24 | 8 | step count (`u64`) |
//! | 32 | 8 | elements per buffer `n` (`u64`) |
//! | 40 | 4 | number of buffers (`u32`) |
//! | 44 | 4 | learning-rate schedule: 0 constant, 1 `lr/√t` |
//! | 48 | 64 | eight `f64` slots, unused ones 0: Adam and AdaMax: lr, β1, β2, ε, weight decay, β1 decay λ; AdaGrad: lr, lr decay, weight decay, initial accumulator value, ε; RMSprop: lr, α, ε, weight decay, momentum; AdaDelta: lr, ρ, ε, weight decay; SGD: lr, momentum, dampening, weight decay; Lion: lr, β1, β2, weight decay |
//! | 112 | 16 | reserved, 0 |
//! | 128 | … | buffers: Adam: `exp_avg`, `exp_avg_sq`, then `max_exp_avg_sq` with AMSGrad; AdaMax: `exp_avg`, `exp_inf`; AdaGrad: `sum`; RMSprop: `square_avg`, then `momentum_buffer` with momentum, then `grad_avg` when centered; AdaDelta: `square_avg`, `acc_delta`; SGD: `momentum_buffer` with momentum (none without); Lion: `exp_avg` |
//!
//! A [`MixedAdam`] writes the same layout ([`MixedAdam::save`]), its state's
//! storage type as the element type and a constant learning rate; with `f32`
//! state its file is the one an [`Adam<f32>`](crate::Adam) of that state writes.
//! Its options (loss scale, stochastic-rounding seed) are not saved.
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

use crate::algorithms::{
    AdaDeltaConfig, AdaGradConfig, AdaMaxConfig, AdamConfig, Algorithm, LionConfig, MAX_STATE_BUFFERS,
    RmsPropConfig, SgdConfig, new_state,
};
use crate::mixed::{Dtype, MixedAdam, MixedOptions, StateBuffer, bf16};
use crate::optimizer::Optimizer;
use crate::parallel::Parallelism;
use crate::schedule::LrSchedule;
use crate::{Error, Float};
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

/// The algorithms' numbers in the layout, with their names.
const ALGORITHMS: [(u32, &str); 7] = [
    (AdamConfig::CHECKPOINT_ID, AdamConfig::NAME),
    (AdaMaxConfig::CHECKPOINT_ID, AdaMaxConfig::NAME),
    (AdaGradConfig::CHECKPOINT_ID, AdaGradConfig::NAME),
    (RmsPropConfig::CHECKPOINT_ID, RmsPropConfig::NAME),
    (AdaDeltaConfig::CHECKPOINT_ID, AdaDeltaConfig::NAME),
    (SgdConfig::CHECKPOINT_ID, SgdConfig::NAME),
    (LionConfig::CHECKPOINT_ID, LionConfig::NAME),
];

fn schedule_id(schedule: LrSchedule) -> u32 {
    match schedule {
        LrSchedule::Constant => 0,
        LrSchedule::InverseSqrt => 1,
    }
}

/// The element types' numbers in the layout, with their names and sizes.
const ELEMENTS: [(u32, &str, usize); 3] = [(1, "f32", 4), (2, "f64", 8), (3, "bf16", 2)];

/// The layout's number of the `bf16` state of a [`MixedAdam`].
const BF16_ID: u32 = 3;

/// The header for `config`'s algorithm, element type `dtype`, `count`
/// buffers of `n` elements, written to the empty `out`.
fn write_header<A: Algorithm>(
    out: &mut Vec<u8>,
    config: &A,
    dtype: u32,
    steps: u64,
    n: usize,
    count: usize,
    schedule: u32,
) {
    let (flags, hyper) = config.encode();
    out.extend_from_slice(MAGIC);
    for x in [VERSION, A::CHECKPOINT_ID, dtype, flags] {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.extend_from_slice(&steps.to_le_bytes());
    out.extend_from_slice(&(n as u64).to_le_bytes());
    out.extend_from_slice(&(count as u32).to_le_bytes());
    out.extend_from_slice(&schedule.to_le_bytes());
    for h in hyper {
        out.extend_from_slice(&h.to_le_bytes());
    }
    out.resize(HEADER, 0);
}

/// A checked header: everything but the buffers' contents.
struct Header<A> {
    config: A,
    steps: u64,
    n: usize,
    /// The element type's number (one of those `read_header` accepted).
    dtype: u32,
    lr_schedule: LrSchedule,
}

/// The header of a checkpoint of `A` with one of the element types
/// `accepts` (named `expected` in the error), checked field by field, and
/// the file's length against the buffers it announces.
fn read_header<A: Algorithm>(
    bytes: &[u8],
    accepts: &[u32],
    expected: &'static str,
) -> Result<Header<A>, CheckpointError> {
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
    if u32_at(12) != A::CHECKPOINT_ID {
        let found = match ALGORITHMS.iter().find(|a| a.0 == u32_at(12)) {
            Some(&(_, name)) => name,
            None => return Err(CheckpointError::Malformed("unknown algorithm")),
        };
        return Err(CheckpointError::Mismatch { found, expected: A::NAME });
    }
    let dtype = u32_at(16);
    let Some(&(_, found, element_bytes)) = ELEMENTS.iter().find(|e| e.0 == dtype) else {
        return Err(CheckpointError::Malformed("unknown element type"));
    };
    if !accepts.contains(&dtype) {
        return Err(CheckpointError::Mismatch { found, expected });
    }
    let hyper: [f64; 8] = std::array::from_fn(|i| f64::from_le_bytes(field(bytes, 48 + 8 * i)));
    let config = A::decode(u32_at(20), hyper).map_err(CheckpointError::Malformed)?;
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
    let expected_count = (0..A::STATE.len()).filter(|&i| config.keeps(i)).count() as u64;
    if count != expected_count {
        return Err(CheckpointError::Malformed("buffer count does not match the algorithm and flags"));
    }
    let needed = n
        .checked_mul(count * element_bytes as u64)
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
    Ok(Header { config, steps, n, dtype, lr_schedule })
}

impl MixedAdam {
    /// The state, step count and hyperparameters in the checkpoint layout
    /// (see [the module](crate::checkpoint)), the element type recording the
    /// state's storage: 1 for `f32` state (the very file an
    /// [`Adam<f32>`](crate::Adam) of the same state writes, which
    /// [`Optimizer::load`] reads), 3 for `bf16`. The options (loss scale,
    /// stochastic-rounding seed, ...) are not saved: [`load`](Self::load)
    /// takes them.
    ///
    /// ```
    /// use fused_optim::mixed::{Dtype, MixedAdam, MixedOptions, MixedSlice};
    /// use fused_optim::{AdamConfig, Parallelism};
    /// let mut opt = MixedAdam::new(AdamConfig::adamw(), MixedOptions::default(), Dtype::Bf16, 3)?;
    /// opt.step(MixedSlice::F32(&mut [1.0, 2.0, 3.0]), MixedSlice::F32(&mut [0.5, -0.5, 0.25]), None)?;
    /// let loaded = MixedAdam::load(&opt.save()?, MixedOptions::default(), Parallelism::Serial).unwrap();
    /// assert_eq!((loaded.steps(), loaded.state_dtype(), loaded.state()), (1, Dtype::Bf16, opt.state()));
    /// # Ok::<(), fused_optim::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] if a state buffer is not [`len`](Self::len)
    /// long (the optimizer never makes one).
    pub fn save(&self) -> Result<Vec<u8>, Error> {
        let (m, v, vmax) = self.state();
        let buffers: Vec<(&'static str, &StateBuffer)> =
            [("exp_avg", Some(m)), ("exp_avg_sq", Some(v)), ("max_exp_avg_sq", vmax)]
                .into_iter()
                .filter_map(|(name, b)| b.map(|b| (name, b)))
                .collect();
        let dtype = match self.state_dtype() {
            Dtype::F32 => 1,
            Dtype::Bf16 => BF16_ID,
            other => return Err(Error::UnsupportedStateType(other)),
        };
        for (name, b) in &buffers {
            if b.len() != self.len() {
                return Err(Error::LengthMismatch { buffer: name, len: b.len(), expected: self.len() });
            }
        }
        let mut out = Vec::with_capacity(HEADER + buffers.len() * self.len() * self.state_dtype().bytes());
        write_header(&mut out, self.config(), dtype, self.steps(), self.len(), buffers.len(), 0);
        for (_, b) in buffers {
            match b {
                StateBuffer::F32(x) => x.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
                StateBuffer::Bf16(x) => {
                    x.iter().for_each(|x| out.extend_from_slice(&x.to_bits().to_le_bytes()))
                }
                StateBuffer::F16(_) => unreachable!("refused above"),
            }
        }
        Ok(out)
    }

    /// An optimizer from [`save`](Self::save)'s bytes (or from those of an
    /// [`Adam<f32>`](crate::Adam) with a constant learning rate: `f32`
    /// state), stepping with `options` and `parallelism`; the state keeps
    /// the type the file records. Every field is checked before anything is
    /// built.
    pub fn load(
        bytes: &[u8],
        options: MixedOptions,
        parallelism: Parallelism,
    ) -> Result<MixedAdam, CheckpointError> {
        let Header { config, steps, n, dtype, lr_schedule } =
            read_header::<AdamConfig>(bytes, &[1, BF16_ID], "f32 or bf16 state")?;
        if lr_schedule != LrSchedule::Constant {
            return Err(CheckpointError::Malformed(
                "a mixed-precision optimizer has no learning-rate schedule",
            ));
        }
        let state = if dtype == BF16_ID { Dtype::Bf16 } else { Dtype::F32 };
        let mut opt = MixedAdam::new(config, options, state, n).map_err(CheckpointError::Invalid)?;
        let size = n * state.bytes();
        let body = &bytes[HEADER..];
        let (m, v, vmax) = (&mut opt.exp_avg, &mut opt.exp_avg_sq, opt.max_exp_avg_sq.as_mut());
        for (dst, src) in [Some(m), Some(v), vmax].into_iter().flatten().zip(body.chunks_exact(size.max(1))) {
            // Every chunk is whole: `read_header` checked the file's length.
            match dst {
                StateBuffer::F32(x) => {
                    for (x, b) in x.iter_mut().zip(src.chunks_exact(4)) {
                        *x = f32::from_le_bytes(b.try_into().expect("4 bytes"));
                    }
                }
                StateBuffer::Bf16(x) => {
                    for (x, b) in x.iter_mut().zip(src.chunks_exact(2)) {
                        *x = bf16::from_bits(u16::from_le_bytes(b.try_into().expect("2 bytes")));
                    }
                }
                StateBuffer::F16(_) => unreachable!("new refuses f16 state"),
            }
        }
        opt.steps = steps;
        opt.parallelism = parallelism;
        Ok(opt)
    }
}

fn dtype_id<T: Float>() -> u32 {
    if T::BYTES == 4 { 1 } else { 2 }
}

fn field<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    bytes[at..at + N].try_into().expect("inside the checked header")
}

/// The state's buffers, named, in layout order: exactly the buffers
/// `config` keeps, each `n` long, or the error that names the first that is
/// not. What [`Optimizer::load`] will read back as it is.
fn layout<'s, A: Algorithm, T: Float>(
    config: &A,
    state: &'s A::State<T>,
    n: usize,
) -> Result<Vec<(&'static str, &'s [T])>, Error> {
    let held = A::state_slices(state);
    let mut given = [false; MAX_STATE_BUFFERS];
    for (i, slot) in held.iter().enumerate() {
        given[i] = slot.is_some();
        if i >= A::STATE.len() && slot.is_some() {
            return Err(Error::UnexpectedState {
                buffer: "a buffer past the algorithm's last",
                option: A::NAME,
            });
        }
    }
    crate::algorithms::check_state_buffers(config, given)?;
    let mut buffers = Vec::with_capacity(A::STATE.len());
    for (buffer, slot) in A::STATE.iter().zip(held) {
        if let Some(slice) = slot {
            if slice.len() != n {
                return Err(Error::LengthMismatch { buffer: buffer.name, len: slice.len(), expected: n });
            }
            buffers.push((buffer.name, slice));
        }
    }
    Ok(buffers)
}

impl<A: Algorithm, T: Float + bytemuck::Pod> Optimizer<A, T> {
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
        let buffers = layout(self.config(), self.state(), self.len())?;
        let mut out = Vec::with_capacity(HEADER + buffers.len() * self.len() * T::BYTES);
        let schedule = schedule_id(self.lr_schedule());
        write_header(
            &mut out,
            self.config(),
            dtype_id::<T>(),
            self.steps(),
            self.len(),
            buffers.len(),
            schedule,
        );
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
        let Header { config, steps, n, lr_schedule, .. } =
            read_header::<A>(bytes, &[dtype_id::<T>()], T::NAME)?;
        let (body, size) = (&bytes[HEADER..], n * T::BYTES);
        let mut state = new_state::<A, T>(&config, n).map_err(CheckpointError::Invalid)?;
        let slots = A::slots(A::view_mut(&mut state));
        for (dst, src) in slots.into_iter().flatten().zip(body.chunks_exact(size.max(1))) {
            // Every chunk is whole: the length check above counted `count` buffers of `size` bytes.
            let dst_bytes: &mut [u8] = bytemuck::cast_slice_mut(dst);
            dst_bytes.copy_from_slice(&src[..size]);
            if cfg!(target_endian = "big") {
                dst_bytes.chunks_exact_mut(T::BYTES).for_each(<[u8]>::reverse);
            }
        }
        Ok(Optimizer { config, state, len: n, steps, parallelism, lr_schedule, clip: None, last_clip: None })
    }
}
