//! The owning optimizer: state and step count held for Rust users.
//!
//! [`Optimizer`] is one generic type for every algorithm: the algorithm's
//! hyperparameter type ([`AdamConfig`], [`AdaGradConfig`], …) says which
//! state it owns and which stateless step it calls. [`Adam`], [`AdaMax`],
//! [`AdaGrad`], [`RmsProp`] and [`AdaDelta`] are the aliases users name.

use crate::adadelta::{AdaDeltaConfig, adadelta_step};
use crate::adagrad::{AdaGradConfig, adagrad_step};
use crate::adam::{AdamConfig, adam_step};
use crate::adamax::{AdaMaxConfig, adamax_step};
use crate::rmsprop::{RmsPropConfig, rmsprop_step};
use crate::{Error, Float, LrSchedule, Parallelism};
use fused_optim_kernels::{AdaDeltaBuffers, AdaGradBuffers, AdaMaxBuffers, AdamBuffers, RmsPropBuffers};

/// An algorithm's hyperparameters, as the owning [`Optimizer`] drives them.
pub trait Algorithm: Clone + core::fmt::Debug {
    /// The per-element state the algorithm keeps between steps.
    type State<T: Float>: Clone + core::fmt::Debug;

    /// A mutable view of the state that lends each buffer as a slice, so that
    /// whoever holds it can change the values but neither a buffer's length
    /// nor which buffers there are ([`Optimizer::state_mut`] hands it out).
    type StateMut<'a, T: Float + 'a>;

    /// The view of `state` that [`Optimizer::state_mut`] hands out.
    fn view_mut<'a, T: Float + 'a>(state: &'a mut Self::State<T>) -> Self::StateMut<'a, T>;

    /// Checks every hyperparameter.
    fn validate(&self) -> Result<(), Error>;

    /// The learning rate.
    fn lr(&self) -> f64;

    /// The same hyperparameters with another learning rate (a schedule's).
    fn with_lr(&self, lr: f64) -> Self;

    /// Fresh state for `len` parameters (PyTorch's initial values), or an
    /// error if an initial value does not fit `T`.
    fn new_state<T: Float>(&self, len: usize) -> Result<Self::State<T>, Error>;

    /// Brings existing state in line with changed options (e.g. AMSGrad
    /// switched on). Nothing to do for algorithms without optional state.
    fn adapt_state<T: Float>(&self, _state: &mut Self::State<T>, _len: usize) {}

    /// One step `t` over the parameter, its gradient and the state.
    fn step<T: Float>(
        &self,
        t: u64,
        param: &mut [T],
        grad: &[T],
        state: &mut Self::State<T>,
        parallelism: &Parallelism,
    ) -> Result<(), Error>;
}

/// An optional state buffer follows its option: added, zeroed, when the
/// option comes on; dropped when it goes off; kept otherwise.
fn optional_state<T: Float>(on: bool, buffer: &mut Option<Vec<T>>, len: usize) {
    match (on, buffer.is_some()) {
        (true, false) => *buffer = Some(vec![T::ZERO; len]),
        (false, true) => *buffer = None,
        _ => {}
    }
}

/// `lr` and `with_lr` for a config whose learning rate is its `lr` field.
macro_rules! lr_accessors {
    () => {
        fn lr(&self) -> f64 {
            self.lr
        }
        fn with_lr(&self, lr: f64) -> Self {
            Self { lr, ..*self }
        }
    };
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

/// [`AdamState`]'s buffers, lent as slices ([`Optimizer::state_mut`]).
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

impl Algorithm for AdamConfig {
    type State<T: Float> = AdamState<T>;
    type StateMut<'a, T: Float + 'a> = AdamStateMut<'a, T>;

    fn view_mut<'a, T: Float + 'a>(s: &'a mut AdamState<T>) -> AdamStateMut<'a, T> {
        AdamStateMut {
            exp_avg: &mut s.exp_avg,
            exp_avg_sq: &mut s.exp_avg_sq,
            max_exp_avg_sq: s.max_exp_avg_sq.as_deref_mut(),
        }
    }

    fn validate(&self) -> Result<(), Error> {
        AdamConfig::validate(self)
    }

    lr_accessors!();

    fn new_state<T: Float>(&self, len: usize) -> Result<AdamState<T>, Error> {
        let mut state =
            AdamState { exp_avg: vec![T::ZERO; len], exp_avg_sq: vec![T::ZERO; len], max_exp_avg_sq: None };
        self.adapt_state(&mut state, len);
        Ok(state)
    }

    fn adapt_state<T: Float>(&self, state: &mut AdamState<T>, len: usize) {
        optional_state(self.amsgrad, &mut state.max_exp_avg_sq, len);
    }

    fn step<T: Float>(
        &self,
        t: u64,
        param: &mut [T],
        grad: &[T],
        state: &mut AdamState<T>,
        parallelism: &Parallelism,
    ) -> Result<(), Error> {
        let buffers = AdamBuffers {
            param,
            grad,
            exp_avg: &mut state.exp_avg,
            exp_avg_sq: &mut state.exp_avg_sq,
            max_exp_avg_sq: state.max_exp_avg_sq.as_deref_mut(),
        };
        adam_step(self, t, buffers, parallelism)
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

/// [`AdaMaxState`]'s buffers, lent as slices ([`Optimizer::state_mut`]).
#[derive(Debug)]
pub struct AdaMaxStateMut<'a, T> {
    /// First moment m (`exp_avg` in PyTorch).
    pub exp_avg: &'a mut [T],
    /// Exponentially weighted infinity norm u (`exp_inf`).
    pub exp_inf: &'a mut [T],
}

impl Algorithm for AdaMaxConfig {
    type State<T: Float> = AdaMaxState<T>;
    type StateMut<'a, T: Float + 'a> = AdaMaxStateMut<'a, T>;

    fn view_mut<'a, T: Float + 'a>(s: &'a mut AdaMaxState<T>) -> AdaMaxStateMut<'a, T> {
        AdaMaxStateMut { exp_avg: &mut s.exp_avg, exp_inf: &mut s.exp_inf }
    }

    fn validate(&self) -> Result<(), Error> {
        AdaMaxConfig::validate(self)
    }

    lr_accessors!();

    fn new_state<T: Float>(&self, len: usize) -> Result<AdaMaxState<T>, Error> {
        Ok(AdaMaxState { exp_avg: vec![T::ZERO; len], exp_inf: vec![T::ZERO; len] })
    }

    fn step<T: Float>(
        &self,
        t: u64,
        param: &mut [T],
        grad: &[T],
        state: &mut AdaMaxState<T>,
        parallelism: &Parallelism,
    ) -> Result<(), Error> {
        let buffers = AdaMaxBuffers { param, grad, exp_avg: &mut state.exp_avg, exp_inf: &mut state.exp_inf };
        adamax_step(self, t, buffers, parallelism)
    }
}

/// AdaGrad's state: the sum of squared gradients.
#[derive(Clone, Debug, PartialEq)]
pub struct AdaGradState<T> {
    /// Sum of squared gradients s (`sum` in PyTorch), starting at `initial_accumulator_value`.
    pub sum: Vec<T>,
}

/// [`AdaGradState`]'s buffer, lent as a slice ([`Optimizer::state_mut`]).
#[derive(Debug)]
pub struct AdaGradStateMut<'a, T> {
    /// Sum of squared gradients s (`sum` in PyTorch).
    pub sum: &'a mut [T],
}

impl Algorithm for AdaGradConfig {
    type State<T: Float> = AdaGradState<T>;
    type StateMut<'a, T: Float + 'a> = AdaGradStateMut<'a, T>;

    fn view_mut<'a, T: Float + 'a>(s: &'a mut AdaGradState<T>) -> AdaGradStateMut<'a, T> {
        AdaGradStateMut { sum: &mut s.sum }
    }

    fn validate(&self) -> Result<(), Error> {
        AdaGradConfig::validate(self)
    }

    lr_accessors!();

    fn new_state<T: Float>(&self, len: usize) -> Result<AdaGradState<T>, Error> {
        Ok(AdaGradState { sum: vec![self.initial_sum::<T>()?; len] })
    }

    fn step<T: Float>(
        &self,
        t: u64,
        param: &mut [T],
        grad: &[T],
        state: &mut AdaGradState<T>,
        parallelism: &Parallelism,
    ) -> Result<(), Error> {
        adagrad_step(self, t, AdaGradBuffers { param, grad, sum: &mut state.sum }, parallelism)
    }
}

/// RMSprop's state: the mean square and, with their options, the momentum
/// buffer and the mean gradient.
#[derive(Clone, Debug, PartialEq)]
pub struct RmsPropState<T> {
    /// Running average of squared gradients v (`square_avg` in PyTorch).
    pub square_avg: Vec<T>,
    /// Momentum buffer (`momentum_buffer`), with momentum > 0 only.
    pub momentum_buffer: Option<Vec<T>>,
    /// Running average of gradients (`grad_avg`), when centered only.
    pub grad_avg: Option<Vec<T>>,
}

/// [`RmsPropState`]'s buffers, lent as slices ([`Optimizer::state_mut`]).
///
/// Replacing a field of the view changes the view, not the optimizer.
#[derive(Debug)]
pub struct RmsPropStateMut<'a, T> {
    /// Running average of squared gradients v (`square_avg` in PyTorch).
    pub square_avg: &'a mut [T],
    /// Momentum buffer (`momentum_buffer`), with momentum > 0 only.
    pub momentum_buffer: Option<&'a mut [T]>,
    /// Running average of gradients (`grad_avg`), when centered only.
    pub grad_avg: Option<&'a mut [T]>,
}

impl Algorithm for RmsPropConfig {
    type State<T: Float> = RmsPropState<T>;
    type StateMut<'a, T: Float + 'a> = RmsPropStateMut<'a, T>;

    fn view_mut<'a, T: Float + 'a>(s: &'a mut RmsPropState<T>) -> RmsPropStateMut<'a, T> {
        RmsPropStateMut {
            square_avg: &mut s.square_avg,
            momentum_buffer: s.momentum_buffer.as_deref_mut(),
            grad_avg: s.grad_avg.as_deref_mut(),
        }
    }

    fn validate(&self) -> Result<(), Error> {
        RmsPropConfig::validate(self)
    }

    lr_accessors!();

    fn new_state<T: Float>(&self, len: usize) -> Result<RmsPropState<T>, Error> {
        let mut state =
            RmsPropState { square_avg: vec![T::ZERO; len], momentum_buffer: None, grad_avg: None };
        self.adapt_state(&mut state, len);
        Ok(state)
    }

    fn adapt_state<T: Float>(&self, state: &mut RmsPropState<T>, len: usize) {
        optional_state(self.momentum > 0.0, &mut state.momentum_buffer, len);
        optional_state(self.centered, &mut state.grad_avg, len);
    }

    fn step<T: Float>(
        &self,
        t: u64,
        param: &mut [T],
        grad: &[T],
        state: &mut RmsPropState<T>,
        parallelism: &Parallelism,
    ) -> Result<(), Error> {
        let buffers = RmsPropBuffers {
            param,
            grad,
            square_avg: &mut state.square_avg,
            momentum_buffer: state.momentum_buffer.as_deref_mut(),
            grad_avg: state.grad_avg.as_deref_mut(),
        };
        rmsprop_step(self, t, buffers, parallelism)
    }
}

/// AdaDelta's state: the running averages of squared gradients and updates.
#[derive(Clone, Debug, PartialEq)]
pub struct AdaDeltaState<T> {
    /// Running average of squared gradients (`square_avg` in PyTorch).
    pub square_avg: Vec<T>,
    /// Running average of squared updates (`acc_delta`).
    pub acc_delta: Vec<T>,
}

/// [`AdaDeltaState`]'s buffers, lent as slices ([`Optimizer::state_mut`]).
#[derive(Debug)]
pub struct AdaDeltaStateMut<'a, T> {
    /// Running average of squared gradients (`square_avg` in PyTorch).
    pub square_avg: &'a mut [T],
    /// Running average of squared updates (`acc_delta`).
    pub acc_delta: &'a mut [T],
}

impl Algorithm for AdaDeltaConfig {
    type State<T: Float> = AdaDeltaState<T>;
    type StateMut<'a, T: Float + 'a> = AdaDeltaStateMut<'a, T>;

    fn view_mut<'a, T: Float + 'a>(s: &'a mut AdaDeltaState<T>) -> AdaDeltaStateMut<'a, T> {
        AdaDeltaStateMut { square_avg: &mut s.square_avg, acc_delta: &mut s.acc_delta }
    }

    fn validate(&self) -> Result<(), Error> {
        AdaDeltaConfig::validate(self)
    }

    lr_accessors!();

    fn new_state<T: Float>(&self, len: usize) -> Result<AdaDeltaState<T>, Error> {
        Ok(AdaDeltaState { square_avg: vec![T::ZERO; len], acc_delta: vec![T::ZERO; len] })
    }

    fn step<T: Float>(
        &self,
        t: u64,
        param: &mut [T],
        grad: &[T],
        state: &mut AdaDeltaState<T>,
        parallelism: &Parallelism,
    ) -> Result<(), Error> {
        let buffers = AdaDeltaBuffers {
            param,
            grad,
            square_avg: &mut state.square_avg,
            acc_delta: &mut state.acc_delta,
        };
        adadelta_step(self, t, buffers, parallelism)
    }
}

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
    config: A,
    state: A::State<T>,
    len: usize,
    steps: u64,
    parallelism: Parallelism,
    lr_schedule: LrSchedule,
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

impl<A: Algorithm, T: Float> Optimizer<A, T> {
    /// An optimizer for `len` parameters, with fresh state; no step taken yet.
    ///
    /// # Panics
    /// If the state (`len` elements per buffer) cannot be allocated, as `vec!` does.
    pub fn new(config: A, len: usize) -> Result<Self, Error> {
        config.validate()?;
        let state = config.new_state(len)?;
        Ok(Optimizer {
            config,
            state,
            len,
            steps: 0,
            parallelism: Parallelism::default(),
            lr_schedule: LrSchedule::Constant,
        })
    }

    /// An optimizer from validated parts (a loaded checkpoint).
    pub(crate) fn from_parts(
        config: A,
        state: A::State<T>,
        len: usize,
        steps: u64,
        parallelism: Parallelism,
        lr_schedule: LrSchedule,
    ) -> Self {
        Optimizer { config, state, len, steps, parallelism, lr_schedule }
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

    /// One step: the step number becomes `steps() + 1`. On error nothing is
    /// written and the step count is unchanged.
    pub fn step(&mut self, param: &mut [T], grad: &[T]) -> Result<(), Error> {
        let t = self.steps.checked_add(1).ok_or(Error::StepCountOverflow)?;
        let config = match self.lr_schedule {
            LrSchedule::Constant => self.config.clone(),
            schedule => self.config.with_lr(schedule.lr_at(self.config.lr(), t)),
        };
        config.step(t, param, grad, &mut self.state, &self.parallelism)?;
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
        config.adapt_state(&mut self.state, self.len);
        self.config = config;
        Ok(())
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
    /// # use fused_optim::{Adam, AdamConfig, Algorithm};
    /// let mut opt = Adam::<f32>::new(AdamConfig::default(), 3)?;
    /// let other = AdamConfig { amsgrad: true, ..AdamConfig::default() }.new_state::<f32>(4)?;
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
