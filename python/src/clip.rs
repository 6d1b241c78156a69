//! `grad_norm`: the global 2-norm of a list of gradients, as the clipped
//! steps compute it (the library's [`fused_optim::clip::grad_norm`]: the same
//! bits on every instruction set and thread count), for callers that clip
//! over more tensors than one step call holds (the torch optimizers' param
//! groups).

use crate::buffers::{Arg, Elem};
use crate::run::{Role, check_disjoint, slice, without_gil};
use fused_optim::clip::grad_norm_mixed;
use fused_optim::kernels::NormSlice;
use fused_optim::mixed::{bf16, f16};
use fused_optim::parallel::binding_parallelism;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

/// grad_norm(grads) -> float
///
/// The 2-norm of every element of `grads` together (a numpy array or CPU
/// torch tensor, or a list of them; float32, float64, bfloat16 or float16,
/// each tensor its own type), as torch.nn.utils.clip_grad_norm_ computes it:
/// squares summed in float64 in the library's fixed order, the same bits on
/// every instruction set and thread count. Reads only.
#[pyfunction]
pub(crate) fn grad_norm(py: Python<'_>, grads: &Bound<'_, PyAny>) -> PyResult<f64> {
    let form = Arg::new(grads).form();
    let grads = Role::read(grads, "grads", form, false)?;
    let mut spans = Vec::new();
    grads.spans(&mut spans)?;
    check_disjoint(spans)?;
    // SAFETY: every buffer passed the span checks (read), each slice has
    // its buffer's own element type, and the role keeps the arrays alive for
    // this call.
    let slices = grads
        .buffers
        .iter()
        .enumerate()
        .map(|(i, b)| unsafe {
            Ok(match b.elem {
                Elem::F32 => NormSlice::F32(slice::<f32>(b)),
                Elem::F64 => NormSlice::F64(slice::<f64>(b)),
                Elem::Bf16 => NormSlice::Bf16(slice::<bf16>(b)),
                Elem::F16 => NormSlice::F16(slice::<f16>(b)),
                Elem::U8 => {
                    return Err(PyTypeError::new_err(format!(
                        "{} is uint8: gradients are float32, float64, bfloat16 or float16",
                        grads.label(i)
                    )));
                }
            })
        })
        .collect::<PyResult<Vec<NormSlice<'_>>>>()?;
    let traffic = grads.buffers.iter().map(|b| b.len * b.elem.bytes()).sum();
    let parallelism = binding_parallelism();
    Ok(without_gil(py, traffic, || grad_norm_mixed(&slices, &parallelism)))
}
