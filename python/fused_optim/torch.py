"""Drop-in ``torch.optim`` optimizers whose step is one fused call per param group.

``Adam``, ``AdamW``, ``Adamax``, ``Adagrad``, ``RMSprop`` and ``Adadelta`` subclass
``torch.optim.Optimizer`` with torch's constructor signatures, defaults, param
groups, state names and ``state_dict`` layout: a ``state_dict`` saved from
``torch.optim.AdamW`` loads into ``fused_optim.torch.AdamW`` and the other way
round. Swap the class and nothing else changes::

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

Parameters may be float32 or float64 (all algorithms) or, for ``Adam`` and
``AdamW``, bfloat16 or float16: those take the mixed-precision step, which
computes in float32 and keeps ``exp_avg``/``exp_avg_sq`` in **float32** (torch
keeps them in the parameter's type). A bf16 moment loses the small updates
that (1 - beta2) * g**2 makes to ``exp_avg_sq`` (8 bits of mantissa), so
float32 state is what keeps a bf16 model's Adam close to the float32 one; it
costs 4 more bytes per parameter. A torch ``state_dict`` with bf16 state
loads (the state is widened to float32); torch loads ours (narrowing it).

AMP. ``_step_supports_amp_scaling`` is set: ``torch.amp.GradScaler.step`` hands
the optimizer ``grad_scale`` and ``found_inf``. A nonzero ``found_inf`` skips the
step entirely (parameters, state and step counts untouched). ``Adam``/``AdamW``
unscale inside the fused step (the gradient times 1/grad_scale, rounded to
float32, as the scaler's own unscale); the other algorithms, and float64
parameters, multiply the gradients by 1/grad_scale first, as
``GradScaler.unscale_`` would.

Not supported (a clear error): CUDA and other non-CPU tensors, sparse
gradients, complex parameters, non-contiguous parameters or gradients,
``capturable=True``, ``differentiable=True``, ``fused=True`` (this is the fused
CPU step; ``foreach`` is accepted and ignored).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Optional, Union

import torch
from torch import Tensor

from . import _native

# torch is loaded now: with the automatic thread backend, steps run on its OpenMP team.
_native._follow_host_threads()

__all__ = ["Adam", "AdamW", "Adamax", "Adagrad", "RMSprop", "Adadelta"]

Params = Union[Iterable[Tensor], Iterable[dict[str, Any]], Iterable[tuple[str, Tensor]]]
Closure = Optional[Callable[[], Any]]

_NARROW = (torch.bfloat16, torch.float16)


def _scalar_dtype() -> torch.dtype:
    """The dtype torch keeps ``state["step"]`` in."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


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
    #: Whether bf16/f16 parameters take the mixed-precision step (Adam, AdamW).
    _takes_narrow = False
    #: Whether the fused step can unscale float32 gradients itself (Adam, AdamW).
    _unscales = False

    def __init__(self, params: Params, defaults: dict[str, Any]) -> None:
        for flag in ("capturable", "differentiable", "fused"):
            if defaults.get(flag):
                raise ValueError(
                    f"{type(self).__name__}({flag}=True) is not supported: fused_optim steps CPU tensors "
                    "with its own fused kernel (foreach is accepted and ignored)"
                )
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """torch's ``add_param_group``, then the checks of what a step can take: CPU, real floating point
        (float32/float64; bfloat16/float16 for Adam and AdamW)."""
        super().add_param_group(param_group)
        allowed = (torch.float32, torch.float64) + (_NARROW if self._takes_narrow else ())
        for p in self.param_groups[-1]["params"]:
            if p.device.type != "cpu":
                raise TypeError(f"{type(self).__name__}: a parameter is on {p.device}; fused_optim steps CPU tensors")
            if p.dtype not in allowed:
                hint = " (bfloat16/float16 parameters: fused_optim.torch.Adam or AdamW)" if p.dtype in _NARROW else ""
                raise TypeError(f"{type(self).__name__}: {p.dtype} parameters are not supported{hint}")

    # What a subclass defines.
    def _state_names(self, group: dict[str, Any]) -> list[str]:
        """The state buffers these options keep, in the functional step's argument order."""
        raise NotImplementedError

    def _initial(self, name: str, group: dict[str, Any]) -> float:
        """The initial value of a state buffer."""
        return 0.0

    def _call(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        state: list[list[Tensor]],
        step: int,
        group: dict[str, Any],
        grad_scale: Optional[float],
    ) -> None:
        """One multi-tensor call of the functional step."""
        raise NotImplementedError

    def _validate(self, group: dict[str, Any]) -> None:
        for flag in ("capturable", "differentiable", "fused"):
            if group.get(flag):
                raise ValueError(f"{type(self).__name__}: {flag}=True is not supported")

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = self.state[p]
        if "step" not in state:
            state["step"] = torch.tensor(0.0, dtype=_scalar_dtype())
        dtype = torch.float32 if p.dtype in _NARROW else None
        for name in self._state_names(group):
            if name not in state:
                state[name] = torch.full_like(
                    p, self._initial(name, group), dtype=dtype, memory_format=torch.preserve_format
                )
        return state

    @torch.no_grad()
    def step(self, closure: Closure = None) -> Any:
        """One step of every param group (see the module's docstring)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        found_inf = getattr(self, "found_inf", None)
        if found_inf is not None and bool(found_inf.item() != 0):
            return loss
        scale = getattr(self, "grad_scale", None)
        grad_scale = None if scale is None else _float("grad_scale", scale)
        for group in self.param_groups:
            self._step_group(group, grad_scale)
        return loss

    def _step_group(self, group: dict[str, Any], grad_scale: Optional[float]) -> None:
        self._validate(group)
        names = self._state_names(group)
        full = len(names) + 1
        state_of = self.state
        params: list[Tensor] = []
        grads: list[Tensor] = []
        steps: list[Tensor] = []
        columns: list[list[Tensor]] = [[] for _ in names]
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            state = state_of[p]
            if len(state) != full:
                state = self._init_state(p, group)
            step_t = state["step"]
            if not isinstance(step_t, Tensor):  # an old checkpoint's number
                state["step"] = step_t = torch.tensor(float(step_t), dtype=_scalar_dtype())
            params.append(p)
            grads.append(grad)
            steps.append(step_t)
            for column, name in zip(columns, names):
                column.append(state[name])
        if not params:
            return
        # Every count read and checked before any step: a bad one writes nothing.
        counts = _native._read_step_counts(steps)
        first = (params[0].dtype, counts[0])
        if all(c == first[1] for c in counts) and all(p.dtype == first[0] for p in params):
            buckets = [(first, list(range(len(params))))]
        else:
            index: dict[tuple[torch.dtype, int], list[int]] = {}
            for i, (p, c) in enumerate(zip(params, counts)):
                index.setdefault((p.dtype, c), []).append(i)
            buckets = list(index.items())
        for (dtype, count), members in buckets:
            if len(buckets) == 1:
                b_params, b_grads, b_state, b_steps = params, grads, columns, steps
            else:
                b_params = [params[i] for i in members]
                b_grads = [grads[i] for i in members]
                b_state = [[column[i] for i in members] for column in columns]
                b_steps = [steps[i] for i in members]
            scale = grad_scale
            if scale is not None and not (self._unscales and dtype != torch.float64):
                # Unscaled here, as GradScaler.unscale_ would; put back if the step refuses
                # (exact for GradScaler's powers of two, short of underflow).
                torch._foreach_mul_(b_grads, 1.0 / scale)
                try:
                    self._call(b_params, b_grads, b_state, count + 1, group, None)
                except BaseException:
                    torch._foreach_mul_(b_grads, scale)
                    raise
            else:
                self._call(b_params, b_grads, b_state, count + 1, group, scale)
            _native._write_step_counts(b_steps, count + 1)
        # The step wrote through data pointers: tell autograd, as an in-place op would.
        torch.autograd.graph.increment_version(params + [t for column in columns for t in column])

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's ``load_state_dict``, then the state of bf16/f16 parameters widened to float32."""
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            for p in group["params"]:
                if p.dtype in _NARROW and p in self.state:
                    state = self.state[p]
                    for name, value in state.items():
                        if name != "step" and isinstance(value, Tensor) and value.dtype in _NARROW:
                            state[name] = value.to(torch.float32)


class Adam(_FusedOptimizer):
    """``torch.optim.Adam`` (with AMSGrad, maximize, L2 or decoupled weight decay), fused.

    bf16/f16 parameters keep float32 ``exp_avg``/``exp_avg_sq`` (see the module).
    """

    _takes_narrow = True
    _unscales = True

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
        super().__init__(params, defaults)

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
        if grad_scale is not None or params[0].dtype in _NARROW:
            _native.adam_step_mixed(
                params,
                grads,
                state[0],
                state[1],
                max_exp_avg_sq,
                None,
                loss_scale=1.0 if grad_scale is None else grad_scale,
                skip_non_finite=False,
                **hyper,
            )
        else:
            _native.adam_step(params, grads, state[0], state[1], max_exp_avg_sq, **hyper)


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
        super().__init__(params, defaults)

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
        super().__init__(params, defaults)
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
        super().__init__(params, defaults)

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
        super().__init__(params, defaults)

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
        )


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
