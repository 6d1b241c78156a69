"""fused-optim from Python: numpy arrays stepped in place through the C ABI (ctypes).

    import numpy as np, fused_optim
    p = np.ones(1000, np.float32); g = np.full(1000, 0.5, np.float32)
    m = np.zeros_like(p); v = np.zeros_like(p)
    fused_optim.adam_step(p, g, m, v, step=1, lr=1e-3)        # p -= ~lr*sign(g)

Also adamax_step, adagrad_step, rmsprop_step and adadelta_step, with
PyTorch's hyperparameter names and defaults.

The library is loaded from $FUSED_OPTIM_LIB, else from target/release/ of the
repository this file sits in (build it with `cargo build --release -p fused-optim-c`).
Every call checks its arguments before calling into the library: the arrays
(dtype float32/float64, one dtype, C-contiguous, writeable, equal sizes) and
every integer that ctypes would otherwise wrap silently (the step number, from
1 to 2**64 - 1; the thread count, from 0 to SIZE_MAX): TypeError for a
non-integer (a float, a bool), ValueError out of range. The library checks
again and returns a status; its refusal raises FusedOptimError. Either way,
nothing is written. An option (amsgrad, maximize, ...) is on when truthy.
"""

import ctypes
import numbers
import os
import pathlib

import numpy as np

__all__ = [
    "FusedOptimError", "adam_step", "adamax_step", "adagrad_step", "rmsprop_step", "adadelta_step",
    "set_threads", "tier", "version",
]


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
        ("amsgrad", ctypes.c_uint8),
        ("maximize", ctypes.c_uint8),
        ("eps_hat", ctypes.c_uint8),
        ("beta1_decay", ctypes.c_double),
    ]


class _AdaMaxConfig(ctypes.Structure):
    _fields_ = [
        ("lr", ctypes.c_double),
        ("beta1", ctypes.c_double),
        ("beta2", ctypes.c_double),
        ("eps", ctypes.c_double),
        ("weight_decay", ctypes.c_double),
        ("maximize", ctypes.c_uint8),
        ("beta1_decay", ctypes.c_double),
    ]


class _AdaGradConfig(ctypes.Structure):
    _fields_ = [
        ("lr", ctypes.c_double),
        ("lr_decay", ctypes.c_double),
        ("weight_decay", ctypes.c_double),
        ("initial_accumulator_value", ctypes.c_double),
        ("eps", ctypes.c_double),
        ("maximize", ctypes.c_uint8),
    ]


class _RmsPropConfig(ctypes.Structure):
    _fields_ = [
        ("lr", ctypes.c_double),
        ("alpha", ctypes.c_double),
        ("eps", ctypes.c_double),
        ("weight_decay", ctypes.c_double),
        ("momentum", ctypes.c_double),
        ("centered", ctypes.c_uint8),
        ("maximize", ctypes.c_uint8),
    ]


class _AdaDeltaConfig(ctypes.Structure):
    _fields_ = [
        ("lr", ctypes.c_double),
        ("rho", ctypes.c_double),
        ("eps", ctypes.c_double),
        ("weight_decay", ctypes.c_double),
        ("maximize", ctypes.c_uint8),
    ]


# Each algorithm's C step: its config type and its number of state buffers
# (fo_<name>_step_<dtype>(param, grad, state..., n, config, step)).
_STEPS = {
    "adam": (_AdamConfig, 3),
    "adamax": (_AdaMaxConfig, 2),
    "adagrad": (_AdaGradConfig, 1),
    "rmsprop": (_RmsPropConfig, 3),
    "adadelta": (_AdaDeltaConfig, 2),
}
_ptr = ctypes.c_void_p
for _algorithm, (_config, _states) in _STEPS.items():
    for _dtype in ("f32", "f64"):
        _fn = getattr(_lib, f"fo_{_algorithm}_step_{_dtype}")
        _fn.argtypes = [_ptr] * (2 + _states) + [ctypes.c_size_t, ctypes.POINTER(_config), ctypes.c_uint64]
        _fn.restype = ctypes.c_int32
_lib.fo_status_message.argtypes = [ctypes.c_int32]
_lib.fo_status_message.restype = ctypes.c_char_p
_lib.fo_tier.restype = ctypes.c_char_p
_lib.fo_version.restype = ctypes.c_char_p
_lib.fo_set_threads.argtypes = [ctypes.c_size_t]
_lib.fo_set_threads.restype = ctypes.c_int32


_U64_MAX = 2**64 - 1
_SIZE_MAX = 2 ** (8 * ctypes.sizeof(ctypes.c_size_t)) - 1


def _integer(name, value, low, high):
    """`value` as an int in [low, high], else TypeError (not an integer; bools are refused) or
    ValueError (out of range): what a ctypes integer argument would otherwise wrap to silently."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}: {value!r}")
    value = int(value)
    if not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {value}")
    return value


def _flag(on):
    """An option as the library's uint8_t flag: 1 when truthy, else 0."""
    return 1 if on else 0


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


def _step(algorithm, param, grad, states, config, step):
    """Checks the step number and the arrays and calls fo_<algorithm>_step_<dtype>; a state that is None
    goes as a null pointer."""
    step = _integer("step", step, 1, _U64_MAX)
    given = [a for a in states if a is not None]
    suffix, n = _arrays(param, grad, *given)
    for a in [param] + given:
        if not a.flags.writeable:
            raise ValueError("param and state arrays must be writeable")
    pointers = [a.ctypes.data if a is not None else None for a in states]
    fn = getattr(_lib, f"fo_{algorithm}_step_{suffix}")
    _check(fn(param.ctypes.data, grad.ctypes.data, *pointers, n, ctypes.byref(config), step))


def adam_step(param, grad, exp_avg, exp_avg_sq, step, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
              weight_decay=0.0, decoupled=False, amsgrad=False, max_exp_avg_sq=None, maximize=False,
              eps_hat=False, beta1_decay=1.0):
    """One Adam step in place (AdamW with decoupled=True; AMSGrad with amsgrad=True and max_exp_avg_sq).

    eps_hat=True: the paper's section 2 form, p -= (lr*sqrt(bc2)/bc1)*m/(sqrt(v) + eps).
    beta1_decay (lambda in (0, 1]): step t uses beta1*lambda**(t-1) in the first moment.
    """
    mode = FO_WEIGHT_DECAY_NONE if weight_decay == 0 else (FO_WEIGHT_DECAY_DECOUPLED if decoupled else FO_WEIGHT_DECAY_L2)
    config = _AdamConfig(lr, betas[0], betas[1], eps, weight_decay, mode, _flag(amsgrad), _flag(maximize),
                         _flag(eps_hat), beta1_decay)
    _step("adam", param, grad, [exp_avg, exp_avg_sq, max_exp_avg_sq], config, step)


def adamax_step(param, grad, exp_avg, exp_inf, step, *, lr=2e-3, betas=(0.9, 0.999), eps=1e-8,
                weight_decay=0.0, maximize=False, beta1_decay=1.0):
    """One AdaMax step in place (eps=0: the paper's Algorithm 2)."""
    config = _AdaMaxConfig(lr, betas[0], betas[1], eps, weight_decay, _flag(maximize), beta1_decay)
    _step("adamax", param, grad, [exp_avg, exp_inf], config, step)


def adagrad_step(param, grad, sum, step, *, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, maximize=False):
    """One AdaGrad step in place. Start `sum` at initial_accumulator_value
    (np.full_like(param, value)); step t uses lr/(1 + (t-1)*lr_decay)."""
    config = _AdaGradConfig(lr, lr_decay, weight_decay, initial_accumulator_value, eps, _flag(maximize))
    _step("adagrad", param, grad, [sum], config, step)


def rmsprop_step(param, grad, square_avg, step, *, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
                 momentum=0.0, centered=False, momentum_buffer=None, grad_avg=None, maximize=False):
    """One RMSprop step in place: momentum_buffer is needed exactly when momentum > 0, grad_avg exactly
    when centered (else the library refuses the step)."""
    config = _RmsPropConfig(lr, alpha, eps, weight_decay, momentum, _flag(centered), _flag(maximize))
    _step("rmsprop", param, grad, [square_avg, momentum_buffer, grad_avg], config, step)


def adadelta_step(param, grad, square_avg, acc_delta, step, *, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0,
                  maximize=False):
    """One AdaDelta step in place."""
    config = _AdaDeltaConfig(lr, rho, eps, weight_decay, _flag(maximize))
    _step("adadelta", param, grad, [square_avg, acc_delta], config, step)


def set_threads(threads):
    """0: rayon's global pool (default); 1: the calling thread; n: a pool of n threads (the library
    refuses more than its FO_MAX_THREADS, 1024, with FusedOptimError and keeps the setting)."""
    _check(_lib.fo_set_threads(_integer("threads", threads, 0, _SIZE_MAX)))


def tier():
    """The instruction-set tier the steps run on ('avx512', 'avx2' or 'portable')."""
    return _lib.fo_tier().decode()


def version():
    return _lib.fo_version().decode()
