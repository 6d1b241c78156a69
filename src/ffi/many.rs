//! The one sequence every C step runs, for every algorithm: read and check
//! the config and the step number, check that each optional state array is
//! given exactly when its option is on, copy the caller's arrays, check every
//! buffer of every tensor (null, alignment, size, overlap), and only then
//! build the slices and run the stateless multi-tensor step. A one-tensor C
//! step is this step over a list of one: the same checks, the same bits.

use super::checks::{copy_array, disjoint, span};
use super::{fo_status, guard, parallelism};
use crate::Float;
use crate::algorithms::{Algorithm, MAX_STATE_BUFFERS, Validated};
use crate::step::step_many_validated;
use std::array::from_fn;
use std::slice::{from_raw_parts, from_raw_parts_mut};

/// The state buffers of a C step, each an array of `count` pointers (one per
/// tensor): `R` that every step writes, and `O` optional ones, each with
/// whether its option is on. An optional array must be non-null exactly when
/// its option is on, else `FO_ERROR_STATE_BUFFER`.
pub(super) struct States<T, const R: usize, const O: usize> {
    pub(super) required: [*const *mut T; R],
    pub(super) optional: [(*const *mut T, bool); O],
}

/// One step of an algorithm over `count` tensors given by arrays of
/// pointers. `A` is the Rust config the C config `C` converts to; `states`
/// names the state arrays (and, from the config, which optional ones are
/// on), in the order of `A::STATE`: the required ones, then the optional.
///
/// Returns `FO_OK`, or the first error in this order, having written nothing:
/// null config, bad config (hyperparameter, step 0), an optional state array
/// given or missing against its option, then, if `count > 0`, a null array,
/// a null, misaligned or oversized buffer of a nonempty tensor, and overlap.
///
/// # Safety
/// `config` is null or points to a valid `C`. Each non-null array is valid
/// for `count` reads, and each non-null pointer in it valid for reads (and,
/// but for gradients, writes) of `lens[i]` elements for the whole call.
pub(super) unsafe fn step<C, A, T, const R: usize, const O: usize>(
    config: *const C,
    step: u64,
    params: *const *mut T,
    grads: *const *const T,
    lens: *const usize,
    count: usize,
    states: impl FnOnce(&A) -> States<T, R, O>,
) -> fo_status
where
    C: Copy,
    A: Algorithm + TryFrom<C>,
    fo_status: From<A::Error>,
    T: Float,
{
    guard(|| {
        let run = || -> Result<(), fo_status> {
            // SAFETY: `config` is null or valid (the caller's contract).
            let config = A::try_from(unsafe { read(config) }?)?;
            let validated = Validated::<A, T>::new(&config, step)?;
            let States { required, optional } = states(&config);
            if optional.iter().any(|&(array, on)| on == array.is_null()) {
                return Err(fo_status::FO_ERROR_STATE_BUFFER);
            }
            if count == 0 {
                return Ok(());
            }
            // SAFETY: each array is null or valid for `count` reads (the
            // caller's contract); `copy_array` refuses a null or misaligned one.
            let (p, g, required, lens) = unsafe {
                (
                    copy_array(params, count)?,
                    copy_array(grads, count)?,
                    required.iter().map(|&a| copy_array(a, count)).collect::<Result<Vec<_>, _>>()?,
                    copy_array(lens, count)?,
                )
            };
            let optional = optional
                .iter()
                .map(|&(a, on)| match on {
                    // SAFETY: as above; an optional array is read only when
                    // its option is on, and it is then non-null (checked above).
                    true => unsafe { copy_array(a, count) }.map(Some),
                    false => Ok(None),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut spans = Vec::with_capacity(count * (2 + R + O));
            for (i, &n) in lens.iter().enumerate().filter(|(_, n)| **n > 0) {
                spans.extend([span(p[i], n)?.written(), span(g[i], n)?]);
                for state in required.iter().chain(optional.iter().flatten()) {
                    spans.push(span(state[i], n)?.written());
                }
            }
            disjoint(&mut spans)?;
            // SAFETY: every buffer of a nonempty tensor is non-null, aligned
            // and within isize::MAX bytes (checked above) and valid for its
            // `lens[i]` elements (the caller's contract); no written buffer of
            // any tensor shares a byte with another buffer, so these are the
            // only references to the written memory. Empty tensors' pointers
            // are not read.
            let mut tensors: Vec<A::Buffers<'_, T>> = (0..count)
                .map(|i| unsafe {
                    let n = lens[i];
                    let slots: [Option<&mut [T]>; MAX_STATE_BUFFERS] = from_fn(|k| match k {
                        k if k < R => Some(slice_mut(required[k][i], n)),
                        k if k < R + O => optional[k - R].as_ref().map(|a| slice_mut(a[i], n)),
                        _ => None,
                    });
                    A::buffers(slice_mut(p[i], n), slice(g[i], n), slots)
                })
                .collect::<Option<_>>()
                .ok_or(fo_status::FO_ERROR_INTERNAL)?;
            step_many_validated(&validated, &mut tensors, &parallelism())?;
            Ok(())
        };
        run().err().unwrap_or(fo_status::FO_OK)
    })
}

/// A one-tensor step's optional buffer as a one-element array: a null
/// pointer is a null array, "not given".
pub(super) fn optional<T>(buffer: &*mut T) -> *const *mut T {
    if buffer.is_null() { std::ptr::null() } else { buffer }
}

/// Reads the config, or `FO_ERROR_NULL_POINTER`.
///
/// # Safety
/// `config` is null or points to a valid value.
pub(super) unsafe fn read<C: Copy>(config: *const C) -> Result<C, fo_status> {
    span(config, 1)?; // null, misaligned: refused before the read
    // SAFETY: non-null and aligned (checked), and valid by the caller's contract.
    unsafe { config.as_ref() }.copied().ok_or(fo_status::FO_ERROR_NULL_POINTER)
}

/// A slice from a checked pointer, empty (and unread) for `n == 0`.
///
/// # Safety
/// For `n > 0`, `ptr` passed `span` and is valid for `n` elements, with no
/// other live reference to that memory.
pub(super) unsafe fn slice_mut<'a, T>(ptr: *mut T, n: usize) -> &'a mut [T] {
    // SAFETY: the caller's contract.
    if n == 0 { &mut [] } else { unsafe { from_raw_parts_mut(ptr, n) } }
}

/// # Safety
/// See `slice_mut`; shared.
unsafe fn slice<'a, T>(ptr: *const T, n: usize) -> &'a [T] {
    // SAFETY: the caller's contract.
    if n == 0 { &[] } else { unsafe { from_raw_parts(ptr, n) } }
}
