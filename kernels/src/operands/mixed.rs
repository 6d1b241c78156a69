//! Mixed-precision Adam's operands (the essay:
//! [`crate::spec::adam_mixed`](mod@crate::spec::adam_mixed)).

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

/// The storage types of one mixed-precision Adam step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MixedLayout {
    /// The parameter's type.
    pub param: Dtype,
    /// The gradient's type.
    pub grad: Dtype,
    /// The type of every state buffer (`exp_avg`, `exp_avg_sq`, `max_exp_avg_sq`).
    pub state: Dtype,
    /// The type of the copy of the new parameters, if one is written.
    pub copy: Option<Dtype>,
}

impl MixedLayout {
    /// Every layout the kernels are built for (see the module's table).
    pub const SUPPORTED: [MixedLayout; 12] = {
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

/// The buffers of one mixed-precision Adam step, all of one length.
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
    /// The storage types, or the first state buffer whose type differs from `exp_avg`'s.
    pub fn layout(&self) -> Result<MixedLayout, &'static str> {
        let state = self.exp_avg.dtype();
        if self.exp_avg_sq.dtype() != state {
            return Err("exp_avg_sq");
        }
        if self.max_exp_avg_sq.as_ref().is_some_and(|s| s.dtype() != state) {
            return Err("max_exp_avg_sq");
        }
        Ok(MixedLayout {
            param: self.param.dtype(),
            grad: self.grad.dtype(),
            state,
            copy: self.param_copy.as_ref().map(MixedSlice::dtype),
        })
    }
}

impl KernelBuffers for MixedAdamBuffers<'_> {
    const ALGORITHM: &'static str = "mixed-precision Adam";

    fn len(&self) -> usize {
        self.param.len()
    }

    fn length_mismatch(&self) -> Option<(&'static str, usize)> {
        let n = self.len();
        [
            ("grad", Some(&self.grad)),
            ("exp_avg", Some(&self.exp_avg)),
            ("exp_avg_sq", Some(&self.exp_avg_sq)),
            ("max_exp_avg_sq", self.max_exp_avg_sq.as_ref()),
            ("param_copy", self.param_copy.as_ref()),
        ]
        .into_iter()
        .find_map(|(name, s)| s.filter(|s| s.len() != n).map(|s| (name, s.len())))
    }

    /// Every buffer split at `mid`; the second half's position advances by `mid`.
    fn split_at(self, mid: usize) -> (Self, Self) {
        let MixedAdamBuffers { param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, param_copy, position } =
            self;
        let (p, g, m) = (param.split_at(mid), grad.split_at(mid), exp_avg.split_at(mid));
        let (v, x, c) = (exp_avg_sq.split_at(mid), max_exp_avg_sq.split_at(mid), param_copy.split_at(mid));
        (
            MixedAdamBuffers {
                param: p.0,
                grad: g.0,
                exp_avg: m.0,
                exp_avg_sq: v.0,
                max_exp_avg_sq: x.0,
                param_copy: c.0,
                position,
            },
            MixedAdamBuffers {
                param: p.1,
                grad: g.1,
                exp_avg: m.1,
                exp_avg_sq: v.1,
                max_exp_avg_sq: x.1,
                param_copy: c.1,
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

impl Check for MixedAdamBuffers<'_> {
    type Facts = MixedLayout;
    type Error = MixedError;

    /// Equal lengths, one type for every state buffer, and a supported layout.
    fn check(&self) -> Result<MixedLayout, MixedError> {
        self.check_lengths().map_err(MixedError::Length)?;
        let layout = self.layout().map_err(MixedError::StateType)?;
        if !layout.is_supported() {
            return Err(MixedError::Unsupported(layout));
        }
        Ok(layout)
    }
}

impl Reborrow for MixedAdamBuffers<'_> {
    type Short<'b>
        = MixedAdamBuffers<'b>
    where
        Self: 'b;

    fn reborrow(&mut self) -> MixedAdamBuffers<'_> {
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

/// Mixed-precision buffers a kernel cannot run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MixedError {
    /// Buffers of unequal lengths.
    Length(LengthMismatch),
    /// This state buffer's type differs from `exp_avg`'s.
    StateType(&'static str),
    /// A layout the kernels are not built for (see [`MixedLayout::SUPPORTED`]).
    Unsupported(MixedLayout),
}

impl fmt::Display for MixedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MixedError::Length(e) => e.fmt(f),
            MixedError::StateType(name) => {
                write!(f, "mixed-precision Adam: `{name}` has another type than `exp_avg`")
            }
            MixedError::Unsupported(layout) => {
                write!(f, "mixed-precision Adam: unsupported layout ({layout})")
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
    /// `exp_avg`'s.
    pub exp_avg: u32,
    /// `exp_avg_sq`'s.
    pub exp_avg_sq: u32,
    /// `max_exp_avg_sq`'s.
    pub max_exp_avg_sq: u32,
}

/// The per-step scalars of a mixed-precision Adam step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MixedAdamCoefficients {
    /// Adam's scalars in `f32` (its `maximize` folds into the gradient scale).
    pub adam: AdamCoefficients<f32>,
    /// The gradient's multiplier: `1/loss_scale` (1 for unscaled gradients).
    pub grad_scale: f32,
    /// Write zero to the gradient as the step reads it.
    pub zero_grad: bool,
    /// Round `bf16` parameter and state stores stochastically with these keys
    /// (`None`: round to nearest even).
    pub stochastic: Option<StochasticKeys>,
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
