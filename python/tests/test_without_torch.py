"""`import fused_optim` needs numpy only: torch is imported by `fused_optim.torch` alone."""

from __future__ import annotations

import subprocess
import sys


def test_import_without_torch() -> None:
    script = (
        "import sys; sys.modules['torch'] = None\n"  # `import torch` now raises ImportError
        "import numpy as np, fused_optim\n"
        "p = np.ones(8, np.float32); g = np.full(8, 0.5, np.float32); m = np.zeros(8, np.float32); v = m.copy()\n"
        "fused_optim.adam_step(p, g, m, v, step=1)\n"
        "assert abs(p[0] - 0.999) < 1e-6, p\n"
        "try:\n    import fused_optim.torch\nexcept ImportError:\n    pass\n"
        "else:\n    raise SystemExit('fused_optim.torch imported without torch')\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "ok"
