"""fused-optim from Python: numpy arrays stepped in place through the C ABI (ctypes).

    import numpy as np, fused_optim
    p = np.ones(1000, np.float32); g = np.full(1000, 0.5, np.float32)
    m = np.zeros_like(p); v = np.zeros_like(p)
    fused_optim.adam_step(p, g, m, v, step=1, lr=1e-3)        # p -= ~lr*sign(g)

The library is loaded from $FUSED_OPTIM_LIB, else from target/release/ of the
repository this file sits in (build it with `cargo build --release`).
Every call checks its arrays (dtype float32/float64, one dtype, C-contiguous,
writeable, equal sizes) before calling into the library, which checks again
and returns a status; an error raises FusedOptimError and writes nothing.
"""

import ctypes
import os
import pathlib

import numpy as np

__all__ = ["FusedOptimError", "adam_step", "adamax_step", "set_threads", "tier", "version"]


class FusedOptimError(RuntimeError):
    """A step was refused (the message says why); nothing was written."""


def _load():
    path = os.environ.get("FUSED_OPTIM_LIB")
    if path is None:
        root = pathlib.Path(__file__).resolve().parents[2]
        path = root / "target" / "release" / "libfused_optim.so"
    return ctypes.CDLL(str(path))


_lib = _load()

FO_WEIGHT_DECAY_NONE, FO_WEIGHT_DECAY_L2, FO_WEIGHT_DECAY_DECOUPLED = 0, 1, 2


class _AdamConfig(ctypes.Structure):
    _fields_ = [
        ("lr", ctypes.c_double),
        ("beta1", ctypes.c_double),
        ("beta2", ctypes.c_double),
        ("eps", ctypes.c_double),
        ("weight_decay", ctypes.c_double),
        ("weight_decay_mode", ctypes.c_uint32),
        ("amsgrad", ctypes.c_bool),
        ("maximize", ctypes.c_bool),
    ]


class _AdaMaxConfig(ctypes.Structure):
    _fields_ = [
        ("lr", ctypes.c_double),
        ("beta1", ctypes.c_double),
        ("beta2", ctypes.c_double),
        ("eps", ctypes.c_double),
        ("weight_decay", ctypes.c_double),
        ("maximize", ctypes.c_bool),
    ]


_ptr = ctypes.c_void_p
for _name in ("fo_adam_step_f32", "fo_adam_step_f64"):
    getattr(_lib, _name).argtypes = [_ptr, _ptr, _ptr, _ptr, _ptr, ctypes.c_size_t, ctypes.POINTER(_AdamConfig), ctypes.c_uint64]
    getattr(_lib, _name).restype = ctypes.c_int32
for _name in ("fo_adamax_step_f32", "fo_adamax_step_f64"):
    getattr(_lib, _name).argtypes = [_ptr, _ptr, _ptr, _ptr, ctypes.c_size_t, ctypes.POINTER(_AdaMaxConfig), ctypes.c_uint64]
    getattr(_lib, _name).restype = ctypes.c_int32
_lib.fo_status_message.argtypes = [ctypes.c_int32]
_lib.fo_status_message.restype = ctypes.c_char_p
_lib.fo_tier.restype = ctypes.c_char_p
_lib.fo_version.restype = ctypes.c_char_p
_lib.fo_set_threads.argtypes = [ctypes.c_size_t]
_lib.fo_set_threads.restype = ctypes.c_int32


def _check(status):
    if status != 0:
        raise FusedOptimError(_lib.fo_status_message(status).decode())


def _arrays(*arrays):
    """The common dtype suffix ('f32'/'f64') and size, after checking every array."""
    dtype = arrays[0].dtype
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"arrays must be float32 or float64, not {dtype}")
    for a in arrays:
        if not isinstance(a, np.ndarray):
            raise TypeError("every buffer must be a numpy array")
        if a.dtype != dtype:
            raise TypeError(f"all arrays must have one dtype: {dtype} and {a.dtype}")
        if not a.flags.c_contiguous:
            raise ValueError("arrays must be C-contiguous")
        if a.size != arrays[0].size:
            raise ValueError(f"arrays must have one size: {arrays[0].size} and {a.size}")
    return ("f32" if dtype == np.float32 else "f64"), arrays[0].size


def adam_step(param, grad, exp_avg, exp_avg_sq, step, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
              weight_decay=0.0, decoupled=False, amsgrad=False, max_exp_avg_sq=None, maximize=False):
    """One Adam step in place (AdamW with decoupled=True; AMSGrad with amsgrad=True and max_exp_avg_sq)."""
    buffers = [param, grad, exp_avg, exp_avg_sq] + ([max_exp_avg_sq] if max_exp_avg_sq is not None else [])
    suffix, n = _arrays(*buffers)
    for a in (param, exp_avg, exp_avg_sq) + ((max_exp_avg_sq,) if max_exp_avg_sq is not None else ()):
        if not a.flags.writeable:
            raise ValueError("param and state arrays must be writeable")
    mode = FO_WEIGHT_DECAY_NONE if weight_decay == 0 else (FO_WEIGHT_DECAY_DECOUPLED if decoupled else FO_WEIGHT_DECAY_L2)
    config = _AdamConfig(lr, betas[0], betas[1], eps, weight_decay, mode, amsgrad, maximize)
    vmax = max_exp_avg_sq.ctypes.data if max_exp_avg_sq is not None else None
    fn = getattr(_lib, f"fo_adam_step_{suffix}")
    _check(fn(param.ctypes.data, grad.ctypes.data, exp_avg.ctypes.data, exp_avg_sq.ctypes.data, vmax, n,
              ctypes.byref(config), step))


def adamax_step(param, grad, exp_avg, exp_inf, step, *, lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
                weight_decay=0.0, maximize=False):
    """One AdaMax step in place."""
    suffix, n = _arrays(param, grad, exp_avg, exp_inf)
    for a in (param, exp_avg, exp_inf):
        if not a.flags.writeable:
            raise ValueError("param and state arrays must be writeable")
    config = _AdaMaxConfig(lr, betas[0], betas[1], eps, weight_decay, maximize)
    fn = getattr(_lib, f"fo_adamax_step_{suffix}")
    _check(fn(param.ctypes.data, grad.ctypes.data, exp_avg.ctypes.data, exp_inf.ctypes.data, n,
              ctypes.byref(config), step))


def set_threads(threads):
    """0: rayon's global pool (default); 1: the calling thread; n: a pool of n threads."""
    _check(_lib.fo_set_threads(threads))


def tier():
    """The instruction-set tier the steps run on ('avx512', 'avx2' or 'portable')."""
    return _lib.fo_tier().decode()


def version():
    return _lib.fo_version().decode()
