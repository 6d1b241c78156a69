//! Which threads the steps use, and the tier they run on.

use fused_optim::Parallelism;
use fused_optim::Tier;
use fused_optim::parallel::{binding_parallelism, set_binding_parallelism};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// set_num_threads(n)
///
/// The threads later steps use: 0 for rayon's global pool (the default: one
/// thread per CPU), 1 for the calling thread only, n > 1 for a pool of n
/// threads owned by the library (replacing an earlier one). Steps below
/// about 512 KiB of memory traffic run on the calling thread anyway. The
/// results are the same bits for every setting.
#[pyfunction]
pub(crate) fn set_num_threads(n: usize) -> PyResult<()> {
    let parallelism = Parallelism::with_threads(n).map_err(|e| PyValueError::new_err(e.to_string()))?;
    set_binding_parallelism(parallelism);
    Ok(())
}

/// get_num_threads() -> int
///
/// The threads a large step is split across under the current setting.
#[pyfunction]
pub(crate) fn get_num_threads() -> usize {
    binding_parallelism().threads()
}

/// tier() -> str
///
/// The instruction set the steps run on in this process: "avx512", "avx2"
/// or "portable" (SSE2 on x86-64, NEON on aarch64), chosen at run time.
#[pyfunction]
pub(crate) fn tier() -> String {
    Tier::dispatched().to_string()
}
