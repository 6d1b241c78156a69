"""Each optimizer and option against torch.optim (foreach=False): 200 steps on a small MLP with three
param groups, in float32 and float64, in lockstep.

Lockstep: every step, both optimizers start from the same parameters, gradients and state (torch's),
each takes its step, the results are compared, and then torch's are copied into the fused optimizer's
tensors (in place). So the test compares the step itself, 200 times over a real training run's states,
and not how training amplifies a difference: both compute torch's formula, but not in the same
operation order (the library folds Adam's bias corrections into one step size and one epsilon, for
example), so one step differs by rounding, an ulp or a few; left to run freely, two runs that differ by
an ulp separate at whatever rate the training dynamics has (measured here: Adam stays within 1e-4
relative over 200 float32 steps, RMSprop with momentum and Adadelta reach 0.3, and Adadelta in float64
stays at 1e-15 for 140 steps, then separates exponentially near the minimum). That rate belongs to the
training run, not to the optimizer.

Tolerance, float32: the error of the fused step against the exact step (torch's, in float64, from the
same float32 point) is at most 4 times torch's own float32 error there (64 times for centered
RMSprop, see `lockstep`), plus 1e-6 of the value (about
8 to 16 ulps; for a state buffer, of its largest element). Measured: at most about 0.4 of that (print
with `-s`). An element where the step is ill-conditioned (a weight decay that cancels the gradient,
RMSprop's v - avg**2, a gradient near eps) has a large error in both, which is why the bound follows
torch's error rather than being a fixed number of ulps. Float64 (no wider type to measure against):
|fused - torch| <= 1e-13 of the value, about 500 ulps; measured at most about 0.15 of that. Any semantic
difference (a bias correction, a weight decay, an epsilon in the wrong place) is far outside either:
`test_a_semantic_difference_is_caught` shows a 1% change of beta2 exceeding the bound more than 100 times.
"""

from __future__ import annotations

from typing import Any

import pytest

import fused_optim.torch as fot
from conftest import data, groups, mlp, torch

TOLERANCE = {torch.float64: 1e-13, torch.float32: 1e-6}

CASES: list[tuple[str, dict[str, Any]]] = [
    ("Adam", {}),
    ("Adam", {"amsgrad": True}),
    ("Adam", {"weight_decay": 1e-2}),
    ("Adam", {"weight_decay": 1e-2, "decoupled_weight_decay": True}),
    ("Adam", {"maximize": True}),
    ("AdamW", {}),
    ("AdamW", {"amsgrad": True, "weight_decay": 0.1}),
    ("Adamax", {}),
    ("Adamax", {"weight_decay": 1e-2, "maximize": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr_decay": 1e-3, "weight_decay": 1e-2, "initial_accumulator_value": 0.1}),
    ("RMSprop", {"lr": 1e-3}),
    ("RMSprop", {"lr": 1e-3, "momentum": 0.9}),
    ("RMSprop", {"lr": 1e-3, "centered": True}),
    ("RMSprop", {"lr": 1e-3, "centered": True, "momentum": 0.5, "weight_decay": 1e-2, "maximize": True}),
    ("Adadelta", {}),
    ("Adadelta", {"weight_decay": 1e-2, "maximize": True}),
]


def pair(name: str, options: dict[str, Any], dtype: torch.dtype) -> tuple[Any, ...]:
    reference, fused = mlp(dtype), mlp(dtype)
    lr = options.get("lr", getattr(torch.optim, name)([torch.zeros(1)]).defaults["lr"])
    decay = {k: v for k, v in options.items() if k == "weight_decay"}
    torch_opt = getattr(torch.optim, name)(groups(reference, lr, **decay), foreach=False, **options)
    fused_opt = getattr(fot, name)(groups(fused, lr, **decay), **options)
    return reference, fused, torch_opt, fused_opt


def loss_sign(options: dict[str, Any]) -> float:
    return -1.0 if options.get("maximize") else 1.0


def shadow(optimizer: torch.optim.Optimizer, name: str, options: dict[str, Any]) -> torch.optim.Optimizer:
    """torch's optimizer over float64 copies of `optimizer`'s parameters, gradients and state: the exact
    step from the same point, to measure the rounding error of a float32 step against."""
    cast = {}
    groups = []
    for group in optimizer.param_groups:
        params = []
        for p in group["params"]:
            q = p.detach().double().requires_grad_()
            q.grad = p.grad.double()
            cast[p] = q
            params.append(q)
        groups.append({**group, "params": params})
    exact = getattr(torch.optim, name)(groups, **{**options, "foreach": False})
    for p, q in cast.items():
        exact.state[q] = {k: v.double() if k != "step" else v.clone() for k, v in optimizer.state[p].items()}
    return exact


def lockstep(
    name: str,
    options: dict[str, Any],
    dtype: torch.dtype,
    fused_options: dict[str, Any] | None = None,
    steps: int = 200,
) -> float:
    """Runs torch's optimizer and the fused one in lockstep. Returns the largest error of a fused step
    beyond what the test allows, as a fraction of the tolerance (<= 1: within)."""
    reference, fused = mlp(dtype), mlp(dtype)
    lr = options.get("lr", getattr(torch.optim, name)([torch.zeros(1)]).defaults["lr"])
    decay = {k: v for k, v in options.items() if k == "weight_decay"}
    torch_opt = getattr(torch.optim, name)(groups(reference, lr, **decay), foreach=False, **options)
    fused_opt = getattr(fot, name)(groups(fused, lr, **decay), **(options if fused_options is None else fused_options))
    x, y = data(dtype)
    sign = -1.0 if options.get("maximize") else 1.0
    tolerance = TOLERANCE[dtype]
    # Centered RMSprop's v - avg**2: torch forms it with a fused multiply-add (addcmul, one rounding),
    # the library with the product rounded first, as its no-FMA contract requires; where the two
    # nearly cancel, that one rounding is the error, many times torch's (measured: up to about 18x).
    factor = 64.0 if options.get("centered") else 4.0
    worst = 0.0
    losses = []

    def excess(mine: torch.Tensor, theirs: torch.Tensor, exact: torch.Tensor | None, scale: torch.Tensor) -> float:
        error = (mine - theirs).abs().double() if exact is None else (mine.double() - exact).abs()
        allowed = tolerance * scale.double()
        if exact is not None:
            allowed = allowed + factor * (theirs.double() - exact).abs()
        return (error / allowed).max().item()

    for _ in range(steps):
        torch_opt.zero_grad()
        loss = sign * torch.nn.functional.mse_loss(reference(x), y)
        loss.backward()
        losses.append(loss.item())
        for p_ref, p_fused in zip(reference.parameters(), fused.parameters()):
            p_fused.grad = p_ref.grad.clone()
        exact_opt = shadow(torch_opt, name, options) if dtype == torch.float32 else None
        torch_opt.step()
        fused_opt.step()
        if exact_opt is not None:
            exact_opt.step()
        exact_params = [None] * 6 if exact_opt is None else [q for g in exact_opt.param_groups for q in g["params"]]
        with torch.no_grad():
            for p_ref, p_fused, p_exact in zip(reference.parameters(), fused.parameters(), exact_params):
                worst = max(worst, excess(p_fused, p_ref, p_exact, p_ref.abs() + 1e-3))
                s_ref, s_fused = torch_opt.state[p_ref], fused_opt.state[p_fused]
                s_exact = None if exact_opt is None else exact_opt.state[p_exact]
                assert sorted(s_ref) == sorted(s_fused), "torch's state names"
                for key, value in s_ref.items():
                    mine = s_fused[key]
                    assert mine.dtype == value.dtype and mine.shape == value.shape, key
                    if key == "step":
                        assert mine.item() == value.item()
                        continue
                    scale = value.abs().max() + 1e-30
                    worst = max(worst, excess(mine, value, None if s_exact is None else s_exact[key], scale))
                    mine.copy_(value)
                p_fused.copy_(p_ref)
    assert abs(losses[-1] - losses[0]) > 1e-3 * abs(losses[0]), "the model trained"
    return worst


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name,options", CASES, ids=[f"{n}-{'-'.join(o) or 'default'}" for n, o in CASES])
def test_matches_torch(name: str, options: dict[str, Any], dtype: torch.dtype) -> None:
    worst = lockstep(name, options, dtype)
    print(f"{name} {options} {dtype}: largest error of a step, as a fraction of the allowed: {worst:.2e}")
    assert worst <= 1.0


def test_a_semantic_difference_is_caught() -> None:
    """The tolerance is tight enough: a 1% different beta2 fails it."""
    assert lockstep("Adam", {}, torch.float32, fused_options={"betas": (0.9, 0.99)}, steps=20) > 100
