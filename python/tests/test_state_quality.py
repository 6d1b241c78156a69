"""Training quality of the memory-lean state formats (issue 18): the fixed task, and its check.

The task, written down once here (`python/bench/state_quality.py` runs the same functions for the
curves in BENCHMARKS.md):

- data: 4096 points in 32 dimensions, drawn from a standard normal, labelled with one of 8 classes by
  a random teacher (a 32-64-8 tanh network, seeded), then 20% of the labels replaced by a random class,
  so the loss has a floor far from zero (a 2% band then means something) and every step keeps
  non-zero gradients;
- model: a 2-layer MLP, 32-256-8 with ReLU (10.5k parameters: 41 blocks of 256 for the 8-bit state);
- training: cross-entropy, minibatches of 256 drawn by a seeded generator, 500 steps of AdamW
  (lr 3e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.01), three seeds (0, 1, 2: the seed draws
  the data, the teacher, the initial weights and the batches);
- score: the mean of the last 50 steps' minibatch losses, averaged over the three seeds.

Each lean format's score must be within 2% of the f32-state AdamW's.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import pytest

torch = pytest.importorskip("torch")

import fused_optim.torch as fot  # noqa: E402

STEPS = 500
SEEDS = (0, 1, 2)
TAIL = 50
TOLERANCE = 0.02

Factory = Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer]


def task(seed: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """The model (initial weights) and the data set of one seed."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4096, 32, generator=g)
    w1, w2 = torch.randn(32, 64, generator=g) / 32**0.5, torch.randn(64, 8, generator=g) / 8**0.5
    y = torch.argmax(torch.tanh(x @ w1) @ w2, dim=1)
    noisy = torch.rand(4096, generator=g) < 0.2
    y = torch.where(noisy, torch.randint(0, 8, (4096,), generator=g), y)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(32, 256), torch.nn.ReLU(), torch.nn.Linear(256, 8))
    return model, x, y


def train(factory: Factory, seed: int, steps: int = STEPS) -> list[float]:
    """The minibatch loss of every step of one run."""
    model, x, y = task(seed)
    opt = factory(model.parameters())
    batches = torch.Generator().manual_seed(1000 + seed)
    losses = []
    for _ in range(steps):
        index = torch.randint(0, x.shape[0], (256,), generator=batches)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x[index]), y[index])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def adamw(state_dtype: str | None) -> Factory:
    """fused_optim's AdamW with the task's hyperparameters and the given state format."""

    def make(params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return fot.AdamW(params, lr=3e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, state_dtype=state_dtype)

    return make


@functools.cache
def reference_score() -> float:
    """The f32-state score, computed once for the module's tests."""
    return score(adamw(None))


def score(factory: Factory) -> float:
    """The task's score: the mean over the seeds of the mean of the last 50 losses."""
    tails = [sum(train(factory, seed)[-TAIL:]) / TAIL for seed in SEEDS]
    return sum(tails) / len(tails)


def test_the_task_learns() -> None:
    """The f32 run gets well below the loss of guessing (ln 8 = 2.08) and stays above the noise floor."""
    s = reference_score()
    assert 0.6 < s < 1.5, s


@pytest.mark.parametrize("state_dtype", ["bf16", "int8"])
def test_lean_state_trains_as_well_as_f32(state_dtype: str) -> None:
    reference = reference_score()
    lean = score(adamw(state_dtype))
    assert abs(lean - reference) <= TOLERANCE * reference, (state_dtype, lean, reference)
