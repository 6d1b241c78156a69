"""What frameworks rely on besides the arithmetic: schedulers, param_groups read afresh, state tensors
updated in place, closures, parameters without gradients."""

from __future__ import annotations

from typing import Any

import pytest

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


@pytest.mark.parametrize("name", ["AdamW", "SGD", "Lion"])
def test_a_copied_or_pickled_optimizer_steps(name: str, tmp_path: Any) -> None:
    """copy.deepcopy and torch.save/torch.load of the whole optimizer keep the attributes torch's
    own __getstate__ leaves out (max_grad_norm, Lion's initial lr)."""
    import copy

    model = torch.nn.Linear(4, 4)
    opt = getattr(fot, name)(model.parameters(), lr=1e-3, max_grad_norm=1.0)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    opt.step()
    path = tmp_path / "opt.pt"
    torch.save(opt, path)
    for other in (copy.deepcopy(opt), torch.load(path, weights_only=False)):
        assert other.max_grad_norm == 1.0
        other.step()


def test_a_refused_sgd_step_leaves_the_next_step_the_first() -> None:
    """SGD's first step sets the buffer to the gradient; a refused step must not leave a zero buffer
    behind that would make the next step a later one (torch.optim.SGD with dampening tells them apart)."""
    ref, fused = torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)
    fused.load_state_dict(ref.state_dict())
    options: dict[str, Any] = {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}
    torch_opt, fused_opt = torch.optim.SGD(ref.parameters(), **options), fot.SGD(fused.parameters(), **options)
    for p in fused.parameters():
        p.grad = torch.ones(p.shape[::-1]).t()  # non-contiguous: refused
    with pytest.raises(ValueError):
        fused_opt.step()
    assert all(len(fused_opt.state[p]) == 0 for p in fused.parameters())
    for p, q in zip(ref.parameters(), fused.parameters()):
        p.grad = torch.ones_like(p)
        q.grad = torch.ones_like(q)
    torch_opt.step()
    fused_opt.step()
    for p, q in zip(ref.parameters(), fused.parameters()):
        assert torch.allclose(p, q, rtol=0, atol=1e-7)


def test_an_sgd_state_with_a_none_momentum_buffer_starts_afresh() -> None:
    """An old torch checkpoint can hold momentum_buffer=None (saved with momentum 0)."""
    model = torch.nn.Linear(4, 4)
    opt = fot.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for p in model.parameters():
        opt.state[p]["momentum_buffer"] = None
        p.grad = torch.ones_like(p)
    opt.step()
    assert all(torch.equal(opt.state[p]["momentum_buffer"], torch.ones_like(p)) for p in model.parameters())
