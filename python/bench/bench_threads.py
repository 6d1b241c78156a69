"""The optimizer step inside a PyTorch process: with torch's CPU work in between, and without.

    python python/bench/bench_threads.py            # 2^16 .. 2^26, about 10 minutes on 2 cores
    python python/bench/bench_threads.py --quick    # a smoke run (CI)

A training loop runs every forward and backward operator on torch's OpenMP team just before the
optimizer step; after each parallel region those threads spin-wait for a while (libgomp's default),
holding the cores. This harness measures f32 Adam steps in one process and one run, in two phases
that alternate sample by sample:

- "torch work between": before each timed step, an untimed torch operator on torch's threads (a
  float32 matmul of 384 x 384 and an elementwise op over 2^21 elements), as a training step has;
- "alone": the step with nothing before it.

Implementations, at 1 and 2 threads (torch.set_num_threads, and fused_optim.set_num_threads):
fused_optim on the host's OpenMP team (its default when torch is loaded) and on its own rayon pool,
torch.optim.Adam(fused=True), and DeepSpeedCPUAdam when its `cpu_adam` op builds here (DeepSpeed
builds it just in time: `pip install deepspeed ninja`, DS_ACCELERATOR=cpu; if the build fails the
harness says so and goes on without it). Every sample runs all of them in a shuffled order;
figures are medians over the samples, in ns per element, and the ratios are within this run.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

import fused_optim
import fused_optim.torch as fot


def deepspeed_adam(params: list[torch.nn.Parameter]) -> Any | None:
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    try:
        from deepspeed.ops.adam import DeepSpeedCPUAdam

        return DeepSpeedCPUAdam(params, lr=1e-3, adamw_mode=False)
    except Exception as e:  # the JIT build needs ninja and a compiler; say why, go on
        print(f"DeepSpeedCPUAdam is not available here ({type(e).__name__}: {str(e)[:200]}); running without it")
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", default="16,18,20,22,24,26", help="log2 of the element counts")
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--no-deepspeed", action="store_true")
    args = parser.parse_args()
    sizes = [12, 16] if args.quick else [int(s) for s in args.sizes.split(",")]
    samples = 3 if args.quick else args.samples
    print(
        f"fused_optim {fused_optim.__version__} ({fused_optim.tier()}), torch {torch.__version__}, "
        f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    )

    a = torch.randn(384, 384)
    work = torch.randn(1 << 21)

    def torch_work() -> None:
        torch.mm(a, a)
        work.mul_(1.0001).add_(1e-6)

    rows: list[tuple[int, int, str, str, float]] = []
    for log2 in sizes:
        n = 1 << log2
        params = [torch.nn.Parameter(torch.randn(n))]
        params[0].grad = torch.randn(n)
        optimizers: dict[str, Any] = {
            "fused_optim (host OpenMP)": fot.Adam(params),
            "fused_optim (rayon)": fot.Adam(params),
            "torch Adam(fused=True)": torch.optim.Adam(params, fused=True),
        }
        if not args.no_deepspeed and not args.quick:
            ds = deepspeed_adam(params)
            if ds is not None:
                optimizers["DeepSpeedCPUAdam"] = ds
        for threads in (1, 2):
            torch.set_num_threads(threads)

            def setup(name: str, threads: int = threads) -> None:
                """fused_optim's thread setting for this implementation (outside the timing)."""
                if name == "fused_optim (host OpenMP)":
                    # 0: follow the runtime's count, which torch.set_num_threads set.
                    fused_optim.set_num_threads(0 if threads > 1 else 1, backend="openmp")
                elif name == "fused_optim (rayon)":
                    fused_optim.set_num_threads(threads, backend="rayon")

            steps: dict[str, Callable[[], Any]] = {name: opt.step for name, opt in optimizers.items()}
            for name, step in steps.items():
                setup(name)
                step()  # state allocated, pages touched
            times: dict[tuple[str, str], list[float]] = {}
            for _ in range(samples):
                order = [(name, phase) for name in steps for phase in ("torch work between", "alone")]
                random.shuffle(order)
                for name, phase in order:
                    setup(name)
                    if phase == "torch work between":
                        torch_work()
                    start = time.perf_counter()
                    steps[name]()
                    times.setdefault((name, phase), []).append(time.perf_counter() - start)
            for (name, phase), t in times.items():
                rows.append((log2, threads, name, phase, statistics.median(t) / n * 1e9))
        del optimizers, params
    fused_optim.set_num_threads(0)
    report(rows, sizes)


def report(rows: list[tuple[int, int, str, str, float]], sizes: list[int]) -> None:
    table = {(s, t, name, phase): v for s, t, name, phase, v in rows}
    names = list(dict.fromkeys(r[2] for r in rows))
    for phase in ("torch work between", "alone"):
        print(f"\nns per element, median; phase: {phase}")
        print(f"{'':28}" + "".join(f"{'2^' + str(s) + ' ' + str(t) + 't':>10}" for s in sizes for t in (1, 2)))
        for name in names:
            cells = [table.get((s, t, name, phase)) for s in sizes for t in (1, 2)]
            print(f"{name:28}" + "".join(f"{c:10.3f}" if c is not None else f"{'-':>10}" for c in cells))
    print("\nfused_optim (host OpenMP): 1-thread / 2-thread time, and 2-thread with torch work / 2-thread alone")
    for s in sizes:
        name = "fused_optim (host OpenMP)"
        between = (table[(s, 1, name, "torch work between")], table[(s, 2, name, "torch work between")])
        alone = table[(s, 2, name, "alone")]
        print(
            f"  2^{s}: speed-up with torch work {between[0] / between[1]:.2f}x, "
            f"2 threads with torch work / alone {between[1] / alone:.2f}"
        )


if __name__ == "__main__":
    main()
