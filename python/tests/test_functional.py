"""The functional steps: numpy and torch give the same bits, a list is the same as its tensors one by
one, every thread count gives the same bits, bf16 from numpy, the mixed step's skip, the GIL."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

import fused_optim

STEPS = {
    "adam_step": (4, {"weight_decay": 0.1, "amsgrad": False}),
    "adamw_step": (4, {}),
    "adamax_step": (4, {}),
    "adagrad_step": (3, {"lr_decay": 1e-3}),
    "rmsprop_step": (3, {"alpha": 0.9}),
    "adadelta_step": (4, {}),
}


def buffers(count: int, n: int, dtype: Any, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = [rng.standard_normal(n).astype(dtype) for _ in range(2)]
    out += [np.abs(rng.standard_normal(n)).astype(dtype) for _ in range(count - 2)]
    return out


@pytest.mark.parametrize("name", STEPS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_list_is_its_tensors_one_by_one(name: str, dtype: Any) -> None:
    count, kwargs = STEPS[name]
    step = getattr(fused_optim, name)
    tensors = [buffers(count, n, dtype, seed=n) for n in (1, 17, 1000, 4099)]
    alone = [[b.copy() for b in t] for t in tensors]
    for t in alone:
        step(*t, step=3, **kwargs)
    step(*[[t[k] for t in tensors] for k in range(count)], step=3, **kwargs)
    for a, b in zip(alone, tensors):
        for x, y in zip(a, b):
            assert np.array_equal(x, y)


torch = pytest.importorskip("torch")
import fused_optim.torch as fot  # noqa: E402
from conftest import data, mlp, train  # noqa: E402


@pytest.mark.parametrize("name", STEPS)
def test_numpy_and_torch_give_the_same_bits(name: str) -> None:
    count, kwargs = STEPS[name]
    step = getattr(fused_optim, name)
    arrays = buffers(count, 3001, np.float32)
    tensors = [torch.from_numpy(a.copy()) for a in arrays]
    tensors[0].requires_grad_(True)  # a parameter: data_ptr() still reads it
    step(*arrays, step=2, **kwargs)
    with torch.no_grad():
        step(*tensors, step=2, **kwargs)
    for a, t in zip(arrays, tensors):
        assert np.array_equal(a, t.detach().numpy())


def test_every_thread_count_and_backend_gives_the_same_bits() -> None:
    """The host's OpenMP team (torch's, loaded by the import above) and rayon's threads, at several
    counts, and the default: the same bits as one thread."""
    n = 1 << 20  # about 28 MiB of traffic: split across threads
    results = []
    settings = [(1, "auto"), (2, "rayon"), (3, "rayon"), (0, "rayon"), (2, "openmp"), (3, "openmp"), (0, "openmp")]
    try:
        for threads, backend in settings + [(0, "auto")]:
            fused_optim.set_num_threads(threads, backend=backend)
            assert fused_optim.get_num_threads() >= 1
            p, g, m, v = buffers(4, n, np.float32)
            fused_optim.adam_step(p, g, m, v, step=5)
            results.append((p, m, v))
        assert fused_optim.get_backend() == "openmp", "with torch loaded, the default is its OpenMP team"
    finally:
        fused_optim.set_num_threads(0)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b)


def test_the_openmp_team_follows_torch_set_num_threads() -> None:
    fused_optim.set_num_threads(0)
    before = torch.get_num_threads()
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            assert fused_optim.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)


def test_a_step_from_torchs_own_threads() -> None:
    """Steps from several Python threads at once, on the shared OpenMP backend: no deadlock, same bits."""
    n = 1 << 19
    fused_optim.set_num_threads(0)
    want = buffers(4, n, np.float32)
    fused_optim.adam_step(*want, step=2)
    outs = [buffers(4, n, np.float32) for _ in range(4)]
    threads = [threading.Thread(target=fused_optim.adam_step, args=tuple(o), kwargs={"step": 2}) for o in outs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for o in outs:
        for a, b in zip(o, want):
            assert np.array_equal(a, b)


def test_bad_backend() -> None:
    with pytest.raises(ValueError, match="backend"):
        fused_optim.set_num_threads(2, backend="tbb")


def test_bf16_from_numpy_uint16_ml_dtypes_and_torch() -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    n = 999
    rng = np.random.default_rng(3)
    p = torch.from_numpy(rng.standard_normal(n).astype(np.float32)).bfloat16()
    g = torch.from_numpy(rng.standard_normal(n).astype(np.float32)).bfloat16()

    def bits(t: torch.Tensor) -> np.ndarray:
        return t.view(torch.int16).numpy().view(np.uint16)

    runs = []
    for form in ("torch", "uint16", "ml_dtypes"):
        m, v = np.zeros(n, np.float32), np.zeros(n, np.float32)
        param_bits = bits(p.clone())
        grad_bits = bits(g.clone())
        if form == "torch":
            param, grad = (
                torch.from_numpy(param_bits).view(torch.bfloat16),
                torch.from_numpy(grad_bits).view(torch.bfloat16),
            )
        elif form == "uint16":
            param, grad = param_bits, grad_bits
        else:
            param, grad = param_bits.view(ml_dtypes.bfloat16), grad_bits.view(ml_dtypes.bfloat16)
        assert fused_optim.adam_step_mixed(param, grad, m, v, step=1, lr=0.01)
        runs.append((param_bits, m, v))  # every form is a view of these bits
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert np.array_equal(a, b)
    assert not np.array_equal(runs[0][0], bits(p)), "the step moved the weights"


def test_the_mixed_step_skips_an_inf_gradient_and_writes_nothing() -> None:
    p = torch.ones(100, dtype=torch.bfloat16)
    g = torch.full((100,), 0.5, dtype=torch.bfloat16)
    g[50] = float("inf")
    m, v = torch.zeros(100), torch.zeros(100)
    before = [t.clone() for t in (p, g, m, v)]
    assert fused_optim.adam_step_mixed(p, g, m, v, step=1, zero_grad=True) is False
    for t, b in zip((p, g, m, v), before):
        assert torch.equal(t, b)
    g[50] = 0.5
    assert fused_optim.adam_step_mixed(p, g, m, v, step=1, zero_grad=True, loss_scale=2.0) is True
    assert torch.all(g == 0), "zero_grad consumed the gradient"
    assert torch.all(m > 0)


def test_the_gil_is_released_during_the_step() -> None:
    """While a large step runs in another thread, this thread runs Python code."""
    n = 1 << 23
    p, g, m, v = (np.ones(n, np.float32) for _ in range(4))
    done = threading.Event()
    ticks = 0

    def steps() -> None:
        for t in range(1, 6):
            fused_optim.adam_step(p, g, m, v, step=t)
        done.set()

    worker = threading.Thread(target=steps)
    worker.start()
    while not done.is_set():
        ticks += 1
    worker.join()
    assert ticks > 1000, "the main thread ran while the steps did"


def test_tier_and_version() -> None:
    assert fused_optim.tier() in {"avx512", "avx2", "portable"}
    assert fused_optim.__version__.count(".") == 2


def test_a_forked_child_steps_without_hanging() -> None:
    """OpenMP runtimes are not fork-safe: after the parent's team has run, a fork()ed child (a
    DataLoader worker) must not start a region. Its steps run on its one thread, the same bits."""
    import os
    import time

    fused_optim.set_num_threads(0)
    n = 1 << 20
    want = buffers(4, n, np.float32)
    fused_optim.adam_step(*want, step=3)  # the team has run in this process
    pid = os.fork()
    if pid == 0:  # the child: step, compare, report by exit status
        got = buffers(4, n, np.float32)
        fused_optim.adam_step(*got, step=3)
        os._exit(0 if all(np.array_equal(a, b) for a, b in zip(got, want)) else 1)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "the child's step differed"
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    raise AssertionError("the fork()ed child hung in its step")


@pytest.mark.parametrize("name", ["sgd", "lion"])
def test_the_mixed_step_over_float32_buffers_is_the_float32_steps_bits(name: str) -> None:
    """sgd_step_mixed / lion_step_mixed with every buffer float32, no loss scale and no extras give the
    bits of sgd_step / lion_step (the library's contract; the Rust tests check every layout and tier)."""
    rng = np.random.default_rng(7)
    p = rng.standard_normal(1000).astype(np.float32)
    g = rng.standard_normal(1000).astype(np.float32)
    s = rng.standard_normal(1000).astype(np.float32)
    a, b = (p.copy(), s.copy()), (p.copy(), s.copy())
    for step in (1, 2, 3):
        if name == "sgd":
            hyper: dict[str, Any] = dict(step=step, lr=0.1, momentum=0.9, nesterov=True)
            fused_optim.sgd_step(a[0], g, a[1], **hyper)
            assert fused_optim.sgd_step_mixed(b[0], g.copy(), b[1], **hyper)
        else:
            fused_optim.lion_step(a[0], g, a[1], lr=0.01, weight_decay=0.1)
            assert fused_optim.lion_step_mixed(b[0], g.copy(), b[1], lr=0.01, weight_decay=0.1)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


@pytest.mark.parametrize("name", ["SGD", "Lion"])
def test_bf16_parameters_train_with_float32_state(name: str) -> None:
    x, y = data(torch.bfloat16)
    model = mlp(torch.bfloat16)
    options: dict[str, Any] = {"lr": 0.05, "momentum": 0.9} if name == "SGD" else {"lr": 1e-3}
    opt = getattr(fot, name)(model.parameters(), max_grad_norm=1.0, **options)
    losses = train(model, opt, 20, x, y)
    assert losses[-1] < losses[0]
    state = "momentum_buffer" if name == "SGD" else "exp_avg"
    assert all(opt.state[p][state].dtype == torch.float32 for p in model.parameters())
