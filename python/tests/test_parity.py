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
from conftest import data, default_lr, groups, mlp, reference_optimizer, reference_options, torch

TOLERANCE = {torch.float64: 1e-13, torch.float32: 1e-6}
NORM_TOLERANCE = {torch.float64: 1e-13, torch.float32: 1e-5}

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
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 1e-2}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-2}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "maximize": True}),
    ("Lion", {"lr": 1e-3}),
    ("Lion", {"lr": 1e-3, "betas": (0.95, 0.98), "weight_decay": 0.1}),
    ("Lion", {"lr": 1e-3, "weight_decay": 1e-3, "decoupled_weight_decay": True}),
]


def sign_ties(optimizer: torch.optim.Optimizer, dtype: torch.dtype) -> list[torch.Tensor]:
    """Lion's elements whose sign(beta1*m + (1 - beta1)*g) is within rounding of 0, per parameter: there the
    two implementations may round c to opposite signs (or one to 0), and the parameters then differ by lr
    (or 2*lr), a legitimate outcome of rounding. The band is 8 ulps of the terms' magnitudes (lion-pytorch's
    add(alpha=) and the library's product-then-sum each round twice)."""
    eps = torch.finfo(dtype).eps
    ties = []
    for group in optimizer.param_groups:
        beta1 = float(group["betas"][0])
        for p in group["params"]:
            m = optimizer.state[p]["exp_avg"].double() if "exp_avg" in optimizer.state[p] else torch.zeros_like(p)
            g = p.grad.double()
            c = beta1 * m + (1 - beta1) * g
            ties.append(c.abs() <= 8 * eps * ((beta1 * m).abs() + ((1 - beta1) * g).abs()))
    return ties


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
    exact = reference_optimizer(name)(groups, **{**options, **reference_options(name)})
    for p, q in cast.items():
        exact.state[q] = {k: v.double() if k != "step" else v.clone() for k, v in optimizer.state[p].items()}
    return exact


def lockstep(
    name: str,
    options: dict[str, Any],
    dtype: torch.dtype,
    fused_options: dict[str, Any] | None = None,
    steps: int = 200,
    max_grad_norm: float | None = None,
) -> float:
    """Runs torch's optimizer and the fused one in lockstep. Returns the largest error of a fused step
    beyond what the test allows, as a fraction of the tolerance (<= 1: within). With `max_grad_norm`, torch
    runs `clip_grad_norm_` before its step and the fused optimizer clips inside its own, and the norms
    they report are compared too."""
    reference, fused = mlp(dtype), mlp(dtype)
    lr = options.get("lr", default_lr(name))
    decay = {k: v for k, v in options.items() if k == "weight_decay"}
    torch_opt = reference_optimizer(name)(groups(reference, lr, **decay), **reference_options(name), **options)
    clip = {} if max_grad_norm is None else {"max_grad_norm": max_grad_norm}
    fused_opt = getattr(fot, name)(
        groups(fused, lr, **decay), **(options if fused_options is None else fused_options), **clip
    )
    x, y = data(dtype)
    sign = -1.0 if options.get("maximize") else 1.0
    tolerance = TOLERANCE[dtype]
    # Centered RMSprop's v - avg**2: torch forms it with a fused multiply-add (addcmul, one rounding),
    # the library with the product rounded first, as its no-FMA contract requires; where the two
    # nearly cancel, that one rounding is the error, many times torch's (measured: up to about 18x).
    factor = 64.0 if options.get("centered") else 4.0
    worst = 0.0
    losses = []

    def excess(
        mine: torch.Tensor,
        theirs: torch.Tensor,
        exact: torch.Tensor | None,
        scale: torch.Tensor,
        ties: torch.Tensor | None = None,
    ) -> float:
        error = (mine - theirs).abs().double() if exact is None else (mine.double() - exact).abs()
        allowed = tolerance * scale.double()
        if exact is not None:
            allowed = allowed + factor * (theirs.double() - exact).abs()
        if ties is not None:
            error = error.masked_fill(ties, 0.0)
        return (error / allowed).max().item()

    tied = 0
    elements = 0
    clipped = 0

    for _ in range(steps):
        torch_opt.zero_grad()
        loss = sign * torch.nn.functional.mse_loss(reference(x), y)
        loss.backward()
        losses.append(loss.item())
        for p_ref, p_fused in zip(reference.parameters(), fused.parameters()):
            p_fused.grad = p_ref.grad.clone()
        if max_grad_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(reference.parameters(), max_grad_norm, foreach=False).item()
        exact_opt = shadow(torch_opt, name, options) if dtype == torch.float32 else None
        ties = sign_ties(torch_opt, dtype) if name == "Lion" else [None] * 6
        torch_opt.step()
        fused_opt.step()
        if max_grad_norm is not None:
            assert fused_opt.grad_norm is not None
            # torch sums squares in the gradients' type, the library in float64.
            assert abs(fused_opt.grad_norm - norm) <= NORM_TOLERANCE[dtype] * norm, (fused_opt.grad_norm, norm)
            clipped += norm > max_grad_norm
        if exact_opt is not None:
            exact_opt.step()
        exact_params = [None] * 6 if exact_opt is None else [q for g in exact_opt.param_groups for q in g["params"]]
        with torch.no_grad():
            for p_ref, p_fused, p_exact, tie in zip(reference.parameters(), fused.parameters(), exact_params, ties):
                worst = max(worst, excess(p_fused, p_ref, p_exact, p_ref.abs() + 1e-3, tie))
                if tie is not None:
                    tied += int(tie.sum().item())
                    elements += tie.numel()
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
    if max_grad_norm is not None:
        assert clipped > steps // 2, "most steps clipped"
    if elements:
        print(f"Lion: {tied} of {elements} element steps had sign(c) within rounding of 0")
        assert tied <= 1e-3 * elements, "ties are rare; many mean a real difference"
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


CLIP_CASES: list[tuple[str, dict[str, Any]]] = [
    ("AdamW", {}),
    ("Adagrad", {}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("Lion", {"lr": 1e-3, "weight_decay": 0.1}),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name,options", CLIP_CASES, ids=[c[0] for c in CLIP_CASES])
def test_clipping_matches_clip_grad_norm_then_the_step(name: str, options: dict[str, Any], dtype: torch.dtype) -> None:
    """`max_grad_norm` against `torch.nn.utils.clip_grad_norm_` followed by torch's step: the norm (within
    NORM_TOLERANCE) and the step (within the same tolerance as unclipped steps), on steps that clip."""
    worst = lockstep(name, options, dtype, max_grad_norm=0.01)
    print(f"{name} {options} {dtype} clipped: largest error of a step, as a fraction of the allowed: {worst:.2e}")
    assert worst <= 1.0
