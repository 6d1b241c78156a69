"""Drop-in ``torch.optim`` optimizers whose step is one fused call per param group.

``Adam``, ``AdamW``, ``Adamax``, ``Adagrad``, ``RMSprop``, ``Adadelta`` and ``SGD``
subclass ``torch.optim.Optimizer`` with torch's constructor signatures, defaults,
param groups, state names and ``state_dict`` layout: a ``state_dict`` saved from
``torch.optim.AdamW`` loads into ``fused_optim.torch.AdamW`` and the other way
round. ``Lion`` does the same for the ``lion-pytorch`` package's ``Lion``. Swap
the class and nothing else changes::

    opt = fused_optim.torch.AdamW(model.parameters(), lr=3e-4)  # was torch.optim.AdamW

How a step runs. ``param_groups`` are read afresh on every ``step()`` (learning
rate schedulers, and engines that swap ``group["params"]`` between steps,
work). The parameters of a group that have a gradient are stepped in one
multi-tensor call of the library per (dtype, step count) -- normally one --
with the GIL released. The state tensors (``exp_avg``, ...) are full-shape
torch tensors, created at the first step (``Adagrad``: in the constructor, as
torch) and updated in place, never replaced, so views of them stay valid.
``state["step"]`` is a scalar tensor as in torch (float32, or float64 under a
float64 default dtype), incremented in place as torch's ``+= 1`` does; a value
that is not a non-negative integer is refused.

Numerics. The arithmetic is torch's formula (``foreach=False``) in the
library's fixed operation order, the same bits on every instruction set and
thread count; it differs from torch's own rounding in the last bits (Adam,
for example, folds the bias corrections into one step size and one epsilon).

Parameters may be float32 or float64 (all algorithms) or, for ``Adam``,
``AdamW``, ``SGD`` and ``Lion``, bfloat16 or float16: those take the
mixed-precision step, which computes in float32 and keeps the state
(``exp_avg``/``exp_avg_sq``, ``momentum_buffer``) in **float32** (torch keeps
it in the parameter's type). A bf16 moment loses the small updates
that (1 - beta2) * g**2 makes to ``exp_avg_sq`` (8 bits of mantissa), so
float32 state is what keeps a bf16 model's Adam close to the float32 one; it
costs 4 more bytes per parameter. A torch ``state_dict`` with bf16 state
loads (the state is widened to float32); torch loads ours (narrowing it).

Lean state (``state_dtype="bf16"``; ``Adam``, ``AdamW`` and ``Lion``). The
moments are kept as ``torch.bfloat16`` tensors of the parameter's shape under
torch's names (``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``): half the state
bytes (``state_bytes_per_param()``: 4 instead of 8 for AdamW). Parameters and
gradients stay float32 (or bf16); each step widens the state, computes in
float32 and rounds the new state to bf16 to nearest even. Its ``state_dict``
is torch's layout with bf16 tensors, so ``torch.optim.AdamW`` loads it (torch
casts state to the parameter's dtype) and tools that read optimizer state by
name and shape see the parameter's shape; a float32 torch ``state_dict`` loads
into it with the moments rounded to bf16 (nearest even).

8-bit state (``state_dtype="int8"``; ``Adam``, ``AdamW`` and ``Lion``, float32
parameters). Each moment is one byte per element through a float-like code
(signed for ``exp_avg``, unsigned for ``exp_avg_sq``/``max_exp_avg_sq``) and one
float32 scale (the absmax) per block of 256 elements: ``2 + 8/256`` bytes per
parameter for AdamW (``state_bytes_per_param()``), and a step moves 16 bytes
per parameter instead of 28. The state is held under names of its own,
``<name>_codes`` (uint8, the parameter's shape) and ``<name>_scales`` (float32,
``ceil(numel / 256)``), and so is its ``state_dict``. ``torch_state_dict()``
gives torch's layout (float32 ``exp_avg``/``exp_avg_sq`` of the parameter's
shape, decoded) for ``torch.optim.AdamW`` and tools that read optimizer state
by name; ``load_state_dict`` takes either layout (a float state is quantized
as a step would store it). The codes, the block size and the rounding are the
library's (``fused_optim::quantized``): every instruction set and thread count
gives the same bytes.

AMP. ``_step_supports_amp_scaling`` is set: ``torch.amp.GradScaler.step`` hands
the optimizer ``grad_scale`` and ``found_inf``. A nonzero ``found_inf`` skips the
step entirely (parameters, state and step counts untouched). Otherwise the
gradients are unscaled inside the fused step (each element times 1/grad_scale
as the step's first operation), never in a pass of their own.

Gradient clipping. Every class takes ``max_grad_norm`` (keyword): each step
then clips the gradients of all param groups together to that total 2-norm,
as ``torch.nn.utils.clip_grad_norm_(params, max_grad_norm)`` before the step
would, at the cost of one read-only pass over the gradients (the norm, the
same bits on every instruction set and thread count); the scaling happens
inside the step. ``optimizer.grad_norm`` is the norm it found (what
``clip_grad_norm_`` returns). A non-finite norm follows
``grad_norm_non_finite``: ``"propagate"`` (torch's default: the step writes
NaN), ``"skip"`` (nothing changes) or ``"error"`` (``RuntimeError``). With AMP,
the norm is that of the unscaled gradients, as after ``GradScaler.unscale_``.

Not supported (a clear error): CUDA and other non-CPU tensors, sparse
gradients, complex parameters, non-contiguous parameters or gradients,
``capturable=True``, ``differentiable=True``, ``fused=True`` (this is the fused
CPU step; ``foreach`` is accepted and ignored).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Optional, Union

import torch
from torch import Tensor

from . import _native

# torch is loaded now: with the automatic thread backend, steps run on its OpenMP team.
_native._follow_host_threads()

__all__ = ["Adam", "AdamW", "Adamax", "Adagrad", "RMSprop", "Adadelta", "SGD", "Lion"]

Params = Union[Iterable[Tensor], Iterable[dict[str, Any]], Iterable[tuple[str, Tensor]]]
Closure = Optional[Callable[[], Any]]

_NARROW = (torch.bfloat16, torch.float16)


class _StateFormat:
    """How an optimizer stores its state buffers: the one place a state format is described (its torch
    dtype, its bytes per element and buffer, which parameter dtypes it serves). A new format is one more
    entry of ``_STATE_FORMATS`` (and its allocation in ``_FusedOptimizer._new_state_tensor``)."""

    def __init__(
        self,
        name: str,
        dtype: Optional[torch.dtype],
        bytes_per_slot: float,
        param_dtypes: tuple[torch.dtype, ...],
        packed: bool = False,
    ) -> None:
        self.name = name
        #: The state tensors' dtype; None: the optimizer's default (the parameter's, float32 for bf16/f16).
        self.dtype = dtype
        self.bytes_per_slot = bytes_per_slot
        self.param_dtypes = param_dtypes
        #: Each state buffer is two tensors, ``<name>_codes`` (uint8, the parameter's shape) and
        #: ``<name>_scales`` (float32, one per block of ``QUANT_BLOCK`` elements), not one.
        self.packed = packed


#: Elements per block of 8-bit state (one float32 scale each).
QUANT_BLOCK = 256


#: The state formats by their ``state_dtype`` name.
_STATE_FORMATS: dict[str, _StateFormat] = {
    "float32": _StateFormat("float32", None, 4.0, (torch.float32, torch.float64) + _NARROW),
    "bf16": _StateFormat("bf16", torch.bfloat16, 2.0, (torch.float32, torch.bfloat16)),
    "int8": _StateFormat("int8", torch.uint8, 1.0 + 4.0 / QUANT_BLOCK, (torch.float32,), packed=True),
}

_STATE_DTYPE_ALIASES = {
    None: "float32",
    "float32": "float32",
    "fp32": "float32",
    "f32": "float32",
    torch.float32: "float32",
    "bf16": "bf16",
    "bfloat16": "bf16",
    torch.bfloat16: "bf16",
    "int8": "int8",
}


def _state_format(owner: str, state_dtype: Any) -> str:
    """The canonical name of a ``state_dtype`` argument, or the error that explains it."""
    try:
        name = _STATE_DTYPE_ALIASES.get(state_dtype)
    except TypeError:  # unhashable
        name = None
    if name is None:
        raise ValueError(f"{owner}: state_dtype must be None, 'float32', 'bf16' or 'int8', got {state_dtype!r}")
    return name


def _scalar_dtype() -> torch.dtype:
    """The dtype torch keeps ``state["step"]`` in."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _blocks(n: int) -> int:
    """The scales of one 8-bit state buffer of ``n`` elements: one per block of ``QUANT_BLOCK``."""
    return -(-n // QUANT_BLOCK)


def _float(name: str, value: Any) -> float:
    """A hyperparameter as a Python float (torch allows tensors for lr and betas)."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name}: a tensor hyperparameter must have one element, got {value.numel()}")
        return float(value.item())
    return float(value)


def _betas(value: Sequence[Any]) -> tuple[float, float]:
    beta1, beta2 = value
    return _float("beta1", beta1), _float("beta2", beta2)


class _FusedOptimizer(torch.optim.Optimizer):
    """The step every optimizer here shares; a subclass names its state and its call."""

    _step_supports_amp_scaling = True
    #: Whether bf16/f16 parameters take the mixed-precision step (Adam, AdamW, SGD, Lion).
    _takes_narrow = False
    #: Whether the state holds torch's ``step`` count (not SGD's nor Lion's).
    _counts_steps = True

    def __init__(
        self,
        params: Params,
        defaults: dict[str, Any],
        max_grad_norm: Optional[float] = None,
        grad_norm_non_finite: str = "propagate",
        state_dtype: Any = None,
    ) -> None:
        #: How the state buffers are stored: ``"float32"`` (the default) or ``"bf16"`` (see the module).
        self.state_dtype = _state_format(type(self).__name__, state_dtype)
        for flag in ("capturable", "differentiable", "fused"):
            if defaults.get(flag):
                raise ValueError(
                    f"{type(self).__name__}({flag}=True) is not supported: fused_optim steps CPU tensors "
                    "with its own fused kernel (foreach is accepted and ignored)"
                )
        if max_grad_norm is not None and not (0.0 <= _float("max_grad_norm", max_grad_norm) < math.inf):
            raise ValueError(f"Invalid max_grad_norm value: {max_grad_norm} (a finite number >= 0, or None)")
        if grad_norm_non_finite not in ("propagate", "skip", "error"):
            raise ValueError(
                f"grad_norm_non_finite must be 'propagate', 'skip' or 'error', got {grad_norm_non_finite!r}"
            )
        #: Clip the gradients of every param group to this total 2-norm as each step's first operation.
        self.max_grad_norm: Optional[float] = None if max_grad_norm is None else _float("max_grad_norm", max_grad_norm)
        #: What a non-finite total norm does: ``"propagate"`` (torch's default: the coefficient is NaN and
        #: so is the step), ``"skip"`` (nothing changes, as with AMP's ``found_inf``) or ``"error"``
        #: (``RuntimeError``, as ``clip_grad_norm_(error_if_nonfinite=True)``).
        self.grad_norm_non_finite = grad_norm_non_finite
        #: The total gradient norm the last step clipped with (after AMP's unscale), or None.
        self.grad_norm: Optional[float] = None
        super().__init__(params, defaults)

    #: The attributes beyond torch's (``defaults``, ``state``, ``param_groups``) that a copy or a
    #: pickled optimizer keeps, with the values an older pickle gets.
    _EXTRA_STATE: dict[str, Any] = {
        "max_grad_norm": None,
        "grad_norm_non_finite": "propagate",
        "grad_norm": None,
        "state_dtype": "float32",
    }

    def __getstate__(self) -> dict[str, Any]:
        state: dict[str, Any] = super().__getstate__()
        state.update({name: getattr(self, name) for name in self._EXTRA_STATE})
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for name, default in self._EXTRA_STATE.items():
            self.__dict__.setdefault(name, default)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """torch's ``add_param_group``, then the checks of what a step can take: CPU, real floating point
        (float32/float64; bfloat16/float16 for Adam, AdamW, SGD and Lion)."""
        super().add_param_group(param_group)
        allowed = (torch.float32, torch.float64) + (_NARROW if self._takes_narrow else ())
        for p in self.param_groups[-1]["params"]:
            if p.device.type != "cpu":
                raise TypeError(f"{type(self).__name__}: a parameter is on {p.device}; fused_optim steps CPU tensors")
            if p.dtype not in allowed:
                hint = (
                    " (bfloat16/float16 parameters: fused_optim.torch.Adam, AdamW, SGD or Lion)"
                    if p.dtype in _NARROW
                    else ""
                )
                raise TypeError(f"{type(self).__name__}: {p.dtype} parameters are not supported{hint}")
            fmt = _STATE_FORMATS[self.state_dtype]
            if p.dtype not in fmt.param_dtypes:
                raise TypeError(
                    f"{type(self).__name__}(state_dtype={self.state_dtype!r}): {p.dtype} parameters are not "
                    f"supported with this state (parameters: {', '.join(str(d) for d in fmt.param_dtypes)})"
                )

    # What a subclass defines.
    def _state_names(self, group: dict[str, Any]) -> list[str]:
        """The state buffers these options keep, in the functional step's argument order."""
        raise NotImplementedError

    def _initial(self, name: str, group: dict[str, Any]) -> float:
        """The initial value of a state buffer."""
        return 0.0

    #: The state buffers stored in 8-bit state's signed code (first moments); the others take the unsigned one.
    _SIGNED_STATE: frozenset[str] = frozenset({"exp_avg", "momentum_buffer"})

    def _state_keys(self, group: dict[str, Any]) -> list[str]:
        """The keys of ``self.state[p]`` that hold the state buffers, in the functional step's argument
        order: the buffers' names, or with packed (8-bit) state each name's ``_codes`` and ``_scales``."""
        names = self._state_names(group)
        if not _STATE_FORMATS[self.state_dtype].packed:
            return names
        return [f"{name}_{part}" for name in names for part in ("codes", "scales")]

    def _call(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        state: list[list[Tensor]],
        step: int,
        group: dict[str, Any],
        grad_scale: Optional[float],
    ) -> None:
        """One multi-tensor call of the functional step; ``grad_scale`` multiplies every gradient element
        first, inside the fused step (AMP's 1/scale times the clip coefficient; None: 1)."""
        raise NotImplementedError

    def _validate(self, group: dict[str, Any]) -> None:
        for flag in ("capturable", "differentiable", "fused"):
            if group.get(flag):
                raise ValueError(f"{type(self).__name__}: {flag}=True is not supported")

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = self.state[p]
        if self._counts_steps and "step" not in state:
            state["step"] = torch.tensor(0.0, dtype=_scalar_dtype())
        for key in self._state_keys(group):
            if state.get(key) is None:  # absent, or None as an old torch checkpoint's momentum_buffer
                state[key] = self._new_state_tensor(p, key, group)
        return state

    def _state_tensor_dtype(self, p: Tensor) -> torch.dtype:
        """The dtype of ``p``'s state tensors: the format's, else float32 for bf16/f16 parameters, else
        the parameter's."""
        fmt = _STATE_FORMATS[self.state_dtype]
        if fmt.dtype is not None:
            return fmt.dtype
        return torch.float32 if p.dtype in _NARROW else p.dtype

    def _new_state_tensor(self, p: Tensor, key: str, group: dict[str, Any]) -> Tensor:
        """A new state buffer of ``p`` under ``key`` (every state format allocates here). Packed state
        starts as all-zero codes and scales, which decode to 0 (every packed algorithm starts from 0)."""
        if _STATE_FORMATS[self.state_dtype].packed:
            if key.endswith("_scales"):
                return torch.zeros(_blocks(p.numel()), dtype=torch.float32)
            return torch.zeros(p.shape, dtype=torch.uint8)
        return torch.full_like(
            p, self._initial(key, group), dtype=self._state_tensor_dtype(p), memory_format=torch.preserve_format
        )

    def _is_mixed(self, p: Tensor) -> bool:
        """Whether ``p``'s step is the mixed-precision one (bf16/f16 parameters, or state of another dtype)."""
        return p.dtype in _NARROW or self._state_tensor_dtype(p) != p.dtype

    def state_bytes_per_param(self) -> float:
        """State bytes per parameter element this optimizer keeps (or will keep, the state being made at
        the first step), averaged over the parameters by element count: the buffers each group's options
        keep times their element size. AdamW: 8 with float32 state, 4 with ``state_dtype="bf16"``, and with
        ``state_dtype="int8"`` one code byte per element plus a float32 scale per block of 256 elements
        (``2 + 8/256`` for a tensor of whole blocks; a tensor's last block counts whole). AMSGrad keeps one
        buffer more; Lion: 4, 2, ``1 + 4/256``. The ``step`` count is not counted."""
        fmt = _STATE_FORMATS[self.state_dtype]
        total = 0.0
        elements = 0
        for group in self.param_groups:
            slots = len(self._state_names(group))
            for p in group["params"]:
                n = p.numel()
                per_slot = n + 4 * _blocks(n) if fmt.packed else n * self._state_tensor_dtype(p).itemsize
                total += slots * per_slot
                elements += n
        if elements == 0:
            return len(self._state_names({**self.defaults})) * fmt.bytes_per_slot
        return total / elements

    @torch.no_grad()
    def step(self, closure: Closure = None) -> Any:
        """One step of every param group (see the module's docstring)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        found_inf = getattr(self, "found_inf", None)
        if found_inf is not None and bool(found_inf.item() != 0):
            self.grad_norm = None
            return loss
        scale = getattr(self, "grad_scale", None)
        # The gradients' multiplier, applied inside each fused step: AMP's 1/scale, then the clip coefficient.
        multiplier = 1.0 if scale is None else 1.0 / _float("grad_scale", scale)
        if self.max_grad_norm is not None:
            coefficient = self._clip_coefficient(multiplier)
            if coefficient is None:
                return loss
            multiplier *= coefficient
        for group in self.param_groups:
            self._step_group(group, None if multiplier == 1.0 else multiplier)
        return loss

    def _clip_coefficient(self, unscale: float) -> Optional[float]:
        """The total norm of every gradient (one read-only pass, the same bits on every instruction set and
        thread count), as ``clip_grad_norm_`` computes it, and its coefficient ``min(1, max/(norm + 1e-6))``;
        None to skip the step."""
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        norm = _native.grad_norm(grads) * unscale
        self.grad_norm = norm
        if not math.isfinite(norm):
            if self.grad_norm_non_finite == "error":
                raise RuntimeError(
                    f"The total norm of the gradients is non-finite ({norm}), so it cannot be clipped "
                    "(grad_norm_non_finite='error')"
                )
            if self.grad_norm_non_finite == "skip":
                return None
        assert self.max_grad_norm is not None
        coefficient = self.max_grad_norm / (norm + 1e-6)
        # torch.clamp(max=1) keeps a NaN coefficient (and so a NaN step): `min` would drop it.
        return 1.0 if coefficient >= 1.0 else coefficient

    def _step_group(self, group: dict[str, Any], grad_scale: Optional[float]) -> None:
        self._validate(group)
        names = self._state_keys(group)
        full = len(names) + (1 if self._counts_steps else 0)
        state_of = self.state
        params: list[Tensor] = []
        grads: list[Tensor] = []
        steps: list[Tensor] = []
        fresh_list: list[int] = []
        created: list[Tensor] = []
        columns: list[list[Tensor]] = [[] for _ in names]
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            state = state_of[p]
            fresh = len(state) != full or any(state.get(name) is None for name in names)
            if fresh:
                state = self._init_state(p, group)
                created.append(p)
            if self._counts_steps:
                step_t = state["step"]
                if not isinstance(step_t, Tensor):  # an old checkpoint's number
                    state["step"] = step_t = torch.tensor(float(step_t), dtype=_scalar_dtype())
                steps.append(step_t)
            else:
                # No count: the step number says whether the state was just made (SGD's first step).
                fresh_list.append(0 if fresh else 1)
            params.append(p)
            grads.append(grad)
            for column, name in zip(columns, names):
                column.append(state[name])
        if not params:
            return
        # Every count read and checked before any step: a bad one writes nothing.
        counts = _native._read_step_counts(steps) if self._counts_steps else fresh_list
        first = (params[0].dtype, counts[0])
        if all(c == first[1] for c in counts) and all(p.dtype == first[0] for p in params):
            buckets = [(first, list(range(len(params))))]
        else:
            index: dict[tuple[torch.dtype, int], list[int]] = {}
            for i, (p, c) in enumerate(zip(params, counts)):
                index.setdefault((p.dtype, c), []).append(i)
            buckets = list(index.items())
        for k, ((_, count), members) in enumerate(buckets):
            if len(buckets) == 1:
                b_params, b_grads, b_state = params, grads, columns
            else:
                b_params = [params[i] for i in members]
                b_grads = [grads[i] for i in members]
                b_state = [[column[i] for i in members] for column in columns]
            try:
                self._call(b_params, b_grads, b_state, count + 1, group, grad_scale)
            except BaseException:
                if not self._counts_steps:
                    # A refused step wrote nothing: the state it made for it goes too, so that the next
                    # step is still the first (SGD's momentum buffer starts as the gradient).
                    pending = {params[i] for _, later in buckets[k:] for i in later}
                    for p in created:
                        if p in pending:
                            del state_of[p]
                raise
            if self._counts_steps:
                b_steps = steps if len(buckets) == 1 else [steps[i] for i in members]
                _native._write_step_counts(b_steps, count + 1)
        # The step wrote through data pointers: tell autograd, as an in-place op would.
        torch.autograd.graph.increment_version(params + [t for column in columns for t in column])

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's ``load_state_dict``, with each state buffer converted from its saved form straight to this
        optimizer's state format, not through the parameter's dtype as torch casts: float32 state of bf16/f16
        parameters stays exact; a float32 (torch) state loads into ``state_dtype="bf16"`` rounded to bf16 to
        nearest even, and into ``state_dtype="int8"`` quantized as a step stores it (per block of 256 the
        absmax, each value to the nearest code); 8-bit state loads into the other formats decoded."""
        saved_groups = state_dict["param_groups"]
        saved_state = state_dict["state"]
        super().load_state_dict(state_dict)
        saved_ids = [i for g in saved_groups for i in g["params"]]
        groups = [(p, g) for g in self.param_groups for p in g["params"]]
        packed = _STATE_FORMATS[self.state_dtype].packed
        for saved_id, (p, group) in zip(saved_ids, groups):
            saved = saved_state.get(saved_id)
            if saved is None or p not in self.state:
                continue
            state = self.state[p]
            for name in self._state_names(group):
                codes, scales = saved.get(f"{name}_codes"), saved.get(f"{name}_scales")
                value = saved.get(name)
                if packed and isinstance(value, Tensor) and codes is None:
                    state[f"{name}_codes"], state[f"{name}_scales"] = _quantize(value, p, name in self._SIGNED_STATE)
                    del state[name]
                elif packed and isinstance(codes, Tensor) and isinstance(scales, Tensor):
                    # torch cast the codes to the parameter's dtype: take them as saved.
                    state[f"{name}_codes"] = codes.to(dtype=torch.uint8, device=p.device, copy=True)
                    state[f"{name}_scales"] = scales.to(dtype=torch.float32, device=p.device, copy=True)
                elif not packed and isinstance(codes, Tensor) and isinstance(scales, Tensor) and value is None:
                    decoded = _dequantize(codes.to(torch.uint8), scales, p, name in self._SIGNED_STATE)
                    state[name] = decoded.to(self._state_tensor_dtype(p))
                    del state[f"{name}_codes"], state[f"{name}_scales"]
                elif isinstance(value, Tensor) and value.is_floating_point():
                    state[name] = value.to(dtype=self._state_tensor_dtype(p), device=p.device)

    def torch_state_dict(self) -> dict[str, Any]:
        """``state_dict()`` in torch's own layout, for tools that read optimizer state by torch's names and
        the parameters' shapes (``torch.optim.AdamW.load_state_dict``, DeepSpeed's
        ``safe_get_full_optimizer_state``, checkpoint converters): every state buffer a float32 tensor of
        the parameter's shape under torch's name (``exp_avg``, ...), 8-bit state decoded and bf16 state
        widened (exactly). ``load_state_dict`` of any format takes it back (quantizing or rounding again:
        a decoded 8-bit state quantizes back to the same bytes)."""
        out = self.state_dict()
        groups = [(p, g) for g in self.param_groups for p in g["params"]]
        for index, state in out["state"].items():
            p, group = groups[index]
            converted = dict(state)
            for name in self._state_names(group):
                codes, scales = converted.pop(f"{name}_codes", None), converted.pop(f"{name}_scales", None)
                if isinstance(codes, Tensor) and isinstance(scales, Tensor):
                    converted[name] = _dequantize(codes, scales, p, name in self._SIGNED_STATE)
                elif isinstance(converted.get(name), Tensor) and converted[name].dtype == torch.bfloat16:
                    converted[name] = converted[name].to(torch.float32)
            out["state"][index] = converted
        return out


def _quantize(value: Tensor, p: Tensor, signed: bool) -> tuple[Tensor, Tensor]:
    """A float state buffer of ``p`` as 8-bit codes (``p``'s shape) and block scales."""
    if value.numel() != p.numel():
        raise ValueError(f"a state buffer of {value.numel()} elements for a parameter of {p.numel()}")
    values = value.detach().to(dtype=torch.float32, device="cpu").contiguous()
    codes = torch.empty(p.shape, dtype=torch.uint8)
    scales = torch.empty(_blocks(p.numel()), dtype=torch.float32)
    _native.quantize_8bit(values, codes, scales, signed=signed)
    return codes, scales


def _dequantize(codes: Tensor, scales: Tensor, p: Tensor, signed: bool) -> Tensor:
    """8-bit codes and block scales decoded to a float32 tensor of ``p``'s shape."""
    values = torch.empty(p.shape, dtype=torch.float32)
    _native.dequantize_8bit(codes.contiguous(), scales.to(torch.float32).contiguous(), values, signed=signed)
    return values


class Adam(_FusedOptimizer):
    """``torch.optim.Adam`` (with AMSGrad, maximize, L2 or decoupled weight decay), fused.

    bf16/f16 parameters keep float32 ``exp_avg``/``exp_avg_sq`` (see the module). ``state_dtype="bf16"``
    keeps the moments in bf16 instead (lean state, see the module), for float32 or bf16 parameters.
    """

    _takes_narrow = True

    def __init__(
        self,
        params: Params,
        lr: Union[float, Tensor] = 1e-3,
        betas: tuple[Union[float, Tensor], Union[float, Tensor]] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: Optional[bool] = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: Optional[bool] = None,
        decoupled_weight_decay: bool = False,
        max_grad_norm: Optional[float] = None,
        grad_norm_non_finite: str = "propagate",
        state_dtype: Optional[str] = None,
    ) -> None:
        _check_range(lr=lr, eps=eps, weight_decay=weight_decay, betas=betas)
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults, max_grad_norm, grad_norm_non_finite, state_dtype)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("capturable", False)
            group.setdefault("differentiable", False)
            group.setdefault("fused", None)
            group.setdefault("decoupled_weight_decay", isinstance(self, AdamW))

    def _state_names(self, group: dict[str, Any]) -> list[str]:
        names = ["exp_avg", "exp_avg_sq"]
        if group["amsgrad"]:
            names.append("max_exp_avg_sq")
        return names

    def _call(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        state: list[list[Tensor]],
        step: int,
        group: dict[str, Any],
        grad_scale: Optional[float],
    ) -> None:
        max_exp_avg_sq = state[2] if group["amsgrad"] else None
        hyper: dict[str, Any] = dict(
            step=step,
            lr=_float("lr", group["lr"]),
            betas=_betas(group["betas"]),
            eps=_float("eps", group["eps"]),
            weight_decay=_float("weight_decay", group["weight_decay"]),
            amsgrad=bool(group["amsgrad"]),
            maximize=bool(group["maximize"]),
            decoupled_weight_decay=bool(group["decoupled_weight_decay"]),
        )
        if self.state_dtype == "int8":
            amsgrad = group["amsgrad"]
            _native.adam_step_8bit(
                params,
                grads,
                state[0],
                state[1],
                state[2],
                state[3],
                state[4] if amsgrad else None,
                state[5] if amsgrad else None,
                grad_scale=1.0 if grad_scale is None else grad_scale,
                skip_non_finite=False,
                **hyper,
            )
        elif self._is_mixed(params[0]):
            _native.adam_step_mixed(
                params,
                grads,
                state[0],
                state[1],
                max_exp_avg_sq,
                None,
                grad_scale=1.0 if grad_scale is None else grad_scale,
                skip_non_finite=False,
                **hyper,
            )
        else:
            _native.adam_step(
                params,
                grads,
                state[0],
                state[1],
                max_exp_avg_sq,
                grad_scale=1.0 if grad_scale is None else grad_scale,
                **hyper,
            )


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay (default 1e-2), fused."""

    def __init__(
        self,
        params: Params,
        lr: Union[float, Tensor] = 1e-3,
        betas: tuple[Union[float, Tensor], Union[float, Tensor]] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: Optional[bool] = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: Optional[bool] = None,
        max_grad_norm: Optional[float] = None,
        grad_norm_non_finite: str = "propagate",
        state_dtype: Optional[str] = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
            max_grad_norm=max_grad_norm,
            grad_norm_non_finite=grad_norm_non_finite,
            state_dtype=state_dtype,
        )


class Adamax(_FusedOptimizer):
    """``torch.optim.Adamax``, fused."""

    def __init__(
        self,
        params: Params,
        lr: Union[float, Tensor] = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: Optional[bool] = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
        max_grad_norm: Optional[float] = None,
        grad_norm_non_finite: str = "propagate",
    ) -> None:
        _check_range(lr=lr, eps=eps, weight_decay=weight_decay, betas=betas)
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            capturable=capturable,
        )
        super().__init__(params, defaults, max_grad_norm, grad_norm_non_finite)

    def _state_names(self, group: dict[str, Any]) -> list[str]:
        return ["exp_avg", "exp_inf"]

    def _call(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        state: list[list[Tensor]],
        step: int,
        group: dict[str, Any],
        grad_scale: Optional[float],
    ) -> None:
        _native.adamax_step(
            params,
            grads,
            state[0],
            state[1],
            step=step,
            lr=_float("lr", group["lr"]),
            betas=_betas(group["betas"]),
            eps=_float("eps", group["eps"]),
            weight_decay=_float("weight_decay", group["weight_decay"]),
            maximize=bool(group["maximize"]),
            grad_scale=1.0 if grad_scale is None else grad_scale,
        )


class Adagrad(_FusedOptimizer):
    """``torch.optim.Adagrad``, fused. As torch, the state (``step``, ``sum``) exists from construction."""

    def __init__(
        self,
        params: Params,
        lr: Union[float, Tensor] = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: Optional[bool] = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: Optional[bool] = None,
        max_grad_norm: Optional[float] = None,
        grad_norm_non_finite: str = "propagate",
    ) -> None:
        _check_range(
            lr=lr,
            eps=eps,
            weight_decay=weight_decay,
            lr_decay=lr_decay,
            initial_accumulator_value=initial_accumulator_value,
        )
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            eps=eps,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults, max_grad_norm, grad_norm_non_finite)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _state_names(self, group: dict[str, Any]) -> list[str]:
        return ["sum"]

    def _initial(self, name: str, group: dict[str, Any]) -> float:
        return _float("initial_accumulator_value", group["initial_accumulator_value"])

    def _call(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        state: list[list[Tensor]],
        step: int,
        group: dict[str, Any],
        grad_scale: Optional[float],
    ) -> None:
        _native.adagrad_step(
            params,
            grads,
            state[0],
            step=step,
            lr=_float("lr", group["lr"]),
            lr_decay=_float("lr_decay", group["lr_decay"]),
            weight_decay=_float("weight_decay", group["weight_decay"]),
            initial_accumulator_value=_float("initial_accumulator_value", group["initial_accumulator_value"]),
            eps=_float("eps", group["eps"]),
            maximize=bool(group["maximize"]),
            grad_scale=1.0 if grad_scale is None else grad_scale,
        )


class RMSprop(_FusedOptimizer):
    """``torch.optim.RMSprop`` (momentum, centered), fused."""

    def __init__(
        self,
        params: Params,
        lr: Union[float, Tensor] = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: Optional[bool] = None,
        maximize: bool = False,
        differentiable: bool = False,
        *,
        max_grad_norm: Optional[float] = None,
        grad_norm_non_finite: str = "propagate",
    ) -> None:
        _check_range(lr=lr, eps=eps, weight_decay=weight_decay, momentum=momentum, alpha=alpha)
        defaults = dict(
            lr=lr,
            momentum=momentum,
            alpha=alpha,
            eps=eps,
            centered=centered,
            weight_decay=weight_decay,
            capturable=capturable,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
        )
        super().__init__(params, defaults, max_grad_norm, grad_norm_non_finite)

    def _state_names(self, group: dict[str, Any]) -> list[str]:
        names = ["square_avg"]
        if _float("momentum", group["momentum"]) > 0:
            names.append("momentum_buffer")
        if group["centered"]:
            names.append("grad_avg")
        return names

    def _call(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        state: list[list[Tensor]],
        step: int,
        group: dict[str, Any],
        grad_scale: Optional[float],
    ) -> None:
        momentum = _float("momentum", group["momentum"])
        rest = iter(state[1:])
        momentum_buffer = next(rest) if momentum > 0 else None
        grad_avg = next(rest) if group["centered"] else None
        _native.rmsprop_step(
            params,
            grads,
            state[0],
            momentum_buffer,
            grad_avg,
            step=step,
            lr=_float("lr", group["lr"]),
            alpha=_float("alpha", group["alpha"]),
            eps=_float("eps", group["eps"]),
            weight_decay=_float("weight_decay", group["weight_decay"]),
            momentum=momentum,
            centered=bool(group["centered"]),
            maximize=bool(group["maximize"]),
            grad_scale=1.0 if grad_scale is None else grad_scale,
        )


class Adadelta(_FusedOptimizer):
    """``torch.optim.Adadelta``, fused."""

    def __init__(
        self,
        params: Params,
        lr: Union[float, Tensor] = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: Optional[bool] = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
        max_grad_norm: Optional[float] = None,
        grad_norm_non_finite: str = "propagate",
    ) -> None:
        _check_range(lr=lr, eps=eps, weight_decay=weight_decay, rho=rho)
        defaults = dict(
            lr=lr,
            rho=rho,
            eps=eps,
            weight_decay=weight_decay,
            maximize=maximize,
            capturable=capturable,
            foreach=foreach,
            differentiable=differentiable,
        )
        super().__init__(params, defaults, max_grad_norm, grad_norm_non_finite)

    def _state_names(self, group: dict[str, Any]) -> list[str]:
        return ["square_avg", "acc_delta"]

    def _call(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        state: list[list[Tensor]],
        step: int,
        group: dict[str, Any],
        grad_scale: Optional[float],
    ) -> None:
        _native.adadelta_step(
            params,
            grads,
            state[0],
            state[1],
            step=step,
            lr=_float("lr", group["lr"]),
            rho=_float("rho", group["rho"]),
            eps=_float("eps", group["eps"]),
            weight_decay=_float("weight_decay", group["weight_decay"]),
            maximize=bool(group["maximize"]),
            grad_scale=1.0 if grad_scale is None else grad_scale,
        )


class SGD(_FusedOptimizer):
    """``torch.optim.SGD`` (momentum, dampening, Nesterov, L2 weight decay, maximize), fused.

    As torch, the state is ``momentum_buffer`` alone, kept only with momentum, and there is no step count:
    a parameter's first step with momentum is the one that finds no buffer (the buffer starts as the
    gradient), so a ``state_dict`` moves between ``torch.optim.SGD`` and this class both ways.
    """

    _counts_steps = False
    _takes_narrow = True

    def __init__(
        self,
        params: Params,
        lr: Union[float, Tensor] = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: Optional[bool] = None,
        differentiable: bool = False,
        fused: Optional[bool] = None,
        max_grad_norm: Optional[float] = None,
        grad_norm_non_finite: str = "propagate",
    ) -> None:
        _check_range(lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (_float("momentum", momentum) <= 0 or _float("dampening", dampening) != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
            foreach=foreach,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults, max_grad_norm, grad_norm_non_finite)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("differentiable", False)
            group.setdefault("fused", None)

    def _state_names(self, group: dict[str, Any]) -> list[str]:
        return ["momentum_buffer"] if _float("momentum", group["momentum"]) != 0 else []

    def _call(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        state: list[list[Tensor]],
        step: int,
        group: dict[str, Any],
        grad_scale: Optional[float],
    ) -> None:
        momentum = _float("momentum", group["momentum"])
        buffer = state[0] if momentum != 0 else None
        hyper: dict[str, Any] = dict(
            step=step,
            lr=_float("lr", group["lr"]),
            momentum=momentum,
            dampening=_float("dampening", group["dampening"]),
            weight_decay=_float("weight_decay", group["weight_decay"]),
            nesterov=bool(group["nesterov"]),
            maximize=bool(group["maximize"]),
        )
        scale = 1.0 if grad_scale is None else grad_scale
        if params[0].dtype in _NARROW:
            _native.sgd_step_mixed(params, grads, buffer, grad_scale=scale, skip_non_finite=False, **hyper)
        else:
            _native.sgd_step(params, grads, buffer, grad_scale=scale, **hyper)


class Lion(_FusedOptimizer):
    """Lion (Chen et al. 2023) with the ``lion-pytorch`` package's signature, defaults, state
    (``exp_avg``) and meaning, fused: ``p *= 1 - lr*wd``, ``p -= lr*sign(beta1*m + (1 - beta1)*g)``,
    ``m = beta2*m + (1 - beta2)*g``. ``decoupled_weight_decay=True`` divides the weight decay by the
    initial learning rate, as lion-pytorch does. ``state_dtype="bf16"`` keeps ``exp_avg`` in bf16 (see the
    module).

    One difference: a NaN reaching ``beta1*m + (1 - beta1)*g`` makes the parameter NaN here, as NaN does in
    every fused_optim step; torch's ``sign`` gives 0 for NaN, so lion-pytorch would leave the parameter
    where it was. ``use_triton=True`` (lion-pytorch's CUDA kernel) is refused.
    """

    _counts_steps = False
    _takes_narrow = True
    _EXTRA_STATE = {**_FusedOptimizer._EXTRA_STATE, "_init_lr": 1e-4, "decoupled_wd": False}

    def __init__(
        self,
        params: Params,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        use_triton: bool = False,
        decoupled_weight_decay: bool = False,
        *,
        max_grad_norm: Optional[float] = None,
        grad_norm_non_finite: str = "propagate",
        state_dtype: Optional[str] = None,
    ) -> None:
        if use_triton:
            raise ValueError(
                "Lion(use_triton=True) is lion-pytorch's CUDA kernel; fused_optim steps CPU tensors with its own "
                "fused kernel: leave use_triton at False"
            )
        if not _float("lr", lr) > 0.0:
            raise ValueError(f"Invalid learning rate: {lr} (lion-pytorch requires lr > 0)")
        for i, beta in enumerate(_betas(betas)):
            if not 0.0 <= beta <= 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        _check_range(weight_decay=weight_decay)
        self._init_lr = _float("lr", lr)
        self.decoupled_wd = bool(decoupled_weight_decay)
        defaults = dict(lr=lr, betas=betas, weight_decay=weight_decay)
        super().__init__(params, defaults, max_grad_norm, grad_norm_non_finite, state_dtype)

    def _state_names(self, group: dict[str, Any]) -> list[str]:
        return ["exp_avg"]

    def _call(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        state: list[list[Tensor]],
        step: int,
        group: dict[str, Any],
        grad_scale: Optional[float],
    ) -> None:
        weight_decay = _float("weight_decay", group["weight_decay"])
        if self.decoupled_wd:
            weight_decay /= self._init_lr
        hyper: dict[str, Any] = dict(
            lr=_float("lr", group["lr"]), betas=_betas(group["betas"]), weight_decay=weight_decay
        )
        scale = 1.0 if grad_scale is None else grad_scale
        if self.state_dtype == "int8":
            _native.lion_step_8bit(params, grads, state[0], state[1], grad_scale=scale, skip_non_finite=False, **hyper)
        elif self._is_mixed(params[0]):
            _native.lion_step_mixed(params, grads, state[0], grad_scale=scale, skip_non_finite=False, **hyper)
        else:
            _native.lion_step(params, grads, state[0], grad_scale=scale, **hyper)


def _check_range(**values: Any) -> None:
    """torch's constructor checks (``ValueError: Invalid learning rate: -1``); the library checks again per step."""
    for name, value in values.items():
        if name == "betas":
            for i, beta in enumerate(_betas(value)):
                if not 0.0 <= beta < 1.0:
                    raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
            continue
        number = _float(name, value)
        if name in ("rho",) and not 0.0 <= number <= 1.0:
            raise ValueError(f"Invalid rho value: {number}")
        if not number >= 0.0:
            raise ValueError(f"Invalid {name.replace('_', ' ')} value: {number}")
