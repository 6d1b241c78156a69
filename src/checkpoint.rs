//! Saving and loading an optimizer's state: hyperparameters, step count and
//! every state buffer, in one documented little-endian byte layout.
//!
//! # Layout (version 1)
//!
//! All integers and floats little-endian. A 128-byte header, then the state
//! buffers, each `n` elements of the element type, back to back:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `FOPTSTAT` |
//! | 8 | 4 | format version: 1 |
//! | 12 | 4 | algorithm: 1 Adam (and AdamW, AMSGrad), 2 AdaMax |
//! | 16 | 4 | element type: 1 `f32`, 2 `f64` |
//! | 20 | 4 | flags: bit 0 AMSGrad, bit 1 maximize, bits 8–9 weight decay (0 none, 1 L2, 2 decoupled) |
//! | 24 | 8 | step count (`u64`) |
//! | 32 | 8 | elements per buffer `n` (`u64`) |
//! | 40 | 4 | number of buffers (`u32`) |
//! | 44 | 4 | reserved, 0 |
//! | 48 | 40 | `f64` lr, β1, β2, ε, weight decay |
//! | 88 | 40 | reserved, 0 |
//! | 128 | … | buffers: Adam: `exp_avg`, `exp_avg_sq`, then `max_exp_avg_sq` with AMSGrad; AdaMax: `exp_avg`, `exp_inf` |
//!
//! The buffers are written and read through `bytemuck` views of the state
//! vectors (one copy, no per-element work on little-endian hosts; big-endian
//! hosts swap bytes). Reading checks everything before it builds anything: a
//! truncated, foreign or inconsistent file is an error, never a panic, and
//! the hyperparameters it holds are validated like any others.

use crate::optimizer::{AdaMaxState, AdamState};
use crate::{AdaMaxConfig, AdamConfig, Algorithm, Error, Float, Optimizer, Parallelism, WeightDecay};
use std::fmt;

const MAGIC: &[u8; 8] = b"FOPTSTAT";
const VERSION: u32 = 1;
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
    /// Flags and the five hyperparameters (lr, β1, β2, ε, weight decay).
    fn encode(&self) -> (u32, [f64; 5]);
    /// The config back from its flags and hyperparameters.
    fn decode(flags: u32, h: [f64; 5]) -> Result<Self, CheckpointError>;
    /// The state buffers, in layout order.
    fn buffers<T: Float>(state: &Self::State<T>) -> Vec<&[T]>;
    /// Fresh state whose buffers `fill` writes, in layout order.
    fn state_from<T: Float>(&self, n: usize, fill: &mut dyn FnMut(&mut [T])) -> Self::State<T>;
}

impl Checkpoint for AdamConfig {
    const ID: (u32, &'static str) = (1, "Adam");
    fn encode(&self) -> (u32, [f64; 5]) {
        let (mode, wd) = match self.weight_decay {
            WeightDecay::None => (0, 0.0),
            WeightDecay::L2(wd) => (1, wd),
            WeightDecay::Decoupled(wd) => (2, wd),
        };
        (
            self.amsgrad as u32 | (self.maximize as u32) << 1 | mode << 8,
            [self.lr, self.betas.0, self.betas.1, self.eps, wd],
        )
    }
    fn decode(flags: u32, [lr, b1, b2, eps, wd]: [f64; 5]) -> Result<Self, CheckpointError> {
        if flags & !0x303 != 0 {
            return Err(CheckpointError::Malformed("unknown flag bits"));
        }
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
            weight_decay,
            amsgrad: flags & 1 != 0,
            maximize: flags & 2 != 0,
        })
    }
    fn buffers<T: Float>(s: &AdamState<T>) -> Vec<&[T]> {
        [&s.exp_avg[..], &s.exp_avg_sq[..]].into_iter().chain(s.max_exp_avg_sq.as_deref()).collect()
    }
    fn state_from<T: Float>(&self, n: usize, fill: &mut dyn FnMut(&mut [T])) -> AdamState<T> {
        let mut s = self.new_state::<T>(n);
        fill(&mut s.exp_avg);
        fill(&mut s.exp_avg_sq);
        if let Some(x) = &mut s.max_exp_avg_sq {
            fill(x);
        }
        s
    }
}

impl Checkpoint for AdaMaxConfig {
    const ID: (u32, &'static str) = (2, "AdaMax");
    fn encode(&self) -> (u32, [f64; 5]) {
        ((self.maximize as u32) << 1, [self.lr, self.betas.0, self.betas.1, self.eps, self.weight_decay])
    }
    fn decode(flags: u32, [lr, b1, b2, eps, weight_decay]: [f64; 5]) -> Result<Self, CheckpointError> {
        if flags & !2 != 0 {
            return Err(CheckpointError::Malformed("unknown flag bits"));
        }
        Ok(AdaMaxConfig { lr, betas: (b1, b2), eps, weight_decay, maximize: flags & 2 != 0 })
    }
    fn buffers<T: Float>(s: &AdaMaxState<T>) -> Vec<&[T]> {
        vec![&s.exp_avg, &s.exp_inf]
    }
    fn state_from<T: Float>(&self, n: usize, fill: &mut dyn FnMut(&mut [T])) -> AdaMaxState<T> {
        let mut s = self.new_state::<T>(n);
        fill(&mut s.exp_avg);
        fill(&mut s.exp_inf);
        s
    }
}

fn dtype_id<T: Float>() -> u32 {
    if T::BYTES == 4 { 1 } else { 2 }
}

fn field<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    bytes[at..at + N].try_into().expect("inside the checked header")
}

impl<A: Checkpoint, T: Float + bytemuck::Pod> Optimizer<A, T> {
    /// The state, step count and hyperparameters in the checkpoint layout
    /// (see [the module](crate::checkpoint)).
    pub fn save(&self) -> Vec<u8> {
        let buffers = A::buffers(self.state());
        let (flags, hyper) = self.config().encode();
        let mut out = Vec::with_capacity(HEADER + buffers.len() * self.len() * T::BYTES);
        out.extend_from_slice(MAGIC);
        for x in [VERSION, A::ID.0, dtype_id::<T>(), flags] {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.extend_from_slice(&self.steps().to_le_bytes());
        out.extend_from_slice(&(self.len() as u64).to_le_bytes());
        out.extend_from_slice(&(buffers.len() as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for h in hyper {
            out.extend_from_slice(&h.to_le_bytes());
        }
        out.resize(HEADER, 0);
        for buffer in buffers {
            if cfg!(target_endian = "little") {
                out.extend_from_slice(bytemuck::cast_slice(buffer));
            } else {
                for x in buffer {
                    out.extend(bytemuck::bytes_of(x).iter().rev());
                }
            }
        }
        out
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
            let found = match u32_at(12) {
                1 => "Adam",
                2 => "AdaMax",
                _ => return Err(CheckpointError::Malformed("unknown algorithm")),
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
        let hyper: [f64; 5] = std::array::from_fn(|i| f64::from_le_bytes(field(bytes, 48 + 8 * i)));
        let config = A::decode(u32_at(20), hyper)?;
        config.validate().map_err(CheckpointError::Invalid)?;
        let (steps, n, count) = (u64_at(24), u64_at(32), u32_at(40) as u64);
        let expected_count = A::buffers(&config.new_state::<T>(0)).len() as u64;
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
        let mut next = 0;
        let state = config.state_from::<T>(n, &mut |dst| {
            // In bounds: the length check above counted `count` buffers of `size` bytes.
            let src = &body[next * size..(next + 1) * size];
            next += 1;
            let dst_bytes: &mut [u8] = bytemuck::cast_slice_mut(dst);
            dst_bytes.copy_from_slice(src);
            if cfg!(target_endian = "big") {
                dst_bytes.chunks_exact_mut(T::BYTES).for_each(<[u8]>::reverse);
            }
        });
        Ok(Optimizer::from_parts(config, state, n, steps, parallelism))
    }
}
