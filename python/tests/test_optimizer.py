"""What frameworks rely on besides the arithmetic: schedulers, param_groups read afresh, state tensors
updated in place, closures, parameters without gradients."""

from __future__ import annotations

import fused_optim.torch as fot
from conftest import data, mlp, torch, train


def test_a_learning_rate_scheduler_drives_the_step() -> None:
    """CosineAnnealingLR on torch's AdamW and on the fused one: the same learning rates, the same
    training (within test_parity's float64 bound, free-running over 50 steps)."""
    x, y = data(torch.float64)
    a, b = mlp(torch.float64), mlp(torch.float64)
    ta, fb = torch.optim.AdamW(a.parameters(), lr=1e-2, foreach=False), fot.AdamW(b.parameters(), lr=1e-2)
    sa = torch.optim.lr_scheduler.CosineAnnealingLR(ta, T_max=50)
    sb = torch.optim.lr_scheduler.CosineAnnealingLR(fb, T_max=50)
    train(a, ta, 50, x, y, each=lambda _: sa.step())
    train(b, fb, 50, x, y, each=lambda _: sb.step())
    assert ta.param_groups[0]["lr"] == fb.param_groups[0]["lr"] < 1e-2
    for p, q in zip(a.parameters(), b.parameters()):
        assert ((p - q).abs() / (p.abs() + 1e-3)).max().item() < 1e-9


def test_param_groups_are_read_afresh_every_step() -> None:
    """An engine may swap group["params"] between steps (DeepSpeed's ZeRO does): the step takes
    whatever the group holds now, with state of its own for a new tensor."""
    first = torch.nn.Parameter(torch.ones(8))
    other = torch.nn.Parameter(torch.ones(8))
    opt = fot.Adam([first], lr=0.1)
    first.grad = torch.ones(8)
    opt.step()
    assert first[0].item() < 1.0 and other[0].item() == 1.0
    opt.param_groups[0]["params"] = [other]
    other.grad = -torch.ones(8)
    opt.step()
    assert other[0].item() > 1.0
    assert opt.state[other]["step"].item() == 1 and opt.state[first]["step"].item() == 1
    opt.param_groups[0]["lr"] = 0.0
    before = other.detach().clone()
    opt.step()
    assert torch.equal(other, before), "lr read afresh: 0 moves nothing"


def test_state_tensors_are_updated_in_place() -> None:
    x, y = data(torch.float32)
    model = mlp(torch.float32)
    opt = fot.AdamW(model.parameters())
    train(model, opt, 1, x, y)
    p = next(model.parameters())
    state = opt.state[p]
    held = {name: state[name] for name in ("step", "exp_avg", "exp_avg_sq")}
    view = state["exp_avg"].view(-1)[:5]  # a view an engine keeps
    values = view.clone()
    train(model, opt, 1, x, y)
    for name, tensor in held.items():
        assert opt.state[p][name] is tensor, name
    assert held["step"].item() == 2
    assert not torch.equal(view, values), "the view sees the new moments"


def test_closure_and_parameters_without_gradients() -> None:
    x, y = data(torch.float32)
    model = mlp(torch.float32)
    frozen = torch.nn.Parameter(torch.ones(3))
    opt = fot.RMSprop([{"params": model.parameters()}, {"params": [frozen]}], lr=1e-3)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    losses = [opt.step(closure).item() for _ in range(5)]
    assert losses[-1] < losses[0]
    assert frozen not in opt.state and torch.equal(frozen, torch.ones(3))


def test_the_deepspeed_adapter_is_adam_with_deepspeeds_arguments() -> None:
    import pytest

    from fused_optim.deepspeed import FusedCPUAdam

    x, y = data(torch.float32)
    for adamw_mode, twin in ((True, fot.AdamW), (False, fot.Adam)):
        a, b = mlp(torch.float32), mlp(torch.float32)
        oa = FusedCPUAdam(a.parameters(), lr=1e-3, weight_decay=0.05, adamw_mode=adamw_mode)
        ob = twin(b.parameters(), lr=1e-3, weight_decay=0.05)
        train(a, oa, 5, x, y)
        train(b, ob, 5, x, y)
        assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    for bad in ({"bias_correction": False}, {"fp32_optimizer_states": False}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            FusedCPUAdam(mlp(torch.float32).parameters(), **bad)
