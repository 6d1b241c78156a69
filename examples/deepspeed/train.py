"""A synthetic-data MLP trained by DeepSpeed ZeRO with the optimizer offloaded to the CPU, stepped by
fused_optim (or, to compare, DeepSpeedCPUAdam or torch.optim.AdamW).

    DS_ACCELERATOR=cpu torchrun --nproc_per_node 2 examples/deepspeed/train.py --stage 2

Each rank steps its own flat shard of the fp32 master weights through `fused_optim.torch.AdamW`:
ZeRO-1/2 point `param_groups` at the rank's partition, ZeRO-3 swaps `param_groups[g]["params"]` to
`[fp32_flat]` around each step; the optimizer reads its groups afresh every step and keeps torch's
state names (`exp_avg`, `exp_avg_sq`, `step`), which DeepSpeed's checkpoints and
`safe_get_full_optimizer_state` look up. The two flags below let DeepSpeed take a client optimizer
under ZeRO-Offload (zero1.json, zero2.json, zero3.json).

    --optimizer deepspeed | torch       the same run with DeepSpeedCPUAdam or torch.optim.AdamW
    --width 4096                        about 50 M parameters (the benchmark's size)
    --save DIR [--save-at N], --load DIR --first-step N: checkpoints
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import deepspeed
import torch
import torch.distributed as dist

import fused_optim.deepspeed


def config(stage: int, clip: float, micro_batch: int) -> dict:
    """zero<stage>.json beside this script (ZeRO-Offload with a client optimizer: the two
    `zero_*_optimizer` flags), with the clip and the batch size of the command line."""
    with open(Path(__file__).with_name(f"zero{stage}.json")) as f:
        ds_config = json.load(f)
    ds_config["gradient_clipping"] = clip
    ds_config["train_micro_batch_size_per_gpu"] = micro_batch
    return ds_config


def mlp(width: int, depth: int) -> torch.nn.Module:
    torch.manual_seed(0)
    layers: list[torch.nn.Module] = [torch.nn.Linear(64, width), torch.nn.GELU()]
    for _ in range(depth):
        layers += [torch.nn.Linear(width, width), torch.nn.GELU()]
    layers.append(torch.nn.Linear(width, 8))
    return torch.nn.Sequential(*layers)


def batch(step: int, rank: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The same data for a given step and rank in every run (a teacher network's targets)."""
    g = torch.Generator().manual_seed(1000 * step + rank)
    x = torch.randn(size, 64, generator=g)
    y = torch.sin(x[:, :8] * 2.0) + 0.1 * torch.randn(size, 8, generator=g)
    return x, y


def optimizer(name: str, params, lr: float, weight_decay: float):  # type: ignore[no-untyped-def]
    if name == "fused":
        return fused_optim.deepspeed.FusedCPUAdam(params, lr=lr, weight_decay=weight_decay, adamw_mode=True)
    if name == "deepspeed":
        from deepspeed.ops.adam import DeepSpeedCPUAdam

        return DeepSpeedCPUAdam(params, lr=lr, weight_decay=weight_decay, adamw_mode=True)
    if name == "torch":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, foreach=False)
    raise ValueError(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--optimizer", choices=["fused", "deepspeed", "torch"], default="fused")
    parser.add_argument("--stage", type=int, choices=[1, 2, 3], default=2)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--first-step", type=int, default=0, help="the step to start at (after --load)")
    parser.add_argument(
        "--width",
        type=int,
        default=512,
        help="hidden width (512, depth 3: about 0.83 M parameters)",
    )
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--micro-batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-2)
    parser.add_argument("--clip", type=float, default=1.0)
    parser.add_argument("--save", help="save a checkpoint here (after the last step, or --save-at)")
    parser.add_argument(
        "--save-at",
        type=int,
        help="save the checkpoint after this many steps, and go on",
    )
    parser.add_argument("--load", help="load the checkpoint saved here before the first step")
    parser.add_argument(
        "--out",
        help="write the losses, the optimizer phase's times and state checks here (JSON)",
    )
    args = parser.parse_args()

    deepspeed.init_distributed(dist_backend="gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    model = mlp(args.width, args.depth)
    opt = optimizer(args.optimizer, model.parameters(), args.lr, args.weight_decay)
    # The CPU Adam step's own time inside engine.step(), to split the optimizer phase.
    inner: list[float] = []
    step_alone = opt.step

    def timed_step(*a, **k):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        result = step_alone(*a, **k)
        inner.append(time.perf_counter() - start)
        return result

    opt.step = timed_step
    engine, _, _, _ = deepspeed.initialize(
        model=model,
        optimizer=opt,
        config=config(args.stage, args.clip, args.micro_batch),
    )
    if args.load:
        engine.load_checkpoint(args.load)

    losses: list[float] = []
    phase: list[float] = []
    for step in range(args.first_step, args.first_step + args.steps):
        x, y = batch(step, rank, args.micro_batch)
        out = engine(x.to(torch.bfloat16))
        loss = torch.nn.functional.mse_loss(out.float(), y)
        engine.backward(loss)
        start = time.perf_counter()
        engine.step()  # the optimizer phase: unscale/clip, the CPU step, the copy back
        phase.append(time.perf_counter() - start)
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        losses.append(mean.item() / world)
        if args.save and args.save_at == step + 1:
            engine.save_checkpoint(args.save)
    if args.save and args.save_at is None:
        engine.save_checkpoint(args.save)

    # DeepSpeed's full-state lookup by torch's names: every rank gets the whole tensor.
    from deepspeed.utils import safe_get_full_fp32_param, safe_get_full_optimizer_state

    first = next(iter(engine.module.parameters()))
    exp_avg = safe_get_full_optimizer_state(first, "exp_avg")
    exp_avg_sq = safe_get_full_optimizer_state(first, "exp_avg_sq")
    master = safe_get_full_fp32_param(first)
    state = {
        "shape": list(first.shape),
        "exp_avg_shape": None if exp_avg is None else list(exp_avg.shape),
        "exp_avg_sq_min": None if exp_avg_sq is None else exp_avg_sq.min().item(),
        "exp_avg_abs_sum": None if exp_avg is None else exp_avg.abs().sum().item(),
        "master_shape": None if master is None else list(master.shape),
    }
    if rank == 0:
        # ZeRO-3 leaves each rank a placeholder: ds_numel is the full size.
        params = sum(getattr(p, "ds_numel", p.numel()) for p in engine.module.parameters())
        median = lambda t: sorted(t)[len(t) // 2] * 1e3 if t else float("nan")  # noqa: E731
        print(
            f"{args.optimizer} ZeRO-{args.stage}, {world} ranks, {params / 1e6:.2f} M parameters: "
            f"losses {losses[0]:.5f} .. {losses[-1]:.5f}; optimizer phase (engine.step) median "
            f"{median(phase):.2f} ms, of which the CPU Adam step {median(inner):.2f} ms (rank 0)"
        )
        if args.out:
            with open(args.out, "w") as f:
                json.dump(
                    {
                        "losses": losses,
                        "phase": phase,
                        "step": inner,
                        "state": state,
                        "parameters": params,
                    },
                    f,
                )
    dist.barrier()


if __name__ == "__main__":
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    main()
