//! The kernel bodies: one per algorithm, written once over the lane trait.
//!
//! Each module holds one algorithm's `#[inline(always)]` per-vector update (a
//! [`Block`]) and the function that picks its variant for the call's options
//! and enters it through the tier's token: `fn adam<I: Lanes<T> + Enter, T>`
//! and so on. Every body computes, lane by lane, what its loop in
//! [`crate::spec`] computes, in the op order that module's essay states.
//!
//! A generic module imports the bottom layer only (the lane trait, the
//! element types, the operand types): never `dispatch`, `arch` or `spec`.

pub(crate) mod adadelta;
pub(crate) mod adagrad;
pub(crate) mod adam;
pub(crate) mod adamax;
pub(crate) mod convert;
pub(crate) mod grad_non_finite;
pub(crate) mod grad_norm;
pub(crate) mod lion;
pub(crate) mod mixed;
pub(crate) mod probe;
pub(crate) mod quantized;
pub(crate) mod rmsprop;
pub(crate) mod sgd;
pub(crate) mod state_probe;

use crate::float::Float;
use crate::lanes::{Enter, Lanes, TwoFlags, Variant, by_flags, load_n};

/// The body of a call whose options include two booleans fixed as const
/// flags (most algorithms' `L2` and `MAXIMIZE`): [`enter_with_flags`] runs
/// each pair of flags as a [`Variant`] of its own.
pub(crate) trait FlaggedBody<I> {
    /// What the call returns.
    type Output;

    /// Runs the call with the options `A` and `B` on the tier `I`.
    ///
    /// # Safety
    /// The CPU supports the tier `I` (a token of `I` exists).
    unsafe fn run<const A: bool, const B: bool>(self) -> Self::Output;
}

/// `V` with its flags fixed: one [`Variant`], so one `#[target_feature]`
/// function, per pair.
struct Flags<V, const A: bool, const B: bool>(V);

impl<I, V: FlaggedBody<I>, const A: bool, const B: bool> Variant<I> for Flags<V, A, B> {
    type Output = V::Output;

    #[inline(always)]
    unsafe fn run(self) -> V::Output {
        // SAFETY: forwarded from the caller (the tier's features).
        unsafe { self.0.run::<A, B>() }
    }
}

/// The token and the body, waiting for [`by_flags`] to fix the flags.
struct EnterWith<I, V>(I, V);

impl<I: Enter, V: FlaggedBody<I>> TwoFlags for EnterWith<I, V> {
    type Output = V::Output;

    #[inline(always)]
    fn run<const A: bool, const B: bool>(self) -> V::Output {
        self.0.enter(Flags::<V, A, B>(self.1))
    }
}

/// Runs `body` on the token's tier with `a` and `b` as its const flags.
#[inline(always)]
pub(crate) fn enter_with_flags<I: Enter, V: FlaggedBody<I>>(
    token: I,
    body: V,
    a: bool,
    b: bool,
) -> V::Output {
    by_flags(EnterWith(token, body), a, b)
}

/// The pointer of an optional buffer, null when its option `ON` is off.
///
/// # Panics
/// If `ON` is set and the buffer is absent (the flag is always computed from
/// the buffer, so this is a check on the selection, once per call).
#[inline(always)]
pub(crate) fn optional_ptr<T, const ON: bool>(buffer: Option<&mut [T]>) -> *mut T {
    match buffer {
        Some(s) if ON => s.as_mut_ptr(),
        None if ON => panic!("an option's const flag is set, but its buffer is absent"),
        _ => core::ptr::null_mut(),
    }
}

/// The gradient at `o` scaled and signed, as every algorithm first adjusts
/// it: `g = g·grad_scale` (the clip coefficient, 1 without clipping), then
/// `g = −g` if `MAXIMIZE`.
///
/// # Safety
/// `grad` is valid for `o + n` elements, `n <= N`; the CPU supports the
/// tier `I`.
#[inline(always)]
pub(crate) unsafe fn scaled_grad<I: Lanes<T>, T: Float, const MAXIMIZE: bool>(
    grad: *const T,
    grad_scale: I::V,
    o: usize,
    n: usize,
) -> I::V {
    // SAFETY: forwarded from the caller.
    unsafe {
        let g = I::mul(load_n::<I, T>(grad.add(o), n), grad_scale);
        if MAXIMIZE { I::neg(g) } else { g }
    }
}

/// The gradient and the parameter at `o` as most algorithms first adjust
/// them: [`scaled_grad`], then `g = g + (wd·p)` if `L2`.
///
/// # Safety
/// `grad` and `param` are valid for `o + n` elements, `n <= N`; the CPU
/// supports the tier `I`.
#[inline(always)]
pub(crate) unsafe fn adjusted_grad<I: Lanes<T>, T: Float, const L2: bool, const MAXIMIZE: bool>(
    grad: *const T,
    param: *const T,
    grad_scale: I::V,
    weight_decay: I::V,
    o: usize,
    n: usize,
) -> (I::V, I::V) {
    // SAFETY: forwarded from the caller.
    unsafe {
        let mut g = scaled_grad::<I, T, MAXIMIZE>(grad, grad_scale, o, n);
        let p = load_n::<I, T>(param.add(o), n);
        if L2 {
            g = I::add(g, I::mul(weight_decay, p));
        }
        (g, p)
    }
}
