//! The C configs: one `#[repr(C)]` struct per algorithm, its conversions to
//! and from the Rust config, and its PyTorch defaults.
//!
//! An option is a `u8` flag (`uint8_t` in C), never a Rust `bool`: C code can
//! leave any byte in it (`memset`, a ctypes `c_uint8`, an uninitialised
//! member), and a `bool` holding anything but 0 or 1 is undefined behaviour
//! as soon as the struct is read. Every byte is a valid `u8`; nonzero means
//! true, and [`flag`] is the one place a C flag becomes a `bool`.

use super::many::Config;
use super::status::fo_status;
use fused_optim_core::{
    AdaDeltaConfig, AdaGradConfig, AdaMaxConfig, AdamConfig, EpsForm, LionConfig, RmsPropConfig, SgdConfig,
    WeightDecay,
};

/// A C flag as a Rust `bool`: any nonzero byte is true.
pub(super) fn flag(byte: u8) -> bool {
    byte != 0
}

/// A Rust `bool` as a C flag: 1 or 0.
pub(super) fn byte(on: bool) -> u8 {
    on.into()
}

/// `fo_adam_config.weight_decay_mode`: no weight decay.
pub const FO_WEIGHT_DECAY_NONE: u32 = 0;
/// `fo_adam_config.weight_decay_mode`: L2 penalty added to the gradient (Adam).
pub const FO_WEIGHT_DECAY_L2: u32 = 1;
/// `fo_adam_config.weight_decay_mode`: decoupled decay `p *= 1 − lr·wd` (AdamW).
pub const FO_WEIGHT_DECAY_DECOUPLED: u32 = 2;

/// Hyperparameters of Adam / AdamW / AMSGrad (see `fo_adam_config_default`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct fo_adam_config {
    /// Learning rate (finite, >= 0).
    pub lr: f64,
    /// β1, in [0, 1).
    pub beta1: f64,
    /// β2, in [0, 1).
    pub beta2: f64,
    /// ε (finite, >= 0): added to `√v̂/√bc2`, or to `√v̂` when `eps_hat`.
    pub eps: f64,
    /// Weight decay coefficient (finite, >= 0), applied as `weight_decay_mode` says.
    pub weight_decay: f64,
    /// `FO_WEIGHT_DECAY_NONE`, `FO_WEIGHT_DECAY_L2` or `FO_WEIGHT_DECAY_DECOUPLED`.
    pub weight_decay_mode: u32,
    /// AMSGrad (flag: nonzero is on): the step needs a `max_exp_avg_sq` buffer.
    pub amsgrad: u8,
    /// Maximize instead of minimize (flag: nonzero is on).
    pub maximize: u8,
    /// The paper's §2 ε̂ form (flag: nonzero is on): `p −= (lr·√bc2/bc1)·m/(√v̂ + eps)`
    /// (0: PyTorch's `(lr/bc1)·m/(√v̂/√bc2 + eps)`).
    pub eps_hat: u8,
    /// λ in (0, 1]: step `t` uses `β1·λ^(t−1)` in the first moment, the bias
    /// correction stays `1 − β1^t` (1: no decay, as PyTorch).
    pub beta1_decay: f64,
}

/// Hyperparameters of AdaMax (see `fo_adamax_config_default`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct fo_adamax_config {
    /// Learning rate (finite, >= 0).
    pub lr: f64,
    /// β1, in [0, 1).
    pub beta1: f64,
    /// β2, in [0, 1).
    pub beta2: f64,
    /// ε (finite, >= 0); 0 gives the paper's Algorithm 2.
    pub eps: f64,
    /// L2 weight decay coefficient (finite, >= 0).
    pub weight_decay: f64,
    /// Maximize instead of minimize (flag: nonzero is on).
    pub maximize: u8,
    /// λ in (0, 1]: step `t` uses `β1·λ^(t−1)` in the first moment, the bias
    /// correction stays `1 − β1^t` (1: no decay, as PyTorch).
    pub beta1_decay: f64,
}

/// Hyperparameters of AdaGrad (see `fo_adagrad_config_default`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct fo_adagrad_config {
    /// Learning rate (finite, >= 0).
    pub lr: f64,
    /// Step `t` uses `lr/(1 + (t − 1)·lr_decay)` (finite, >= 0).
    pub lr_decay: f64,
    /// L2 weight decay coefficient (finite, >= 0).
    pub weight_decay: f64,
    /// The value the caller fills `sum` with before the first step (finite,
    /// >= 0; checked, not read by the step).
    pub initial_accumulator_value: f64,
    /// ε added to `√sum` (finite, >= 0).
    pub eps: f64,
    /// Maximize instead of minimize (flag: nonzero is on).
    pub maximize: u8,
}

/// Hyperparameters of RMSprop (see `fo_rmsprop_config_default`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct fo_rmsprop_config {
    /// Learning rate (finite, >= 0).
    pub lr: f64,
    /// Smoothing constant α, in [0, 1).
    pub alpha: f64,
    /// ε added to the root (finite, >= 0).
    pub eps: f64,
    /// L2 weight decay coefficient (finite, >= 0).
    pub weight_decay: f64,
    /// Momentum μ (finite, >= 0): above 0 the step needs a `momentum_buffer`.
    pub momentum: f64,
    /// Centered RMSprop (flag: nonzero is on): the step needs a `grad_avg` buffer.
    pub centered: u8,
    /// Maximize instead of minimize (flag: nonzero is on).
    pub maximize: u8,
}

/// Hyperparameters of AdaDelta (see `fo_adadelta_config_default`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct fo_adadelta_config {
    /// Scale of the update δ (finite, >= 0).
    pub lr: f64,
    /// Decay ρ of both running averages, in [0, 1).
    pub rho: f64,
    /// ε inside both roots (finite, >= 0).
    pub eps: f64,
    /// L2 weight decay coefficient (finite, >= 0).
    pub weight_decay: f64,
    /// Maximize instead of minimize (flag: nonzero is on).
    pub maximize: u8,
}

/// Hyperparameters of SGD with momentum, `torch.optim.SGD` (see
/// `fo_sgd_config_default`). The step number decides the first step: step 1
/// sets `momentum_buffer` to the gradient, ignoring what it held; every later
/// step decays it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct fo_sgd_config {
    /// Learning rate (finite, >= 0).
    pub lr: f64,
    /// Momentum μ (finite, >= 0): above 0 the step needs a `momentum_buffer`.
    pub momentum: f64,
    /// Dampening (finite): later steps add `(1 − dampening)·d` to `μ·b`.
    pub dampening: f64,
    /// L2 weight decay coefficient (finite, >= 0).
    pub weight_decay: f64,
    /// Nesterov momentum (flag: nonzero is on): needs `momentum > 0` and
    /// `dampening == 0`.
    pub nesterov: u8,
    /// Maximize instead of minimize (flag: nonzero is on).
    pub maximize: u8,
}

/// Hyperparameters of Lion (see `fo_lion_config_default`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct fo_lion_config {
    /// Learning rate: the size of every element's step (finite, >= 0).
    pub lr: f64,
    /// β1, in [0, 1): the interpolation whose sign is the update.
    pub beta1: f64,
    /// β2, in [0, 1): the momentum's decay.
    pub beta2: f64,
    /// Decoupled weight decay coefficient (finite, >= 0): `p *= 1 − lr·weight_decay`.
    pub weight_decay: f64,
    /// Maximize instead of minimize (flag: nonzero is on).
    pub maximize: u8,
}

impl From<AdamConfig> for fo_adam_config {
    fn from(c: AdamConfig) -> Self {
        let (weight_decay, weight_decay_mode) = match c.weight_decay {
            WeightDecay::None => (0.0, FO_WEIGHT_DECAY_NONE),
            WeightDecay::L2(wd) => (wd, FO_WEIGHT_DECAY_L2),
            WeightDecay::Decoupled(wd) => (wd, FO_WEIGHT_DECAY_DECOUPLED),
        };
        fo_adam_config {
            lr: c.lr,
            beta1: c.betas.0,
            beta2: c.betas.1,
            eps: c.eps,
            weight_decay,
            weight_decay_mode,
            amsgrad: byte(c.amsgrad),
            maximize: byte(c.maximize),
            eps_hat: byte(c.eps_form == EpsForm::Hat),
            beta1_decay: c.beta1_decay,
        }
    }
}

/// `FO_ERROR_HYPERPARAMETER` for an unknown `weight_decay_mode`.
impl TryFrom<fo_adam_config> for AdamConfig {
    type Error = fo_status;
    fn try_from(c: fo_adam_config) -> Result<Self, fo_status> {
        let weight_decay = match c.weight_decay_mode {
            FO_WEIGHT_DECAY_NONE => WeightDecay::None,
            FO_WEIGHT_DECAY_L2 => WeightDecay::L2(c.weight_decay),
            FO_WEIGHT_DECAY_DECOUPLED => WeightDecay::Decoupled(c.weight_decay),
            _ => return Err(fo_status::FO_ERROR_HYPERPARAMETER),
        };
        Ok(AdamConfig {
            lr: c.lr,
            betas: (c.beta1, c.beta2),
            eps: c.eps,
            eps_form: if flag(c.eps_hat) { EpsForm::Hat } else { EpsForm::Standard },
            weight_decay,
            amsgrad: flag(c.amsgrad),
            maximize: flag(c.maximize),
            beta1_decay: c.beta1_decay,
        })
    }
}

impl From<AdaMaxConfig> for fo_adamax_config {
    fn from(c: AdaMaxConfig) -> Self {
        let AdaMaxConfig { lr, betas: (beta1, beta2), eps, weight_decay, maximize, beta1_decay } = c;
        fo_adamax_config { lr, beta1, beta2, eps, weight_decay, maximize: byte(maximize), beta1_decay }
    }
}

impl From<fo_adamax_config> for AdaMaxConfig {
    fn from(c: fo_adamax_config) -> Self {
        let fo_adamax_config { lr, beta1, beta2, eps, weight_decay, maximize, beta1_decay } = c;
        AdaMaxConfig { lr, betas: (beta1, beta2), eps, weight_decay, maximize: flag(maximize), beta1_decay }
    }
}

impl From<AdaGradConfig> for fo_adagrad_config {
    fn from(c: AdaGradConfig) -> Self {
        let AdaGradConfig { lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize } = c;
        let maximize = byte(maximize);
        fo_adagrad_config { lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize }
    }
}

impl From<fo_adagrad_config> for AdaGradConfig {
    fn from(c: fo_adagrad_config) -> Self {
        let fo_adagrad_config { lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize } = c;
        let maximize = flag(maximize);
        AdaGradConfig { lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize }
    }
}

impl From<RmsPropConfig> for fo_rmsprop_config {
    fn from(c: RmsPropConfig) -> Self {
        let RmsPropConfig { lr, alpha, eps, weight_decay, momentum, centered, maximize } = c;
        let (centered, maximize) = (byte(centered), byte(maximize));
        fo_rmsprop_config { lr, alpha, eps, weight_decay, momentum, centered, maximize }
    }
}

impl From<fo_rmsprop_config> for RmsPropConfig {
    fn from(c: fo_rmsprop_config) -> Self {
        let fo_rmsprop_config { lr, alpha, eps, weight_decay, momentum, centered, maximize } = c;
        let (centered, maximize) = (flag(centered), flag(maximize));
        RmsPropConfig { lr, alpha, eps, weight_decay, momentum, centered, maximize }
    }
}

impl From<AdaDeltaConfig> for fo_adadelta_config {
    fn from(c: AdaDeltaConfig) -> Self {
        let AdaDeltaConfig { lr, rho, eps, weight_decay, maximize } = c;
        fo_adadelta_config { lr, rho, eps, weight_decay, maximize: byte(maximize) }
    }
}

impl From<fo_adadelta_config> for AdaDeltaConfig {
    fn from(c: fo_adadelta_config) -> Self {
        let fo_adadelta_config { lr, rho, eps, weight_decay, maximize } = c;
        AdaDeltaConfig { lr, rho, eps, weight_decay, maximize: flag(maximize) }
    }
}

impl From<SgdConfig> for fo_sgd_config {
    fn from(c: SgdConfig) -> Self {
        let SgdConfig { lr, momentum, dampening, weight_decay, nesterov, maximize } = c;
        let (nesterov, maximize) = (byte(nesterov), byte(maximize));
        fo_sgd_config { lr, momentum, dampening, weight_decay, nesterov, maximize }
    }
}

impl From<fo_sgd_config> for SgdConfig {
    fn from(c: fo_sgd_config) -> Self {
        let fo_sgd_config { lr, momentum, dampening, weight_decay, nesterov, maximize } = c;
        let (nesterov, maximize) = (flag(nesterov), flag(maximize));
        SgdConfig { lr, momentum, dampening, weight_decay, nesterov, maximize }
    }
}

impl From<LionConfig> for fo_lion_config {
    fn from(c: LionConfig) -> Self {
        let LionConfig { lr, betas: (beta1, beta2), weight_decay, maximize } = c;
        fo_lion_config { lr, beta1, beta2, weight_decay, maximize: byte(maximize) }
    }
}

impl From<fo_lion_config> for LionConfig {
    fn from(c: fo_lion_config) -> Self {
        let fo_lion_config { lr, beta1, beta2, weight_decay, maximize } = c;
        LionConfig { lr, betas: (beta1, beta2), weight_decay, maximize: flag(maximize) }
    }
}

/// Each C config converts to the Rust config of its algorithm.
impl Config for fo_adam_config {
    type Algorithm = AdamConfig;
}

impl Config for fo_adamax_config {
    type Algorithm = AdaMaxConfig;
}

impl Config for fo_adagrad_config {
    type Algorithm = AdaGradConfig;
}

impl Config for fo_rmsprop_config {
    type Algorithm = RmsPropConfig;
}

impl Config for fo_adadelta_config {
    type Algorithm = AdaDeltaConfig;
}

impl Config for fo_sgd_config {
    type Algorithm = SgdConfig;
}

impl Config for fo_lion_config {
    type Algorithm = LionConfig;
}

/// PyTorch's `Adam` defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no
/// weight decay, ε in PyTorch's place, no β1 decay.
#[unsafe(no_mangle)]
pub extern "C" fn fo_adam_config_default() -> fo_adam_config {
    AdamConfig::default().into()
}

/// PyTorch's `AdamW` defaults: Adam's, with decoupled weight decay 1e-2.
#[unsafe(no_mangle)]
pub extern "C" fn fo_adamw_config_default() -> fo_adam_config {
    AdamConfig::adamw().into()
}

/// PyTorch's `Adamax` defaults: lr 2e-3, betas (0.9, 0.999), eps 1e-8, no
/// weight decay, no β1 decay.
#[unsafe(no_mangle)]
pub extern "C" fn fo_adamax_config_default() -> fo_adamax_config {
    AdaMaxConfig::default().into()
}

/// PyTorch's `Adagrad` defaults: lr 1e-2, lr_decay 0, no weight decay,
/// initial_accumulator_value 0, eps 1e-10.
#[unsafe(no_mangle)]
pub extern "C" fn fo_adagrad_config_default() -> fo_adagrad_config {
    AdaGradConfig::default().into()
}

/// PyTorch's `RMSprop` defaults: lr 1e-2, alpha 0.99, eps 1e-8, no weight
/// decay, no momentum, not centered.
#[unsafe(no_mangle)]
pub extern "C" fn fo_rmsprop_config_default() -> fo_rmsprop_config {
    RmsPropConfig::default().into()
}

/// PyTorch's `Adadelta` defaults: lr 1.0, rho 0.9, eps 1e-6, no weight decay.
#[unsafe(no_mangle)]
pub extern "C" fn fo_adadelta_config_default() -> fo_adadelta_config {
    AdaDeltaConfig::default().into()
}

/// PyTorch's `SGD` defaults: lr 1e-3, no momentum, no dampening, no weight
/// decay, not Nesterov.
#[unsafe(no_mangle)]
pub extern "C" fn fo_sgd_config_default() -> fo_sgd_config {
    SgdConfig::default().into()
}

/// lion-pytorch's `Lion` defaults: lr 1e-4, betas (0.9, 0.99), no weight decay.
#[unsafe(no_mangle)]
pub extern "C" fn fo_lion_config_default() -> fo_lion_config {
    LionConfig::default().into()
}
