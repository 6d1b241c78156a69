"""Shared pieces of the tests: a small MLP, its data, and a training loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

torch = pytest.importorskip("torch")


def mlp(dtype: torch.dtype, seed: int = 0) -> torch.nn.Module:
    """A 16-64-64-4 tanh MLP (about 5.5k parameters), the same weights for the same seed."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(16, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64), torch.nn.Tanh(), torch.nn.Linear(64, 4)
    ).to(dtype)


def data(dtype: torch.dtype, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """2048 random inputs and targets: more than the model can fit, so the loss (and the gradients) stay
    away from zero for the whole run, where adaptive methods turn chaotic (see test_parity)."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(2048, 16, generator=generator, dtype=dtype)
    y = torch.randn(2048, 4, generator=generator, dtype=dtype)
    return x, y


def groups(model: torch.nn.Module, lr: float, **overrides: Any) -> list[dict[str, Any]]:
    """Three param groups with different learning rates and weight decays."""
    p = list(model.parameters())
    first: dict[str, Any] = {"params": p[:2]}
    second: dict[str, Any] = {"params": p[2:4], "lr": lr * 0.5}
    third: dict[str, Any] = {"params": p[4:], "lr": lr * 2.0}
    if "weight_decay" in overrides:
        second["weight_decay"] = overrides["weight_decay"] * 3.0
        third["weight_decay"] = 0.0
    return [first, second, third]


def train(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    steps: int,
    x: torch.Tensor,
    y: torch.Tensor,
    each: Callable[[int], None] | None = None,
) -> list[float]:
    """`steps` full-batch steps of mean squared error; the losses."""
    losses = []
    for i in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if each is not None:
            each(i)
    return losses


def max_relative(a: torch.nn.Module, b: torch.nn.Module) -> float:
    """The largest |a - b| / (|a| + 1e-3) over every parameter element."""
    return max(
        ((pa.detach() - pb.detach()).abs() / (pa.detach().abs() + 1e-3)).max().item()
        for pa, pb in zip(a.parameters(), b.parameters())
    )


def reference_optimizer(name: str) -> Any:
    """The optimizer the fused one is compared with: torch.optim's, or lion-pytorch's Lion."""
    if name == "Lion":
        return pytest.importorskip("lion_pytorch").Lion
    return getattr(torch.optim, name)


def reference_options(name: str) -> dict[str, Any]:
    """torch.optim's single-tensor path (lion-pytorch has only one)."""
    return {} if name == "Lion" else {"foreach": False}


def default_lr(name: str) -> float:
    return float(reference_optimizer(name)([torch.zeros(1)]).defaults["lr"])
