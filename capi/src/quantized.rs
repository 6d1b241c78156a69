//! 8-bit blockwise state (see [`fused_optim_core::quantized`]): the C entry
//! points of Adam and Lion over `float` parameters and gradients with each
//! state buffer as `uint8_t` codes (one per element) and `float` scales (one
//! per block of `FO_QUANT_BLOCK` elements: `fo_scales_len_8bit(n)` of them),
//! and the conversions between such state and `float` values.
//!
//! The checks, in order (the first failure is returned, nothing written): a
//! null config or options; the config, the options (stochastic rounding is
//! refused: the codes round to nearest) and the step number; each buffer
//! (null, misaligned, oversized) for `n > 0`; overlap between any two
//! buffers or `skipped`; the AMSGrad buffers against the option. Every
//! buffer counts as written, the gradient included (zero-grad writes it).

#![allow(clippy::too_many_arguments)]

use super::checks::{Span, disjoint, span};
use super::clip::take_armed;
use super::configs::{fo_adam_config, fo_lion_config};
use super::many::{read, slice_mut};
use super::mixed::{finish, fo_mixed_options, record_clip};
use super::status::{fo_status, guard};
use super::threads::parallelism;
use fused_optim_core::kernels::MAX_MIXED_STATE;
use fused_optim_core::mixed::{MixedKernel, MixedOptions, StepOutcome};
use fused_optim_core::quantized::{
    QUANT_BLOCK, QuantizedBuffers, QuantizedKernel, QuantizedSlot, quantized_coefficients, scales_len,
    step_quantized_many_with,
};
use fused_optim_core::{AdamConfig, Algorithm, LionConfig};
use std::ptr::null_mut;

/// Elements per block of 8-bit state: each block of each state buffer has one `float` scale.
pub const FO_QUANT_BLOCK: usize = 256;
const _: () = assert!(FO_QUANT_BLOCK == QUANT_BLOCK);

/// The number of scales one 8-bit state buffer of `n` elements has:
/// `ceil(n / FO_QUANT_BLOCK)`.
#[unsafe(no_mangle)]
pub extern "C" fn fo_scales_len_8bit(n: usize) -> usize {
    scales_len(n)
}

/// One state slot as the caller gave it: codes and scales, both null for none.
#[derive(Clone, Copy)]
struct Slot {
    codes: *mut u8,
    scales: *mut f32,
}

impl Slot {
    /// Given when either pointer is non-null (a null one is then refused by its span check).
    fn given(self) -> bool {
        !self.codes.is_null() || !self.scales.is_null()
    }
}

/// One 8-bit-state step of `n` elements of the algorithm `to_config`
/// makes from `config`, with clipping when armed on the calling thread.
///
/// # Safety
/// `config`, `options` null or valid; `skipped` null or valid for a write;
/// `param`, `grad` and each given slot's codes valid for `n` elements and
/// scales for `scales_len(n)`.
unsafe fn step_8bit<C: Copy, A: Algorithm>(
    config: *const C, to_config: fn(C) -> Result<A, fo_status>, param: *mut f32, grad: *mut f32,
    slots: [Slot; MAX_MIXED_STATE], n: usize, options: *const fo_mixed_options, step: u64,
    skipped: *mut bool,
) -> fo_status
where
    A::Coefficients<f32>: MixedKernel + QuantizedKernel,
{
    guard(|| {
        let clip = take_armed();
        let run = || -> Result<StepOutcome, fo_status> {
            // SAFETY: each is null or valid (the caller's contract).
            let (config, options) = unsafe { (read(config)?, read(options)?) };
            let (config, options) = (to_config(config)?, MixedOptions::from(options));
            let coefficients = quantized_coefficients(&config, step, &options)?;
            let mut spans: Vec<Span> = Vec::with_capacity(3 + 2 * MAX_MIXED_STATE);
            if n > 0 {
                if !skipped.is_null() {
                    spans.push(span(skipped.cast_const(), 1)?.written());
                }
                spans.push(span(param.cast_const(), n)?.written());
                spans.push(span(grad.cast_const(), n)?.written());
                for s in slots.iter().filter(|s| s.given()) {
                    spans.push(span(s.codes.cast_const(), n)?.written());
                    spans.push(span(s.scales.cast_const(), scales_len(n))?.written());
                }
                disjoint(&mut spans)?;
            }
            // SAFETY: for n > 0 every buffer passed `span` for its length and
            // no two share a byte (nor with `skipped`), so these are the only
            // references to that memory; for n = 0 no pointer is read.
            let state = slots.map(|s| {
                s.given().then(|| unsafe {
                    QuantizedSlot { codes: slice_mut(s.codes, n), scales: slice_mut(s.scales, scales_len(n)) }
                })
            });
            // SAFETY: as above.
            let buffers =
                unsafe { QuantizedBuffers { param: slice_mut(param, n), grad: slice_mut(grad, n), state } };
            let (outcome, report) = step_quantized_many_with(
                &config,
                &coefficients,
                clip.as_ref(),
                &mut [buffers],
                &options,
                &parallelism(),
            )?;
            record_clip(clip.is_some(), report);
            Ok(outcome)
        };
        // SAFETY: the caller's contract on `skipped`; `run` has returned, so
        // no slice of the step is alive.
        unsafe { finish(run(), skipped) }
    })
}

/// One Adam / AdamW / AMSGrad step of `n` elements with 8-bit blockwise
/// state: `param` is updated in place from `grad` (both `float`), each
/// moment is `uint8_t` codes (`n`) and `float` scales
/// (`fo_scales_len_8bit(n)`): `exp_avg` in the signed code, `exp_avg_sq`
/// and, with AMSGrad, `max_exp_avg_sq` (both null without) in the unsigned
/// one. All-zero codes and scales are the initial state. `options` as for
/// `fo_adam_step_mixed`, without stochastic rounding (refused:
/// `FO_ERROR_HYPERPARAMETER`). Returns `FO_OK`, or an error status and
/// writes nothing; `*skipped` as for `fo_adam_step_mixed`. Clipping armed on
/// the calling thread (`fo_clip_next_step`) clips the unscaled gradient first.
///
/// # Safety
/// `param`, `grad` and each given code buffer valid for reads and writes of
/// `n` elements, each given scale buffer of `fo_scales_len_8bit(n)`;
/// `config` and `options` null or valid; `skipped` null or valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_adam_step_8bit(
    param: *mut f32, grad: *mut f32, exp_avg_codes: *mut u8, exp_avg_scales: *mut f32,
    exp_avg_sq_codes: *mut u8, exp_avg_sq_scales: *mut f32, max_exp_avg_sq_codes: *mut u8,
    max_exp_avg_sq_scales: *mut f32, n: usize, config: *const fo_adam_config,
    options: *const fo_mixed_options, step: u64, skipped: *mut bool,
) -> fo_status {
    let slots = [
        Slot { codes: exp_avg_codes, scales: exp_avg_scales },
        Slot { codes: exp_avg_sq_codes, scales: exp_avg_sq_scales },
        Slot { codes: max_exp_avg_sq_codes, scales: max_exp_avg_sq_scales },
    ];
    // The two moments are always kept: both pointers null is refused, not read as "absent".
    if n > 0 && slots[..2].iter().any(|s| !s.given()) {
        return fo_status::FO_ERROR_NULL_POINTER;
    }
    // SAFETY: the caller's contract, forwarded.
    unsafe { step_8bit(config, AdamConfig::try_from, param, grad, slots, n, options, step, skipped) }
}

/// One Lion step of `n` elements with its momentum in 8-bit blockwise state
/// (`exp_avg`: the signed code), as `fo_adam_step_8bit`. Lion's arithmetic
/// does not read `step`; it must still be at least 1.
///
/// # Safety
/// As `fo_adam_step_8bit`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_lion_step_8bit(
    param: *mut f32, grad: *mut f32, exp_avg_codes: *mut u8, exp_avg_scales: *mut f32, n: usize,
    config: *const fo_lion_config, options: *const fo_mixed_options, step: u64, skipped: *mut bool,
) -> fo_status {
    let none = Slot { codes: null_mut(), scales: null_mut() };
    let slots = [Slot { codes: exp_avg_codes, scales: exp_avg_scales }, none, none];
    if n > 0 && !slots[0].given() {
        return fo_status::FO_ERROR_NULL_POINTER;
    }
    // SAFETY: the caller's contract, forwarded.
    unsafe { step_8bit(config, |c| Ok(LionConfig::from(c)), param, grad, slots, n, options, step, skipped) }
}

/// The checks of a conversion: three nonempty buffers apart (the written side marked by the caller).
fn conversion_spans(mut spans: [Span; 3]) -> Result<(), fo_status> {
    disjoint(&mut spans)
}

/// Encodes `n` `float` values into 8-bit state as a step stores it (per
/// block the absmax as the scale, each value to the nearest code of the
/// signed code when `is_signed` is nonzero, else the unsigned one): how a
/// `float` state (another optimizer's checkpoint) is loaded. Writes `codes`
/// (`n`) and `scales` (`fo_scales_len_8bit(n)`).
///
/// # Safety
/// `values` valid for reads of `n` elements, `codes` and `scales` for
/// writes of theirs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_quantize_8bit(
    values: *const f32, n: usize, is_signed: u8, codes: *mut u8, scales: *mut f32,
) -> fo_status {
    guard(|| {
        let run = || -> Result<(), fo_status> {
            if n > 0 {
                let written = |s: Span| s.written();
                conversion_spans([
                    span(values, n)?,
                    written(span(codes.cast_const(), n)?),
                    written(span(scales.cast_const(), scales_len(n))?),
                ])?;
                // SAFETY: checked above, apart, valid by the caller's contract.
                unsafe {
                    fused_optim_core::quantized::quantize(
                        std::slice::from_raw_parts(values, n),
                        slice_mut(codes, n),
                        slice_mut(scales, scales_len(n)),
                        is_signed != 0,
                    )
                };
            }
            Ok(())
        };
        run().err().unwrap_or(fo_status::FO_OK)
    })
}

/// Decodes 8-bit state into `n` `float` values (code value × block scale;
/// `is_signed` nonzero for the signed code): the `float` state another
/// optimizer's checkpoint holds.
///
/// # Safety
/// `codes` and `scales` valid for reads of `n` and `fo_scales_len_8bit(n)`
/// elements, `values` for writes of `n`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fo_dequantize_8bit(
    codes: *const u8, scales: *const f32, n: usize, is_signed: u8, values: *mut f32,
) -> fo_status {
    guard(|| {
        let run = || -> Result<(), fo_status> {
            if n > 0 {
                conversion_spans([
                    span(values.cast_const(), n)?.written(),
                    span(codes, n)?,
                    span(scales, scales_len(n))?,
                ])?;
                // SAFETY: checked above, apart, valid by the caller's contract.
                unsafe {
                    fused_optim_core::quantized::dequantize(
                        std::slice::from_raw_parts(codes, n),
                        std::slice::from_raw_parts(scales, scales_len(n)),
                        is_signed != 0,
                        slice_mut(values, n),
                    )
                };
            }
            Ok(())
        };
        run().err().unwrap_or(fo_status::FO_OK)
    })
}
