"""Benchmarks of the Python package, in one process and one run (figures in BENCHMARKS.md).

    python python/bench/bench_step.py              # both parts, about 3 minutes on 2 cores
    python python/bench/bench_step.py --quick      # a smoke run (CI)

1. The Python-side cost of one call: a 4096-element f32 Adam step through the functional API, on
   numpy arrays and on torch tensors, against the same step through the Rust API (timed in Rust in
   this process). Medians over rounds of many calls; the difference is what the binding adds (argument
   parsing, the array checks, the GIL release).
2. `optimizer.step()` of a model of about 10 M f32 parameters in 200 tensors, with 1 and 2 threads:
   torch.optim.AdamW as users get it by default (on CPU: foreach=False, one tensor at a time),
   torch's fused=True, torch's foreach=True, and fused_optim.torch.AdamW; and the library's bandwidth
   probe over the same tensors (Adam's shape: three streams read and written, one read, 28 bytes per
   parameter; tensor by tensor, with the step's threads). The implementations take turns in a
   shuffled order every round, so that the machine's noise falls on all of them alike; medians of
   the rounds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

import fused_optim
import fused_optim.torch as fot
from fused_optim import _native


def per_call(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def call_cost(rounds: int, calls: int) -> None:
    n = 4096
    arrays = [np.ones(n, np.float32), np.full(n, 0.5, np.float32), np.zeros(n, np.float32), np.zeros(n, np.float32)]
    tensors = [torch.from_numpy(a.copy()) for a in arrays]
    step = fused_optim.adamw_step
    kinds: dict[str, Callable[[], float]] = {
        "Rust API (timed in Rust)": lambda: _native._time_rust_adam_step(*arrays, calls),
        "an empty Python call (the loop's own cost)": lambda: per_call(lambda: None, calls),
        "functional, numpy arrays": lambda: per_call(lambda: step(*arrays, step=1), calls),
        "functional, torch tensors": lambda: per_call(lambda: step(*tensors, step=1), calls),
        "functional, lists of one numpy array": lambda: per_call(
            lambda: step([arrays[0]], [arrays[1]], [arrays[2]], [arrays[3]], step=1), calls
        ),
    }
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(rounds):
        order = list(kinds)
        random.shuffle(order)
        for k in order:
            times[k].append(kinds[k]())
    rust = statistics.median(times["Rust API (timed in Rust)"])
    # The timing loop's own cost (a lambda call per iteration) is not the binding's.
    rust += statistics.median(times["an empty Python call (the loop's own cost)"])
    print(
        f"\n1. One f32 AdamW step of {n} elements, 1 thread (serial below 512 KiB of traffic): "
        f"median of {rounds} rounds of {calls} calls"
    )
    print(f"{'':45} {'us/call':>8} {'minus Rust and the loop':>24}")
    for k, v in times.items():
        m = statistics.median(v)
        print(f"{k:45} {m * 1e6:8.3f} {(m - rust) * 1e6:24.3f}")


def model(total: int, count: int, seed: int = 0) -> list[torch.nn.Parameter]:
    """`count` tensors of about `total` elements in all, of varied sizes (as a network's layers)."""
    rng = random.Random(seed)
    weights = [rng.uniform(0.2, 1.8) for _ in range(count)]
    scale = total / sum(weights)
    params = []
    for w in weights:
        p = torch.nn.Parameter(torch.randn(max(1, int(w * scale))))
        p.grad = torch.randn_like(p)
        params.append(p)
    return params


def model_step(rounds: int, steps: int, threads_list: list[int], total: int, count: int) -> None:
    params = model(total, count)
    n = sum(p.numel() for p in params)
    traffic = 28 * n  # f32 AdamW: param, exp_avg, exp_avg_sq read and written, grad read
    optimizers: dict[str, torch.optim.Optimizer] = {
        "torch AdamW() default (foreach=False)": torch.optim.AdamW(params),
        "torch AdamW(foreach=True)": torch.optim.AdamW(params, foreach=True),
        "torch AdamW(fused=True)": torch.optim.AdamW(params, fused=True),
        "fused_optim.torch.AdamW": fot.AdamW(params),
    }
    # The same parameters, stepped by every optimizer in turn: each keeps its own state. The probe
    # runs over the parameters, the gradients and fused_optim's own state tensors: the same bytes
    # at the same addresses as its step.
    fused = optimizers["fused_optim.torch.AdamW"]
    fused.step()
    probe = [
        [p.detach() for p in params],
        [p.grad for p in params],
        [fused.state[p]["exp_avg"] for p in params],
        [fused.state[p]["exp_avg_sq"] for p in params],
    ]
    print(
        f"\n2. optimizer.step(), {n / 1e6:.2f} M f32 parameters in {count} tensors "
        f"({traffic / 1e6:.0f} MB moved per step): median ms per step over {rounds} rounds of {steps} steps"
    )
    for threads in threads_list:
        torch.set_num_threads(threads)
        fused_optim.set_num_threads(threads)
        kinds: dict[str, Callable[[], None]] = {name: opt.step for name, opt in optimizers.items()}
        kinds["bandwidth probe, same tensors"] = lambda: _native._probe(*probe)
        for fn in kinds.values():  # warm-up: state allocation, page faults
            fn()
        times: dict[str, list[float]] = {k: [] for k in kinds}
        for _ in range(rounds):
            order = list(kinds)
            random.shuffle(order)
            for k in order:
                times[k].append(per_call(kinds[k], steps))
        default = statistics.median(times["torch AdamW() default (foreach=False)"])
        probe_time = statistics.median(times["bandwidth probe, same tensors"])
        print(
            f"\n{threads} thread(s)                              {'ms':>7} {'GB/s':>6} {'x default':>9} {'of probe':>8}"
        )
        for k, v in times.items():
            m = statistics.median(v)
            print(f"{k:40} {m * 1e3:7.2f} {traffic / m / 1e9:6.1f} {default / m:9.2f} {probe_time / m:8.0%}")
    torch.set_num_threads(threads_list[0])
    fused_optim.set_num_threads(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run: few rounds, a small model")
    parser.add_argument("--threads", default="1,2", help="thread counts of part 2 (default 1,2)")
    parser.add_argument("--part", type=int, choices=[1, 2], help="run only this part")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    print(f"fused_optim {fused_optim.__version__} on the {fused_optim.tier()} tier, torch {torch.__version__}")
    if args.part in (None, 1):
        call_cost(rounds=3, calls=200) if args.quick else call_cost(rounds=21, calls=20000)
    if args.part in (None, 2):
        if args.quick:
            model_step(rounds=2, steps=1, threads_list=threads, total=1 << 18, count=20)
        else:
            model_step(rounds=15, steps=3, threads_list=threads, total=10_000_000, count=200)


if __name__ == "__main__":
    main()
