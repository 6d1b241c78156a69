"""state_dict round trips between torch.optim and fused_optim.torch, and a checkpoint file loaded in a
new process.

The round trips run in float64, so that what they compare is the state that moved (names, layout,
step counts, values), not how training amplifies rounding: torch and the library differ by about an
ulp per step (test_parity), and over these 100 free-running float64 steps that stays below 1e-9
relative (measured: about 1e-12). A dropped or misnamed buffer, a step count off by one or a
reinitialised moment moves the parameters by far more.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import fused_optim.torch as fot
from conftest import data, default_lr, groups, mlp, reference_optimizer, reference_options, torch, train

TOLERANCE = 1e-9

CASES: list[tuple[str, dict[str, Any]]] = [
    ("Adam", {"amsgrad": True}),
    ("AdamW", {}),
    ("Adamax", {}),
    ("Adagrad", {"initial_accumulator_value": 0.1}),
    ("RMSprop", {"lr": 1e-3, "momentum": 0.9, "centered": True}),
    # lr 0.1, not the default 1.0: at 1.0 this run turns chaotic after about 120 steps (two float64 runs an
    # ulp apart separate), which is the training's property, not the state_dict's.
    ("Adadelta", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("Lion", {"lr": 1e-3, "weight_decay": 0.1}),
]


def close(a: torch.nn.Module, b: torch.nn.Module) -> float:
    return max(((p - q).abs() / (p.abs() + 1e-3)).max().item() for p, q in zip(a.parameters(), b.parameters()))


def build(cls: Any, model: torch.nn.Module, name: str, options: dict[str, Any], **extra: Any) -> Any:
    lr = options.get("lr", default_lr(name))
    return cls(groups(model, lr), **options, **extra)


@pytest.mark.parametrize("name,options", CASES, ids=[c[0] for c in CASES])
def test_torch_to_fused_to_torch(name: str, options: dict[str, Any]) -> None:
    dtype = torch.float64
    x, y = data(dtype)
    # torch trains 50 steps; its state_dict loads into the fused optimizer.
    model = mlp(dtype)
    torch_opt = build(reference_optimizer(name), model, name, options, **reference_options(name))
    train(model, torch_opt, 50, x, y)
    # state_dict() holds the optimizer's own tensors, and load_state_dict keeps a tensor that needs
    # no conversion: copy, or the two optimizers would share (and both step) the same state.
    saved = copy.deepcopy(torch_opt.state_dict())

    fused_model = mlp(dtype)
    fused_model.load_state_dict(model.state_dict())
    fused_opt = build(getattr(fot, name), fused_model, name, options)
    fused_opt.load_state_dict(saved)
    assert fused_opt.state_dict()["param_groups"] == torch_opt.state_dict()["param_groups"]

    # Both continue 50 steps: the same training.
    train(model, torch_opt, 50, x, y)
    train(fused_model, fused_opt, 50, x, y)
    assert close(model, fused_model) <= TOLERANCE
    for p, q in zip(model.parameters(), fused_model.parameters()):
        assert sorted(torch_opt.state[p]) == sorted(fused_opt.state[q])
        if "step" in torch_opt.state[p]:  # not SGD's nor Lion's
            assert torch_opt.state[p]["step"].item() == fused_opt.state[q]["step"].item() == 100

    # The fused optimizer's state_dict loads into torch's, which continues the same.
    back_model = mlp(dtype)
    back_model.load_state_dict(fused_model.state_dict())
    back_opt = build(reference_optimizer(name), back_model, name, options, **reference_options(name))
    back_opt.load_state_dict(copy.deepcopy(fused_opt.state_dict()))
    train(back_model, back_opt, 50, x, y)
    train(fused_model, fused_opt, 50, x, y)
    assert close(back_model, fused_model) <= TOLERANCE


def test_state_dict_layout_is_torchs() -> None:
    """Same keys, same state names, shapes and dtypes, same step dtype as torch's."""
    dtype = torch.float32
    x, y = data(dtype)
    a, b = mlp(dtype), mlp(dtype)
    ta, fb = torch.optim.AdamW(a.parameters(), amsgrad=True), fot.AdamW(b.parameters(), amsgrad=True)
    train(a, ta, 3, x, y)
    train(b, fb, 3, x, y)
    sa, sb = ta.state_dict(), fb.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    for k in sa["state"]:
        assert sa["state"][k].keys() == sb["state"][k].keys()
        for name, value in sa["state"][k].items():
            assert (value.dtype, value.shape) == (sb["state"][k][name].dtype, sb["state"][k][name].shape)


def test_checkpoint_file_in_a_new_process(tmp_path: Path) -> None:
    """torch.save of the model and the fused optimizer, torch.load in another process, 10 more steps
    there: the same bits as 10 more steps here (the same library on the same machine)."""
    dtype = torch.float32
    x, y = data(dtype)
    model = mlp(dtype)
    opt = fot.AdamW(groups(model, 1e-3), amsgrad=True)
    train(model, opt, 20, x, y)
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, path)
    train(model, opt, 10, x, y)
    expected = torch.cat([p.detach().flatten() for p in model.parameters()])

    out = tmp_path / "params.pt"
    script = textwrap.dedent(
        f"""
        import sys, torch
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from conftest import data, groups, mlp, train
        import fused_optim.torch as fot
        x, y = data(torch.float32)
        checkpoint = torch.load({str(path)!r})
        model = mlp(torch.float32, seed=123)
        model.load_state_dict(checkpoint["model"])
        opt = fot.AdamW(groups(model, 1e-3), amsgrad=True)
        opt.load_state_dict(checkpoint["optimizer"])
        train(model, opt, 10, x, y)
        torch.save(torch.cat([p.detach().flatten() for p in model.parameters()]), {str(out)!r})
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    assert torch.equal(torch.load(out), expected)


def test_bf16_parameters_keep_float32_state_and_load_torchs_bf16_state() -> None:
    model = mlp(torch.bfloat16)
    torch_opt = torch.optim.AdamW(model.parameters(), foreach=False)
    x, y = data(torch.bfloat16)
    train(model, torch_opt, 3, x, y)
    saved = copy.deepcopy(torch_opt.state_dict())
    assert saved["state"][0]["exp_avg"].dtype == torch.bfloat16
    fused_opt = fot.AdamW(model.parameters())
    fused_opt.load_state_dict(saved)
    for p in model.parameters():
        assert fused_opt.state[p]["exp_avg"].dtype == torch.float32
        assert fused_opt.state[p]["exp_avg_sq"].dtype == torch.float32
    losses = train(model, fused_opt, 20, x, y)
    assert losses[-1] < losses[0]
    # and back: torch narrows our float32 state to the parameters' bf16
    again = torch.optim.AdamW(model.parameters(), foreach=False)
    again.load_state_dict(copy.deepcopy(fused_opt.state_dict()))
    assert again.state[next(iter(model.parameters()))]["exp_avg"].dtype == torch.bfloat16


@pytest.mark.parametrize("step", [0.5, -1.0, float("nan"), float("inf"), 2.0**64])
def test_a_bad_step_count_is_refused_and_nothing_changes(step: float) -> None:
    model = mlp(torch.float32)
    opt = fot.Adam(model.parameters())
    x, y = data(torch.float32)
    train(model, opt, 1, x, y)
    for p in model.parameters():
        opt.state[p]["step"].fill_(step)
    before = [p.detach().clone() for p in model.parameters()]
    moments = [opt.state[p]["exp_avg"].clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="step"):
        train(model, opt, 1, x, y)
    for p, b, m in zip(model.parameters(), before, moments):
        assert torch.equal(p, b) and torch.equal(opt.state[p]["exp_avg"], m)


def test_a_float32_step_count_saturates_at_2_24_as_torchs_does() -> None:
    """torch's float32 `step += 1` stops at 2**24 (2**24 + 1 has no float32); so does ours, stepping on."""
    p = torch.nn.Parameter(torch.ones(4))
    p.grad = torch.ones(4)
    opt = fot.Adam([p])
    opt.step()
    opt.state[p]["step"].fill_(2.0**24)
    before = p.detach().clone()
    opt.step()
    assert opt.state[p]["step"].item() == 2.0**24
    assert not torch.equal(p, before)
