//! Learning-rate schedules: the per-step learning rate, from the configured
//! one and the step number.
//!
//! Kingma & Ba's convergence analysis (§4) uses the step size `α_t = α/√t`
//! (and a decaying `β1,t = β1·λ^(t−1)`, which is the `beta1_decay` field of
//! [`AdamConfig`](crate::AdamConfig) and [`AdaMaxConfig`](crate::AdaMaxConfig),
//! since it changes the first moment, not only the step). A schedule never
//! touches a kernel: it changes the `lr` the per-step scalars are computed
//! from, in `f64`, before they are rounded.
//!
//! Every optimizer takes one: [`Optimizer::with_lr_schedule`](crate::Optimizer::with_lr_schedule).
//! The stateless steps take their hyperparameters per call, so a caller with
//! its own schedule sets `config.lr` before each call, with
//! [`LrSchedule::lr_at`] or anything else:
//!
//! ```
//! use fused_optim::{adam_step, AdamBuffers, AdamConfig, LrSchedule, Parallelism};
//! let base = AdamConfig { lr: 0.1, ..AdamConfig::default() };
//! let (mut p, g, mut m, mut v) = (vec![1.0f32; 3], vec![0.5f32; 3], vec![0.0f32; 3], vec![0.0f32; 3]);
//! for t in 1..=4 {
//!     let config = AdamConfig { lr: LrSchedule::InverseSqrt.lr_at(base.lr, t), ..base };
//!     let b = AdamBuffers { param: &mut p, grad: &g, exp_avg: &mut m, exp_avg_sq: &mut v, max_exp_avg_sq: None };
//!     adam_step(&config, t, b, &Parallelism::Serial)?;
//! }
//! // A constant gradient moves Adam by about lr_t per step: 0.1·(1 + 1/√2 + 1/√3 + 1/2).
//! assert!((p[0] - (1.0 - 0.1 * (1.0 + 0.5f32.sqrt() + (1.0f32 / 3.0).sqrt() + 0.5))).abs() < 1e-4);
//! # Ok::<(), fused_optim::Error>(())
//! ```

/// How the learning rate changes with the step number `t` (first step: 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LrSchedule {
    /// `lr_t = lr`.
    #[default]
    Constant,
    /// `lr_t = lr/√t`, the step size of the paper's convergence analysis.
    InverseSqrt,
}

impl LrSchedule {
    /// The learning rate of step `t`, in `f64` (`t = 0` is treated as 1).
    pub fn lr_at(self, lr: f64, t: u64) -> f64 {
        match self {
            LrSchedule::Constant => lr,
            LrSchedule::InverseSqrt => lr / (t.max(1) as f64).sqrt(),
        }
    }
}
