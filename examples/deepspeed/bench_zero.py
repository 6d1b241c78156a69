"""The optimizer phase of a DeepSpeed ZeRO-Offload step at about 50 M parameters: fused_optim
against DeepSpeedCPUAdam, the same configuration, runs alternating.

    DS_ACCELERATOR=cpu python examples/deepspeed/bench_zero.py [--stage 2] [--rounds 3] [--steps 12]

Each round runs `train.py --width 4096` (50.4 M parameters, bf16 model, fp32 master weights and
Adam state on the CPU, 2 ranks over gloo) once with each optimizer, in alternating order. It reports,
over every step but the first two of every run (rank 0): the median of `engine.step()`, the
optimizer phase (the gradient norm and clip, the CPU Adam step, the copy of the new fp32 weights
to bf16, the all-gather of the partitions), and of the CPU Adam step inside it.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import launch


def run(optimizer: str, stage: int, steps: int, out: Path) -> dict:
    args = ["--optimizer", optimizer, "--stage", str(stage), "--width", "4096", "--steps", str(steps)]
    return launch.torchrun(out, *args, timeout=1800)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = ["fused", "deepspeed"] if r % 2 == 0 else ["deepspeed", "fused"]
            for name in order:
                data = run(name, args.stage, args.steps, Path(tmp) / f"{name}.json")
                entry = results.setdefault(name, {"phase": [], "step": []})
                entry["phase"] += data["phase"][2:]
                entry["step"] += data["step"][2:]
                params = data["parameters"]
    print(
        f"ZeRO-{args.stage} with CPU offload, 2 ranks, {params / 1e6:.1f} M parameters "
        f"({params / 2e6:.1f} M per rank's shard), {args.rounds} runs of {args.steps} steps each, medians (rank 0):"
    )
    print(f"{'':24}{'engine.step() ms':>18}{'CPU Adam step ms':>18}{'rest of the phase ms':>22}")
    for name, entry in results.items():
        phase, step = statistics.median(entry["phase"]) * 1e3, statistics.median(entry["step"]) * 1e3
        print(f"{name:24}{phase:18.2f}{step:18.2f}{phase - step:22.2f}")
    ratio = statistics.median(results["fused"]["phase"]) / statistics.median(results["deepspeed"]["phase"])
    step_ratio = statistics.median(results["fused"]["step"]) / statistics.median(results["deepspeed"]["step"])
    print(f"fused / DeepSpeedCPUAdam: the phase {ratio:.3f}, the CPU Adam step {step_ratio:.3f}")


if __name__ == "__main__":
    main()
