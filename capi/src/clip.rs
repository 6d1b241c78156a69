//! Clipping by global gradient norm from C: the norm alone
//! (`fo_grad_norm_f32`/`_f64`), and any algorithm's step with its gradients
//! clipped (`fo_clip_next_step`, then the step, then `fo_last_clip_report`).
//!
//! Clipping reaches every algorithm's existing entry points, single- and
//! multi-tensor, without a new entry point per algorithm and without
//! changing any signature or config layout: `fo_clip_next_step` arms
//! clipping for the **next step call on the calling thread**, which takes it
//! (whether it then succeeds or fails), computes the norm over all of its
//! tensors' gradients, and runs the step with every gradient scaled by the
//! coefficient, as `fused_optim::clip::step_many_clipped` does. A call of
//! another thread is not affected. Every step call sets the calling thread's
//! `fo_last_clip_report`.

use super::checks::{copy_array, span};
use super::status::{fo_status, guard};
use super::threads::parallelism;
use fused_optim_core::Float;
use fused_optim_core::clip::{ClipGradNorm, ClipReport, NonFinite, grad_norm};
use std::cell::Cell;

/// Clipping by global norm: PyTorch's `clip_grad_norm_(…, max_norm)`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct fo_clip_config {
    /// The largest norm the clipped gradients may have: finite and >= 0
    /// (0 zeroes the gradients).
    pub max_norm: f64,
    /// Nonzero: a step whose norm is NaN or infinite is skipped (nothing
    /// written; the report says `skipped`). Zero (PyTorch's behaviour): the
    /// step runs with the coefficient the formula gives (NaN for a NaN norm,
    /// 0 for an infinite one).
    pub skip_non_finite: u8,
}

/// What the calling thread's last step call did about clipping.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct fo_clip_report {
    /// The 2-norm of every gradient of the step together (NaN unless `clipped`).
    pub norm: f64,
    /// `min(1, max_norm/(norm + 1e-6))`, in double; the step multiplied each
    /// gradient by it rounded once to the element type (NaN unless `clipped`).
    pub coefficient: f64,
    /// Nonzero when the norm was not finite and the clip skipped the step.
    pub skipped: u8,
    /// Nonzero when the last step call took an armed clip and returned `FO_OK`.
    pub clipped: u8,
}

/// The report of a step call that did not clip (or failed).
const NOT_CLIPPED: fo_clip_report =
    fo_clip_report { norm: f64::NAN, coefficient: f64::NAN, skipped: 0, clipped: 0 };

thread_local! {
    static ARMED: Cell<Option<ClipGradNorm>> = const { Cell::new(None) };
    static LAST: Cell<fo_clip_report> = const { Cell::new(NOT_CLIPPED) };
}

/// Arms clipping for the calling thread's next `fo_*_step*` call (any
/// algorithm, one tensor or many, f32 or f64, and the mixed-precision steps),
/// replacing any clip armed before; null disarms. Returns `FO_OK`, or
/// `FO_ERROR_HYPERPARAMETER` for a `max_norm` that is negative or not
/// finite, or `FO_ERROR_ALIGNMENT` for a misaligned pointer (nothing armed
/// then).
///
/// The next step call takes the armed clip whatever it returns: a call
/// refused with an error status has consumed it, so arm again before a
/// retry. Arm immediately before the step, with no other library call in
/// between (a host parallel-for that runs queued work on this thread while
/// it waits could otherwise hand the clip to that work's step).
/// `fo_last_clip_report()` then tells what the step found.
///
/// # Safety
/// `clip` is null or points to a valid `fo_clip_config`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_clip_next_step(clip: *const fo_clip_config) -> fo_status {
    guard(|| {
        ARMED.set(None);
        if clip.is_null() {
            return fo_status::FO_OK;
        }
        let run = || -> Result<(), fo_status> {
            span(clip, 1)?; // misaligned: refused before the read
            // SAFETY: non-null and aligned (checked), and valid by the caller's contract.
            let c = unsafe { clip.read() };
            let non_finite = if c.skip_non_finite != 0 { NonFinite::Skip } else { NonFinite::Propagate };
            let clip = ClipGradNorm { max_norm: c.max_norm, non_finite };
            clip.validate()?;
            ARMED.set(Some(clip));
            Ok(())
        };
        run().err().unwrap_or(fo_status::FO_OK)
    })
}

/// What the calling thread's last `fo_*_step*` call did about clipping:
/// `clipped` is nonzero when it took a clip armed by `fo_clip_next_step` and
/// returned `FO_OK`; the norm and coefficient are then those of the step.
#[unsafe(no_mangle)]
pub extern "C" fn fo_last_clip_report() -> fo_clip_report {
    LAST.get()
}

/// The clip armed for this step call, disarmed (every step call takes it,
/// whatever it then returns), and the last report reset.
pub(super) fn take_armed() -> Option<ClipGradNorm> {
    LAST.set(NOT_CLIPPED);
    ARMED.take()
}

/// Records a clipped step's report for `fo_last_clip_report`.
pub(super) fn record(report: &ClipReport) {
    LAST.set(fo_clip_report {
        norm: report.norm,
        coefficient: report.coefficient,
        skipped: u8::from(report.skipped),
        clipped: 1,
    });
}

/// The global norm of `count` gradients into `*norm`.
///
/// # Safety
/// As `fo_grad_norm_f32`.
unsafe fn norm_of<T: Float>(
    grads: *const *const T, lens: *const usize, count: usize, norm: *mut f64,
) -> fo_status {
    guard(|| {
        let run = || -> Result<(), fo_status> {
            span(norm, 1)?;
            let mut slices: Vec<&[T]> = Vec::with_capacity(count);
            if count > 0 {
                // SAFETY: each array is null or valid for `count` reads (the
                // caller's contract); `copy_array` refuses a null or misaligned one.
                let (g, lens) = unsafe { (copy_array(grads, count)?, copy_array(lens, count)?) };
                for (&p, &n) in g.iter().zip(&lens) {
                    if n == 0 {
                        slices.push(&[]);
                        continue;
                    }
                    span(p, n)?;
                    // SAFETY: non-null, aligned, within isize::MAX bytes
                    // (checked) and valid for `n` reads (the caller's
                    // contract); only read, so sharing with any other
                    // gradient is fine.
                    slices.push(unsafe { std::slice::from_raw_parts(p, n) });
                }
            }
            let value = grad_norm(&slices, &parallelism());
            // SAFETY: checked non-null and aligned; valid for a write (the caller's contract).
            unsafe { norm.write(value) };
            Ok(())
        };
        run().err().unwrap_or(fo_status::FO_OK)
    })
}

/// The 2-norm of `count` f32 gradients together (`grads[i]` of `lens[i]`
/// elements), written to `*norm`: the same bits on every CPU tier and thread
/// count (the library's fixed summation order, in double). Reads only.
/// Returns `FO_OK`, or `FO_ERROR_NULL_POINTER`/`FO_ERROR_ALIGNMENT`/
/// `FO_ERROR_LENGTH` for a bad array, gradient or `norm` pointer (nothing
/// written). `count == 0` gives 0.
///
/// # Safety
/// `grads` and `lens` are null or valid for `count` reads; each `grads[i]`
/// is valid for `lens[i]` reads; `norm` is null or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_grad_norm_f32(
    grads: *const *const f32, lens: *const usize, count: usize, norm: *mut f64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { norm_of(grads, lens, count, norm) }
}

/// `fo_grad_norm_f32` over f64 gradients.
///
/// # Safety
/// As `fo_grad_norm_f32`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_grad_norm_f64(
    grads: *const *const f64, lens: *const usize, count: usize, norm: *mut f64,
) -> fo_status {
    // SAFETY: the caller's contract, forwarded.
    unsafe { norm_of(grads, lens, count, norm) }
}
