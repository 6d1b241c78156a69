//! The descriptor trait every algorithm implements, the state layout it
//! describes, and the value validation hands down ([`Validated`]: the
//! coefficients; its [`check`](Validated::check) gives the kernels'
//! [`Checked`] buffers).

use crate::{Error, Float};
use fused_optim_kernels::{Check, Checked, GradScale, LengthMismatch};

/// Most state buffers any algorithm keeps (Adam with AMSGrad, RMSprop
/// centered with momentum: three).
pub const MAX_STATE_BUFFERS: usize = 3;

/// An algorithm's state buffers as slices, in the order of
/// [`Algorithm::STATE`]; `None` for an optional buffer that is not kept (and
/// for the unused slots past the algorithm's last buffer).
pub type StateSlots<'a, T> = [Option<&'a mut [T]>; MAX_STATE_BUFFERS];

/// One state buffer: its name (PyTorch's) and, for an optional buffer, the
/// option that keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateBuffer {
    /// PyTorch's name of the buffer (`"exp_avg"`, `"max_exp_avg_sq"`, …).
    pub name: &'static str,
    /// The option that keeps the buffer (`Some("amsgrad")`), or `None` for a
    /// buffer every step keeps.
    pub option: Option<&'static str>,
}

impl StateBuffer {
    /// A buffer every step keeps.
    pub const fn always(name: &'static str) -> Self {
        StateBuffer { name, option: None }
    }

    /// A buffer kept only while `option` is on.
    pub const fn with(name: &'static str, option: &'static str) -> Self {
        StateBuffer { name, option: Some(option) }
    }
}

/// An optimization algorithm, described by its hyperparameter type.
///
/// The crate implements it for [`AdamConfig`](crate::AdamConfig), [`AdaMaxConfig`](crate::AdaMaxConfig),
/// [`AdaGradConfig`](crate::AdaGradConfig), [`RmsPropConfig`](crate::RmsPropConfig),
/// [`AdaDeltaConfig`](crate::AdaDeltaConfig), [`SgdConfig`](crate::SgdConfig) and [`LionConfig`](crate::LionConfig).
pub trait Algorithm: Clone + core::fmt::Debug + PartialEq + Send + Sync + 'static {
    /// The algorithm's name, for messages (`"Adam"`).
    const NAME: &'static str;
    /// Its number in the checkpoint layout (see [`crate::checkpoint`]).
    const CHECKPOINT_ID: u32;
    /// Its state buffers, in the order of the checkpoint layout and of
    /// [`StateSlots`].
    const STATE: &'static [StateBuffer];

    /// The kernel's per-step scalars.
    type Coefficients<T: Float>: Sync + GradScale<T>;
    /// The kernel's buffer set: parameter, gradient and state, of one length.
    type Buffers<'a, T: Float>: Check<Facts = (), Error = LengthMismatch> + Send;
    /// The state an [`Optimizer`](crate::Optimizer) owns.
    type State<T: Float>: Clone + core::fmt::Debug + PartialEq;
    /// A view of the state that lends each buffer as a slice, so that whoever
    /// holds it can change values but neither a length nor which buffers
    /// exist ([`Optimizer::state_mut`](crate::Optimizer::state_mut)).
    type StateMut<'a, T: Float + 'a>;

    /// Checks every hyperparameter; the error names the first bad one.
    fn validate(&self) -> Result<(), Error>;

    /// The per-step scalars of step `t` (from 1), computed in `f64` and
    /// rounded once to `T`, after [`validate`](Self::validate) and the check
    /// of `t`. The steps call it once per call, through [`Checked`].
    fn coefficients<T: Float>(&self, t: u64) -> Result<Self::Coefficients<T>, Error>;

    /// Whether these options keep the state buffer `STATE[index]` (always
    /// true for a buffer without an option).
    fn keeps(&self, index: usize) -> bool {
        let _ = index;
        true
    }

    /// The learning rate.
    fn lr(&self) -> f64;

    /// The same hyperparameters with another learning rate (a schedule's).
    fn with_lr(&self, lr: f64) -> Self;

    /// The value every state buffer starts at: 0 but for AdaGrad's
    /// `initial_accumulator_value`; an error if it does not fit `T`.
    fn initial_value<T: Float>(&self) -> Result<T, Error> {
        Ok(T::ZERO)
    }

    /// The checkpoint's flags and eight hyperparameter slots (unused ones 0).
    fn encode(&self) -> (u32, [f64; 8]);

    /// The config back from [`encode`](Self::encode)'s flags and slots
    /// (validated by the caller), or why the flags name no config.
    fn decode(flags: u32, slots: [f64; 8]) -> Result<Self, &'static str>;

    /// Owned state from its buffers in [`Self::STATE`] order (`None` where
    /// a buffer is not kept); `None` if a buffer every step keeps is missing.
    fn state_from<T: Float>(buffers: [Option<Vec<T>>; MAX_STATE_BUFFERS]) -> Option<Self::State<T>>;

    /// The state's optional buffers in [`Self::STATE`] order (`None` for a
    /// buffer every step keeps), to add or drop as the options change. The
    /// default: no optional buffer.
    fn optional_mut<T: Float>(
        state: &mut Self::State<T>,
    ) -> [Option<&mut Option<Vec<T>>>; MAX_STATE_BUFFERS] {
        let _ = state;
        [None, None, None]
    }

    /// The state's buffers in [`Self::STATE`] order, shared.
    fn state_slices<T: Float>(state: &Self::State<T>) -> [Option<&[T]>; MAX_STATE_BUFFERS];

    /// The state's buffers as the named view.
    fn view_mut<T: Float>(state: &mut Self::State<T>) -> Self::StateMut<'_, T>;

    /// The named view as slots in [`Self::STATE`] order.
    fn slots<'a, T: Float + 'a>(view: Self::StateMut<'a, T>) -> StateSlots<'a, T>;

    /// The kernel's buffer set from the parameter, the gradient and the
    /// state slots; `None` if a buffer every step keeps is missing.
    fn buffers<'a, T: Float>(
        param: &'a mut [T],
        grad: &'a [T],
        state: StateSlots<'a, T>,
    ) -> Option<Self::Buffers<'a, T>>;

    /// Which state buffers a buffer set holds, in [`Self::STATE`] order.
    fn given<T: Float>(buffers: &Self::Buffers<'_, T>) -> [bool; MAX_STATE_BUFFERS];

    /// The gradient of a buffer set (what clipping's norm pass reads).
    fn grad<'s, T: Float>(buffers: &'s Self::Buffers<'_, T>) -> &'s [T];

    /// A shorter-lived view of a buffer set (the multi-tensor step's).
    fn reborrow<'s, T: Float>(buffers: &'s mut Self::Buffers<'_, T>) -> Self::Buffers<'s, T>;

    /// The dispatched kernel over checked buffers (it checks nothing again).
    fn kernel<T: Float>(buffers: Checked<Self::Buffers<'_, T>>, coefficients: &Self::Coefficients<T>);
}

/// Bytes one element's step reads and writes: the parameter read and
/// written, the gradient read, each kept state buffer read and written.
pub fn bytes_per_element<A: Algorithm, T: Float>(config: &A) -> usize {
    let kept = (0..A::STATE.len()).filter(|&i| config.keeps(i)).count();
    T::BYTES * (3 + 2 * kept)
}

/// Fresh state for `len` parameters: every kept buffer at its initial value.
///
/// # Panics
/// If the buffers cannot be allocated, as `vec!` does.
pub fn new_state<A: Algorithm, T: Float>(config: &A, len: usize) -> Result<A::State<T>, Error> {
    let initial = config.initial_value::<T>()?;
    let buffers =
        std::array::from_fn(|i| (i < A::STATE.len() && config.keeps(i)).then(|| vec![initial; len]));
    A::state_from(buffers).ok_or_else(missing_state::<A>)
}

/// What a descriptor's [`Algorithm::state_from`] or [`Algorithm::buffers`]
/// returning `None` means: a buffer the algorithm always keeps is missing
/// (a descriptor implemented outside the crate that disagrees with itself;
/// the crate's own never do).
pub(crate) fn missing_state<A: Algorithm>() -> Error {
    let buffer = A::STATE.iter().find(|b| b.option.is_none()).map_or("state", |b| b.name);
    Error::MissingState { buffer, option: A::NAME }
}

/// `state` brought in line with `config`'s options, in place: an optional
/// buffer is added, at its initial value, when its option comes on, and
/// dropped when it goes off; every other buffer stays as it is (nothing is
/// copied). On error (an initial value that does not fit `T`) nothing has
/// changed.
pub(crate) fn adapt_state<A: Algorithm, T: Float>(
    config: &A,
    state: &mut A::State<T>,
    len: usize,
) -> Result<(), Error> {
    let adds = A::optional_mut(state)
        .iter()
        .enumerate()
        .any(|(i, slot)| slot.as_ref().is_some_and(|s| s.is_none() && config.keeps(i)));
    let initial = if adds { config.initial_value::<T>()? } else { T::ZERO };
    for (i, slot) in A::optional_mut(state).into_iter().enumerate() {
        if let Some(slot) = slot {
            match (config.keeps(i), slot.is_some()) {
                (true, false) => *slot = Some(vec![initial; len]),
                (false, true) => *slot = None,
                _ => {}
            }
        }
    }
    Ok(())
}

/// The first state buffer that `given` holds against the options, or lacks
/// while they keep it, as the error that names it and its option.
pub(crate) fn check_state_buffers<A: Algorithm>(
    config: &A,
    given: [bool; MAX_STATE_BUFFERS],
) -> Result<(), Error> {
    for (i, buffer) in A::STATE.iter().enumerate() {
        let option = buffer.option.unwrap_or(A::NAME);
        match (config.keeps(i), given[i]) {
            (true, false) => return Err(Error::MissingState { buffer: buffer.name, option }),
            (false, true) => return Err(Error::UnexpectedState { buffer: buffer.name, option }),
            _ => {}
        }
    }
    Ok(())
}

/// One step's validated hyperparameters: the coefficients, computed once,
/// with the config they came from. Buffers are checked against it
/// ([`Validated::check`]) before the driver runs the kernel.
pub struct Validated<'c, A: Algorithm, T: Float> {
    config: &'c A,
    coefficients: A::Coefficients<T>,
}

impl<'c, A: Algorithm, T: Float> Validated<'c, A, T> {
    /// Validates `config` and the step number `t`, and computes the step's
    /// coefficients.
    pub fn new(config: &'c A, t: u64) -> Result<Self, Error> {
        Ok(Validated { config, coefficients: config.coefficients::<T>(t)? })
    }

    /// The coefficients the kernel takes.
    pub fn coefficients(&self) -> &A::Coefficients<T> {
        &self.coefficients
    }

    /// Sets the gradient multiplier every element is scaled by first (the
    /// clip coefficient; 1 as computed).
    pub fn set_grad_scale(&mut self, scale: T) {
        self.coefficients.set_grad_scale(scale);
    }

    /// Bytes one element's step moves.
    pub fn bytes_per_element(&self) -> usize {
        bytes_per_element::<A, T>(self.config)
    }

    /// Equal lengths and the optional buffers the options need, checked
    /// once: the [`Checked`] buffers the driver cuts and the kernel takes.
    pub fn check<'a>(&self, buffers: A::Buffers<'a, T>) -> Result<Checked<A::Buffers<'a, T>>, Error> {
        let checked = Checked::new(buffers).map_err(crate::error::length_mismatch)?;
        check_state_buffers(self.config, A::given(checked.get()))?;
        Ok(checked)
    }
}
