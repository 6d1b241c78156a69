"""Bad input to the functional steps: an exception, and every buffer unchanged; never a crash."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import fused_optim


def adam_buffers(n: int = 64, dtype: Any = np.float32) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    p, g, m, v = (rng.standard_normal(n).astype(dtype) for _ in range(4))
    return [p, g, m, np.abs(v)]


def unchanged(buffers: list[np.ndarray], call: Callable[[], Any], error: type[Exception], match: str) -> None:
    before = [b.copy() for b in buffers]
    with pytest.raises(error, match=match):
        call()
    for b, c in zip(buffers, before):
        assert np.array_equal(b, c, equal_nan=True)


def test_wrong_dtype() -> None:
    p, g, m, v = adam_buffers()
    bad = g.astype(np.int32)
    unchanged([p, m, v], lambda: fused_optim.adam_step(p, bad, m, v, step=1), TypeError, "int32|dtype")


def test_mixed_dtypes() -> None:
    p, g, m, v = adam_buffers()
    unchanged(
        [p, g, m],
        lambda: fused_optim.adam_step(p, g, m, v.astype(np.float64), step=1),
        TypeError,
        "exp_avg_sq is float64 but param is float32",
    )


def test_mixed_dtypes_across_a_list() -> None:
    a, b = adam_buffers(), adam_buffers(dtype=np.float64)
    lists = [[a[k], b[k]] for k in range(4)]
    unchanged(a + b, lambda: fused_optim.adam_step(*lists, step=1), TypeError, r"param\[1\] is float64")


def test_non_contiguous() -> None:
    p, g, m, v = adam_buffers(128)
    unchanged(
        [p, g, m, v],
        lambda: fused_optim.adam_step(p[::2], g[::2], m[::2], v[::2], step=1),
        ValueError,
        "not C-contiguous",
    )


def test_read_only_array() -> None:
    p, g, m, v = adam_buffers()
    v.flags.writeable = False
    unchanged(
        [p, g, m, v],
        lambda: fused_optim.adam_step(p, g, m, v, step=1),
        ValueError,
        "exp_avg_sq: the array is read-only",
    )


def test_a_read_only_gradient_is_fine() -> None:
    p, g, m, v = adam_buffers()
    g.flags.writeable = False
    fused_optim.adam_step(p, g, m, v, step=1)


def test_size_mismatch() -> None:
    p, g, m, v = adam_buffers()
    unchanged([p, g, m, v], lambda: fused_optim.adam_step(p, g[:10], m, v, step=1), ValueError, "grad.*10 elements")


def test_list_length_mismatch() -> None:
    p, g, m, v = adam_buffers()
    unchanged([p, g, m, v], lambda: fused_optim.adam_step([p], [g], [m, m], [v], step=1), ValueError, "a list of 2")


def test_one_array_and_a_list() -> None:
    p, g, m, v = adam_buffers()
    unchanged([p, g, m, v], lambda: fused_optim.adam_step([p], g, [m], [v], step=1), TypeError, "param is a list")


@pytest.mark.parametrize("which", ["param-state", "state-state", "param-grad", "partial"])
def test_overlapping_views(which: str) -> None:
    big = np.zeros(256, np.float32)
    p, g, m, v = adam_buffers()
    if which == "param-state":
        args = (big[:64], g, big[32:96], v)
    elif which == "state-state":
        args = (p, g, big[:64], big[:64])
    elif which == "param-grad":
        args = (big[:64], big[:64], m, v)
    else:
        args = (p, g, big[:64], big[63:127])
    unchanged([big, p, g, m, v], lambda: fused_optim.adam_step(*args, step=1), ValueError, "overlaps")


def test_two_tensors_may_share_a_gradient() -> None:
    p1, g, m1, v1 = adam_buffers()
    p2, _, m2, v2 = adam_buffers()
    fused_optim.adam_step([p1, p2], [g, g], [m1, m2], [v1, v2], step=1)
    assert np.array_equal(p1, p2)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"lr": float("nan")}, "lr"),
        ({"lr": -1.0}, "lr"),
        ({"betas": (0.9, 1.0)}, "beta2"),
        ({"betas": (float("nan"), 0.999)}, "beta1"),
        ({"eps": float("inf")}, "eps"),
        ({"weight_decay": float("nan")}, "weight_decay"),
    ],
)
def test_bad_hyperparameters(kwargs: dict[str, Any], match: str) -> None:
    p, g, m, v = adam_buffers()
    unchanged([p, g, m, v], lambda: fused_optim.adam_step(p, g, m, v, step=1, **kwargs), ValueError, match)


@pytest.mark.parametrize(
    "step,error",
    [(0, ValueError), (-1, ValueError), (2**64, ValueError), (1.0, TypeError), (True, TypeError), ("1", TypeError)],
)
def test_bad_step(step: Any, error: type[Exception]) -> None:
    p, g, m, v = adam_buffers()
    unchanged([p, g, m, v], lambda: fused_optim.adam_step(p, g, m, v, step=step), error, "step")


def test_missing_and_unexpected_state() -> None:
    p, g, m, v = adam_buffers()
    unchanged(
        [p, g, m, v], lambda: fused_optim.adam_step(p, g, m, v, step=1, amsgrad=True), ValueError, "max_exp_avg_sq"
    )
    w = v.copy()
    unchanged([p, g, m, v, w], lambda: fused_optim.adam_step(p, g, m, v, w, step=1), ValueError, "max_exp_avg_sq")
    unchanged([p, g, v], lambda: fused_optim.rmsprop_step(p, g, v, step=1, momentum=0.9), ValueError, "momentum_buffer")


def test_not_an_array() -> None:
    p, g, m, v = adam_buffers()
    unchanged([p, g, m, v], lambda: fused_optim.adam_step(p, [1.0] * 64, m, v, step=1), TypeError, "grad")
    unchanged([p, m, v], lambda: fused_optim.adam_step(p, None, m, v, step=1), TypeError, "grad")


def test_misaligned_array() -> None:
    raw = np.zeros(4 * 64 + 1, np.uint8)
    p = raw[1:].view(np.float32)  # numpy allows unaligned views
    _, g, m, v = adam_buffers()
    unchanged([p, g, m, v], lambda: fused_optim.adam_step(p, g, m, v, step=1), ValueError, "aligned")


def test_bad_threads() -> None:
    with pytest.raises(ValueError, match="at most"):
        fused_optim.set_num_threads(10**6)
    with pytest.raises(OverflowError):
        fused_optim.set_num_threads(-1)


torch = pytest.importorskip("torch")


def test_torch_tensor_checks() -> None:
    p, g, m, v = (torch.randn(16) for _ in range(4))
    before = [t.clone() for t in (p, g, m, v)]
    with pytest.raises(ValueError, match="not contiguous"):
        fused_optim.adam_step(torch.randn(4, 4).t(), g, m, v, step=1)
    with pytest.raises(TypeError, match="sparse"):
        fused_optim.adam_step(p, g.to_sparse(), m, v, step=1)
    with pytest.raises(TypeError, match="complex64"):
        fused_optim.adam_step(p.to(torch.complex64), g, m, v, step=1)
    with pytest.raises(TypeError, match="int64"):
        fused_optim.adam_step(p, g.long(), m, v, step=1)
    with pytest.raises(ValueError, match="overlaps"):
        fused_optim.adam_step(p, g, m, p[:8], step=1)
    with pytest.raises(ValueError, match="negative view"):
        fused_optim.adam_step(p, torch.ones(16)._neg_view(), m, v, step=1)
    for t, b in zip((p, g, m, v), before):
        assert torch.equal(t, b)


def test_torch_optimizer_refusals() -> None:
    import fused_optim.torch as fot

    w = torch.nn.Parameter(torch.randn(4, 4))
    for flag in ("capturable", "differentiable", "fused"):
        with pytest.raises(ValueError, match=flag):
            fot.Adam([w], **{flag: True})
    opt = fot.Adam([w])
    w.grad = torch.randn(4, 4).t()
    before = w.detach().clone()
    with pytest.raises(ValueError, match="not contiguous"):
        opt.step()
    assert torch.equal(w, before)
    with pytest.raises(TypeError, match="bfloat16"):
        fot.Adagrad([torch.nn.Parameter(torch.zeros(3, dtype=torch.bfloat16))])
    with pytest.raises(TypeError, match="complex64"):
        fot.Adam([torch.nn.Parameter(torch.zeros(3, dtype=torch.complex64))])


def test_a_refused_scaled_step_leaves_the_gradients_as_they_were() -> None:
    """AMP for the algorithms without a fused unscale: the gradients are unscaled before the step and
    scaled back if it refuses (a non-contiguous gradient), so nothing changes."""
    import fused_optim.torch as fot

    w = torch.nn.Parameter(torch.ones(4, 4))
    w.grad = (torch.arange(16.0).reshape(4, 4) * 8.0).t()
    grad_before = w.grad.clone()
    opt = fot.RMSprop([w])
    opt.grad_scale = torch.tensor(8.0)
    opt.found_inf = torch.tensor(0.0)
    with pytest.raises(ValueError, match="not contiguous"):
        opt.step()
    assert torch.equal(w.grad, grad_before) and torch.equal(w, torch.ones(4, 4))
    assert opt.state[w]["step"].item() == 0
