//! The mixed-precision step over the lane trait, for every algorithm that
//! has one: `bf16`/`f16` storage, `f32` arithmetic. The loads, the stores
//! (narrowing, stochastic rounding, zero-grad, the copy) and the layouts are
//! written once here; each algorithm brings its `f32` per-vector update as a
//! [`LaneForm`] (the same code its `f32` kernel runs), picked for the call's
//! options by its [`MixedForms`] (the layouts, formula and op order:
//! [`crate::spec::mixed`](mod@crate::spec::mixed)).

use crate::lanes::{Block, Enter, Lanes, Variant, for_each_block};
use crate::narrow::{Dtype, HalfLanes, Storage, bf16, f16, random_lanes};
use crate::operands::{Checked, MAX_MIXED_STATE, MixedBuffers, MixedCoefficients, MixedSlice, MixedUpdate};

/// One algorithm's `f32` per-vector update with its options fixed (const
/// parameters of the implementing type): which state slots it reads and
/// writes, and the arithmetic between the loads and the stores.
pub(crate) trait LaneForm<I: Lanes<f32>>: Sized {
    /// The algorithm's `f32` scalars.
    type Coefficients;
    /// The state slots whose buffers the update reads (others: zero lanes).
    const READS: [bool; MAX_MIXED_STATE];
    /// The state slots whose buffers the update writes.
    const WRITES: [bool; MAX_MIXED_STATE];

    /// The scalars as vectors.
    ///
    /// # Safety
    /// The tier `I` is available.
    unsafe fn new(c: &Self::Coefficients) -> Self;

    /// The new parameter and state slots from the gradient (already scaled
    /// and signed), the parameter and the state slots (those `READS` names).
    ///
    /// # Safety
    /// The tier `I` is available.
    unsafe fn update(
        &self,
        g: I::V,
        p: I::V,
        state: [I::V; MAX_MIXED_STATE],
    ) -> (I::V, [I::V; MAX_MIXED_STATE]);
}

/// A caller waiting for the [`LaneForm`] that fits the call's options.
pub(crate) trait WithForm<I: Lanes<f32>, U> {
    /// What the call returns.
    type Output;

    /// Runs the call with the form `F`.
    fn run<F: LaneForm<I, Coefficients = U>>(self) -> Self::Output;
}

/// An algorithm's side of the mixed-precision step: which [`LaneForm`] runs
/// for its options and the state buffers given.
pub(crate) trait MixedForms: MixedUpdate {
    /// Calls `call.run::<F>()` with the form for these scalars and the
    /// state slots `given` (which hold a buffer).
    fn select<I: Lanes<f32>, W: WithForm<I, Self>>(
        &self,
        given: [bool; MAX_MIXED_STATE],
        call: W,
    ) -> W::Output;
}

/// One supported layout's storage types, as one type parameter.
trait Types {
    /// The parameter's.
    type P: Storage;
    /// The gradient's.
    type G: Storage;
    /// The state buffers'.
    type S: Storage;
    /// The copy's (unused without `COPY`).
    type C: Storage;
    /// Whether a copy is written.
    const COPY: bool;
}

/// The layout `P, G, S, C` (with `COPY`) as [`Types`].
struct Layout<P, G, S, C, const COPY: bool>(core::marker::PhantomData<(P, G, S, C)>);

impl<P: Storage, G: Storage, S: Storage, C: Storage, const COPY: bool> Types for Layout<P, G, S, C, COPY> {
    type P = P;
    type G = G;
    type S = S;
    type C = C;
    const COPY: bool = COPY;
}

/// The per-vector step for one layout `L` and one form `F`.
struct MixedBody<I: HalfLanes, F, L: Types> {
    param: *mut L::P,
    grad: *mut L::G,
    state: [*mut L::S; MAX_MIXED_STATE],
    copy: *mut L::C,
    form: F,
    grad_scale: I::V,
    zero: I::V,
    zero_grad: bool,
    /// The stochastic-rounding keys: the parameter's, then each slot's.
    keys: Option<(u32, [u32; MAX_MIXED_STATE])>,
    position: u32,
}

impl<I: HalfLanes, F, L: Types> MixedBody<I, F, L> {
    /// Stores `v` to `p + o`, stochastically with `key` when stochastic
    /// rounding is on and `T` is `bf16`.
    ///
    /// # Safety
    /// As [`Block::run`].
    #[inline(always)]
    unsafe fn put<T: Storage>(&self, p: *mut T, o: usize, n: usize, v: I::V, key: Option<u32>) {
        // SAFETY: forwarded from the caller.
        unsafe {
            match key {
                Some(key) if T::DTYPE == Dtype::Bf16 => {
                    let random = random_lanes::<I>(key, self.position.wrapping_add(o as u32));
                    T::store_stochastic::<I>(p.add(o), n, v, random)
                }
                _ => T::store::<I>(p.add(o), n, v),
            }
        }
    }
}

impl<I: HalfLanes, F: LaneForm<I>, L: Types> Block for MixedBody<I, F, L> {
    #[inline(always)]
    unsafe fn run(&self, o: usize, n: usize) {
        // SAFETY: `o + n` is within every buffer (the state slots `F` reads
        // or writes and the copy non-null exactly when needed, which the
        // variant asserted); the tier is available.
        unsafe {
            let g = I::mul(L::G::load::<I>(self.grad.add(o), n), self.grad_scale);
            if self.zero_grad {
                L::G::store::<I>(self.grad.add(o), n, self.zero);
            }
            let p = L::P::load::<I>(self.param.add(o), n);
            let mut state = [self.zero; MAX_MIXED_STATE];
            for (k, s) in state.iter_mut().enumerate() {
                if F::READS[k] {
                    *s = L::S::load::<I>(self.state[k].add(o), n);
                }
            }
            let (p, state) = self.form.update(g, p, state);
            for k in 0..MAX_MIXED_STATE {
                if F::WRITES[k] {
                    self.put(self.state[k], o, n, state[k], self.keys.map(|(_, s)| s[k]));
                }
            }
            self.put(self.param, o, n, p, self.keys.map(|(param, _)| param));
            if L::COPY {
                L::C::store::<I>(self.copy.add(o), n, p);
            }
        }
    }
}

/// The raw pointer of a buffer that the layout match says is of type `T`,
/// null when `ON` is off.
///
/// # Panics
/// If the buffer's type is not `T`, or `ON` is set and the buffer is absent
/// (a form that needs a state buffer the caller did not give: checked once
/// per call, before anything is written).
fn pointer<T: Storage>(s: Option<&mut MixedSlice<'_>>, on: bool) -> *mut T {
    if !on {
        return core::ptr::null_mut();
    }
    s.and_then(MixedSlice::typed_ptr::<T>).expect("a buffer the step needs is given, of the matched type")
}

/// One mixed-precision call with its layout `L` and, once the algorithm
/// has picked it, its form `F` fixed (`F = ()` while waiting: see
/// [`WithForm`]); with both, a [`Variant`].
struct MixedCall<'a, 'c, I, U, L, F> {
    token: I,
    buffers: Checked<MixedBuffers<'a>>,
    coefficients: &'c MixedCoefficients<U>,
    _types: core::marker::PhantomData<(L, F)>,
}

impl<'a, 'c, I, U, L, F> MixedCall<'a, 'c, I, U, L, F> {
    fn new(token: I, buffers: Checked<MixedBuffers<'a>>, coefficients: &'c MixedCoefficients<U>) -> Self {
        MixedCall { token, buffers, coefficients, _types: core::marker::PhantomData }
    }
}

impl<I, U, L, F> Variant<I> for MixedCall<'_, '_, I, U, L, F>
where
    I: HalfLanes,
    U: MixedUpdate,
    L: Types,
    F: LaneForm<I, Coefficients = U>,
{
    type Output = ();

    #[inline(always)]
    unsafe fn run(self) {
        let (mut b, _) = self.buffers.into_parts();
        let c = self.coefficients;
        let grad_scale = if c.algorithm.maximize() { -c.grad_scale } else { c.grad_scale };
        let n = b.param.len();
        let mut state = b.state.each_mut().map(Option::as_mut);
        let state = core::array::from_fn(|k| pointer::<L::S>(state[k].take(), F::READS[k] || F::WRITES[k]));
        // SAFETY: the tier is available (caller); the buffers are `Checked`
        // (one length `n`), the pointers come from them with the types matched
        // to `L`'s (`pointer` asserts it, and that every buffer the
        // form touches is given), and `for_each_block` stays inside `0..n`.
        unsafe {
            let body = MixedBody::<I, F, L> {
                param: pointer::<L::P>(Some(&mut b.param), true),
                grad: pointer::<L::G>(Some(&mut b.grad), true),
                state,
                copy: pointer::<L::C>(b.param_copy.as_mut(), L::COPY),
                form: F::new(&c.algorithm),
                grad_scale: I::splat(grad_scale),
                zero: I::splat(0.0),
                zero_grad: c.zero_grad,
                keys: c.stochastic.map(|k| (k.param, k.state)),
                position: b.position as u32,
            };
            for_each_block::<I, f32, _>(n, &body);
        }
    }
}

impl<I, U, L> WithForm<I, U> for MixedCall<'_, '_, I, U, L, ()>
where
    I: HalfLanes + Enter,
    U: MixedUpdate,
    L: Types,
{
    type Output = ();

    #[inline(always)]
    fn run<F: LaneForm<I, Coefficients = U>>(self) {
        let MixedCall { token, buffers, coefficients, .. } = self;
        token.enter(MixedCall::<I, U, L, F>::new(token, buffers, coefficients))
    }
}

/// The algorithm's form for the layout `P, G, S, C` (`COPY`: whether a copy
/// is written), each pair in a `#[target_feature]` function of its own.
#[inline(always)]
fn run_layout<I, U, P, G, S, C, const COPY: bool>(
    token: I,
    buffers: Checked<MixedBuffers<'_>>,
    coefficients: &MixedCoefficients<U>,
) where
    I: HalfLanes + Enter,
    U: MixedForms,
    P: Storage,
    G: Storage,
    S: Storage,
    C: Storage,
{
    let given = buffers.get().given();
    let call = MixedCall::<I, U, Layout<P, G, S, C, COPY>, ()>::new(token, buffers, coefficients);
    coefficients.algorithm.select(given, call)
}

/// One mixed-precision step of the algorithm `U` on the token's tier: the
/// layout (from the check, derived once) picked as type parameters, the
/// algorithm's options as its form, each combination in a
/// `#[target_feature]` function of its own.
pub(crate) fn mixed<I: HalfLanes + Enter, U: MixedForms>(
    token: I,
    b: Checked<MixedBuffers<'_>>,
    c: &MixedCoefficients<U>,
) {
    use Dtype::{Bf16, F16, F32};
    let layout = b.facts();
    match (layout.param, layout.grad, layout.state, layout.copy) {
        (F32, F32, F32, None) => run_layout::<I, U, f32, f32, f32, f32, false>(token, b, c),
        (F32, Bf16, F32, None) => run_layout::<I, U, f32, bf16, f32, f32, false>(token, b, c),
        (F32, F16, F32, None) => run_layout::<I, U, f32, f16, f32, f32, false>(token, b, c),
        (F32, F32, F32, Some(Bf16)) => run_layout::<I, U, f32, f32, f32, bf16, true>(token, b, c),
        (F32, Bf16, F32, Some(Bf16)) => run_layout::<I, U, f32, bf16, f32, bf16, true>(token, b, c),
        (F32, F16, F32, Some(Bf16)) => run_layout::<I, U, f32, f16, f32, bf16, true>(token, b, c),
        (F32, F32, F32, Some(F16)) => run_layout::<I, U, f32, f32, f32, f16, true>(token, b, c),
        (F32, Bf16, F32, Some(F16)) => run_layout::<I, U, f32, bf16, f32, f16, true>(token, b, c),
        (F32, F16, F32, Some(F16)) => run_layout::<I, U, f32, f16, f32, f16, true>(token, b, c),
        (Bf16, Bf16, F32, None) => run_layout::<I, U, bf16, bf16, f32, f32, false>(token, b, c),
        (Bf16, Bf16, Bf16, None) => run_layout::<I, U, bf16, bf16, bf16, f32, false>(token, b, c),
        (F16, F16, F32, None) => run_layout::<I, U, f16, f16, f32, f32, false>(token, b, c),
        (F32, F32, Bf16, None) => run_layout::<I, U, f32, f32, bf16, f32, false>(token, b, c),
        _ => unreachable!("unsupported layout {layout}: `Checked` admits only supported ones"),
    }
}
