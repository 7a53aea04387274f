"""scripts/benchmark.py runs each CPU section end to end on a small problem and prints its ratios."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_benchmark_sections_run_and_print_a_ratio_per_figure():
    result = subprocess.run(
        [sys.executable, "scripts/benchmark.py", "--device", "cpu", "--sections", "loss,targets,data", "--no-compile",
         "--input-size", "64", "--loss-batch", "1", "--data-images", "8", "--data-batch", "2", "--repeats", "1",
         "--warmup", "0"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    for section in ("heatmap loss", "target encoding", "data loading"):
        assert section in result.stdout, section
    ratios = re.findall(r"ratio\s+([0-9.]+)x", result.stdout)
    assert len(ratios) >= 6 and all(float(ratio) > 0 for ratio in ratios), result.stdout
