//! Mixed-precision Adam: `bf16`/`f16` storage, `f32` arithmetic, and the
//! fused extras of a training step (gradient unscaling, zero-grad, a narrow
//! copy of the new parameters), in one pass over memory.
//!
//! # Layouts
//!
//! Arithmetic is `f32`. Each buffer has its own storage type ([`Dtype`]); the
//! supported combinations ([`MixedLayout::SUPPORTED`]) are those frameworks
//! use:
//!
//! | parameter | gradient | state | copy of the new parameters |
//! | --- | --- | --- | --- |
//! | f32 (master weights) | f32, bf16 or f16 | f32 | none, bf16 or f16 |
//! | bf16 | bf16 | f32 or bf16 | none |
//! | f16 | f16 | f32 | none |
//!
//! # Formula and op order
//!
//! Adam's, as in [`crate::adam`](mod@crate::adam), with the gradient first multiplied by the
//! per-step scalar `grad_scale` (`1/loss_scale`, and negated when maximizing:
//! `g·(−s)` is `−(g·s)` exactly for every non-NaN `g`, so maximize costs
//! nothing extra; a NaN stays a NaN, possibly with another sign, which the
//! contract does not distinguish). Per element:
//!
//! ```text
//! g  = widen(g)·grad_scale           (grad_scale = ±1/loss_scale, rounded to f32)
//! grad = 0                           (if zero_grad: the gradient is consumed)
//! p  = widen(p)
//! g  = g + (wd·p)                    (if L2)
//! p  = p·decay                       (if decoupled)
//! m  = (β1·widen(m)) + ((1−β1)·g)
//! v  = (β2·widen(v)) + (((1−β2)·g)·g)
//! vm = max(widen(vm), v)             (if AMSGrad)
//! p  = p − s·(m / (√v̂ + ε̂))
//! store m, v, vm, p narrowed to their types; copy = narrow(p) (if a copy is asked)
//! ```
//!
//! The update uses this step's `f32` values of m, v and vm; what is stored
//! is their rounding to the state type. With every buffer `f32`, a scale of 1
//! and no extras, the bits are [`crate::adam()`]'s (NaN compared as NaN).
//!
//! The unscaled gradient stays in `f32`: a framework's separate unscale pass
//! would round `g·(1/loss_scale)` back to the gradient's type first. The two
//! agree when the loss scale is a power of two and nothing underflows (the
//! usual dynamic loss scaling), and the fused form is the more precise.
//!
//! # Narrowing
//!
//! Round to nearest even, or, with [`StochasticKeys`], stochastic rounding
//! of the `bf16` parameter and state stores (see [`crate::narrow`]). The
//! random value of element `i` of a buffer is `random_at(key, position + i)`,
//! where `position` is the buffers' [`MixedAdamBuffers::position`]: splitting
//! the buffers advances it, so every split (every thread count) draws the
//! same values. The copy is always rounded to nearest even.
//!
//! # Tail handling and NaN rule
//!
//! As for Adam. Narrow loads and stores of a partial vector go through a
//! zeroed stack buffer. NaN and inf propagate; skipping a step whose
//! gradient overflowed is the caller's job, with [`grad_non_finite`] (the
//! root crate's `found_inf` protocol).

use crate::adam::{AdamCoefficients, AdamLanes, Decay, WD_DECOUPLED, WD_L2, WD_NONE};
use crate::lanes::{Block, Enter, Variant, for_each_block};
use crate::narrow::{Dtype, HalfLanes, Storage, bf16, f16, random_lanes};

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

/// Applies `$f` to the slice inside a [`MixedSlice`], whatever its type.
macro_rules! on_slice {
    ($slice:expr, $s:ident => $f:expr) => {
        match $slice {
            MixedSlice::F32($s) => $f,
            MixedSlice::Bf16($s) => $f,
            MixedSlice::F16($s) => $f,
        }
    };
}

/// Rewraps both halves of a split in the variant they came from.
macro_rules! split_slice {
    ($slice:expr, $mid:expr) => {
        match $slice {
            MixedSlice::F32(s) => {
                let (a, b) = s.split_at_mut($mid);
                (MixedSlice::F32(a), MixedSlice::F32(b))
            }
            MixedSlice::Bf16(s) => {
                let (a, b) = s.split_at_mut($mid);
                (MixedSlice::Bf16(a), MixedSlice::Bf16(b))
            }
            MixedSlice::F16(s) => {
                let (a, b) = s.split_at_mut($mid);
                (MixedSlice::F16(a), MixedSlice::F16(b))
            }
        }
    };
}

impl<'a> MixedSlice<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        on_slice!(self, s => s.len())
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
        on_slice!(self, s => s.as_ptr() as usize)
    }

    /// `[0, mid)` and `[mid, len)`.
    ///
    /// # Panics
    /// If `mid > len`.
    pub fn split_at(self, mid: usize) -> (MixedSlice<'a>, MixedSlice<'a>) {
        split_slice!(self, mid)
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
        on_slice!(self, s => s[i].widen())
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
        on_slice!(self, s => put(s, i, x, r))
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
    /// Number of elements (the parameter's length).
    pub fn len(&self) -> usize {
        self.param.len()
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.param.is_empty()
    }

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

    /// The first buffer whose length differs from the parameter's, with that length.
    pub fn length_mismatch(&self) -> Option<(&'static str, usize)> {
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
    ///
    /// # Panics
    /// If `mid > len`.
    pub fn split_at(self, mid: usize) -> (Self, Self) {
        let (p0, p1) = self.param.split_at(mid);
        let (g0, g1) = self.grad.split_at(mid);
        let (m0, m1) = self.exp_avg.split_at(mid);
        let (v0, v1) = self.exp_avg_sq.split_at(mid);
        let split = |s: Option<MixedSlice<'a>>| match s {
            Some(s) => {
                let (a, b) = s.split_at(mid);
                (Some(a), Some(b))
            }
            None => (None, None),
        };
        let (x0, x1) = split(self.max_exp_avg_sq);
        let (c0, c1) = split(self.param_copy);
        let position = self.position;
        (
            MixedAdamBuffers {
                param: p0,
                grad: g0,
                exp_avg: m0,
                exp_avg_sq: v0,
                max_exp_avg_sq: x0,
                param_copy: c0,
                position,
            },
            MixedAdamBuffers {
                param: p1,
                grad: g1,
                exp_avg: m1,
                exp_avg_sq: v1,
                max_exp_avg_sq: x1,
                param_copy: c1,
                position: position.wrapping_add(mid as u64),
            },
        )
    }

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

    /// Panics unless the lengths are equal and the layout is supported.
    pub(crate) fn assert_valid(&self) {
        crate::KernelBuffers::assert_lengths(self);
        match self.layout() {
            Ok(layout) => {
                assert!(layout.is_supported(), "mixed-precision Adam: unsupported layout ({layout})")
            }
            Err(name) => panic!("mixed-precision Adam: `{name}` has another type than `exp_avg`"),
        }
    }
}

impl crate::KernelBuffers for MixedAdamBuffers<'_> {
    const ALGORITHM: &'static str = "mixed-precision Adam";
    fn len(&self) -> usize {
        self.param.len()
    }
    fn length_mismatch(&self) -> Option<(&'static str, usize)> {
        MixedAdamBuffers::length_mismatch(self)
    }
    fn split_at(self, mid: usize) -> (Self, Self) {
        MixedAdamBuffers::split_at(self, mid)
    }
    fn anchor(&self) -> usize {
        self.param.address()
    }
    fn anchor_element_bytes(&self) -> usize {
        self.param.dtype().bytes()
    }
}

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

/// The per-vector update for one layout (`C` is the copy's type, unused
/// without `COPY`) and one weight-decay mode and AMSGrad setting.
struct MixedBody<I: HalfLanes, P, G, S, C, const WD: u8, const AMSGRAD: bool, const COPY: bool> {
    param: *mut P,
    grad: *mut G,
    exp_avg: *mut S,
    exp_avg_sq: *mut S,
    max_exp_avg_sq: *mut S,
    copy: *mut C,
    adam: AdamLanes<I, f32>,
    grad_scale: I::V,
    zero: I::V,
    zero_grad: bool,
    stochastic: Option<StochasticKeys>,
    position: u32,
}

impl<I, P, G, S, C, const WD: u8, const AMSGRAD: bool, const COPY: bool>
    MixedBody<I, P, G, S, C, WD, AMSGRAD, COPY>
where
    I: HalfLanes,
{
    /// Stores `v` to `p + o`, stochastically with `key` when stochastic
    /// rounding is on and `T` is `bf16`.
    ///
    /// # Safety
    /// As [`Block::run`].
    #[inline(always)]
    unsafe fn put<T: Storage>(
        &self,
        p: *mut T,
        o: usize,
        n: usize,
        v: I::V,
        key: impl Fn(&StochasticKeys) -> u32,
    ) {
        // SAFETY: forwarded from the caller.
        unsafe {
            match self.stochastic {
                Some(keys) if T::DTYPE == Dtype::Bf16 => {
                    let random = random_lanes::<I>(key(&keys), self.position.wrapping_add(o as u32));
                    T::store_stochastic::<I>(p.add(o), n, v, random)
                }
                _ => T::store::<I>(p.add(o), n, v),
            }
        }
    }
}

impl<I, P, G, S, C, const WD: u8, const AMSGRAD: bool, const COPY: bool> Block
    for MixedBody<I, P, G, S, C, WD, AMSGRAD, COPY>
where
    I: HalfLanes,
    P: Storage,
    G: Storage,
    S: Storage,
    C: Storage,
{
    #[inline(always)]
    unsafe fn run(&self, o: usize, n: usize) {
        // SAFETY: `o + n` is within every buffer (the optional ones non-null
        // exactly when their flag is on); the tier is available.
        unsafe {
            let g = I::mul(G::load::<I>(self.grad.add(o), n), self.grad_scale);
            if self.zero_grad {
                G::store::<I>(self.grad.add(o), n, self.zero);
            }
            let (g, p) = self.adam.decay::<WD>(g, P::load::<I>(self.param.add(o), n));
            let m = self.adam.first_moment(S::load::<I>(self.exp_avg.add(o), n), g);
            self.put(self.exp_avg, o, n, m, |k| k.exp_avg);
            let v = self.adam.second_moment(S::load::<I>(self.exp_avg_sq.add(o), n), g);
            self.put(self.exp_avg_sq, o, n, v, |k| k.exp_avg_sq);
            let v_hat = if AMSGRAD {
                let vm = I::max(S::load::<I>(self.max_exp_avg_sq.add(o), n), v);
                self.put(self.max_exp_avg_sq, o, n, vm, |k| k.max_exp_avg_sq);
                vm
            } else {
                v
            };
            let p = self.adam.update(p, m, v_hat);
            self.put(self.param, o, n, p, |k| k.param);
            if COPY {
                C::store::<I>(self.copy.add(o), n, p);
            }
        }
    }
}

/// The raw pointer of a slice known to be of type `T`.
fn pointer<T: Storage>(s: Option<&mut MixedSlice<'_>>) -> *mut T {
    let Some(s) = s else { return core::ptr::null_mut() };
    assert_eq!(s.dtype(), T::DTYPE, "the layout was matched before");
    on_slice!(s, x => x.as_mut_ptr().cast())
}

/// One mixed-precision Adam call with its layout (`P, G, S, C`) and options
/// fixed (see [`Variant`]); 72 of them per tier.
struct MixedVariant<'a, P, G, S, C, const WD: u8, const AMSGRAD: bool, const COPY: bool> {
    buffers: MixedAdamBuffers<'a>,
    coefficients: &'a MixedAdamCoefficients,
    _types: core::marker::PhantomData<(P, G, S, C)>,
}

impl<I, P, G, S, C, const WD: u8, const AMSGRAD: bool, const COPY: bool> Variant<I>
    for MixedVariant<'_, P, G, S, C, WD, AMSGRAD, COPY>
where
    I: HalfLanes,
    P: Storage,
    G: Storage,
    S: Storage,
    C: Storage,
{
    type Output = ();

    #[inline(always)]
    unsafe fn run(self) {
        let (mut b, c) = (self.buffers, self.coefficients);
        let grad_scale = if c.adam.maximize { -c.grad_scale } else { c.grad_scale };
        let n = b.len();
        // SAFETY: the tier is available and the lengths are equal (caller);
        // the pointers come from slices of length `n` whose types were matched
        // to `P, G, S, C` (`pointer` asserts it), and `for_each_block` stays
        // inside `0..n`.
        unsafe {
            let body = MixedBody::<I, P, G, S, C, WD, AMSGRAD, COPY> {
                param: pointer(Some(&mut b.param)),
                grad: pointer(Some(&mut b.grad)),
                exp_avg: pointer(Some(&mut b.exp_avg)),
                exp_avg_sq: pointer(Some(&mut b.exp_avg_sq)),
                max_exp_avg_sq: pointer(b.max_exp_avg_sq.as_mut()),
                copy: pointer(b.param_copy.as_mut()),
                adam: AdamLanes::new(&c.adam),
                grad_scale: I::splat(grad_scale),
                zero: I::splat(0.0),
                zero_grad: c.zero_grad,
                stochastic: c.stochastic,
                position: b.position as u32,
            };
            for_each_block::<I, f32, _>(n, &body);
        }
    }
}

/// The weight-decay mode and AMSGrad as const flags.
///
/// # Safety
/// Lengths are equal and the types are `P, G, S, C` (checked by the caller);
/// the tier `I` is available.
#[inline(always)]
unsafe fn run_layout<I, P, G, S, C, const COPY: bool>(b: MixedAdamBuffers<'_>, c: &MixedAdamCoefficients)
where
    I: HalfLanes + Enter,
    P: Storage,
    G: Storage,
    S: Storage,
    C: Storage,
{
    fn variant<'a, P, G, S, C, const WD: u8, const AMSGRAD: bool, const COPY: bool>(
        buffers: MixedAdamBuffers<'a>,
        coefficients: &'a MixedAdamCoefficients,
    ) -> MixedVariant<'a, P, G, S, C, WD, AMSGRAD, COPY> {
        MixedVariant { buffers, coefficients, _types: core::marker::PhantomData }
    }
    // SAFETY: forwarded from the caller.
    unsafe {
        match (c.adam.decay, b.max_exp_avg_sq.is_some()) {
            (Decay::None, false) => I::enter(variant::<P, G, S, C, WD_NONE, false, COPY>(b, c)),
            (Decay::None, true) => I::enter(variant::<P, G, S, C, WD_NONE, true, COPY>(b, c)),
            (Decay::L2(_), false) => I::enter(variant::<P, G, S, C, WD_L2, false, COPY>(b, c)),
            (Decay::L2(_), true) => I::enter(variant::<P, G, S, C, WD_L2, true, COPY>(b, c)),
            (Decay::Decoupled(_), false) => I::enter(variant::<P, G, S, C, WD_DECOUPLED, false, COPY>(b, c)),
            (Decay::Decoupled(_), true) => I::enter(variant::<P, G, S, C, WD_DECOUPLED, true, COPY>(b, c)),
        }
    }
}

/// Picks the variant for the layout and options, then runs it on the tier `I`.
///
/// # Safety
/// Lengths are equal and the layout is supported (checked by the caller);
/// the tier `I` is available.
pub(crate) unsafe fn run<I: HalfLanes + Enter>(b: MixedAdamBuffers<'_>, c: &MixedAdamCoefficients) {
    use Dtype::{Bf16, F16, F32};
    let layout = b.layout().expect("checked by the caller");
    // SAFETY: forwarded from the caller; each arm's types are the layout's.
    unsafe {
        match (layout.param, layout.grad, layout.state, layout.copy) {
            (F32, F32, F32, None) => run_layout::<I, f32, f32, f32, f32, false>(b, c),
            (F32, Bf16, F32, None) => run_layout::<I, f32, bf16, f32, f32, false>(b, c),
            (F32, F16, F32, None) => run_layout::<I, f32, f16, f32, f32, false>(b, c),
            (F32, F32, F32, Some(Bf16)) => run_layout::<I, f32, f32, f32, bf16, true>(b, c),
            (F32, Bf16, F32, Some(Bf16)) => run_layout::<I, f32, bf16, f32, bf16, true>(b, c),
            (F32, F16, F32, Some(Bf16)) => run_layout::<I, f32, f16, f32, bf16, true>(b, c),
            (F32, F32, F32, Some(F16)) => run_layout::<I, f32, f32, f32, f16, true>(b, c),
            (F32, Bf16, F32, Some(F16)) => run_layout::<I, f32, bf16, f32, f16, true>(b, c),
            (F32, F16, F32, Some(F16)) => run_layout::<I, f32, f16, f32, f16, true>(b, c),
            (Bf16, Bf16, F32, None) => run_layout::<I, bf16, bf16, f32, f32, false>(b, c),
            (Bf16, Bf16, Bf16, None) => run_layout::<I, bf16, bf16, bf16, f32, false>(b, c),
            (F16, F16, F32, None) => run_layout::<I, f16, f16, f32, f32, false>(b, c),
            _ => unreachable!("unsupported layout {layout}: checked by the caller"),
        }
    }
}

/// True if any element of `grad`, multiplied by `scale`, is infinite or NaN.
///
/// # Safety
/// The tier `I` is available.
pub(crate) unsafe fn run_non_finite<I: HalfLanes + Enter>(grad: &MixedSlice<'_>, scale: f32) -> bool {
    // SAFETY: forwarded from the caller.
    unsafe {
        match grad {
            MixedSlice::F32(s) => I::enter(NonFiniteVariant { grad: s, scale }),
            MixedSlice::Bf16(s) => I::enter(NonFiniteVariant { grad: s, scale }),
            MixedSlice::F16(s) => I::enter(NonFiniteVariant { grad: s, scale }),
        }
    }
}

/// The `found_inf` scan of one gradient type (see [`Variant`]).
struct NonFiniteVariant<'a, T> {
    grad: &'a [T],
    scale: f32,
}

impl<I: HalfLanes, T: Storage> Variant<I> for NonFiniteVariant<'_, T> {
    type Output = bool;

    #[inline(always)]
    unsafe fn run(self) -> bool {
        let (n, p) = (self.grad.len(), self.grad.as_ptr());
        // SAFETY: every range read lies inside `0..n`; the tier is available.
        unsafe {
            let scale = I::splat(self.scale);
            let mut found = false;
            let mut i = 0;
            while i + I::N <= n {
                found |= I::any_non_finite(I::mul(T::load::<I>(p.add(i), I::N), scale));
                i += I::N;
            }
            if i < n {
                found |= I::any_non_finite(I::mul(T::load::<I>(p.add(i), n - i), scale));
            }
            found
        }
    }
}

/// One mixed-precision Adam step on the dispatched tier.
///
/// # Panics
/// If the lengths differ, a state buffer's type differs from `exp_avg`'s, or
/// the layout is not one of [`MixedLayout::SUPPORTED`] (checked before
/// anything is written).
pub fn adam_mixed(buffers: MixedAdamBuffers<'_>, coefficients: &MixedAdamCoefficients) {
    buffers.assert_valid();
    // SAFETY: the dispatched table belongs to an available tier; the buffers were checked.
    unsafe { (crate::dispatch::dispatched_table().adam_mixed)(buffers, coefficients) }
}

/// One mixed-precision Adam step on a forced tier, or an error (and nothing
/// written) if the CPU lacks it.
///
/// # Panics
/// As [`adam_mixed`].
pub fn adam_mixed_on(
    tier: crate::Tier,
    buffers: MixedAdamBuffers<'_>,
    coefficients: &MixedAdamCoefficients,
) -> Result<(), crate::TierUnavailable> {
    buffers.assert_valid();
    let table = crate::dispatch::forced_table(tier)?;
    // SAFETY: `forced_table` only returns the table of an available tier; the buffers were checked.
    unsafe { (table.adam_mixed)(buffers, coefficients) };
    Ok(())
}

/// True if any element of `grad`, multiplied by `scale`, is infinite or NaN
/// (the `found_inf` check, on the dispatched tier). Reads only.
pub fn grad_non_finite(grad: &MixedSlice<'_>, scale: f32) -> bool {
    // SAFETY: the dispatched table belongs to an available tier.
    unsafe { (crate::dispatch::dispatched_table().grad_non_finite)(grad, scale) }
}

/// [`grad_non_finite`] on a forced tier.
pub fn grad_non_finite_on(
    tier: crate::Tier,
    grad: &MixedSlice<'_>,
    scale: f32,
) -> Result<bool, crate::TierUnavailable> {
    let table = crate::dispatch::forced_table(tier)?;
    // SAFETY: `forced_table` only returns the table of an available tier.
    Ok(unsafe { (table.grad_non_finite)(grad, scale) })
}
