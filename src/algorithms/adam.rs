//! Adam, AdamW and AMSGrad: hyperparameters, validation, coefficients, state.
//!
//! The formula and the op order of the kernel are in
//! [`fused_optim_kernels::spec::adam`](mod@fused_optim_kernels::spec::adam). This module
//! turns PyTorch-style hyperparameters and a step number into the kernel's
//! per-step scalars (in `f64`, then rounded once) and describes the state
//! the algorithm keeps.

use super::descriptor::{Algorithm, StateBuffer, StateSlots};
use crate::hyper::{
    beta1_at, bias_correction, decay_factor, non_negative, representable, step_number, unit_interval,
};
use crate::{Error, Float};
use fused_optim_kernels::{AdamBuffers, AdamCoefficients, Decay};
use fused_optim_kernels::{Checked, Reborrow};

/// Where ε enters Adam's denominator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EpsForm {
    /// PyTorch's Adam (Algorithm 1 of the paper): `m̂/(√v̂ + ε)` with the
    /// bias-corrected moments, that is `(lr/bc1)·m/(√v/√bc2 + ε)`.
    #[default]
    Standard,
    /// The paper's §2 reordering, as TensorFlow's Adam computes it:
    /// `α_t = lr·√bc2/bc1`, `p −= α_t·m/(√v + ε̂)`, with the configured `eps`
    /// taken as ε̂. It equals `Standard` with `ε = ε̂/√bc2`: ε weighs more in
    /// the first steps.
    Hat,
}

/// Weight decay, as PyTorch's Adam (`L2`) and AdamW (`Decoupled`) apply it.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum WeightDecay {
    /// No weight decay.
    #[default]
    None,
    /// L2 penalty: `g += wd·p` before the moments (PyTorch `Adam(weight_decay=wd)`).
    L2(f64),
    /// Decoupled decay: `p *= 1 − lr·wd` before the update (PyTorch `AdamW(weight_decay=wd)`).
    Decoupled(f64),
}

/// Hyperparameters of Adam / AdamW / AMSGrad, with PyTorch's defaults.
///
/// ```
/// use fused_optim::{AdamConfig, WeightDecay};
/// let adam = AdamConfig::default();
/// assert_eq!((adam.lr, adam.betas, adam.eps), (1e-3, (0.9, 0.999), 1e-8));
/// let adamw = AdamConfig { lr: 3e-4, ..AdamConfig::adamw() };
/// assert_eq!(adamw.weight_decay, WeightDecay::Decoupled(1e-2));
/// assert!(AdamConfig { betas: (0.9, 1.0), ..adam }.validate().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate α (finite, `>= 0`). Default `1e-3`.
    pub lr: f64,
    /// (β1, β2), each in `[0, 1)`. Default `(0.9, 0.999)`.
    pub betas: (f64, f64),
    /// ε added to `√v̂/√bc2` (finite, `>= 0`), or ε̂ added to `√v̂` with
    /// [`EpsForm::Hat`]. Default `1e-8`.
    pub eps: f64,
    /// How `eps` enters the denominator. Default [`EpsForm::Standard`] (PyTorch).
    pub eps_form: EpsForm,
    /// Weight decay (coefficient finite, `>= 0`). Default none; [`AdamConfig::adamw`] gives
    /// `Decoupled(1e-2)`.
    pub weight_decay: WeightDecay,
    /// AMSGrad: use the running maximum of v (needs a `max_exp_avg_sq` buffer). Default off.
    pub amsgrad: bool,
    /// Maximize the objective instead of minimizing it. Default off.
    pub maximize: bool,
    /// λ in `(0, 1]`, the decay of β1 in the paper's convergence analysis
    /// (§4): step `t` uses `β1,t = β1·λ^(t−1)` in the first moment, while the
    /// bias correction stays `1 − β1^t` as in Algorithm 1. Default `1.0`
    /// (no decay, as PyTorch).
    pub beta1_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            eps_form: EpsForm::Standard,
            weight_decay: WeightDecay::None,
            amsgrad: false,
            maximize: false,
            beta1_decay: 1.0,
        }
    }
}

impl AdamConfig {
    /// PyTorch's `AdamW` defaults: Adam's, with decoupled weight decay `1e-2`.
    pub fn adamw() -> Self {
        AdamConfig { weight_decay: WeightDecay::Decoupled(1e-2), ..AdamConfig::default() }
    }

    /// Checks every hyperparameter; the error names the first bad one.
    pub fn validate(&self) -> Result<(), Error> {
        non_negative("lr", self.lr)?;
        unit_interval("beta1", self.betas.0)?;
        unit_interval("beta2", self.betas.1)?;
        non_negative("eps", self.eps)?;
        decay_factor("beta1_decay", self.beta1_decay)?;
        match self.weight_decay {
            WeightDecay::None => Ok(()),
            WeightDecay::L2(wd) | WeightDecay::Decoupled(wd) => non_negative("weight_decay", wd),
        }
    }

    /// The kernel's per-step scalars for step `t` (first step: 1), computed in
    /// `f64` and rounded once to `T`.
    ///
    /// `step_size = lr·√bc2/bc1` and `eps_hat = ε·√bc2` (the one-division form
    /// of the update; see the kernel's essay), or `eps_hat = ε` with
    /// [`EpsForm::Hat`]. With `beta1_decay` λ < 1, the first moment's
    /// coefficient is `β1·λ^(t−1)`. A weight decay of 0 is no decay,
    /// as in PyTorch. A finite hyperparameter whose derived scalar overflows
    /// `T` (lr above about 3.4e38 for f32, `1 − lr·wd` beyond f64) is refused,
    /// naming it.
    pub fn coefficients<T: Float>(&self, t: u64) -> Result<AdamCoefficients<T>, Error> {
        self.validate()?;
        step_number(t)?;
        let (beta1, beta2) = self.betas;
        let beta1_t = beta1_at(beta1, self.beta1_decay, t);
        let bc1 = bias_correction(beta1, t);
        let sqrt_bc2 = bias_correction(beta2, t).sqrt();
        let decay = match self.weight_decay {
            WeightDecay::L2(wd) if wd != 0.0 => Decay::L2(representable("weight_decay", wd, wd)?),
            WeightDecay::Decoupled(wd) if wd != 0.0 => {
                Decay::Decoupled(representable("weight_decay", wd, 1.0 - self.lr * wd)?)
            }
            _ => Decay::None,
        };
        Ok(AdamCoefficients {
            beta1: T::from_f64(beta1_t),
            one_minus_beta1: T::from_f64(1.0 - beta1_t),
            beta2: T::from_f64(beta2),
            one_minus_beta2: T::from_f64(1.0 - beta2),
            step_size: representable("lr", self.lr, self.lr * sqrt_bc2 / bc1)?,
            eps_hat: match self.eps_form {
                EpsForm::Standard => representable("eps", self.eps, self.eps * sqrt_bc2)?,
                EpsForm::Hat => representable("eps", self.eps, self.eps)?,
            },
            decay,
            grad_scale: T::ONE,
            maximize: self.maximize,
        })
    }
}

/// Adam's state: the moments and, with AMSGrad, the running maximum of v.
#[derive(Clone, Debug, PartialEq)]
pub struct AdamState<T> {
    /// First moment m (`exp_avg` in PyTorch).
    pub exp_avg: Vec<T>,
    /// Second moment v (`exp_avg_sq`).
    pub exp_avg_sq: Vec<T>,
    /// Running maximum of v (`max_exp_avg_sq`), with AMSGrad only.
    pub max_exp_avg_sq: Option<Vec<T>>,
}

/// [`AdamState`]'s buffers, lent as slices ([`Optimizer::state_mut`](crate::Optimizer::state_mut)).
///
/// Replacing a field of the view (`view.max_exp_avg_sq = None`) changes the
/// view, not the optimizer: its buffers, their lengths and which of them
/// exist stay the optimizer's.
#[derive(Debug)]
pub struct AdamStateMut<'a, T> {
    /// First moment m (`exp_avg` in PyTorch).
    pub exp_avg: &'a mut [T],
    /// Second moment v (`exp_avg_sq`).
    pub exp_avg_sq: &'a mut [T],
    /// Running maximum of v (`max_exp_avg_sq`), with AMSGrad only.
    pub max_exp_avg_sq: Option<&'a mut [T]>,
}

/// Bits of the checkpoint flags (bit 1, maximize, is every algorithm's).
const AMSGRAD: u32 = 1 << 0;
const MAXIMIZE: u32 = 1 << 1;
const EPS_HAT: u32 = 1 << 2;
const DECAY_SHIFT: u32 = 8;

impl Algorithm for AdamConfig {
    const NAME: &'static str = "Adam";
    const CHECKPOINT_ID: u32 = 1;
    const STATE: &'static [StateBuffer] = &[
        StateBuffer::always("exp_avg"),
        StateBuffer::always("exp_avg_sq"),
        StateBuffer::with("max_exp_avg_sq", "amsgrad"),
    ];

    type Coefficients<T: Float> = AdamCoefficients<T>;
    type Buffers<'a, T: Float> = AdamBuffers<'a, T>;
    type State<T: Float> = AdamState<T>;
    type StateMut<'a, T: Float + 'a> = AdamStateMut<'a, T>;

    fn validate(&self) -> Result<(), Error> {
        AdamConfig::validate(self)
    }

    fn coefficients<T: Float>(&self, t: u64) -> Result<AdamCoefficients<T>, Error> {
        AdamConfig::coefficients(self, t)
    }

    fn keeps(&self, index: usize) -> bool {
        index < 2 || self.amsgrad
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn with_lr(&self, lr: f64) -> Self {
        AdamConfig { lr, ..*self }
    }

    fn encode(&self) -> (u32, [f64; 8]) {
        let (decay_kind, wd) = match self.weight_decay {
            WeightDecay::None => (0, 0.0),
            WeightDecay::L2(wd) => (1, wd),
            WeightDecay::Decoupled(wd) => (2, wd),
        };
        let flags = self.amsgrad as u32
            | (self.maximize as u32) << 1
            | ((self.eps_form == EpsForm::Hat) as u32) << 2
            | decay_kind << DECAY_SHIFT;
        (flags, [self.lr, self.betas.0, self.betas.1, self.eps, wd, self.beta1_decay, 0.0, 0.0])
    }

    fn decode(flags: u32, [lr, b1, b2, eps, wd, beta1_decay, ..]: [f64; 8]) -> Result<Self, &'static str> {
        let weight_decay = match flags >> DECAY_SHIFT {
            0 => WeightDecay::None,
            1 => WeightDecay::L2(wd),
            2 => WeightDecay::Decoupled(wd),
            _ => return Err("unknown weight decay mode"),
        };
        Ok(AdamConfig {
            lr,
            betas: (b1, b2),
            eps,
            eps_form: if flags & EPS_HAT != 0 { EpsForm::Hat } else { EpsForm::Standard },
            weight_decay,
            amsgrad: flags & AMSGRAD != 0,
            maximize: flags & MAXIMIZE != 0,
            beta1_decay,
        })
    }

    fn state_from<T: Float>([m, v, max]: [Option<Vec<T>>; 3]) -> Option<AdamState<T>> {
        Some(AdamState { exp_avg: m?, exp_avg_sq: v?, max_exp_avg_sq: max })
    }

    fn optional_mut<T: Float>(s: &mut AdamState<T>) -> [Option<&mut Option<Vec<T>>>; 3] {
        [None, None, Some(&mut s.max_exp_avg_sq)]
    }

    fn state_slices<T: Float>(s: &AdamState<T>) -> [Option<&[T]>; 3] {
        [Some(&s.exp_avg), Some(&s.exp_avg_sq), s.max_exp_avg_sq.as_deref()]
    }

    fn view_mut<T: Float>(s: &mut AdamState<T>) -> AdamStateMut<'_, T> {
        AdamStateMut {
            exp_avg: &mut s.exp_avg,
            exp_avg_sq: &mut s.exp_avg_sq,
            max_exp_avg_sq: s.max_exp_avg_sq.as_deref_mut(),
        }
    }

    fn slots<'a, T: Float + 'a>(s: AdamStateMut<'a, T>) -> StateSlots<'a, T> {
        [Some(s.exp_avg), Some(s.exp_avg_sq), s.max_exp_avg_sq]
    }

    fn buffers<'a, T: Float>(
        param: &'a mut [T],
        grad: &'a [T],
        [m, v, max]: StateSlots<'a, T>,
    ) -> Option<AdamBuffers<'a, T>> {
        Some(AdamBuffers { param, grad, exp_avg: m?, exp_avg_sq: v?, max_exp_avg_sq: max })
    }

    fn given<T: Float>(b: &AdamBuffers<'_, T>) -> [bool; 3] {
        [true, true, b.max_exp_avg_sq.is_some()]
    }

    fn grad<'s, T: Float>(b: &'s AdamBuffers<'_, T>) -> &'s [T] {
        b.grad
    }

    fn reborrow<'s, T: Float>(b: &'s mut AdamBuffers<'_, T>) -> AdamBuffers<'s, T> {
        Reborrow::reborrow(b)
    }

    fn kernel<T: Float>(b: Checked<AdamBuffers<'_, T>>, c: &AdamCoefficients<T>) {
        fused_optim_kernels::adam_checked(b, c)
    }
}
