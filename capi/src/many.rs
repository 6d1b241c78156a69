//! The one sequence every C step runs, for every algorithm: read and check
//! the config and the step number, check that each optional state array is
//! given exactly when its option is on, copy the caller's arrays, check every
//! buffer of every tensor (null, alignment, size, overlap), and only then
//! build the slices and run the stateless multi-tensor step. A one-tensor C
//! step is this step over a list of one: the same checks, the same bits.

use super::checks::{copy_array, disjoint, span};
use super::clip::{record, take_armed};
use super::status::{fo_status, guard};
use super::threads::parallelism;
use fused_optim_core::Float;
use fused_optim_core::algorithms::{Algorithm, Validated};
use fused_optim_core::clip::step_many_clipped_validated;
use fused_optim_core::step::step_many_validated;
use std::array::from_fn;
use std::ptr::null;
use std::slice::{from_raw_parts, from_raw_parts_mut};

/// A C config: the Rust config, the algorithm's descriptor, that it
/// converts to. The C steps take the algorithm from their config's type.
pub(super) trait Config: Copy {
    /// The algorithm (its Rust config); the conversion's error is a status.
    type Algorithm: Algorithm + TryFrom<Self, Error: Into<fo_status>>;
}

/// Whether the state buffer `STATE[k]` of `A` is optional (kept only while
/// its option is on).
fn optional<A: Algorithm>(k: usize) -> bool {
    A::STATE[k].option.is_some()
}

/// One step of an algorithm over `count` tensors given by arrays of
/// pointers, `states` holding one array per state buffer in the order of
/// the algorithm's `STATE` (null for an optional buffer that is not given).
///
/// With clipping armed on the calling thread (`fo_clip_next_step`), the
/// gradients of every tensor are clipped by their global norm first (see
/// `clip.rs`).
///
/// Returns `FO_OK`, or the first error in this order, having written nothing:
/// null config, bad config (hyperparameter, step 0), an optional state array
/// given or missing against its option, then, if `count > 0`, a null
/// parameter, gradient, required state or length array, or an optional state
/// array that is on, in that order (null, misaligned, oversized); a null,
/// misaligned or oversized buffer of a nonempty tensor; and overlap.
///
/// # Safety
/// `config` is null or points to a valid `C`. Each non-null array is valid
/// for `count` reads, and each non-null pointer in it valid for reads (and,
/// but for gradients, writes) of `lens[i]` elements for the whole call.
pub(super) unsafe fn step_many<C: Config, T: Float, const K: usize>(
    config: *const C, step: u64, params: *const *mut T, grads: *const *const T, states: [*const *mut T; K],
    lens: *const usize, count: usize,
) -> fo_status {
    const { assert!(K == C::Algorithm::STATE.len(), "one array per state buffer") };
    let optional = optional::<C::Algorithm>;
    guard(|| {
        // Clipping armed for this call (`fo_clip_next_step`) is taken now,
        // whatever the call then returns.
        let clip = take_armed();
        let run = || -> Result<(), fo_status> {
            // SAFETY: `config` is null or valid (the caller's contract).
            let config = C::Algorithm::try_from(unsafe { read(config) }?).map_err(Into::into)?;
            let validated = Validated::<_, T>::new(&config, step)?;
            if (0..K).any(|k| optional(k) && config.keeps(k) == states[k].is_null()) {
                return Err(fo_status::FO_ERROR_STATE_BUFFER);
            }
            if count == 0 {
                if let Some(clip) = &clip {
                    record(&step_many_clipped_validated(validated, clip, [], &parallelism())?);
                }
                return Ok(());
            }
            // SAFETY (this block and `copy`): each array is null or valid for
            // `count` reads (the caller's contract); `copy_array` refuses a
            // null or misaligned one. An optional array is read only when its
            // option is on, and it is then non-null (checked above).
            let (p, g) = unsafe { (copy_array(params, count)?, copy_array(grads, count)?) };
            let mut state: [Option<Vec<*mut T>>; K] = from_fn(|_| None);
            let mut copy = |k: usize| unsafe { copy_array(states[k], count) }.map(|a| state[k] = Some(a));
            (0..K).filter(|&k| !optional(k)).try_for_each(&mut copy)?;
            // SAFETY: as above.
            let lens = unsafe { copy_array(lens, count) }?;
            (0..K).filter(|&k| optional(k) && config.keeps(k)).try_for_each(&mut copy)?;
            let mut spans = Vec::with_capacity(count * (2 + K));
            for (i, &n) in lens.iter().enumerate().filter(|(_, n)| **n > 0) {
                spans.extend([span(p[i], n)?.written(), span(g[i], n)?]);
                for buffer in state.iter().flatten() {
                    spans.push(span(buffer[i], n)?.written());
                }
            }
            disjoint(&mut spans)?;
            // SAFETY: every buffer of a nonempty tensor is non-null, aligned
            // and within isize::MAX bytes (checked above) and valid for its
            // `lens[i]` elements (the caller's contract); no written buffer of
            // any tensor shares a byte with another buffer, so these are the
            // only references to the written memory. Empty tensors' pointers
            // are not read.
            let tensors = (0..count).map(|i| unsafe {
                let n = lens[i];
                let slots = from_fn(|k| state.get(k)?.as_ref().map(|a| slice_mut(a[i], n)));
                // Every required slot is a slice (the arrays were checked
                // above), so the descriptor builds the set; a descriptor
                // that disagrees with its own `STATE` is a bug, caught at
                // the boundary as `FO_ERROR_INTERNAL` before anything is written.
                C::Algorithm::buffers(slice_mut(p[i], n), slice(g[i], n), slots)
                    .expect("the required state slots are given")
            });
            match &clip {
                Some(clip) => record(&step_many_clipped_validated(validated, clip, tensors, &parallelism())?),
                None => step_many_validated(&validated, tensors, &parallelism())?,
            }
            Ok(())
        };
        run().err().unwrap_or(fo_status::FO_OK)
    })
}

/// [`step_many`] over one tensor of `n` elements: the same checks, the same
/// bits. Each buffer is an array of one pointer; an optional state buffer's
/// null pointer is a null array ("not given"), a required one's a null
/// buffer.
///
/// # Safety
/// `config` is null or points to a valid `C`; each non-null pointer is valid
/// for reads (and, but for `grad`, writes) of `n` elements for the whole call.
pub(super) unsafe fn step<C: Config, T: Float, const K: usize>(
    config: *const C, step: u64, param: *mut T, grad: *const T, state: [*mut T; K], n: usize,
) -> fo_status {
    let optional = optional::<C::Algorithm>;
    let states: [_; K] =
        from_fn(|k| if optional(k) && state[k].is_null() { null() } else { &raw const state[k] });
    // SAFETY: the caller's contract, forwarded: each array is null or holds
    // one pointer, valid for `n` elements.
    unsafe { step_many(config, step, &param, &grad, states, &n, 1) }
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
