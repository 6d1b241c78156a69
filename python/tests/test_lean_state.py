"""Lean optimizer state (issue 18): ``state_dtype="bf16"`` keeps Adam's, AdamW's and Lion's moments in
bfloat16 for float32 (or bf16) parameters.

What is pinned: the state is torch.bfloat16 tensors of the parameter's shape under torch's names; each step
is, bit for bit, the float32-state step from the widened state with the new state rounded to bf16 (nearest
even); against a straightforward torch reference (float32 math, the state rounded to bf16 after each step)
the results agree within a stated tolerance (the library's op order differs from torch's in the last bits,
and a last-bit difference can move a bf16 rounding by one ulp); state_dict moves both ways between
``torch.optim.AdamW`` and the lean optimizer; AMP's GradScaler; the state bytes per parameter; the errors.
"""

from __future__ import annotations

import copy
import math
import pickle
from typing import Any

import pytest

import fused_optim.torch as fot
from conftest import data, mlp, torch

LEAN = ["Adam", "AdamW", "Lion"]


def names(name: str, amsgrad: bool = False) -> list[str]:
    if name == "Lion":
        return ["exp_avg"]
    return ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if amsgrad else [])


def make(name: str, params: Any, amsgrad: bool = False, **kw: Any) -> torch.optim.Optimizer:
    if name == "Lion":
        return fot.Lion(params, lr=1e-3, weight_decay=0.1, **kw)
    return getattr(fot, name)(params, lr=1e-2, amsgrad=amsgrad, **kw)


@pytest.mark.parametrize("name", LEAN)
def test_state_is_bf16_under_torch_names_with_the_param_shapes(name: str) -> None:
    model = mlp(torch.float32)
    opt = make(name, model.parameters(), amsgrad=True, state_dtype="bf16")
    x, y = data(torch.float32)
    torch.nn.functional.mse_loss(model(x), y).backward()
    opt.step()
    for p in model.parameters():
        state = opt.state[p]
        for key in names(name, amsgrad=name != "Lion"):
            assert state[key].dtype == torch.bfloat16 and state[key].shape == p.shape, key
    sd = opt.state_dict()
    first = sd["state"][0]
    assert first["exp_avg"].dtype == torch.bfloat16
    assert first["exp_avg"].shape == next(model.parameters()).shape


@pytest.mark.parametrize(("name", "amsgrad"), [("Adam", False), ("AdamW", False), ("AdamW", True), ("Lion", False)])
@pytest.mark.parametrize("param_dtype", [torch.float32, torch.bfloat16])
def test_bf16_state_is_the_float32_state_step_with_its_state_rounded(
    name: str, amsgrad: bool, param_dtype: torch.dtype
) -> None:
    """Bit-exact: from the same parameters and the widened state, the float32-state optimizer's step gives
    the same parameters, and its new state rounded to bf16 (nearest even) is the lean one's."""
    generator = torch.Generator().manual_seed(3)
    p = torch.randn(3000, generator=generator).to(param_dtype)
    q = p.clone()
    lean = make(name, [p], amsgrad=amsgrad, state_dtype="bf16")
    wide = make(name, [q], amsgrad=amsgrad)
    for t in range(6):
        g = torch.randn(3000, generator=generator).to(param_dtype)
        p.grad, q.grad = g.clone(), g.clone()
        if t > 0:
            for key in names(name, amsgrad):
                wide.state[q][key].copy_(lean.state[p][key].float())
        lean.step()
        wide.step()
        assert torch.equal(p, q), f"t={t}: parameters"
        for key in names(name, amsgrad):
            assert lean.state[p][key].dtype == torch.bfloat16
            assert torch.equal(lean.state[p][key], wide.state[q][key].to(torch.bfloat16)), f"t={t}: {key}"


def reference_adamw_step(
    p: torch.Tensor, g: torch.Tensor, state: dict[str, torch.Tensor], t: int, lr: float, wd: float
) -> None:
    """torch's AdamW formula in float32 on widened state, then the state rounded to bf16 (nearest even)."""
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    m, v = state["exp_avg"].float(), state["exp_avg_sq"].float()
    p.mul_(1 - lr * wd)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    bc1, bc2 = 1 - beta1**t, 1 - beta2**t
    p.add_(-(lr / bc1) * m / (v.sqrt() / math.sqrt(bc2) + eps))
    state["exp_avg"], state["exp_avg_sq"] = m.to(torch.bfloat16), v.to(torch.bfloat16)


def test_bf16_state_adamw_against_a_torch_reference() -> None:
    """Within tolerance: the state within one bf16 ulp (relative 2**-7) of the reference's, the parameters
    within 1e-4 of it (lr 1e-2: a one-ulp moment moves an update by about lr * 2**-8)."""
    generator = torch.Generator().manual_seed(5)
    p = torch.randn(10_000, generator=generator)
    ref = p.clone()
    opt = fot.AdamW([p], lr=1e-2, weight_decay=0.1, state_dtype="bf16")
    state = {
        "exp_avg": torch.zeros(10_000, dtype=torch.bfloat16),
        "exp_avg_sq": torch.zeros(10_000, dtype=torch.bfloat16),
    }
    for t in range(1, 11):
        g = torch.randn(10_000, generator=generator)
        p.grad = g.clone()
        opt.step()
        reference_adamw_step(ref, g, state, t, lr=1e-2, wd=0.1)
        torch.testing.assert_close(p, ref, rtol=0, atol=1e-4)
        for key in state:
            torch.testing.assert_close(opt.state[p][key].float(), state[key].float(), rtol=2**-7, atol=1e-30)
        same = (opt.state[p]["exp_avg"] == state["exp_avg"]).float().mean().item()
        assert same > 0.99, f"t={t}: only {same:.4f} of the first moments are the reference's bits"


def train_steps(model: torch.nn.Module, opt: torch.optim.Optimizer, steps: int, seed: int = 1) -> None:
    x, y = data(torch.float32, seed)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()


def test_torch_adamw_loads_a_lean_state_dict() -> None:
    """torch.optim.AdamW loads the bf16 state (casting it to the parameters' float32, exactly) and steps."""
    model = mlp(torch.float32)
    lean = fot.AdamW(model.parameters(), lr=1e-2, state_dtype="bf16")
    train_steps(model, lean, 3)
    sd = copy.deepcopy(lean.state_dict())
    plain = torch.optim.AdamW(model.parameters(), lr=1e-2)
    plain.load_state_dict(sd)
    for i, p in enumerate(model.parameters()):
        for key in ("exp_avg", "exp_avg_sq"):
            assert plain.state[p][key].dtype == torch.float32
            assert torch.equal(plain.state[p][key], sd["state"][i][key].float())
        assert float(plain.state[p]["step"]) == 3.0
    train_steps(model, plain, 1)


def test_a_torch_adamw_state_dict_loads_rounded_to_bf16() -> None:
    """A float32 torch state_dict loads into the lean optimizer with each moment rounded to bf16 to nearest
    even (torch's float32 -> bfloat16 conversion), the step counts kept; lean -> lean is exact."""
    model = mlp(torch.float32)
    plain = torch.optim.AdamW(model.parameters(), lr=1e-2)
    train_steps(model, plain, 3)
    sd = copy.deepcopy(plain.state_dict())
    lean = fot.AdamW(model.parameters(), lr=1e-2, state_dtype="bf16")
    lean.load_state_dict(sd)
    for i, p in enumerate(model.parameters()):
        for key in ("exp_avg", "exp_avg_sq"):
            assert lean.state[p][key].dtype == torch.bfloat16
            assert torch.equal(lean.state[p][key], sd["state"][i][key].to(torch.bfloat16))
        assert float(lean.state[p]["step"]) == 3.0
    train_steps(model, lean, 1)
    again = fot.AdamW(model.parameters(), lr=1e-2, state_dtype="bf16")
    again.load_state_dict(copy.deepcopy(lean.state_dict()))
    for p in model.parameters():
        for key in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(again.state[p][key], lean.state[p][key])
    # And the float32-state optimizer widens a lean state_dict exactly.
    wide = fot.AdamW(model.parameters(), lr=1e-2)
    wide.load_state_dict(copy.deepcopy(lean.state_dict()))
    for p in model.parameters():
        assert wide.state[p]["exp_avg"].dtype == torch.float32
        assert torch.equal(wide.state[p]["exp_avg"], lean.state[p]["exp_avg"].float())


def test_float32_state_of_bf16_params_survives_a_state_dict_round_trip() -> None:
    """The load converts each buffer from its saved dtype, not through the parameter's bf16."""
    model = mlp(torch.bfloat16)
    opt = fot.AdamW(model.parameters(), lr=1e-2)
    x, y = data(torch.bfloat16)
    for _ in range(2):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    sd = copy.deepcopy(opt.state_dict())
    again = fot.AdamW(model.parameters(), lr=1e-2)
    again.load_state_dict(sd)
    for p in model.parameters():
        assert again.state[p]["exp_avg_sq"].dtype == torch.float32
        assert torch.equal(again.state[p]["exp_avg_sq"], opt.state[p]["exp_avg_sq"])


def test_grad_scaler_with_bf16_state() -> None:
    """AMP: a power-of-two scale unscaled inside the step gives the unscaled step's bits; an inf gradient
    skips the step."""
    x, y = data(torch.float32)
    scaled, plain = mlp(torch.float32), mlp(torch.float32)
    opt_scaled = fot.AdamW(scaled.parameters(), state_dtype="bf16")
    opt_plain = fot.AdamW(plain.parameters(), state_dtype="bf16")
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12, growth_interval=1000)
    for _ in range(4):
        for model, opt, scale in ((scaled, opt_scaled, True), (plain, opt_plain, False)):
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = torch.nn.functional.mse_loss(model(x), y)
            if scale:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                (loss * 2.0**12).backward()
                for p in model.parameters():
                    p.grad.mul_(2.0**-12)
                opt.step()
    for a, b in zip(scaled.parameters(), plain.parameters()):
        assert torch.equal(a, b)
        assert torch.equal(opt_scaled.state[a]["exp_avg"], opt_plain.state[b]["exp_avg"])
    before = [p.detach().clone() for p in scaled.parameters()]
    moments = [opt_scaled.state[p]["exp_avg"].clone() for p in scaled.parameters()]
    opt_scaled.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = torch.nn.functional.mse_loss(scaled(x), y)
    scaler.scale(loss).backward()
    next(scaled.parameters()).grad[0, 0] = float("inf")
    scaler.step(opt_scaled)
    for p, b, m in zip(scaled.parameters(), before, moments):
        assert torch.equal(p, b) and torch.equal(opt_scaled.state[p]["exp_avg"], m)


@pytest.mark.parametrize(
    ("name", "amsgrad", "state_dtype", "want"),
    [
        ("AdamW", False, None, 8.0),
        ("AdamW", False, "float32", 8.0),
        ("AdamW", False, "bf16", 4.0),
        ("Adam", True, None, 12.0),
        ("Adam", True, "bf16", 6.0),
        ("Lion", False, None, 4.0),
        ("Lion", False, "bf16", 2.0),
    ],
)
def test_state_bytes_per_param(name: str, amsgrad: bool, state_dtype: Any, want: float) -> None:
    model = mlp(torch.float32)
    opt = make(name, model.parameters(), amsgrad=amsgrad, state_dtype=state_dtype)
    assert opt.state_bytes_per_param() == want
    train_steps(model, opt, 1)
    held = sum(t.numel() * t.element_size() for p in model.parameters() for k, t in opt.state[p].items() if k != "step")
    assert held == want * sum(p.numel() for p in model.parameters())
    empty = make(name, [{"params": []}], amsgrad=amsgrad, state_dtype=state_dtype)
    assert empty.state_bytes_per_param() == want


def test_state_bytes_per_param_of_other_layouts() -> None:
    assert fot.AdamW(mlp(torch.bfloat16).parameters()).state_bytes_per_param() == 8.0
    assert fot.AdamW(mlp(torch.float64).parameters()).state_bytes_per_param() == 16.0
    assert fot.SGD(mlp(torch.float32).parameters(), momentum=0.9).state_bytes_per_param() == 4.0
    assert fot.SGD(mlp(torch.float32).parameters()).state_bytes_per_param() == 0.0


def test_state_dtype_is_kept_by_copies_and_pickles() -> None:
    model = mlp(torch.float32)
    opt = fot.AdamW(model.parameters(), state_dtype=torch.bfloat16)
    assert opt.state_dtype == "bf16"
    assert copy.deepcopy(opt).state_dtype == "bf16"
    assert pickle.loads(pickle.dumps(opt)).state_dtype == "bf16"


def test_state_dtype_errors() -> None:
    params = list(mlp(torch.float32).parameters())
    with pytest.raises(TypeError, match="float64 parameters are not supported with this state"):
        fot.AdamW(mlp(torch.float64).parameters(), state_dtype="int8")
    with pytest.raises(TypeError, match="bfloat16 parameters are not supported with this state"):
        fot.Lion(mlp(torch.bfloat16).parameters(), state_dtype="int8")
    with pytest.raises(ValueError, match="state_dtype must be"):
        fot.AdamW(params, state_dtype="float16")
    with pytest.raises(TypeError, match="float64 parameters are not supported with this state"):
        fot.AdamW(mlp(torch.float64).parameters(), state_dtype="bf16")
    with pytest.raises(TypeError, match="float16 parameters are not supported with this state"):
        fot.Adam(mlp(torch.float16).parameters(), state_dtype="bf16")
    with pytest.raises(TypeError):
        fot.Adagrad(params, state_dtype="bf16")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        fot.SGD(params, state_dtype="bf16")  # type: ignore[call-arg]
