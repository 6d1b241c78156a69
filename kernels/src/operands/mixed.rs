//! The operands of a mixed-precision step, for every algorithm that has one
//! (the essay: [`crate::spec::mixed`](mod@crate::spec::mixed)): the buffers
//! ([`MixedBuffers`], with [`MixedAdamBuffers`] as Adam's named view), their
//! storage types ([`MixedLayout`]), the per-step scalars
//! ([`MixedCoefficients`]) and an algorithm's `f32` update ([`MixedUpdate`]).

use super::adam::AdamCoefficients;
use super::buffers::{Check, KernelBuffers, LengthMismatch, Piece, Reborrow};
use super::norm::NormSlice;
use crate::narrow::{Dtype, Storage, bf16, f16};
use core::fmt;

/// One buffer of a mixed-precision step: a mutable slice of one of the storage types.
#[derive(Debug)]
pub enum MixedSlice<'a> {
    /// `f32` elements.
    F32(&'a mut [f32]),
    /// `bf16` elements.
    Bf16(&'a mut [bf16]),
    /// `f16` elements.
    F16(&'a mut [f16]),
}

impl<'a> MixedSlice<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            MixedSlice::F32(s) => s.len(),
            MixedSlice::Bf16(s) => s.len(),
            MixedSlice::F16(s) => s.len(),
        }
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        match self {
            MixedSlice::F32(_) => Dtype::F32,
            MixedSlice::Bf16(_) => Dtype::Bf16,
            MixedSlice::F16(_) => Dtype::F16,
        }
    }

    /// Address of element 0.
    pub fn address(&self) -> usize {
        match self {
            MixedSlice::F32(s) => s.as_ptr() as usize,
            MixedSlice::Bf16(s) => s.as_ptr() as usize,
            MixedSlice::F16(s) => s.as_ptr() as usize,
        }
    }

    /// Pointer to element 0 as `T`, if that is the slice's type (the
    /// kernels' raw access, after the layout was matched).
    pub(crate) fn typed_ptr<T: Storage>(&mut self) -> Option<*mut T> {
        let p = match self {
            MixedSlice::F32(s) => s.as_mut_ptr().cast::<T>(),
            MixedSlice::Bf16(s) => s.as_mut_ptr().cast::<T>(),
            MixedSlice::F16(s) => s.as_mut_ptr().cast::<T>(),
        };
        (self.dtype() == T::DTYPE).then_some(p)
    }

    /// `[0, mid)` and `[mid, len)`.
    ///
    /// # Panics
    /// If `mid > len`.
    pub fn split_at(self, mid: usize) -> (MixedSlice<'a>, MixedSlice<'a>) {
        fn wrap<'a, T>(
            halves: (&'a mut [T], &'a mut [T]),
            f: fn(&'a mut [T]) -> MixedSlice<'a>,
        ) -> (MixedSlice<'a>, MixedSlice<'a>) {
            (f(halves.0), f(halves.1))
        }
        match self {
            MixedSlice::F32(s) => wrap(s.split_at_mut(mid), MixedSlice::F32),
            MixedSlice::Bf16(s) => wrap(s.split_at_mut(mid), MixedSlice::Bf16),
            MixedSlice::F16(s) => wrap(s.split_at_mut(mid), MixedSlice::F16),
        }
    }

    /// A shorter-lived view of the same elements.
    pub fn reborrow(&mut self) -> MixedSlice<'_> {
        match self {
            MixedSlice::F32(s) => MixedSlice::F32(s),
            MixedSlice::Bf16(s) => MixedSlice::Bf16(s),
            MixedSlice::F16(s) => MixedSlice::F16(s),
        }
    }

    /// Element `i`, widened to `f32`.
    ///
    /// # Panics
    /// If `i >= len`.
    pub fn get(&self, i: usize) -> f32 {
        match self {
            MixedSlice::F32(s) => s[i],
            MixedSlice::Bf16(s) => s[i].widen(),
            MixedSlice::F16(s) => s[i].widen(),
        }
    }

    /// Sets element `i` to `x` rounded to the slice's type: stochastically
    /// with the random value `r` for `bf16` when `r` is given, else to
    /// nearest even.
    ///
    /// # Panics
    /// If `i >= len`.
    pub fn set(&mut self, i: usize, x: f32, r: Option<u32>) {
        fn put<S: Storage>(s: &mut [S], i: usize, x: f32, r: Option<u32>) {
            s[i] = match r {
                Some(r) => S::narrow_stochastic(x, r),
                None => S::narrow(x),
            };
        }
        match self {
            MixedSlice::F32(s) => put(s, i, x, r),
            MixedSlice::Bf16(s) => put(s, i, x, r),
            MixedSlice::F16(s) => put(s, i, x, r),
        }
    }
}

impl Piece for MixedSlice<'_> {
    fn split_at(self, mid: usize) -> (Self, Self) {
        MixedSlice::split_at(self, mid)
    }
}

/// The storage types of one mixed-precision step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MixedLayout {
    /// The parameter's type.
    pub param: Dtype,
    /// The gradient's type.
    pub grad: Dtype,
    /// The type of every state buffer (Adam's `exp_avg`, `exp_avg_sq`,
    /// `max_exp_avg_sq`; Lion's `exp_avg`; SGD's `momentum_buffer`). A step
    /// without state buffers (SGD without momentum) takes any.
    pub state: Dtype,
    /// The type of the copy of the new parameters, if one is written.
    pub copy: Option<Dtype>,
}

impl MixedLayout {
    /// Every layout the kernels are built for (see the module's table).
    /// New layouts are appended: tests and fuzzers address the older ones by
    /// index (the last, `f32` parameters and gradients with `bf16` state, is
    /// the lean-state layout of issue 18).
    pub const SUPPORTED: [MixedLayout; 13] = {
        use Dtype::{Bf16, F16, F32};
        const fn l(param: Dtype, grad: Dtype, state: Dtype, copy: Option<Dtype>) -> MixedLayout {
            MixedLayout { param, grad, state, copy }
        }
        [
            l(F32, F32, F32, None),
            l(F32, Bf16, F32, None),
            l(F32, F16, F32, None),
            l(F32, F32, F32, Some(Bf16)),
            l(F32, Bf16, F32, Some(Bf16)),
            l(F32, F16, F32, Some(Bf16)),
            l(F32, F32, F32, Some(F16)),
            l(F32, Bf16, F32, Some(F16)),
            l(F32, F16, F32, Some(F16)),
            l(Bf16, Bf16, F32, None),
            l(Bf16, Bf16, Bf16, None),
            l(F16, F16, F32, None),
            l(F32, F32, Bf16, None),
        ]
    };

    /// True when the kernels are built for this layout.
    pub fn is_supported(&self) -> bool {
        Self::SUPPORTED.contains(self)
    }
}

impl core::fmt::Display for MixedLayout {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "param {}, grad {}, state {}", self.param, self.grad, self.state)?;
        match self.copy {
            Some(c) => write!(f, ", copy {c}"),
            None => f.write_str(", no copy"),
        }
    }
}

/// Most state buffers a mixed-precision step keeps (Adam with AMSGrad).
pub const MAX_MIXED_STATE: usize = 3;

/// The names [`MixedBuffers`]' length check gives its state slots; a caller
/// that knows the algorithm maps slot `i` to the algorithm's own name.
pub const MIXED_STATE_SLOTS: [&str; MAX_MIXED_STATE] = ["state[0]", "state[1]", "state[2]"];

/// The buffers of one mixed-precision step of any algorithm, all of one
/// length: the parameter, the gradient, the algorithm's state buffers in its
/// order (`None` where one is not kept), and the optional copy.
#[derive(Debug)]
pub struct MixedBuffers<'a> {
    /// Parameters, updated in place.
    pub param: MixedSlice<'a>,
    /// Gradient: read, and set to zero with `zero_grad`.
    pub grad: MixedSlice<'a>,
    /// The state buffers in the algorithm's order ([`MixedUpdate::STATE`]),
    /// updated in place; `None` for one the options do not keep (and for
    /// the slots past the algorithm's last buffer).
    pub state: [Option<MixedSlice<'a>>; MAX_MIXED_STATE],
    /// Written with the new parameters, rounded to its type.
    pub param_copy: Option<MixedSlice<'a>>,
    /// Position of element 0 in the stochastic-rounding stream (0 for a whole
    /// tensor; the driver's splits advance it).
    pub position: u64,
}

impl<'a> MixedBuffers<'a> {
    /// The storage types (the state's: that of the first state buffer given,
    /// `f32` when none is), or the first state slot whose type differs.
    pub fn layout(&self) -> Result<MixedLayout, usize> {
        let mut given = self.state.iter().enumerate().filter_map(|(i, s)| s.as_ref().map(|s| (i, s.dtype())));
        let state = given.next().map_or(Dtype::F32, |(_, d)| d);
        if let Some((slot, _)) = given.find(|&(_, d)| d != state) {
            return Err(slot);
        }
        Ok(MixedLayout {
            param: self.param.dtype(),
            grad: self.grad.dtype(),
            state,
            copy: self.param_copy.as_ref().map(MixedSlice::dtype),
        })
    }

    /// Which state slots hold a buffer.
    pub fn given(&self) -> [bool; MAX_MIXED_STATE] {
        self.state.each_ref().map(Option::is_some)
    }
}

impl KernelBuffers for MixedBuffers<'_> {
    const ALGORITHM: &'static str = "mixed-precision step";

    fn len(&self) -> usize {
        self.param.len()
    }

    /// The gradient, the state slots (named by [`MIXED_STATE_SLOTS`]) and the copy.
    fn length_mismatch(&self) -> Option<(&'static str, usize)> {
        let n = self.len();
        let state = MIXED_STATE_SLOTS.into_iter().zip(self.state.iter().map(Option::as_ref));
        [("grad", Some(&self.grad))]
            .into_iter()
            .chain(state)
            .chain([("param_copy", self.param_copy.as_ref())])
            .find_map(|(name, s)| s.filter(|s| s.len() != n).map(|s| (name, s.len())))
    }

    /// Every buffer split at `mid`; the second half's position advances by `mid`.
    fn split_at(self, mid: usize) -> (Self, Self) {
        let MixedBuffers { param, grad, state, param_copy, position } = self;
        let ((p0, p1), (g0, g1)) = (param.split_at(mid), grad.split_at(mid));
        let ((s0, s1), (c0, c1)) = (state.split_at(mid), param_copy.split_at(mid));
        (
            MixedBuffers { param: p0, grad: g0, state: s0, param_copy: c0, position },
            MixedBuffers {
                param: p1,
                grad: g1,
                state: s1,
                param_copy: c1,
                position: position.wrapping_add(mid as u64),
            },
        )
    }

    fn anchor(&self) -> usize {
        self.param.address()
    }

    fn anchor_element_bytes(&self) -> usize {
        self.param.dtype().bytes()
    }
}

impl Check for MixedBuffers<'_> {
    type Facts = MixedLayout;
    type Error = MixedError;

    /// Equal lengths, one type for every state buffer, and a supported
    /// layout. (Which state buffers an algorithm's options need is its
    /// caller's check: the root crate's, against the options.)
    fn check(&self) -> Result<MixedLayout, MixedError> {
        self.check_lengths().map_err(MixedError::Length)?;
        let layout = self.layout().map_err(MixedError::StateType)?;
        if !layout.is_supported() {
            return Err(MixedError::Unsupported(layout));
        }
        Ok(layout)
    }
}

impl Reborrow for MixedBuffers<'_> {
    type Short<'b>
        = MixedBuffers<'b>
    where
        Self: 'b;

    fn reborrow(&mut self) -> MixedBuffers<'_> {
        MixedBuffers {
            param: self.param.reborrow(),
            grad: self.grad.reborrow(),
            state: self.state.each_mut().map(|s| s.as_mut().map(MixedSlice::reborrow)),
            param_copy: self.param_copy.as_mut().map(MixedSlice::reborrow),
            position: self.position,
        }
    }
}

/// Mixed-precision Adam's buffers by name: [`MixedBuffers`] with the state
/// slots `exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`.
#[derive(Debug)]
pub struct MixedAdamBuffers<'a> {
    /// Parameters, updated in place.
    pub param: MixedSlice<'a>,
    /// Gradient: read, and set to zero with `zero_grad`.
    pub grad: MixedSlice<'a>,
    /// First moment m, updated in place.
    pub exp_avg: MixedSlice<'a>,
    /// Second moment v, updated in place.
    pub exp_avg_sq: MixedSlice<'a>,
    /// AMSGrad's running maximum of v (exactly when AMSGrad is on).
    pub max_exp_avg_sq: Option<MixedSlice<'a>>,
    /// Written with the new parameters, rounded to its type.
    pub param_copy: Option<MixedSlice<'a>>,
    /// Position of element 0 in the stochastic-rounding stream (0 for a whole
    /// tensor; the driver's splits advance it).
    pub position: u64,
}

impl<'a> MixedAdamBuffers<'a> {
    /// A shorter-lived view of the same buffers.
    pub fn reborrow(&mut self) -> MixedAdamBuffers<'_> {
        MixedAdamBuffers {
            param: self.param.reborrow(),
            grad: self.grad.reborrow(),
            exp_avg: self.exp_avg.reborrow(),
            exp_avg_sq: self.exp_avg_sq.reborrow(),
            max_exp_avg_sq: self.max_exp_avg_sq.as_mut().map(MixedSlice::reborrow),
            param_copy: self.param_copy.as_mut().map(MixedSlice::reborrow),
            position: self.position,
        }
    }
}

impl<'a> From<MixedAdamBuffers<'a>> for MixedBuffers<'a> {
    fn from(b: MixedAdamBuffers<'a>) -> Self {
        let MixedAdamBuffers { param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, param_copy, position } = b;
        MixedBuffers {
            param,
            grad,
            state: [Some(exp_avg), Some(exp_avg_sq), max_exp_avg_sq],
            param_copy,
            position,
        }
    }
}

/// Mixed-precision buffers a kernel cannot run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MixedError {
    /// Buffers of unequal lengths (a state buffer named by its slot, [`MIXED_STATE_SLOTS`]).
    Length(LengthMismatch),
    /// The state buffer in this slot has another type than the first one given.
    StateType(usize),
    /// A layout the kernels are not built for (see [`MixedLayout::SUPPORTED`]).
    Unsupported(MixedLayout),
}

impl fmt::Display for MixedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MixedError::Length(e) => e.fmt(f),
            MixedError::StateType(slot) => {
                write!(f, "mixed-precision step: state buffer {slot} has another type than the first")
            }
            MixedError::Unsupported(layout) => {
                write!(f, "mixed-precision step: unsupported layout ({layout})")
            }
        }
    }
}

impl std::error::Error for MixedError {}

/// The per-step keys of stochastic rounding, one per buffer it applies to
/// (see [`crate::narrow::stochastic_key`]). Only `bf16` stores use them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StochasticKeys {
    /// The parameter's.
    pub param: u32,
    /// Each state slot's, in the algorithm's order.
    pub state: [u32; MAX_MIXED_STATE],
}

/// The per-step scalars of a mixed-precision step: the algorithm's own `f32`
/// scalars `U` and the fused extras.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MixedCoefficients<U> {
    /// The algorithm's scalars in `f32`. Its `maximize` folds into the
    /// gradient scale; its own `grad_scale` is not read (the mixed step's
    /// multiplier is [`grad_scale`](Self::grad_scale)).
    pub algorithm: U,
    /// The gradient's multiplier: `1/loss_scale` (1 for unscaled gradients).
    pub grad_scale: f32,
    /// Write zero to the gradient as the step reads it.
    pub zero_grad: bool,
    /// Round `bf16` parameter and state stores stochastically with these keys
    /// (`None`: round to nearest even).
    pub stochastic: Option<StochasticKeys>,
}

/// The per-step scalars of a mixed-precision Adam step.
pub type MixedAdamCoefficients = MixedCoefficients<AdamCoefficients<f32>>;

/// An algorithm's `f32` update, one element at a time: what a
/// mixed-precision step computes between its loads and its stores (the
/// scalar reference's half; the lane half is the kernels' own, written with
/// the same operations in the same order). Implemented by the `f32`
/// coefficients of every algorithm with a mixed-precision step.
pub trait MixedUpdate: Copy + Send + Sync + fmt::Debug + sealed::Sealed + 'static {
    /// The algorithm's name, for messages (`"Adam"`).
    const NAME: &'static str;
    /// Its state buffers' names, in slot order.
    const STATE: &'static [&'static str];

    /// Which state slots hold signed values (8-bit state: the signed code,
    /// [`crate::spec::quantized`](mod@crate::spec::quantized)) and which
    /// non-negative ones (the unsigned code): first moments and momentum
    /// buffers are signed, second moments and their maxima are not.
    const SIGNED: [bool; MAX_MIXED_STATE];

    /// The state slots the step reads or writes, given which slots hold a
    /// buffer (`given`): a slot the options need must be given (Adam's
    /// first two always, its third with AMSGrad, which its presence turns
    /// on; Lion's first; SGD's first when given, which turns momentum on).
    fn needed(given: [bool; MAX_MIXED_STATE]) -> [bool; MAX_MIXED_STATE];

    /// Ascend instead of descend: the step negates its gradient scale.
    fn maximize(&self) -> bool;

    /// One element: the new parameter and state from the gradient `g`
    /// (already multiplied by the signed gradient scale), the parameter `p`
    /// and the state slots' values (`None` for a slot without a buffer),
    /// in the `f32` kernel's op order. A slot given in is given out.
    fn element(
        &self,
        g: f32,
        p: f32,
        state: [Option<f32>; MAX_MIXED_STATE],
    ) -> (f32, [Option<f32>; MAX_MIXED_STATE]);
}

pub(crate) mod sealed {
    /// The algorithms with a mixed-precision step.
    pub trait Sealed {}
    impl Sealed for super::AdamCoefficients<f32> {}
    impl Sealed for crate::operands::SgdCoefficients<f32> {}
    impl Sealed for crate::operands::LionCoefficients<f32> {}
}

/// A mixed-precision gradient as the norm pass reads it.
impl<'a> From<&'a MixedSlice<'_>> for NormSlice<'a> {
    fn from(s: &'a MixedSlice<'_>) -> Self {
        match s {
            MixedSlice::F32(s) => NormSlice::F32(s),
            MixedSlice::Bf16(s) => NormSlice::Bf16(s),
            MixedSlice::F16(s) => NormSlice::F16(s),
        }
    }
}
