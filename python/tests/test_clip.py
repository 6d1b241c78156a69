"""Gradient-norm clipping: the norm's bits on every thread count and argument kind, the functional
steps' max_grad_norm, the torch optimizers' non-finite rules, and clipping under AMP.

The comparison with `torch.nn.utils.clip_grad_norm_` followed by torch's step is in test_parity
(`test_clipping_matches_clip_grad_norm_then_the_step`)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import fused_optim
import fused_optim.torch as fot
from conftest import data, mlp, torch, train


def gradients(dtype: type = np.float32, seed: int = 3) -> list[np.ndarray]:
    """Tensors of lengths around the library's blocks, lanes and thread pieces."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(dtype) for n in (1, 7, 4095, 4096, 4097, 100_003, 300_000)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_the_norm_is_the_same_bits_on_every_thread_count_and_argument_kind(dtype: type) -> None:
    grads = gradients(dtype)
    norms = set()
    try:
        for threads in (1, 2, 3, 7):
            fused_optim.set_num_threads(threads, backend="rayon")
            norms.add(fused_optim.grad_norm(grads))
            norms.add(fused_optim.grad_norm([torch.from_numpy(g) for g in grads]))
    finally:
        fused_optim.set_num_threads(0)
    assert len(norms) == 1
    exact = math.sqrt(math.fsum(float(x) * float(x) for g in grads for x in g.astype(np.float64)))
    (norm,) = norms
    assert abs(norm - exact) <= 8 * np.finfo(np.float64).eps * exact


def test_a_float32_norm_beyond_float32_range_is_finite() -> None:
    """The squares add in float64: 1e30**2 overflows float32, not float64."""
    g = np.full(1000, 1e30, np.float32)
    assert fused_optim.grad_norm([g]) == pytest.approx(float(np.float32(1e30)) * math.sqrt(1000), rel=1e-12)


def test_max_grad_norm_in_a_functional_step_scales_the_gradient_inside_the_step() -> None:
    """A clipped step equals the unclipped step of the gradient times the coefficient (computed in
    float64 from the returned norm, rounded to float32, as the library does), bit for bit; the gradient
    itself is not written."""
    rng = np.random.default_rng(0)
    p = rng.standard_normal(10_000).astype(np.float32)
    g = (rng.standard_normal(10_000) * 10).astype(np.float32)
    g_before = g.copy()
    m, v = np.zeros_like(p), np.zeros_like(p)
    p2, m2, v2 = p.copy(), m.copy(), v.copy()
    norm = fused_optim.adamw_step(p, g, m, v, step=1, max_grad_norm=1.0)
    assert norm is not None and norm > 1.0
    np.testing.assert_array_equal(g, g_before)
    coefficient = np.float32(1.0 / (norm + 1e-6))
    fused_optim.adamw_step(p2, g * coefficient, m2, v2, step=1)
    np.testing.assert_array_equal(m.view(np.uint32), m2.view(np.uint32))
    np.testing.assert_array_equal(p.view(np.uint32), p2.view(np.uint32))


def test_an_unclipped_step_returns_none_and_a_norm_under_the_limit_changes_nothing() -> None:
    p, g = np.ones(100, np.float32), np.full(100, 1e-3, np.float32)
    m, v = np.zeros_like(p), np.zeros_like(p)
    q, n, w = p.copy(), m.copy(), v.copy()
    assert fused_optim.adam_step(p, g, m, v, step=1) is None
    assert fused_optim.adam_step(q, g, n, w, step=1, max_grad_norm=10.0) == pytest.approx(1e-2, rel=1e-6)
    np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("bad", [math.inf, math.nan], ids=["inf", "nan"])
@pytest.mark.parametrize("rule", ["propagate", "skip"])
def test_a_non_finite_norm_propagates_or_skips(rule: str, bad: float) -> None:
    """As clip_grad_norm_: an infinite norm gives the coefficient 0 (finite gradients become 0, the
    infinite one NaN), a NaN norm the coefficient NaN (every gradient NaN); or, skipping, nothing."""
    p, g = np.ones(100, np.float32), np.ones(100, np.float32)
    g[7] = bad
    buf = np.zeros_like(p)
    before = p.copy()
    norm = fused_optim.sgd_step(p, g, buf, step=1, lr=0.1, momentum=0.9, max_grad_norm=1.0, grad_norm_non_finite=rule)
    assert norm is not None and not math.isfinite(norm) and math.isnan(norm) == math.isnan(bad)
    if rule == "skip":
        np.testing.assert_array_equal(p, before)
        np.testing.assert_array_equal(buf, 0.0)
    elif math.isnan(bad):
        assert np.isnan(p).all()
    else:
        assert np.isnan(p[7]) and (np.delete(p, 7) == 1.0).all()


def test_the_torch_optimizers_rules_for_a_non_finite_norm() -> None:
    x, y = data(torch.float32)
    for rule in ("propagate", "skip", "error"):
        model = mlp(torch.float32)
        opt = fot.SGD(model.parameters(), lr=0.1, max_grad_norm=1.0, grad_norm_non_finite=rule)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        first = next(model.parameters())
        assert first.grad is not None
        first.grad[0, 0] = float("nan")
        before = [p.detach().clone() for p in model.parameters()]
        if rule == "error":
            with pytest.raises(RuntimeError, match="non-finite"):
                opt.step()
        else:
            opt.step()
        assert opt.grad_norm is not None and math.isnan(opt.grad_norm)
        after = list(model.parameters())
        if rule == "propagate":
            assert all(torch.isnan(p).all() for p in after)
        else:
            assert all(torch.equal(a, b) for a, b in zip(after, before))


def test_bad_clip_options_are_refused() -> None:
    model = mlp(torch.float32)
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="max_grad_norm"):
            fot.AdamW(model.parameters(), max_grad_norm=bad)
    with pytest.raises(ValueError, match="grad_norm_non_finite"):
        fot.AdamW(model.parameters(), max_grad_norm=1.0, grad_norm_non_finite="ignore")
    p, g = np.ones(4, np.float32), np.ones(4, np.float32)
    m, v = np.zeros_like(p), np.zeros_like(p)
    with pytest.raises(ValueError, match="max_grad_norm"):
        fused_optim.adam_step(p, g, m, v, step=1, max_grad_norm=-1.0)
    np.testing.assert_array_equal(p, 1.0)


@pytest.mark.parametrize("name", ["AdamW", "SGD", "Lion", "RMSprop"])
def test_clipping_under_amp_is_the_bits_of_clipping_without_it(name: str) -> None:
    """GradScaler's scale is a power of two, so the unscaled norm and the unscale-and-clip multiplier are
    exact: the scaled run and the plain run give the same bits."""
    x, y = data(torch.float32)
    plain, scaled = mlp(torch.float32), mlp(torch.float32)
    opt_plain = getattr(fot, name)(plain.parameters(), lr=1e-3, max_grad_norm=0.05)
    opt_scaled = getattr(fot, name)(scaled.parameters(), lr=1e-3, max_grad_norm=0.05)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)
    train(plain, opt_plain, 5, x, y)
    for _ in range(5):
        opt_scaled.zero_grad()
        loss = torch.nn.functional.mse_loss(scaled(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt_scaled)
        scaler.update()
    assert opt_plain.grad_norm == opt_scaled.grad_norm
    for a, b in zip(plain.parameters(), scaled.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["AdamW", "SGD", "Lion"])
def test_clipping_a_model_of_two_dtypes(name: str) -> None:
    """bf16 weights with float32 norms (a common bf16 set-up): one norm over both types, equal to the
    float64 norm of the same gradients."""
    model = torch.nn.Sequential(torch.nn.Linear(8, 8).bfloat16(), torch.nn.LayerNorm(8))
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    want = math.sqrt(sum(float(p.grad.double().square().sum()) for p in model.parameters()))
    opt = getattr(fot, name)(model.parameters(), lr=1e-3, max_grad_norm=0.5)
    opt.step()
    assert opt.grad_norm == pytest.approx(want, rel=1e-12)
    assert fused_optim.grad_norm([p.grad for p in model.parameters()]) == opt.grad_norm
