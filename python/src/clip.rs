//! `grad_norm`: the global 2-norm of a list of gradients, as the clipped
//! steps compute it (the library's [`fused_optim::clip::grad_norm`]: the same
//! bits on every instruction set and thread count), for callers that clip
//! over more tensors than one step call holds (the torch optimizers' param
//! groups).

use crate::buffers::{Arg, Elem};
use crate::run::{Role, check_disjoint, slice, without_gil};
use fused_optim::clip::grad_norm as library_grad_norm;
use fused_optim::kernels::NormElement;
use fused_optim::mixed::{bf16, f16};
use fused_optim::parallel::binding_parallelism;
use pyo3::prelude::*;

/// grad_norm(grads) -> float
///
/// The 2-norm of every element of `grads` together (a numpy array or CPU
/// torch tensor, or a list of them; float32, float64, bfloat16 or float16,
/// one type per call), as torch.nn.utils.clip_grad_norm_ computes it:
/// squares summed in float64 in the library's fixed order, the same bits on
/// every instruction set and thread count. Reads only.
#[pyfunction]
pub(crate) fn grad_norm(py: Python<'_>, grads: &Bound<'_, PyAny>) -> PyResult<f64> {
    let form = Arg::new(grads).form();
    let grads = Role::read(grads, "grads", form, false)?;
    let elem = grads.buffers.first().map_or(Elem::F32, |b| b.elem);
    grads.expect(elem, &grads.label(0))?;
    let mut spans = Vec::new();
    grads.spans(&mut spans)?;
    check_disjoint(spans)?;
    match elem {
        Elem::F32 => norm::<f32>(py, &grads),
        Elem::F64 => norm::<f64>(py, &grads),
        Elem::Bf16 => norm::<bf16>(py, &grads),
        Elem::F16 => norm::<f16>(py, &grads),
    }
}

fn norm<T: NormElement>(py: Python<'_>, grads: &Role<'_>) -> PyResult<f64> {
    // SAFETY: every buffer passed the span checks (read) and holds `T`
    // (`expect`); the role keeps the arrays alive for this call.
    let slices: Vec<&[T]> = grads.buffers.iter().map(|b| unsafe { slice::<T>(b) }).collect();
    let traffic = slices.iter().map(|s| size_of_val(*s)).sum();
    let parallelism = binding_parallelism();
    Ok(without_gil(py, traffic, || library_grad_norm(&slices, &parallelism)))
}
