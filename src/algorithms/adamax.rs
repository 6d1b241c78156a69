//! AdaMax: hyperparameters, validation, coefficients, state.
//!
//! The formula and the op order of the kernel are in
//! [`fused_optim_kernels::spec::adamax`](mod@fused_optim_kernels::spec::adamax).

use super::descriptor::{Algorithm, StateBuffer, StateSlots};
use crate::hyper::{
    beta1_at, bias_correction, decay_factor, non_negative, optional_decay, representable, step_number,
    unit_interval,
};
use crate::{Error, Float};
use fused_optim_kernels::{AdaMaxBuffers, AdaMaxCoefficients};
use fused_optim_kernels::{Checked, Reborrow};

/// Hyperparameters of AdaMax, with PyTorch's defaults.
///
/// With `eps = 0.0` this is Algorithm 2 of Kingma & Ba.
///
/// ```
/// use fused_optim::AdaMaxConfig;
/// let c = AdaMaxConfig::default();
/// assert_eq!((c.lr, c.betas, c.eps, c.weight_decay), (2e-3, (0.9, 0.999), 1e-8, 0.0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaMaxConfig {
    /// Learning rate α (finite, `>= 0`). Default `2e-3`.
    pub lr: f64,
    /// (β1, β2), each in `[0, 1)`. Default `(0.9, 0.999)`.
    pub betas: (f64, f64),
    /// ε added to `|g|` inside the maximum (finite, `>= 0`). Default `1e-8`.
    pub eps: f64,
    /// L2 weight decay coefficient (finite, `>= 0`; 0 is none). Default `0`.
    pub weight_decay: f64,
    /// Maximize the objective instead of minimizing it. Default off.
    pub maximize: bool,
    /// λ in `(0, 1]`: step `t` uses `β1,t = β1·λ^(t−1)` in the first moment,
    /// the bias correction stays `1 − β1^t` (as for
    /// [`AdamConfig::beta1_decay`](crate::AdamConfig::beta1_decay)). Default `1.0`.
    pub beta1_decay: f64,
}

impl Default for AdaMaxConfig {
    fn default() -> Self {
        AdaMaxConfig {
            lr: 2e-3,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            maximize: false,
            beta1_decay: 1.0,
        }
    }
}

impl AdaMaxConfig {
    /// Checks every hyperparameter; the error names the first bad one.
    pub fn validate(&self) -> Result<(), Error> {
        non_negative("lr", self.lr)?;
        unit_interval("beta1", self.betas.0)?;
        unit_interval("beta2", self.betas.1)?;
        non_negative("eps", self.eps)?;
        non_negative("weight_decay", self.weight_decay)?;
        decay_factor("beta1_decay", self.beta1_decay)
    }

    /// The kernel's per-step scalars for step `t`: `step_size = lr/(1 − β1^t)`
    /// in `f64`, everything rounded once to `T`.
    pub fn coefficients<T: Float>(&self, t: u64) -> Result<AdaMaxCoefficients<T>, Error> {
        self.validate()?;
        step_number(t)?;
        let (beta1, beta2) = self.betas;
        let beta1_t = beta1_at(beta1, self.beta1_decay, t);
        Ok(AdaMaxCoefficients {
            beta1: T::from_f64(beta1_t),
            one_minus_beta1: T::from_f64(1.0 - beta1_t),
            beta2: T::from_f64(beta2),
            eps: representable("eps", self.eps, self.eps)?,
            step_size: representable("lr", self.lr, self.lr / bias_correction(beta1, t))?,
            weight_decay: optional_decay(self.weight_decay)?,
            grad_scale: T::ONE,
            maximize: self.maximize,
        })
    }
}

/// AdaMax's state: the first moment and the infinity norm.
#[derive(Clone, Debug, PartialEq)]
pub struct AdaMaxState<T> {
    /// First moment m (`exp_avg` in PyTorch).
    pub exp_avg: Vec<T>,
    /// Exponentially weighted infinity norm u (`exp_inf`).
    pub exp_inf: Vec<T>,
}

/// [`AdaMaxState`]'s buffers, lent as slices ([`Optimizer::state_mut`](crate::Optimizer::state_mut)).
#[derive(Debug)]
pub struct AdaMaxStateMut<'a, T> {
    /// First moment m (`exp_avg` in PyTorch).
    pub exp_avg: &'a mut [T],
    /// Exponentially weighted infinity norm u (`exp_inf`).
    pub exp_inf: &'a mut [T],
}

impl Algorithm for AdaMaxConfig {
    const NAME: &'static str = "AdaMax";
    const CHECKPOINT_ID: u32 = 2;
    const STATE: &'static [StateBuffer] = &[StateBuffer::always("exp_avg"), StateBuffer::always("exp_inf")];

    type Coefficients<T: Float> = AdaMaxCoefficients<T>;
    type Buffers<'a, T: Float> = AdaMaxBuffers<'a, T>;
    type State<T: Float> = AdaMaxState<T>;
    type StateMut<'a, T: Float + 'a> = AdaMaxStateMut<'a, T>;

    fn validate(&self) -> Result<(), Error> {
        AdaMaxConfig::validate(self)
    }

    fn coefficients<T: Float>(&self, t: u64) -> Result<AdaMaxCoefficients<T>, Error> {
        AdaMaxConfig::coefficients(self, t)
    }

    fn lr(&self) -> f64 {
        self.lr
    }

    fn with_lr(&self, lr: f64) -> Self {
        AdaMaxConfig { lr, ..*self }
    }

    fn encode(&self) -> (u32, [f64; 8]) {
        let h =
            [self.lr, self.betas.0, self.betas.1, self.eps, self.weight_decay, self.beta1_decay, 0.0, 0.0];
        ((self.maximize as u32) << 1, h)
    }

    fn decode(
        flags: u32,
        [lr, b1, b2, eps, weight_decay, beta1_decay, ..]: [f64; 8],
    ) -> Result<Self, &'static str> {
        let maximize = flags & (1 << 1) != 0;
        Ok(AdaMaxConfig { lr, betas: (b1, b2), eps, weight_decay, maximize, beta1_decay })
    }

    fn state_from<T: Float>([m, u, _]: [Option<Vec<T>>; 3]) -> Option<AdaMaxState<T>> {
        Some(AdaMaxState { exp_avg: m?, exp_inf: u? })
    }

    fn state_slices<T: Float>(s: &AdaMaxState<T>) -> [Option<&[T]>; 3] {
        [Some(&s.exp_avg), Some(&s.exp_inf), None]
    }

    fn view_mut<T: Float>(s: &mut AdaMaxState<T>) -> AdaMaxStateMut<'_, T> {
        AdaMaxStateMut { exp_avg: &mut s.exp_avg, exp_inf: &mut s.exp_inf }
    }

    fn slots<'a, T: Float + 'a>(s: AdaMaxStateMut<'a, T>) -> StateSlots<'a, T> {
        [Some(s.exp_avg), Some(s.exp_inf), None]
    }

    fn buffers<'a, T: Float>(
        param: &'a mut [T],
        grad: &'a [T],
        [m, u, _]: StateSlots<'a, T>,
    ) -> Option<AdaMaxBuffers<'a, T>> {
        Some(AdaMaxBuffers { param, grad, exp_avg: m?, exp_inf: u? })
    }

    fn given<T: Float>(_: &AdaMaxBuffers<'_, T>) -> [bool; 3] {
        [true, true, false]
    }

    fn grad<'s, T: Float>(b: &'s AdaMaxBuffers<'_, T>) -> &'s [T] {
        b.grad
    }

    fn reborrow<'s, T: Float>(b: &'s mut AdaMaxBuffers<'_, T>) -> AdaMaxBuffers<'s, T> {
        Reborrow::reborrow(b)
    }

    fn kernel<T: Float>(b: Checked<AdaMaxBuffers<'_, T>>, c: &AdaMaxCoefficients<T>) {
        fused_optim_kernels::adamax_checked(b, c)
    }
}
