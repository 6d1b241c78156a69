"""8-bit blockwise optimizer state (issue 18): ``state_dtype="int8"`` for Adam, AdamW and Lion, and the
functional ``adam_step_8bit`` / ``lion_step_8bit`` / ``quantize_8bit`` / ``dequantize_8bit``.

What is pinned: an 8-bit step is, byte for byte, the float32-state step from the decoded state followed by
quantizing the new state (``quantize_8bit``: per block of 256 the absmax, the nearest code), with the
parameters bit-identical to that float32 step's; the torch classes are that functional step; the state is
``<name>_codes`` (uint8, the parameter's shape) and ``<name>_scales`` (float32, one per block);
``torch_state_dict()`` is torch's layout and loads into ``torch.optim.AdamW``, a torch state_dict loads
into the 8-bit optimizer quantized; AMP's GradScaler; the state bytes per parameter; the refusals.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest

import fused_optim
import fused_optim.torch as fot
from conftest import data, mlp, torch

BLOCK = 256


def blocks(n: int) -> int:
    return -(-n // BLOCK)


def quantized(values: torch.Tensor, signed: bool) -> tuple[torch.Tensor, torch.Tensor]:
    codes = torch.empty(values.numel(), dtype=torch.uint8)
    scales = torch.empty(blocks(values.numel()))
    fused_optim.quantize_8bit(values.reshape(-1).contiguous(), codes, scales, signed=signed)
    return codes, scales


def decoded(codes: torch.Tensor, scales: torch.Tensor, signed: bool) -> torch.Tensor:
    out = torch.empty(codes.numel())
    fused_optim.dequantize_8bit(codes.reshape(-1), scales, out, signed=signed)
    return out


def test_codes_round_trip_and_flush() -> None:
    # Every code decodes to a value that encodes back to it (with scale 1: one block whose absmax is 1).
    for signed in (True, False):
        codes = torch.arange(256, dtype=torch.uint8)
        values = decoded(codes, torch.ones(1), signed)
        if signed:
            assert values[127] == 1.0 and values[255] == -1.0
        else:
            assert values[255] == 1.0 and values[254] == 0.9375
        again, scale = quantized(torch.cat([values[:-1], torch.ones(1)]), signed)
        assert scale.item() == 1.0
        assert torch.equal(again[1:-1], codes[1:-1])


@pytest.mark.parametrize("n", [1, 255, 256, 1000, 4097])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_8bit_is_the_f32_step_then_quantize(n: int, amsgrad: bool) -> None:
    g = torch.Generator().manual_seed(n)
    p = torch.randn(n, generator=g)
    state8 = [
        torch.zeros(n, dtype=torch.uint8),
        torch.zeros(blocks(n)),
        torch.zeros(n, dtype=torch.uint8),
        torch.zeros(blocks(n)),
    ]
    if amsgrad:
        state8 += [torch.zeros(n, dtype=torch.uint8), torch.zeros(blocks(n))]
    signed = [True, False, False]
    hyper: dict[str, Any] = dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True, amsgrad=amsgrad)
    for step in range(1, 5):
        grad = torch.randn(n, generator=g) * 0.1
        # The f32 step from the decoded state ...
        p32 = p.clone()
        f32 = [decoded(state8[2 * k], state8[2 * k + 1], signed[k]) for k in range(len(state8) // 2)]
        fused_optim.adam_step(p32, grad, f32[0], f32[1], f32[2] if amsgrad else None, step=step, **hyper)
        # ... is the 8-bit step, its new state quantized.
        assert fused_optim.adam_step_8bit(p, grad, *state8, step=step, **hyper)
        assert torch.equal(p.view(torch.int32), p32.view(torch.int32))
        for k, values in enumerate(f32):
            codes, scales = quantized(values, signed[k])
            assert torch.equal(state8[2 * k], codes), (step, k)
            assert torch.equal(state8[2 * k + 1].view(torch.int32), scales.view(torch.int32)), (step, k)


def test_lion_8bit_is_the_f32_step_then_quantize() -> None:
    n = 3000
    g = torch.Generator().manual_seed(3)
    p = torch.randn(n, generator=g)
    codes, scales = torch.zeros(n, dtype=torch.uint8), torch.zeros(blocks(n))
    for _ in range(3):
        grad = torch.randn(n, generator=g)
        p32, m = p.clone(), decoded(codes, scales, True)
        fused_optim.lion_step(p32, grad, m, lr=1e-3, weight_decay=0.1)
        fused_optim.lion_step_8bit(p, grad, codes, scales, lr=1e-3, weight_decay=0.1)
        assert torch.equal(p, p32)
        want = quantized(m, True)
        assert torch.equal(codes, want[0]) and torch.equal(scales, want[1])


def train(model: torch.nn.Module, opt: torch.optim.Optimizer, steps: int, seed: int = 1) -> None:
    x, y = data(torch.float32, seed)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()


@pytest.mark.parametrize("name", ["Adam", "AdamW", "Lion"])
def test_torch_classes_are_the_functional_step(name: str) -> None:
    model, twin = mlp(torch.float32), mlp(torch.float32)
    make = (lambda ps, **kw: fot.Lion(ps, lr=1e-3, **kw)) if name == "Lion" else getattr(fot, name)
    opt = make(model.parameters(), state_dtype="int8")
    ref = make(twin.parameters())
    x, y = data(torch.float32)
    for _ in range(3):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        # The reference: a float32-state optimizer whose state is, before each step, the decoded 8-bit state.
        ref.zero_grad()
        torch.nn.functional.mse_loss(twin(x), y).backward()
        ref.step()
        for p, q in zip(model.parameters(), twin.parameters()):
            assert torch.equal(p, q)
            for state_name in ("exp_avg", "exp_avg_sq") if name != "Lion" else ("exp_avg",):
                signed = state_name == "exp_avg"
                codes, scales = opt.state[p][f"{state_name}_codes"], opt.state[p][f"{state_name}_scales"]
                assert codes.shape == p.shape and codes.dtype == torch.uint8
                assert scales.shape == (blocks(p.numel()),) and scales.dtype == torch.float32
                assert torch.equal(codes.reshape(-1), quantized(ref.state[q][state_name], signed)[0])
                ref.state[q][state_name].copy_(decoded(codes, scales, signed).reshape(q.shape))


def test_state_bytes_per_param() -> None:
    # Two 256 x 8 weights: whole blocks, so exactly 2 + 8/256 per parameter.
    params = [torch.nn.Parameter(torch.zeros(256, 8)) for _ in range(2)]
    opt = fot.AdamW(params, state_dtype="int8")
    assert opt.state_bytes_per_param() == 2 + 8 / 256
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    held = sum(t.numel() * t.element_size() for p in params for k, t in opt.state[p].items() if k != "step")
    assert held == (2 + 8 / 256) * sum(p.numel() for p in params)
    assert fot.AdamW(params, state_dtype="int8", amsgrad=True).state_bytes_per_param() == 3 + 12 / 256
    assert fot.Lion(params, state_dtype="int8").state_bytes_per_param() == 1 + 4 / 256
    assert fot.AdamW(params).state_bytes_per_param() == 8.0
    assert fot.AdamW(params, state_dtype="bf16").state_bytes_per_param() == 4.0


def test_state_dict_round_trip_and_torch_layout() -> None:
    model = mlp(torch.float32)
    opt = fot.AdamW(model.parameters(), lr=1e-2, state_dtype="int8")
    train(model, opt, 3)
    # The packed state_dict resumes bit-exactly.
    twin = mlp(torch.float32)
    twin.load_state_dict(model.state_dict())
    resumed = fot.AdamW(twin.parameters(), lr=1e-2, state_dtype="int8")
    resumed.load_state_dict(copy.deepcopy(opt.state_dict()))  # as torch.save / torch.load would (torch aliases)
    train(model, opt, 2, seed=2)
    train(twin, resumed, 2, seed=2)
    for p, q in zip(model.parameters(), twin.parameters()):
        assert torch.equal(p, q)
    # torch's layout: float32 moments of the parameter's shape, which torch.optim.AdamW loads and steps.
    layout = opt.torch_state_dict()
    first = layout["state"][0]
    p0 = next(model.parameters())
    assert set(first) == {"step", "exp_avg", "exp_avg_sq"}
    assert first["exp_avg"].shape == p0.shape and first["exp_avg"].dtype == torch.float32
    plain = mlp(torch.float32)
    plain.load_state_dict(model.state_dict())
    reference = torch.optim.AdamW(plain.parameters(), lr=1e-2)
    reference.load_state_dict(copy.deepcopy(layout))
    train(plain, reference, 1, seed=3)
    train(model, opt, 1, seed=3)
    for p, q in zip(model.parameters(), plain.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=2e-2 * 1.1)  # at most about one lr apart
    # torch's state_dict loads into the 8-bit optimizer quantized, as a step would store it.
    back = fot.AdamW(plain.parameters(), lr=1e-2, state_dtype="int8")
    back.load_state_dict(reference.state_dict())
    for p in plain.parameters():
        for name, signed in (("exp_avg", True), ("exp_avg_sq", False)):
            codes, scales = quantized(reference.state[p][name], signed)
            assert torch.equal(back.state[p][f"{name}_codes"].reshape(-1), codes)
            assert torch.equal(back.state[p][f"{name}_scales"], scales)
            assert name not in back.state[p]
    # A decoded 8-bit state quantizes back to the same bytes; a float32 fused optimizer takes the packed one.
    again = fot.AdamW(model.parameters(), lr=1e-2, state_dtype="int8")
    again.load_state_dict(opt.torch_state_dict())
    for p in model.parameters():
        for key in ("exp_avg_codes", "exp_avg_scales", "exp_avg_sq_codes", "exp_avg_sq_scales"):
            assert torch.equal(again.state[p][key], opt.state[p][key])
    wide = fot.AdamW(model.parameters(), lr=1e-2)
    wide.load_state_dict(opt.state_dict())
    now = opt.torch_state_dict()["state"]
    for i, p in enumerate(model.parameters()):
        for name in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(wide.state[p][name], now[i][name])
            assert f"{name}_codes" not in wide.state[p]


def test_grad_scaler_skips_and_unscales() -> None:
    model, twin = mlp(torch.float32), mlp(torch.float32)
    opt = fot.AdamW(model.parameters(), lr=1e-2, state_dtype="int8")
    ref = fot.AdamW(twin.parameters(), lr=1e-2, state_dtype="int8")
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    x, y = data(torch.float32)
    scaler.scale(torch.nn.functional.mse_loss(model(x), y)).backward()
    scaler.step(opt)
    scaler.update()
    torch.nn.functional.mse_loss(twin(x), y).backward()
    ref.step()
    for p, q in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    # An overflowed gradient: GradScaler skips the step, and nothing changes.
    before = [t.clone() for p in model.parameters() for t in opt.state[p].values()]
    for p in model.parameters():
        p.grad = torch.full_like(p, math.inf)
    scaler.step(opt)
    after = [t for p in model.parameters() for t in opt.state[p].values()]
    assert all(torch.equal(a, b) for a, b in zip(before, after))


def test_refusals_write_nothing() -> None:
    n = 600
    p, grad = torch.ones(n), torch.full((n,), 0.5)
    codes, scales = torch.zeros(n, dtype=torch.uint8), torch.zeros(blocks(n))
    codes2, scales2 = torch.zeros(n, dtype=torch.uint8), torch.zeros(blocks(n))
    snapshot = [t.clone() for t in (p, codes, scales, codes2, scales2)]

    def untouched() -> None:
        for a, b in zip((p, codes, scales, codes2, scales2), snapshot):
            assert torch.equal(a, b)

    with pytest.raises(ValueError, match="scales"):
        fused_optim.adam_step_8bit(p, grad, codes, scales[:2], codes2, scales2, step=1)
    untouched()
    with pytest.raises(TypeError, match="uint8"):
        fused_optim.adam_step_8bit(p, grad, scales, scales, codes2, scales2, step=1)
    untouched()
    with pytest.raises(TypeError, match="float32"):
        fused_optim.adam_step_8bit(p.double(), grad, codes, scales, codes2, scales2, step=1)
    untouched()
    with pytest.raises(ValueError, match="together"):
        fused_optim.adam_step_8bit(p, grad, codes, scales, codes2, scales2, codes2, step=1, amsgrad=True)
    untouched()
    with pytest.raises(ValueError):
        fused_optim.adam_step_8bit(p, grad, codes, scales, codes, scales2, step=1)  # two buffers share memory
    untouched()
    with pytest.raises(TypeError, match="uint8"):
        fused_optim.adam_step(p, grad, codes, scales2, step=1)
    with pytest.raises(ValueError, match="ceil"):
        fused_optim.quantize_8bit(p, codes, scales[:1], signed=True)
    untouched()
    # numpy arrays take the same path.
    pn, gn = np.ones(n, np.float32), np.full(n, 0.5, np.float32)
    cn, sn = np.zeros(n, np.uint8), np.zeros(blocks(n), np.float32)
    cv, sv = np.zeros(n, np.uint8), np.zeros(blocks(n), np.float32)
    assert fused_optim.adam_step_8bit(pn, gn, cn, sn, cv, sv, step=1)
    assert sn[0] == np.float32(0.05) and cn[0] == 127
