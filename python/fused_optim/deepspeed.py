"""fused_optim as DeepSpeed's ZeRO-Offload optimizer.

``FusedCPUAdam`` takes ``deepspeed.ops.adam.DeepSpeedCPUAdam``'s constructor arguments, so a script
that builds DeepSpeed's CPU Adam switches with one line; it is ``fused_optim.torch.AdamW`` (or
``Adam`` with ``adamw_mode=False``) underneath: torch's state names and ``state_dict`` layout, the
groups read afresh every step. Pass it to ``deepspeed.initialize(optimizer=...)`` with
``"zero_force_ds_cpu_optimizer": false`` and ``"zero_allow_untested_optimizer": true`` in the
config (DeepSpeed otherwise refuses a client optimizer under ZeRO-Offload). Each rank steps its
own flat fp32 shard; nothing else is configured. Importing this module does not import DeepSpeed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .torch import Adam

__all__ = ["FusedCPUAdam"]


class FusedCPUAdam(Adam):
    """Adam/AdamW with ``DeepSpeedCPUAdam``'s arguments (``adamw_mode=True``: decoupled weight decay).

    ``bias_correction=False`` and ``fp32_optimizer_states=False`` are refused: the step always
    corrects the bias, and keeps float32 state for float32 master weights (bf16/f16 weights get
    float32 state too, see ``fused_optim.torch``).
    """

    def __init__(
        self,
        model_params: Iterable[Any],
        lr: float = 1e-3,
        bias_correction: bool = True,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        adamw_mode: bool = True,
        fp32_optimizer_states: bool = True,
    ) -> None:
        if not bias_correction:
            raise ValueError("FusedCPUAdam(bias_correction=False) is not supported")
        if not fp32_optimizer_states:
            raise ValueError("FusedCPUAdam(fp32_optimizer_states=False) is not supported")
        super().__init__(
            model_params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            decoupled_weight_decay=adamw_mode,
        )
