"""Type stubs of the native module (python/src, built by maturin)."""

from collections.abc import Sequence
from typing import Any, Optional, Union

Buffer = Union[Any, Sequence[Any]]  # a numpy array or CPU torch tensor, or a list of them

__version__: str

def adam_step(
    param: Buffer,
    grad: Buffer,
    exp_avg: Buffer,
    exp_avg_sq: Buffer,
    max_exp_avg_sq: Optional[Buffer] = None,
    *,
    step: int,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
    eps_hat: bool = False,
    grad_scale: float = 1.0,
    max_grad_norm: Optional[float] = None,
    grad_norm_non_finite: str = "propagate",
) -> Optional[float]: ...
def adamw_step(
    param: Buffer,
    grad: Buffer,
    exp_avg: Buffer,
    exp_avg_sq: Buffer,
    max_exp_avg_sq: Optional[Buffer] = None,
    *,
    step: int,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    amsgrad: bool = False,
    maximize: bool = False,
    eps_hat: bool = False,
    grad_scale: float = 1.0,
    max_grad_norm: Optional[float] = None,
    grad_norm_non_finite: str = "propagate",
) -> Optional[float]: ...
def adamax_step(
    param: Buffer,
    grad: Buffer,
    exp_avg: Buffer,
    exp_inf: Buffer,
    *,
    step: int,
    lr: float = 2e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    maximize: bool = False,
    grad_scale: float = 1.0,
    max_grad_norm: Optional[float] = None,
    grad_norm_non_finite: str = "propagate",
) -> Optional[float]: ...
def adagrad_step(
    param: Buffer,
    grad: Buffer,
    sum: Buffer,
    *,
    step: int,
    lr: float = 1e-2,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-10,
    maximize: bool = False,
    grad_scale: float = 1.0,
    max_grad_norm: Optional[float] = None,
    grad_norm_non_finite: str = "propagate",
) -> Optional[float]: ...
def rmsprop_step(
    param: Buffer,
    grad: Buffer,
    square_avg: Buffer,
    momentum_buffer: Optional[Buffer] = None,
    grad_avg: Optional[Buffer] = None,
    *,
    step: int,
    lr: float = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
    maximize: bool = False,
    grad_scale: float = 1.0,
    max_grad_norm: Optional[float] = None,
    grad_norm_non_finite: str = "propagate",
) -> Optional[float]: ...
def adadelta_step(
    param: Buffer,
    grad: Buffer,
    square_avg: Buffer,
    acc_delta: Buffer,
    *,
    step: int,
    lr: float = 1.0,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: float = 0.0,
    maximize: bool = False,
    grad_scale: float = 1.0,
    max_grad_norm: Optional[float] = None,
    grad_norm_non_finite: str = "propagate",
) -> Optional[float]: ...
def sgd_step(
    param: Buffer,
    grad: Buffer,
    momentum_buffer: Optional[Buffer] = None,
    *,
    step: int,
    lr: float = 1e-3,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    maximize: bool = False,
    grad_scale: float = 1.0,
    max_grad_norm: Optional[float] = None,
    grad_norm_non_finite: str = "propagate",
) -> Optional[float]: ...
def lion_step(
    param: Buffer,
    grad: Buffer,
    exp_avg: Buffer,
    *,
    lr: float = 1e-4,
    betas: tuple[float, float] = (0.9, 0.99),
    weight_decay: float = 0.0,
    maximize: bool = False,
    grad_scale: float = 1.0,
    max_grad_norm: Optional[float] = None,
    grad_norm_non_finite: str = "propagate",
) -> Optional[float]: ...
def grad_norm(grads: Buffer) -> float: ...
def adam_step_mixed(
    param: Buffer,
    grad: Buffer,
    exp_avg: Buffer,
    exp_avg_sq: Buffer,
    max_exp_avg_sq: Optional[Buffer] = None,
    param_copy: Optional[Buffer] = None,
    *,
    step: int,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
    eps_hat: bool = False,
    loss_scale: float = 1.0,
    skip_non_finite: bool = True,
    zero_grad: bool = False,
    stochastic_rounding: Optional[int] = None,
) -> bool: ...
def lion_step_mixed(
    param: Buffer,
    grad: Buffer,
    exp_avg: Buffer,
    param_copy: Optional[Buffer] = None,
    *,
    lr: float = 1e-4,
    betas: tuple[float, float] = (0.9, 0.99),
    weight_decay: float = 0.0,
    maximize: bool = False,
    loss_scale: float = 1.0,
    skip_non_finite: bool = True,
    zero_grad: bool = False,
    stochastic_rounding: Optional[int] = None,
) -> bool: ...
def sgd_step_mixed(
    param: Buffer,
    grad: Buffer,
    momentum_buffer: Optional[Buffer] = None,
    param_copy: Optional[Buffer] = None,
    *,
    step: int,
    lr: float = 1e-3,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    maximize: bool = False,
    loss_scale: float = 1.0,
    skip_non_finite: bool = True,
    zero_grad: bool = False,
    stochastic_rounding: Optional[int] = None,
) -> bool: ...
def set_num_threads(n: int, backend: str = "auto") -> None: ...
def get_backend() -> str: ...
def _follow_host_threads() -> None: ...
def get_num_threads() -> int: ...
def tier() -> str: ...
def _read_step_counts(steps: list[Any]) -> list[int]: ...
def _write_step_counts(steps: list[Any], count: int) -> None: ...
def _time_rust_adam_step(param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, calls: int) -> float: ...
def _probe(param: Buffer, grad: Buffer, exp_avg: Buffer, exp_avg_sq: Buffer) -> None: ...
