//! Which threads the steps use, and the tier they run on.
//!
//! The default (`set_num_threads(0)`, backend `"auto"`) shares the host's
//! cores: when an OpenMP runtime is loaded in the process (PyTorch loads
//! its `libgomp`), a large step runs on that runtime's team, the threads
//! torch's own operators run on, sized by `omp_get_max_threads()` at each
//! step, which `torch.set_num_threads` sets; without one, on rayon's global
//! pool (one thread per CPU). The runtime is looked for again when torch
//! appears (`import fused_optim.torch`, or the first torch tensor a step
//! is given), so importing torch after `fused_optim` is fine.

use fused_optim::Tier;
use fused_optim::parallel::{OpenMp, Parallelism, binding_parallelism, set_binding_parallelism};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::sync::Mutex;

/// Who runs a split step's pieces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    /// The host's OpenMP team when a runtime is loaded, else rayon.
    Auto,
    /// The host's OpenMP team (an error when no runtime is loaded).
    OpenMp,
    /// The library's own rayon threads.
    Rayon,
}

/// The setting as the caller gave it: a thread count (0: the backend's own)
/// and a backend.
static SETTING: Mutex<(usize, Backend)> = Mutex::new((0, Backend::Auto));

fn setting() -> (usize, Backend) {
    *SETTING.lock().unwrap_or_else(|p| p.into_inner())
}

/// The parallelism a setting names, with the process as it is now.
fn resolve(threads: usize, backend: Backend) -> PyResult<Parallelism> {
    let own = |n| Parallelism::with_threads(n).map_err(|e| PyValueError::new_err(e.to_string()));
    if threads == 1 {
        return own(1);
    }
    let team = match backend {
        Backend::Rayon => None,
        Backend::Auto => OpenMp::loaded(),
        Backend::OpenMp => Some(OpenMp::loaded().ok_or_else(|| {
            PyValueError::new_err(
                "backend='openmp': no OpenMP runtime is loaded in this process (import torch first)",
            )
        })?),
    };
    match team {
        Some(team) if threads <= fused_optim::parallel::MAX_THREADS => {
            Ok(Parallelism::Host(std::sync::Arc::new(team.with_threads(threads))))
        }
        Some(_) => own(threads), // refused with the library's message
        None => own(threads),
    }
}

/// With the automatic backend, looks for the host's OpenMP runtime again
/// (torch may have been imported since); a no-op once it is in use.
pub(crate) fn follow_host() {
    let (threads, backend) = setting();
    if backend == Backend::Auto
        && !matches!(binding_parallelism(), Parallelism::Host(_) | Parallelism::Serial)
        && let Ok(parallelism) = resolve(threads, backend)
    {
        set_binding_parallelism(parallelism);
    }
}

/// _follow_host_threads()
///
/// `fused_optim.torch` calls this on import: with the automatic backend, the
/// steps move to torch's OpenMP team.
#[pyfunction]
pub(crate) fn _follow_host_threads() {
    follow_host();
}

/// set_num_threads(n, backend="auto")
///
/// The threads later steps use. n = 0 (the default): the backend's own
/// count, which for the host's OpenMP team follows `omp_get_max_threads()`
/// (and so `torch.set_num_threads`) at each step; n = 1: the calling thread
/// only; n > 1: n threads. backend "auto" (the default): the host's OpenMP
/// team when a runtime is loaded (torch loads one), else rayon's threads;
/// "openmp": the host's OpenMP team (ValueError when none is loaded);
/// "rayon": the library's own threads (a pool of n, or one per CPU for 0).
/// Steps below about 512 KiB of memory traffic run on the calling thread
/// anyway. The results are the same bits for every setting.
#[pyfunction]
#[pyo3(signature = (n, backend = "auto"))]
pub(crate) fn set_num_threads(n: usize, backend: &str) -> PyResult<()> {
    let backend = match backend {
        "auto" => Backend::Auto,
        "openmp" => Backend::OpenMp,
        "rayon" => Backend::Rayon,
        other => {
            return Err(PyValueError::new_err(format!(
                "backend={other:?}: expected \"auto\", \"openmp\" or \"rayon\""
            )));
        }
    };
    let parallelism = resolve(n, backend)?;
    *SETTING.lock().unwrap_or_else(|p| p.into_inner()) = (n, backend);
    set_binding_parallelism(parallelism);
    Ok(())
}

/// get_num_threads() -> int
///
/// The threads a large step is split across under the current setting (for
/// the host's OpenMP team following its runtime: the runtime's count now).
#[pyfunction]
pub(crate) fn get_num_threads() -> usize {
    binding_parallelism().threads()
}

/// get_backend() -> str
///
/// Who runs a large step now: "openmp" (the host's team), "rayon" or
/// "serial".
#[pyfunction]
pub(crate) fn get_backend() -> &'static str {
    match binding_parallelism() {
        Parallelism::Serial => "serial",
        Parallelism::Host(_) => "openmp",
        _ => "rayon",
    }
}

/// tier() -> str
///
/// The instruction set the steps run on in this process: "avx512", "avx2"
/// or "portable" (SSE2 on x86-64, NEON on aarch64), chosen at run time.
#[pyfunction]
pub(crate) fn tier() -> String {
    Tier::dispatched().to_string()
}
