"""scripts/benchmark.py runs each CPU section end to end on a small problem and prints its ratios."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import load_script

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


def test_the_train_and_inference_sections_compare_each_precision_path_and_the_latency_table_reads_them(tmp_path):
    """fp32 / bf16 x NCHW / channels_last in one run, the default marked; inference adds onnxruntime, names the
    fastest path, and scripts/readme_tables.py turns the logs into the README's tables."""
    result = subprocess.run(
        [sys.executable, "scripts/benchmark.py", "--device", "cpu", "--sections", "train,inference", "--no-compile",
         "--arch", "resnet18", "--input-size", "64", "--batch-size", "2", "--inference-batch", "1", "--data-images",
         "4", "--repeats", "1", "--warmup", "0"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    for path in ("fp32, channels_last", "bf16, NCHW", "bf16, channels_last", "heads' last layers in bf16 too"):
        assert f"{path}" in out and re.search(rf"{re.escape(path)}.*: throughput .* ratio\s+[0-9.]+x", out), path
    assert out.count("(default): throughput") == 1 and out.count("(default): network latency") == 1
    assert "onnxruntime (fp32 export)" in out and "batch 1: fastest end to end: " in out
    (tmp_path / "inference.log").write_text(out)
    (tmp_path / "benchmark_train.log").write_text(out)
    tables = load_script("readme_tables")
    rows = tables.latency_table(tmp_path).splitlines()
    assert rows[0] == ("| `--arch` | fp32, NCHW | fp32, channels_last | bf16, NCHW | bf16, channels_last (default) | "
                       "onnxruntime (fp32 export) | fastest (x fp32, NCHW) |")
    assert re.fullmatch(r"\| `resnet18` \| (\d+ \| ){5}.+ \([0-9.]+x\) \|", rows[2]), rows[2]
    rows = tables.train_table(tmp_path).splitlines()
    assert rows[2].startswith("| fp32, NCHW (baseline) | ") and "| bf16, channels_last **(default)** | " in rows[5]
    assert len(rows) == 2 + 5
