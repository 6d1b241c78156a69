//! The one sequence every Python step runs, for every algorithm: read each
//! argument (one array, or a list of them), check their types, the
//! writeable flags, the spans and overlap, then build the slices and run the
//! library's multi-tensor step (with the GIL released from 256 KiB of
//! traffic). A one-array call is a list of one: the same checks, the same
//! bits. Nothing is written unless every check passed.

use crate::buffers::{Arg, Buffer, Elem, label};
use crate::errors::{library_error, span_error};
use fused_optim::Float;
use fused_optim::algorithms::{Algorithm, MAX_STATE_BUFFERS, Validated};
use fused_optim::clip::{ClipGradNorm, step_many_clipped_validated};
use fused_optim::foreign::{Span, disjoint};
use fused_optim::parallel::binding_parallelism;
use fused_optim::step::step_many_validated;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// Every buffer of one role (`param`, `grad`, a state buffer), one per tensor.
pub(crate) struct Role<'py> {
    pub(crate) name: &'static str,
    pub(crate) buffers: Vec<Buffer<'py>>,
    pub(crate) written: bool,
    /// Whether the call had a list (for the messages: `exp_avg[2]`).
    pub(crate) listed: bool,
}

impl<'py> Role<'py> {
    /// Reads a role's argument, in the parameter's form (`form`: the list's
    /// length, or `None` for one array).
    pub(crate) fn read(
        object: &Bound<'py, PyAny>,
        name: &'static str,
        form: Option<usize>,
        written: bool,
    ) -> PyResult<Role<'py>> {
        let buffers = Arg::new(object).buffers(name, form)?;
        Ok(Role { name, buffers, written, listed: form.is_some() })
    }

    pub(crate) fn label(&self, i: usize) -> String {
        label(self.name, self.listed.then_some(i))
    }

    /// `TypeError` unless every buffer holds `elem`, naming the first that
    /// does not and the one it was compared with.
    pub(crate) fn expect(&self, elem: Elem, of: &str) -> PyResult<()> {
        match self.buffers.iter().position(|b| b.elem != elem) {
            None => Ok(()),
            Some(i) => Err(PyTypeError::new_err(format!(
                "{} is {} but {of} is {}: one dtype per step",
                self.label(i),
                self.buffers[i].elem.name(),
                elem.name()
            ))),
        }
    }

    /// Its spans (after the writeable check of a written role), or the
    /// error naming the buffer. Empty buffers have no span: their address
    /// is never read (a torch tensor without elements has address 0).
    pub(crate) fn spans(&self, spans: &mut Vec<Span>) -> PyResult<()> {
        for (i, b) in self.buffers.iter().enumerate() {
            if self.written && !b.writeable {
                return Err(PyValueError::new_err(format!("{}: the array is read-only", self.label(i))));
            }
            if b.len > 0 {
                let span = b.span().map_err(|e| span_error(e, &self.label(i)))?;
                spans.push(if self.written { span.written() } else { span });
            }
        }
        Ok(())
    }
}

/// `ValueError` if a written buffer of the step shares memory with another
/// buffer of it (the roles' spans must all be in).
pub(crate) fn check_disjoint(mut spans: Vec<Span>) -> PyResult<()> {
    disjoint(&mut spans).map_err(|e| {
        PyValueError::new_err(format!(
            "{e}: every buffer a step writes (param, its state) must be its own memory, apart from every other \
             buffer of the call"
        ))
    })
}

/// A mutable slice over a buffer whose span passed the checks (empty:
/// dangling, never read).
///
/// # Safety
/// `b` passed [`Role::spans`] as written and [`check_disjoint`] with every
/// other buffer of the call, holds `T`, and its object is alive for `'a`.
pub(crate) unsafe fn slice_mut<'a, T>(b: &Buffer<'_>) -> &'a mut [T] {
    if b.len == 0 {
        return &mut [];
    }
    // SAFETY: non-null, aligned, within isize::MAX bytes (`Span::of`), the
    // memory of a live array of `b.len` elements of `T` (its dtype was
    // matched), and no other buffer of the call shares a byte with it
    // (`disjoint`), so this is the only reference to it for the call.
    unsafe { std::slice::from_raw_parts_mut(b.address as *mut T, b.len) }
}

/// A shared slice over a buffer that passed the checks as read.
///
/// # Safety
/// As [`slice_mut`], but the buffer may share memory with other read buffers.
pub(crate) unsafe fn slice<'a, T>(b: &Buffer<'_>) -> &'a [T] {
    if b.len == 0 {
        return &[];
    }
    // SAFETY: as in `slice_mut`; no written buffer shares a byte with it.
    unsafe { std::slice::from_raw_parts(b.address as *const T, b.len) }
}

/// Memory traffic from which a step releases the GIL: 256 KiB, about 5 µs of
/// work at the development machine's bandwidth. Below it the step takes less
/// time than handing the GIL over can cost (releasing and taking it back is
/// about 0.1 µs alone, and taking it back may wait for another Python thread
/// for a whole switch interval, 5 ms by default), as numpy's own loops do.
pub(crate) const RELEASE_GIL_FROM_BYTES: usize = 256 << 10;

/// Runs `step` without the GIL when it moves at least
/// [`RELEASE_GIL_FROM_BYTES`], else holding it.
pub(crate) fn without_gil<R: Send>(py: Python<'_>, traffic: usize, step: impl FnOnce() -> R + Send) -> R {
    if traffic >= RELEASE_GIL_FROM_BYTES { py.detach(step) } else { step() }
}

/// How a step treats its gradients before anything else: a multiplier
/// (`grad_scale`), or clipping by the global norm of the call's gradients
/// (`max_grad_norm`, then the coefficient is the multiplier). Not both: the
/// torch optimizers, which clip over several calls, compute the norm
/// themselves (`grad_norm`) and pass the product as `grad_scale`.
pub(crate) struct GradOptions {
    pub(crate) grad_scale: f64,
    pub(crate) clip: Option<ClipGradNorm>,
}

impl GradOptions {
    /// From the Python keywords; `ValueError` for an unknown rule or both at once.
    pub(crate) fn new(
        grad_scale: f64,
        max_grad_norm: Option<f64>,
        non_finite: &str,
    ) -> PyResult<GradOptions> {
        let skip = match non_finite {
            "propagate" => false,
            "skip" => true,
            other => {
                return Err(PyValueError::new_err(format!(
                    "grad_norm_non_finite must be 'propagate' or 'skip', got {other:?}"
                )));
            }
        };
        if max_grad_norm.is_some() && grad_scale != 1.0 {
            return Err(PyValueError::new_err(
                "grad_scale and max_grad_norm together: pass one (with max_grad_norm the clip coefficient \
                 is the gradients' multiplier)",
            ));
        }
        let clip = match max_grad_norm {
            None => None,
            Some(m) => {
                let clip = if skip { ClipGradNorm::new(m).skip_non_finite() } else { ClipGradNorm::new(m) };
                clip.validate().map_err(|e| PyValueError::new_err(format!("max_grad_norm: {e}")))?;
                Some(clip)
            }
        };
        Ok(GradOptions { grad_scale, clip })
    }
}

/// One step of `A` over the Python arguments: `state` holds the algorithm's
/// state arguments in [`Algorithm::STATE`] order (`None` for an optional
/// buffer not given). Returns the gradients' norm when the step clipped.
pub(crate) fn step<A: Algorithm>(
    py: Python<'_>,
    config: &A,
    t: u64,
    param: &Bound<'_, PyAny>,
    grad: &Bound<'_, PyAny>,
    state: [Option<&Bound<'_, PyAny>>; MAX_STATE_BUFFERS],
    options: &GradOptions,
) -> PyResult<Option<f64>> {
    let form = Arg::new(param).form();
    let param = Role::read(param, "param", form, true)?;
    let grad = Role::read(grad, "grad", form, false)?;
    let mut states: [Option<Role>; MAX_STATE_BUFFERS] = [None, None, None];
    for (k, object) in state.iter().enumerate() {
        if let Some(object) = object {
            states[k] = Some(Role::read(object, A::STATE[k].name, form, true)?);
        }
    }
    let elem = param.buffers.first().map_or(Elem::F32, |b| b.elem);
    let of = param.label(0);
    param.expect(elem, &of)?;
    grad.expect(elem, &of)?;
    states.iter().flatten().try_for_each(|s| s.expect(elem, &of))?;
    match elem {
        Elem::F32 => run::<A, f32>(py, config, t, &param, &grad, &states, options),
        Elem::F64 => run::<A, f64>(py, config, t, &param, &grad, &states, options),
        narrow => Err(PyTypeError::new_err(format!(
            "{of} is {}: this step takes float32 or float64 (bfloat16/float16 parameters: adam_step_mixed)",
            narrow.name()
        ))),
    }
}

fn run<A: Algorithm, T: Float>(
    py: Python<'_>,
    config: &A,
    t: u64,
    param: &Role<'_>,
    grad: &Role<'_>,
    states: &[Option<Role<'_>>; MAX_STATE_BUFFERS],
    options: &GradOptions,
) -> PyResult<Option<f64>> {
    let mut validated = Validated::<A, T>::new(config, t).map_err(|e| library_error(e, false))?;
    validated.set_grad_scale(T::from_f64(options.grad_scale));
    let mut spans = Vec::new();
    param.spans(&mut spans)?;
    grad.spans(&mut spans)?;
    states.iter().flatten().try_for_each(|s| s.spans(&mut spans))?;
    check_disjoint(spans)?;
    let count = param.buffers.len();
    let mut tensors = Vec::with_capacity(count);
    for i in 0..count {
        // SAFETY: every buffer passed the span checks (param and state as
        // written) and the overlap check together, holds `T` (`expect`), and
        // the roles keep the arrays alive for this call.
        let (p, g) = unsafe { (slice_mut::<T>(&param.buffers[i]), slice::<T>(&grad.buffers[i])) };
        // SAFETY: as above.
        let slots =
            std::array::from_fn(|k| states[k].as_ref().map(|s| unsafe { slice_mut::<T>(&s.buffers[i]) }));
        let buffers = A::buffers(p, g, slots).ok_or_else(|| {
            let missing = (0..A::STATE.len()).find(|&k| A::STATE[k].option.is_none() && states[k].is_none());
            PyValueError::new_err(format!(
                "{}: this state buffer is required",
                A::STATE[missing.unwrap_or(0)].name
            ))
        })?;
        tensors.push(buffers);
    }
    let parallelism = binding_parallelism();
    let elements = param.buffers.iter().map(|b| b.len).sum::<usize>();
    let traffic = elements.saturating_mul(validated.bytes_per_element());
    match &options.clip {
        None => without_gil(py, traffic, || step_many_validated(&validated, tensors, &parallelism))
            .map(|()| None)
            .map_err(|e| library_error(e, param.listed)),
        Some(clip) => {
            let traffic = traffic.saturating_add(elements.saturating_mul(T::BYTES));
            without_gil(py, traffic, || step_many_clipped_validated(validated, clip, tensors, &parallelism))
                .map(|report| Some(report.norm))
                .map_err(|e| library_error(e, param.listed))
        }
    }
}
