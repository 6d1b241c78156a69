"""How the test and the benchmark start `train.py`: two ranks under torchrun, on the CPU accelerator,
with this interpreter's venv on PATH (DeepSpeed's just-in-time builds call ninja from it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TRAIN = Path(__file__).with_name("train.py")


def environment() -> dict[str, str]:
    return {**os.environ, "DS_ACCELERATOR": "cpu", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def torchrun(out: Path, *args: str, timeout: int = 600) -> dict:
    """`train.py --out out *args` on 2 ranks; what it wrote to `out`. Raises with the output's end on failure."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", str(TRAIN), "--out", str(out)]
    run = subprocess.run([*command, *args], env=environment(), capture_output=True, text=True, timeout=timeout)
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(command + list(args))} failed:\n{run.stdout[-3000:]}\n{run.stderr[-6000:]}")
    return json.loads(out.read_text())
