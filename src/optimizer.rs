//! The owning optimizer: state and step count held for Rust users.
//!
//! [`Optimizer`] is one generic type for every algorithm: the algorithm's
//! hyperparameter type ([`AdamConfig`], [`AdaMaxConfig`]) says which state it
//! owns and which stateless step it calls. [`Adam`] and [`AdaMax`] are the
//! aliases users name.

use crate::adam::{AdamConfig, adam_step};
use crate::adamax::{AdaMaxConfig, adamax_step};
use crate::{Error, Float, Parallelism};
use fused_optim_kernels::{AdaMaxBuffers, AdamBuffers};

/// An algorithm's hyperparameters, as the owning [`Optimizer`] drives them.
pub trait Algorithm: Clone + core::fmt::Debug {
    /// The per-element state the algorithm keeps between steps.
    type State<T: Float>: Clone + core::fmt::Debug;

    /// Checks every hyperparameter.
    fn validate(&self) -> Result<(), Error>;

    /// Fresh state for `len` parameters (PyTorch's initial values).
    fn new_state<T: Float>(&self, len: usize) -> Self::State<T>;

    /// Brings existing state in line with changed options (e.g. AMSGrad switched on).
    fn adapt_state<T: Float>(&self, state: &mut Self::State<T>, len: usize);

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

impl Algorithm for AdamConfig {
    type State<T: Float> = AdamState<T>;

    fn validate(&self) -> Result<(), Error> {
        AdamConfig::validate(self)
    }

    fn new_state<T: Float>(&self, len: usize) -> AdamState<T> {
        let mut state =
            AdamState { exp_avg: vec![T::ZERO; len], exp_avg_sq: vec![T::ZERO; len], max_exp_avg_sq: None };
        self.adapt_state(&mut state, len);
        state
    }

    fn adapt_state<T: Float>(&self, state: &mut AdamState<T>, len: usize) {
        match (self.amsgrad, &state.max_exp_avg_sq) {
            (true, None) => state.max_exp_avg_sq = Some(vec![T::ZERO; len]),
            (false, Some(_)) => state.max_exp_avg_sq = None,
            _ => {}
        }
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

impl Algorithm for AdaMaxConfig {
    type State<T: Float> = AdaMaxState<T>;

    fn validate(&self) -> Result<(), Error> {
        AdaMaxConfig::validate(self)
    }

    fn new_state<T: Float>(&self, len: usize) -> AdaMaxState<T> {
        AdaMaxState { exp_avg: vec![T::ZERO; len], exp_inf: vec![T::ZERO; len] }
    }

    fn adapt_state<T: Float>(&self, _state: &mut AdaMaxState<T>, _len: usize) {}

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
}

/// Adam / AdamW / AMSGrad owning its state.
pub type Adam<T> = Optimizer<AdamConfig, T>;
/// AdaMax owning its state.
pub type AdaMax<T> = Optimizer<AdaMaxConfig, T>;

impl<A: Algorithm, T: Float> Optimizer<A, T> {
    /// An optimizer for `len` parameters, with fresh state; no step taken yet.
    ///
    /// # Panics
    /// If the state (`len` elements per buffer) cannot be allocated, as `vec!` does.
    pub fn new(config: A, len: usize) -> Result<Self, Error> {
        config.validate()?;
        let state = config.new_state(len);
        Ok(Optimizer { config, state, len, steps: 0, parallelism: Parallelism::default() })
    }

    /// An optimizer from validated parts (a loaded checkpoint).
    pub(crate) fn from_parts(
        config: A,
        state: A::State<T>,
        len: usize,
        steps: u64,
        parallelism: Parallelism,
    ) -> Self {
        Optimizer { config, state, len, steps, parallelism }
    }

    /// Sets the threads the steps may use (default: [`Parallelism::Global`]).
    pub fn with_parallelism(mut self, parallelism: Parallelism) -> Self {
        self.parallelism = parallelism;
        self
    }

    /// One step: the step number becomes `steps() + 1`. On error nothing is
    /// written and the step count is unchanged.
    pub fn step(&mut self, param: &mut [T], grad: &[T]) -> Result<(), Error> {
        let t = self.steps.checked_add(1).ok_or(Error::StepCountOverflow)?;
        self.config.step(t, param, grad, &mut self.state, &self.parallelism)?;
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

    /// The state, to load a checkpoint into. Lengths are checked at the next step.
    pub fn state_mut(&mut self) -> &mut A::State<T> {
        &mut self.state
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
