"""Loss curves of AdamW with each optimizer-state format on the fixed task of issue 18 (BENCHMARKS.md).

    python python/bench/state_quality.py                   # the table, and the curves as a PNG
    python python/bench/state_quality.py --png curves.png

The task (data, model, hyperparameters, seeds, score) is the one `python/tests/test_state_quality.py`
defines and checks; this script runs the same functions and adds `torch.optim.AdamW` and, where
`bitsandbytes` imports, its 8-bit `AdamW8bit` (blockwise, 256-element blocks, on its CPU backend).
Plotting needs matplotlib (`pip install matplotlib`); without it only the table is printed.
"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib
import statistics
from collections.abc import Iterable

import torch

HERE = pathlib.Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("state_quality_task", HERE.parent / "tests" / "test_state_quality.py")
assert _spec is not None and _spec.loader is not None
task = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(task)

HYPER = {"lr": 3e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01}


def contenders() -> dict[str, task.Factory]:  # type: ignore[name-defined]
    """Every optimizer this run compares, by the name the table and the plot give it."""

    def torch_adamw(params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.AdamW(params, **HYPER)  # type: ignore[arg-type]

    out = {
        "fused_optim f32 state": task.adamw(None),
        "fused_optim bf16 state": task.adamw("bf16"),
        "fused_optim int8 state": task.adamw("int8"),
        "torch.optim.AdamW": torch_adamw,
    }
    try:
        import bitsandbytes as bnb  # type: ignore[import-not-found]
    except ImportError:
        return out

    def bnb_adamw8bit(params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return bnb.optim.AdamW8bit(params, min_8bit_size=0, **HYPER)  # type: ignore[no-any-return]

    out[f"bitsandbytes {bnb.__version__} AdamW8bit"] = bnb_adamw8bit
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--png", type=pathlib.Path, default=pathlib.Path("state-quality.png"))
    args = parser.parse_args()
    curves: dict[str, list[list[float]]] = {}
    for name, factory in contenders().items():
        curves[name] = [task.train(factory, seed) for seed in task.SEEDS]
    reference = statistics.fmean(statistics.fmean(c[-task.TAIL :]) for c in curves["fused_optim f32 state"])
    print(f"| optimizer | last-{task.TAIL} mean loss, seeds {task.SEEDS} | mean | vs f32 state |")
    print("| --- | --- | --- | --- |")
    for name, runs in curves.items():
        tails = [statistics.fmean(c[-task.TAIL :]) for c in runs]
        mean = statistics.fmean(tails)
        each = ", ".join(f"{t:.4f}" for t in tails)
        print(f"| {name} | {each} | {mean:.4f} | {100 * (mean / reference - 1):+.2f}% |")
    try:
        import matplotlib  # type: ignore[import-not-found]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found]
    except ImportError:
        print("matplotlib is not installed: no plot")
        return
    fig, (full, tail) = plt.subplots(1, 2, figsize=(12, 4.5))
    window = 20
    for name, runs in curves.items():
        mean = [statistics.fmean(step) for step in zip(*runs, strict=True)]
        smooth = [statistics.fmean(mean[max(0, i - window + 1) : i + 1]) for i in range(len(mean))]
        full.plot(smooth, label=name, linewidth=1)
        tail.plot(range(len(smooth) - 200, len(smooth)), smooth[-200:], label=name, linewidth=1)
    full.set_title(f"AdamW on the issue-18 task: loss (mean of {len(task.SEEDS)} seeds, {window}-step average)")
    full.set_xlabel("step")
    full.set_ylabel("cross-entropy")
    tail.set_title("the last 200 steps")
    tail.set_xlabel("step")
    tail.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.png, dpi=110)
    print(f"curves: {args.png}")


if __name__ == "__main__":
    main()
