//! The owning optimizer: state and step count held for Rust users.
//!
//! [`Optimizer`] is one generic type for every algorithm: the algorithm's
//! hyperparameter type ([`AdamConfig`], [`AdaGradConfig`], …, each an
//! [`Algorithm`]) says which state it owns and which kernel it runs. [`Adam`],
//! [`AdaMax`], [`AdaGrad`], [`RmsProp`], [`AdaDelta`], [`Sgd`] and [`Lion`] are the aliases
//! users name.

use crate::algorithms::{
    AdaDeltaConfig, AdaGradConfig, AdaMaxConfig, AdamConfig, Algorithm, LionConfig, RmsPropConfig, SgdConfig,
    adapt_state, missing_state, new_state,
};
use crate::clip::{ClipGradNorm, ClipReport, step_clipped};
use crate::parallel::Parallelism;
use crate::schedule::LrSchedule;
use crate::step::step;
use crate::{Error, Float};

/// An optimizer that owns its state and counts its steps.
///
/// ```
/// use fused_optim::{Adam, AdamConfig};
/// let mut opt = Adam::<f32>::new(AdamConfig::adamw(), 4)?;
/// let mut weights = vec![0.5f32; 4];
/// for _ in 0..3 {
///     let grad: Vec<f32> = weights.iter().map(|w| 2.0 * w).collect(); // d/dw of w²
///     opt.step(&mut weights, &grad)?;
/// }
/// assert_eq!(opt.steps(), 3);
/// assert!(weights.iter().all(|&w| w < 0.5));
/// # Ok::<(), fused_optim::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Optimizer<A: Algorithm, T: Float> {
    // Crate-visible for `checkpoint::load`, which builds one from checked parts.
    pub(crate) config: A,
    pub(crate) state: A::State<T>,
    pub(crate) len: usize,
    pub(crate) steps: u64,
    pub(crate) parallelism: Parallelism,
    pub(crate) lr_schedule: LrSchedule,
    pub(crate) clip: Option<ClipGradNorm>,
    pub(crate) last_clip: Option<ClipReport>,
}

/// Adam / AdamW / AMSGrad owning its state.
pub type Adam<T> = Optimizer<AdamConfig, T>;
/// AdaMax owning its state.
pub type AdaMax<T> = Optimizer<AdaMaxConfig, T>;
/// AdaGrad owning its state.
pub type AdaGrad<T> = Optimizer<AdaGradConfig, T>;
/// RMSprop owning its state.
pub type RmsProp<T> = Optimizer<RmsPropConfig, T>;
/// AdaDelta owning its state.
pub type AdaDelta<T> = Optimizer<AdaDeltaConfig, T>;
/// SGD with momentum owning its state (its step count makes the first
/// [`step`](Optimizer::step) PyTorch's first, which sets the momentum buffer).
pub type Sgd<T> = Optimizer<SgdConfig, T>;
/// Lion owning its state.
pub type Lion<T> = Optimizer<LionConfig, T>;

impl<A: Algorithm, T: Float> Optimizer<A, T> {
    /// An optimizer for `len` parameters, with fresh state; no step taken yet.
    ///
    /// # Panics
    /// If the state (`len` elements per buffer) cannot be allocated, as `vec!` does.
    pub fn new(config: A, len: usize) -> Result<Self, Error> {
        config.validate()?;
        let state = new_state(&config, len)?;
        Ok(Optimizer {
            config,
            state,
            len,
            steps: 0,
            parallelism: Parallelism::default(),
            lr_schedule: LrSchedule::Constant,
            clip: None,
            last_clip: None,
        })
    }

    /// Sets the threads the steps may use (default: [`Parallelism::Global`]).
    pub fn with_parallelism(mut self, parallelism: Parallelism) -> Self {
        self.parallelism = parallelism;
        self
    }

    /// Sets the learning-rate schedule (default: [`LrSchedule::Constant`]).
    /// Step `t` then runs with `lr = schedule.lr_at(config().lr(), t)`.
    ///
    /// ```
    /// use fused_optim::{Adam, AdamConfig, LrSchedule};
    /// let config = AdamConfig { lr: 0.1, beta1_decay: 1.0 - 1e-8, ..AdamConfig::default() };
    /// let mut opt = Adam::<f64>::new(config, 1)?.with_lr_schedule(LrSchedule::InverseSqrt);
    /// let mut x = vec![1.0f64];
    /// for _ in 0..4 {
    ///     opt.step(&mut x, &[1.0])?;
    /// }
    /// assert!((x[0] - (1.0 - 0.1 * (1.0 + 0.5f64.sqrt() + (1.0f64 / 3.0).sqrt() + 0.5))).abs() < 1e-6);
    /// # Ok::<(), fused_optim::Error>(())
    /// ```
    pub fn with_lr_schedule(mut self, schedule: LrSchedule) -> Self {
        self.lr_schedule = schedule;
        self
    }

    /// Changes the learning-rate schedule.
    pub fn set_lr_schedule(&mut self, schedule: LrSchedule) {
        self.lr_schedule = schedule;
    }

    /// The learning-rate schedule.
    pub fn lr_schedule(&self) -> LrSchedule {
        self.lr_schedule
    }

    /// Clips every step's gradient by its norm first (see [`crate::clip`]),
    /// or, with `None`, stops clipping. The setting is not part of a
    /// checkpoint (as the parallelism is not).
    ///
    /// ```
    /// use fused_optim::{ClipGradNorm, Adam, AdamConfig};
    /// let mut opt = Adam::<f32>::new(AdamConfig::default(), 2)?.with_clip(Some(ClipGradNorm::new(1.0)));
    /// let mut x = vec![1.0f32, 1.0];
    /// opt.step(&mut x, &[30.0, 40.0])?;
    /// let report = opt.last_clip().unwrap();
    /// assert_eq!(report.norm, 50.0);
    /// assert!((report.coefficient - 0.02).abs() < 1e-9 && !report.skipped);
    /// # Ok::<(), fused_optim::Error>(())
    /// ```
    pub fn set_clip(&mut self, clip: Option<ClipGradNorm>) -> Result<(), Error> {
        if let Some(c) = &clip {
            c.validate()?;
        }
        self.clip = clip;
        Ok(())
    }

    /// [`set_clip`](Self::set_clip) as a builder.
    ///
    /// # Panics
    /// If the clip's `max_norm` is refused ([`ClipGradNorm::validate`]).
    pub fn with_clip(mut self, clip: Option<ClipGradNorm>) -> Self {
        if let Err(e) = self.set_clip(clip) {
            panic!("{e}");
        }
        self
    }

    /// The clipping the steps apply, if any.
    pub fn clip(&self) -> Option<&ClipGradNorm> {
        self.clip.as_ref()
    }

    /// What the last successful step's clipping found (`None` before the
    /// first clipped step, and after a step without clipping).
    pub fn last_clip(&self) -> Option<ClipReport> {
        self.last_clip
    }

    /// One step: the step number becomes `steps() + 1`. On error nothing is
    /// written and the step count is unchanged. With clipping
    /// ([`set_clip`](Self::set_clip)), the gradient is clipped by its norm
    /// first; a step that clipping skips (a non-finite norm with
    /// [`NonFinite::Skip`](crate::NonFinite::Skip)) writes nothing and does
    /// not count.
    pub fn step(&mut self, param: &mut [T], grad: &[T]) -> Result<(), Error> {
        let t = self.steps.checked_add(1).ok_or(Error::StepCountOverflow)?;
        let config = match self.lr_schedule {
            LrSchedule::Constant => self.config.clone(),
            schedule => self.config.with_lr(schedule.lr_at(self.config.lr(), t)),
        };
        let buffers =
            A::buffers(param, grad, A::slots(A::view_mut(&mut self.state))).ok_or_else(missing_state::<A>)?;
        match &self.clip {
            Some(clip) => {
                let report = step_clipped(&config, t, clip, buffers, &self.parallelism)?;
                self.last_clip = Some(report);
                if report.skipped {
                    return Ok(());
                }
            }
            None => {
                step(&config, t, buffers, &self.parallelism)?;
                self.last_clip = None;
            }
        }
        self.steps = t;
        Ok(())
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Sets the step count (to resume from a checkpoint).
    pub fn set_steps(&mut self, steps: u64) {
        self.steps = steps;
    }

    /// The hyperparameters.
    pub fn config(&self) -> &A {
        &self.config
    }

    /// Replaces the hyperparameters (a learning-rate schedule, say) after
    /// checking them; state the new options need is added, zeroed.
    pub fn set_config(&mut self, config: A) -> Result<(), Error> {
        config.validate()?;
        adapt_state(&config, &mut self.state, self.len)?;
        self.config = config;
        Ok(())
    }

    /// State bytes per parameter: the state buffers the config keeps times
    /// the element's bytes (Adam in `f32`: 8, with AMSGrad 12; in `f64`: 16).
    /// For `f32`, [`state_bytes_per_param`](crate::mixed::state_bytes_per_param)
    /// with [`StateFormat::F32`](crate::mixed::StateFormat::F32).
    ///
    /// ```
    /// use fused_optim::{Adam, AdamConfig};
    /// assert_eq!(Adam::<f32>::new(AdamConfig::adamw(), 4)?.state_bytes_per_param(), 8.0);
    /// # Ok::<(), fused_optim::Error>(())
    /// ```
    pub fn state_bytes_per_param(&self) -> f64 {
        let kept = (0..A::STATE.len()).filter(|&i| self.config.keeps(i)).count();
        (kept * T::BYTES) as f64
    }

    /// The state.
    pub fn state(&self) -> &A::State<T> {
        &self.state
    }

    /// The state's buffers as slices, to fill from elsewhere (another
    /// framework's `state_dict`, say). The values are the caller's to change;
    /// the buffers' lengths and which buffers exist are not: they follow
    /// [`len`](Self::len) and the config ([`set_config`](Self::set_config)
    /// adds and drops optional buffers), so a step or a [`save`](Self::save)
    /// always sees the state its config needs.
    ///
    /// ```
    /// use fused_optim::{Adam, AdamConfig};
    /// let mut opt = Adam::<f32>::new(AdamConfig { amsgrad: true, ..AdamConfig::default() }, 3)?;
    /// let state = opt.state_mut();
    /// state.exp_avg.copy_from_slice(&[0.1, 0.2, 0.3]);
    /// state.exp_avg_sq.fill(0.01);
    /// state.max_exp_avg_sq.unwrap().fill(0.02);
    /// assert_eq!(opt.state().exp_avg, [0.1, 0.2, 0.3]);
    /// # Ok::<(), fused_optim::Error>(())
    /// ```
    ///
    /// A length cannot change through the view:
    ///
    /// ```compile_fail,E0599
    /// # use fused_optim::{Adam, AdamConfig};
    /// let mut opt = Adam::<f32>::new(AdamConfig::default(), 3)?;
    /// opt.state_mut().exp_avg.pop(); // a slice has no `pop`
    /// # Ok::<(), fused_optim::Error>(())
    /// ```
    ///
    /// nor can the state be swapped for one of another shape:
    ///
    /// ```compile_fail,E0614
    /// # use fused_optim::{Adam, AdamConfig, new_state};
    /// let mut opt = Adam::<f32>::new(AdamConfig::default(), 3)?;
    /// let other = new_state::<AdamConfig, f32>(&AdamConfig { amsgrad: true, ..AdamConfig::default() }, 4)?;
    /// *opt.state_mut() = other; // the view is not the state
    /// # Ok::<(), fused_optim::Error>(())
    /// ```
    pub fn state_mut(&mut self) -> A::StateMut<'_, T> {
        A::view_mut(&mut self.state)
    }

    /// The threads the steps may use.
    pub fn parallelism(&self) -> &Parallelism {
        &self.parallelism
    }

    /// Number of parameters the state is for.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an optimizer of no parameters.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}
