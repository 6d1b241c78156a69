//! SGD with momentum: hyperparameters, validation, coefficients, state.
//!
//! The formula and the op order of the kernel are in
//! [`fused_optim_kernels::spec::sgd`](mod@fused_optim_kernels::spec::sgd).

use super::descriptor::{Algorithm, StateBuffer, StateSlots};
use crate::hyper::{non_negative, optional_decay, representable, step_number};
use crate::{Error, Float};
use fused_optim_kernels::{Checked, Reborrow};
use fused_optim_kernels::{SgdBuffers, SgdCoefficients};

/// What `momentum` must be with Nesterov ("it must be …"), ending in what
/// PyTorch's `SGD` says.
const NESTEROV_MOMENTUM: &str =
    "> 0 with nesterov (Nesterov momentum requires a momentum and zero dampening)";
/// What `dampening` must be with Nesterov, likewise.
const NESTEROV_DAMPENING: &str = "0 with nesterov (Nesterov momentum requires a momentum and zero dampening)";

/// Hyperparameters of SGD with momentum (`torch.optim.SGD`), with PyTorch's
/// defaults.
///
/// # The first step
///
/// PyTorch keeps no step count for SGD: its first step is the one where a
/// parameter has no `momentum_buffer` yet, and that step sets the buffer to
/// the gradient (`b = d`) instead of decaying it. Here **the step number
/// decides: `t == 1` is the first step**, whose buffer contents are ignored
/// and overwritten with `d`; every `t > 1` reads the buffer
/// (`b = μ·b + (1 − dampening)·d`). The owning
/// [`Optimizer`](crate::Optimizer) counts from 1, so it matches PyTorch
/// without help. A caller that mirrors PyTorch's state with the stateless
/// steps passes `t = 1` for a parameter without a buffer and any `t > 1`
/// otherwise. (An [`Optimizer`](crate::Optimizer) whose momentum is switched
/// on after its first step starts the new buffer at 0 and decays it, where
/// PyTorch would start it at the gradient.)
///
/// ```
/// use fused_optim::SgdConfig;
/// let c = SgdConfig::default();
/// assert_eq!((c.lr, c.momentum, c.dampening, c.weight_decay), (1e-3, 0.0, 0.0, 0.0));
/// assert!(!c.nesterov && !c.maximize);
/// let bad = SgdConfig { nesterov: true, ..SgdConfig::default() };
/// assert!(bad.validate().unwrap_err().to_string().contains("Nesterov momentum requires a momentum and zero dampening"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdConfig {
    /// Learning rate (finite, `>= 0`). Default `1e-3`.
    pub lr: f64,
    /// Momentum μ (finite, `>= 0`); above 0 the step needs a `momentum_buffer`. Default `0`.
    pub momentum: f64,
    /// Dampening of the momentum: later steps add `(1 − dampening)·d` to
    /// `μ·b` (finite). Default `0`.
    pub dampening: f64,
    /// L2 weight decay coefficient (finite, `>= 0`; 0 is none). Default `0`.
    pub weight_decay: f64,
    /// Nesterov momentum: step along `d + μ·b` instead of `b` (needs
    /// `momentum > 0` and `dampening == 0`). Default off.
    pub nesterov: bool,
    /// Maximize the objective instead of minimizing it. Default off.
    pub maximize: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 1e-3,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            maximize: false,
        }
    }
}

impl SgdConfig {
    /// Checks every hyperparameter; the error names the first bad one.
    /// Nesterov momentum needs `momentum > 0` and `dampening == 0` (as
    /// PyTorch: "Nesterov momentum requires a momentum and zero dampening").
    pub fn validate(&self) -> Result<(), Error> {
        non_negative("lr", self.lr)?;
        non_negative("momentum", self.momentum)?;
        if !self.dampening.is_finite() {
            return Err(Error::InvalidHyperparameter {
                name: "dampening",
                value: self.dampening,
                expected: "finite",
            });
        }
        non_negative("weight_decay", self.weight_decay)?;
        if self.nesterov && self.momentum <= 0.0 {
            return Err(Error::InvalidHyperparameter {
                name: "momentum",
                value: self.momentum,
                expected: NESTEROV_MOMENTUM,
            });
        }
        if self.nesterov && self.dampening != 0.0 {
            return Err(Error::InvalidHyperparameter {
                name: "dampening",
                value: self.dampening,
                expected: NESTEROV_DAMPENING,
            });
        }
        Ok(())
    }

    /// The kernel's scalars, rounded once to `T`. `t` (`>= 1`) decides the
    /// first step: `t == 1` sets the momentum buffer to `d`, ignoring what it
    /// held (see [the type's docs](SgdConfig#the-first-step)).
    pub fn coefficients<T: Float>(&self, t: u64) -> Result<SgdCoefficients<T>, Error> {
        self.validate()?;
        step_number(t)?;
        Ok(SgdCoefficients {
            lr: representable("lr", self.lr, self.lr)?,
            momentum: representable("momentum", self.momentum, self.momentum)?,
            one_minus_dampening: representable("dampening", self.dampening, 1.0 - self.dampening)?,
            nesterov: self.nesterov,
            first: t == 1,
            weight_decay: optional_decay(self.weight_decay)?,
            grad_scale: T::ONE,
            maximize: self.maximize,
        })
    }
}

/// SGD's state: the momentum buffer, with momentum > 0 only.
#[derive(Clone, Debug, PartialEq)]
pub struct SgdState<T> {
    /// Momentum buffer b (`momentum_buffer` in PyTorch), with momentum > 0 only.
    pub momentum_buffer: Option<Vec<T>>,
}

/// [`SgdState`]'s buffer, lent as a slice ([`Optimizer::state_mut`](crate::Optimizer::state_mut)).
///
/// Replacing the field of the view changes the view, not the optimizer.
#[derive(Debug)]
pub struct SgdStateMut<'a, T> {
    /// Momentum buffer b (`momentum_buffer` in PyTorch), with momentum > 0 only.
    pub momentum_buffer: Option<&'a mut [T]>,
}

impl Algorithm for SgdConfig {
    const NAME: &'static str = "SGD";
    // 6 is left to Lion, added beside SGD.
    const CHECKPOINT_ID: u32 = 7;
    const STATE: &'static [StateBuffer] = &[StateBuffer::with("momentum_buffer", "momentum")];

    type Coefficients<T: Float> = SgdCoefficients<T>;
    type Buffers<'a, T: Float> = SgdBuffers<'a, T>;
    type State<T: Float> = SgdState<T>;
    type StateMut<'a, T: Float + 'a> = SgdStateMut<'a, T>;

    fn validate(&self) -> Result<(), Error> {
        SgdConfig::validate(self)
    }

    fn coefficients<T: Float>(&self, t: u64) -> Result<SgdCoefficients<T>, Error> {
        SgdConfig::coefficients(self, t)
    }

    fn keeps(&self, index: usize) -> bool {
        match index {
            0 => self.momentum > 0.0,
            _ => true,
        }
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn with_lr(&self, lr: f64) -> Self {
        SgdConfig { lr, ..*self }
    }

    fn encode(&self) -> (u32, [f64; 8]) {
        let flags = (self.maximize as u32) << 1 | (self.nesterov as u32) << 4;
        (flags, [self.lr, self.momentum, self.dampening, self.weight_decay, 0.0, 0.0, 0.0, 0.0])
    }

    fn decode(
        flags: u32,
        [lr, momentum, dampening, weight_decay, ..]: [f64; 8],
    ) -> Result<Self, &'static str> {
        let (maximize, nesterov) = (flags & (1 << 1) != 0, flags & (1 << 4) != 0);
        Ok(SgdConfig { lr, momentum, dampening, weight_decay, nesterov, maximize })
    }

    fn state_from<T: Float>([b, ..]: [Option<Vec<T>>; 3]) -> Option<SgdState<T>> {
        Some(SgdState { momentum_buffer: b })
    }

    fn optional_mut<T: Float>(s: &mut SgdState<T>) -> [Option<&mut Option<Vec<T>>>; 3] {
        [Some(&mut s.momentum_buffer), None, None]
    }

    fn state_slices<T: Float>(s: &SgdState<T>) -> [Option<&[T]>; 3] {
        [s.momentum_buffer.as_deref(), None, None]
    }

    fn view_mut<T: Float>(s: &mut SgdState<T>) -> SgdStateMut<'_, T> {
        SgdStateMut { momentum_buffer: s.momentum_buffer.as_deref_mut() }
    }

    fn slots<'a, T: Float + 'a>(s: SgdStateMut<'a, T>) -> StateSlots<'a, T> {
        [s.momentum_buffer, None, None]
    }

    fn buffers<'a, T: Float>(
        param: &'a mut [T],
        grad: &'a [T],
        [b, ..]: StateSlots<'a, T>,
    ) -> Option<SgdBuffers<'a, T>> {
        Some(SgdBuffers { param, grad, momentum_buffer: b })
    }

    fn grad<'s, T: Float>(b: &'s SgdBuffers<'_, T>) -> &'s [T] {
        b.grad
    }

    fn given<T: Float>(b: &SgdBuffers<'_, T>) -> [bool; 3] {
        [b.momentum_buffer.is_some(), false, false]
    }

    fn reborrow<'s, T: Float>(b: &'s mut SgdBuffers<'_, T>) -> SgdBuffers<'s, T> {
        Reborrow::reborrow(b)
    }

    fn kernel<T: Float>(b: Checked<SgdBuffers<'_, T>>, c: &SgdCoefficients<T>) {
        fused_optim_kernels::sgd_checked(b, c)
    }
}
