"""fused-optim: fused, single-pass CPU optimizer steps for numpy arrays and torch tensors.

The functional steps update their arguments in place, with PyTorch's
hyperparameter names and defaults::

    import numpy as np, fused_optim
    p = np.ones(1000, np.float32); g = np.full(1000, 0.5, np.float32)
    m, v = np.zeros_like(p), np.zeros_like(p)
    fused_optim.adam_step(p, g, m, v, step=1, lr=1e-3)     # p -= ~lr*sign(g)

Each buffer argument is a numpy array or a CPU torch tensor (float32 or
float64; the ``*_step_mixed`` forms also bfloat16 and float16), C-contiguous, or a list
of them (one call steps a whole list). Every call checks dtypes, contiguity,
writeability, sizes, overlap and hyperparameters first and raises
``TypeError``/``ValueError``, having written nothing. A step that moves
256 KiB or more runs with the GIL released (a smaller one takes less time
than handing the GIL over can cost). ``step`` is the step number after
increment (the first update is ``step=1``).

Gradient clipping, fused: every float32/float64 step takes ``max_grad_norm=``; the call then
computes the total 2-norm of its gradients (one read-only pass, the same bits on
every instruction set and thread count), scales each gradient element by
``min(1, max_grad_norm / (norm + 1e-6))`` inside the step (as
``torch.nn.utils.clip_grad_norm_`` followed by the step), and returns the norm.
``grad_norm_non_finite="skip"`` writes nothing when the norm is inf or NaN
(the default, ``"propagate"``, steps with a NaN coefficient, as torch).
``grad_scale=`` (every step, the mixed ones too) multiplies every gradient
element first (an AMP unscale, or a clip coefficient computed over more tensors
than one call holds); ``grad_norm(grads)`` is the norm alone, over tensors of
any of the four types.

bfloat16 from numpy: a ``uint16`` array of the bits or an ``ml_dtypes.bfloat16``
array (numpy has no bfloat16 type of its own).

The drop-in torch optimizers are in ``fused_optim.torch`` (imported on use;
this module does not need torch).

Threads: by default a large step runs on the host's OpenMP team when the
process has loaded an OpenMP runtime (torch does), sized as torch's
(``torch.set_num_threads``), so the step uses the threads torch's own
operators just ran on instead of competing with them; otherwise on the
library's rayon pool. ``set_num_threads(n, backend=...)`` overrides it;
``get_backend()`` says which is in use.
"""

from ._native import (
    __version__,
    adadelta_step,
    adagrad_step,
    adam_step,
    adam_step_8bit,
    adam_step_mixed,
    adamax_step,
    adamw_step,
    dequantize_8bit,
    get_backend,
    get_num_threads,
    grad_norm,
    lion_step,
    lion_step_8bit,
    lion_step_mixed,
    quantize_8bit,
    rmsprop_step,
    set_num_threads,
    sgd_step,
    sgd_step_mixed,
    tier,
)

__all__ = [
    "__version__",
    "adadelta_step",
    "adagrad_step",
    "adam_step",
    "adam_step_8bit",
    "adam_step_mixed",
    "adamax_step",
    "adamw_step",
    "dequantize_8bit",
    "get_backend",
    "get_num_threads",
    "grad_norm",
    "lion_step",
    "lion_step_8bit",
    "lion_step_mixed",
    "quantize_8bit",
    "rmsprop_step",
    "set_num_threads",
    "sgd_step",
    "sgd_step_mixed",
    "tier",
]
