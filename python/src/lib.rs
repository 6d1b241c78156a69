//! The native part of the Python package `fused_optim` (`fused_optim._native`):
//! the functional steps over numpy arrays and CPU torch tensors, the thread
//! setting and the dispatched tier. The torch optimizers
//! (`fused_optim.torch`) are Python, over these functions.
//!
//! Layers, bottom first: `errors` and `buffers` (what a Python argument is
//! in memory), `run` (the checks and the one generic step), then the entry
//! points (`algorithms`, `mixed`, `quantized`, `clip`, `threads`), torch's step counts (`step_counts`), the benchmarks' hooks (`bench`) and this module.

mod algorithms;
mod bench;
mod buffers;
mod clip;
mod errors;
mod mixed;
mod quantized;
mod run;
mod step_counts;
mod threads;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(algorithms::adam_step, m)?)?;
    m.add_function(wrap_pyfunction!(algorithms::adamw_step, m)?)?;
    m.add_function(wrap_pyfunction!(algorithms::adamax_step, m)?)?;
    m.add_function(wrap_pyfunction!(algorithms::adagrad_step, m)?)?;
    m.add_function(wrap_pyfunction!(algorithms::rmsprop_step, m)?)?;
    m.add_function(wrap_pyfunction!(algorithms::adadelta_step, m)?)?;
    m.add_function(wrap_pyfunction!(algorithms::sgd_step, m)?)?;
    m.add_function(wrap_pyfunction!(algorithms::lion_step, m)?)?;
    m.add_function(wrap_pyfunction!(clip::grad_norm, m)?)?;
    m.add_function(wrap_pyfunction!(mixed::adam_step_mixed, m)?)?;
    m.add_function(wrap_pyfunction!(mixed::lion_step_mixed, m)?)?;
    m.add_function(wrap_pyfunction!(mixed::sgd_step_mixed, m)?)?;
    m.add_function(wrap_pyfunction!(quantized::adam_step_8bit, m)?)?;
    m.add_function(wrap_pyfunction!(quantized::lion_step_8bit, m)?)?;
    m.add_function(wrap_pyfunction!(quantized::quantize_8bit, m)?)?;
    m.add_function(wrap_pyfunction!(quantized::dequantize_8bit, m)?)?;
    m.add_function(wrap_pyfunction!(threads::set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(threads::get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(threads::get_backend, m)?)?;
    m.add_function(wrap_pyfunction!(threads::_follow_host_threads, m)?)?;
    m.add_function(wrap_pyfunction!(threads::tier, m)?)?;
    m.add_function(wrap_pyfunction!(step_counts::_read_step_counts, m)?)?;
    m.add_function(wrap_pyfunction!(step_counts::_write_step_counts, m)?)?;
    m.add_function(wrap_pyfunction!(bench::_time_rust_adam_step, m)?)?;
    m.add_function(wrap_pyfunction!(bench::_probe, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
