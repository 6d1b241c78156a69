"""Gradient-norm clipping plus an AdamW step, three ways, in one process and one run (BENCHMARKS.md).

    python python/bench/bench_clip.py              # 2**24 and 2**26 f32 parameters, 1 and 2 threads
    python python/bench/bench_clip.py --quick      # a smoke run (CI)

For a model of N f32 parameters in 64 tensors, each contender clips the gradients to a total 2-norm
of 1.0 (every step clips: the gradients' norm is about sqrt(N)) and takes an AdamW step:

- fused: `fused_optim.torch.AdamW(max_grad_norm=1.0).step()`: one read-only pass for the norm, then the
  step with the gradients scaled inside it (the gradients are read twice and never written);
- two-pass: the same norm (`fused_optim.grad_norm`), the gradients scaled in place
  (`torch._foreach_mul_`), then `fused_optim.torch.AdamW().step()`: what clipping costs without the
  fusion (one more read and write of the gradients);
- torch: `torch.nn.utils.clip_grad_norm_(params, 1.0)` then `torch.optim.AdamW(fused=True).step()`.

The bytes each must move per parameter: the step 28 (param, exp_avg, exp_avg_sq read and written, the
gradient read) plus 4 for the norm pass (fused), plus 8 more for the in-place scaling (two-pass,
torch). The contenders take turns in a shuffled order every round; medians of the rounds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import torch

import fused_optim
import fused_optim.torch as fot

MAX_NORM = 1.0


def model(total: int, count: int) -> list[torch.nn.Parameter]:
    """`count` tensors of `total` elements in all, with gradients."""
    sizes = [total // count] * count
    sizes[-1] += total - sum(sizes)
    generator = torch.Generator().manual_seed(0)
    params = []
    for n in sizes:
        p = torch.nn.Parameter(torch.randn(n, generator=generator))
        p.grad = torch.randn(n, generator=generator)
        params.append(p)
    return params


def bench(log2: int, threads_list: list[int], rounds: int) -> None:
    total = 1 << log2
    params = model(total, 64)
    grads = [p.grad for p in params if p.grad is not None]
    saved = [g.clone() for g in grads]

    def restore() -> None:
        """The scaling contenders write the gradients: put them back, outside the timed region."""
        torch._foreach_copy_(grads, saved)

    fused = fot.AdamW(params, max_grad_norm=MAX_NORM)
    unclipped = fot.AdamW(params)
    reference = torch.optim.AdamW(params, fused=True)

    def two_pass() -> None:
        norm = fused_optim.grad_norm(grads)
        torch._foreach_mul_(grads, min(1.0, MAX_NORM / (norm + 1e-6)))
        unclipped.step()

    def torch_clip() -> None:
        torch.nn.utils.clip_grad_norm_(params, MAX_NORM)
        reference.step()

    kinds: dict[str, tuple[Callable[[], None], int]] = {
        "fused: AdamW(max_grad_norm=1).step()": (fused.step, 32),
        "two-pass: grad_norm, scale, AdamW step": (two_pass, 40),
        "torch: clip_grad_norm_ + AdamW(fused=True)": (torch_clip, 40),
    }
    print(f"\n2**{log2} f32 parameters in 64 tensors: median ms per clip + step over {rounds} rounds")
    for threads in threads_list:
        torch.set_num_threads(threads)
        fused_optim.set_num_threads(threads)
        for fn, _ in kinds.values():  # warm-up: state allocation, page faults
            fn()
            restore()
        times: dict[str, list[float]] = {k: [] for k in kinds}
        for _ in range(rounds):
            order = list(kinds)
            random.shuffle(order)
            for k in order:
                start = time.perf_counter()
                kinds[k][0]()
                times[k].append(time.perf_counter() - start)
                restore()
        base = statistics.median(times["fused: AdamW(max_grad_norm=1).step()"])
        print(f"\n{threads} thread(s){'':34} {'ms':>8} {'GB/s':>6} {'/ fused':>8}")
        for k, v in times.items():
            m = statistics.median(v)
            moved = kinds[k][1] * total
            print(f"{k:45} {m * 1e3:8.2f} {moved / m / 1e9:6.1f} {m / base:8.2f}")
    fused_optim.set_num_threads(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2**16 parameters, 2 rounds")
    parser.add_argument("--threads", default="1,2", help="thread counts (default 1,2)")
    parser.add_argument("--sizes", default="24,26", help="log2 sizes (default 24,26)")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    print(f"fused_optim {fused_optim.__version__} on the {fused_optim.tier()} tier, torch {torch.__version__}")
    if args.quick:
        bench(16, threads, rounds=2)
    else:
        for log2 in (int(s) for s in args.sizes.split(",")):
            bench(log2, threads, rounds=15 if log2 <= 24 else 7)


if __name__ == "__main__":
    main()
