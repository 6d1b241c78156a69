"""The README's Python examples run as written (the DeepSpeed one, which elides its config, aside)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = [b for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.S) if "deepspeed" not in b]


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int) -> None:
    assert len(BLOCKS) >= 2
    subprocess.run([sys.executable, "-c", BLOCKS[index]], check=True, timeout=300)
