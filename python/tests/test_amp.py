"""torch.amp.GradScaler on CPU: the fused unscale and the skip of a step with an inf gradient."""

from __future__ import annotations

from typing import Any

import pytest

import fused_optim.torch as fot
from conftest import data, mlp, torch


def snapshot(model: torch.nn.Module, opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    out = [p.detach().clone() for p in model.parameters()]
    for p in model.parameters():
        out.extend(v.clone() for v in opt.state[p].values())
    return out


def scaled_step(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    scaler: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    poison: bool = False,
) -> None:
    opt.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = torch.nn.functional.mse_loss(model(x), y)
    scaler.scale(loss).backward()
    if poison:
        next(model.parameters()).grad[0, 0] = float("inf")
    scaler.step(opt)
    scaler.update()


@pytest.mark.parametrize("name", ["Adam", "AdamW", "Adagrad", "RMSprop"])
def test_grad_scaler_unscales_like_the_unscaled_step(name: str) -> None:
    """With bf16 autocast and a power-of-two scale, the scaled step's result equals, bit for bit, the
    same optimizer stepping the unscaled gradients (unscaling by 2**-k is exact)."""
    x, y = data(torch.float32)
    scaled, plain = mlp(torch.float32), mlp(torch.float32)
    opt_scaled, opt_plain = getattr(fot, name)(scaled.parameters()), getattr(fot, name)(plain.parameters())
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12, growth_interval=1000)
    for _ in range(5):
        scaled_step(scaled, opt_scaled, scaler, x, y)
        opt_plain.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = torch.nn.functional.mse_loss(plain(x), y)
        (loss * 2.0**12).backward()
        for p in plain.parameters():
            p.grad.mul_(2.0**-12)
        opt_plain.step()
    for a, b in zip(snapshot(scaled, opt_scaled), snapshot(plain, opt_plain)):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["Adam", "AdamW", "Adamax", "Adagrad", "RMSprop", "Adadelta"])
def test_an_inf_gradient_skips_the_step(name: str) -> None:
    x, y = data(torch.float32)
    model = mlp(torch.float32)
    opt = getattr(fot, name)(model.parameters())
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    scaled_step(model, opt, scaler, x, y)
    before = snapshot(model, opt)
    scale = scaler.get_scale()
    scaled_step(model, opt, scaler, x, y, poison=True)
    after = snapshot(model, opt)
    assert all(torch.equal(a, b) for a, b in zip(before, after)), "params, state and step count untouched"
    assert scaler.get_scale() == scale / 2, "the scaler saw the inf and backed off"
    scaled_step(model, opt, scaler, x, y)
    assert not torch.equal(next(model.parameters()), before[0]), "a finite step runs again"


def test_grad_scale_and_found_inf_by_hand() -> None:
    x, y = data(torch.float32)
    model, plain = mlp(torch.float32), mlp(torch.float32)
    opt, opt_plain = fot.AdamW(model.parameters()), fot.AdamW(plain.parameters())
    for m in (model, plain):
        torch.nn.functional.mse_loss(m(x), y).backward()
    for p in model.parameters():
        p.grad.mul_(8.0)
    opt.grad_scale = torch.tensor(8.0)
    opt.found_inf = torch.tensor(0.0)
    opt.step()
    opt_plain.step()
    for a, b in zip(model.parameters(), plain.parameters()):
        assert torch.equal(a, b)
    opt.found_inf = torch.tensor(1.0)
    before = snapshot(model, opt)
    opt.step()
    assert all(torch.equal(a, b) for a, b in zip(before, snapshot(model, opt)))


def test_bf16_parameters_train_under_the_scaler() -> None:
    x, y = data(torch.bfloat16)
    model = mlp(torch.bfloat16)
    opt = fot.AdamW(model.parameters(), lr=1e-2)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x).float(), y.float())
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert all(opt.state[p]["exp_avg"].dtype == torch.float32 for p in model.parameters())
