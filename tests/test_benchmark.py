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


def test_the_train_and_inference_sections_compare_each_precision_path_and_the_latency_table_reads_them(tmp_path):
    """fp32 / bf16 x NCHW / channels_last in one run, the default marked; inference adds onnxruntime, names the
    fastest path, and scripts/latency_table.py turns the log into the README's table."""
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
    log = tmp_path / "inference.log"
    log.write_text(out)
    table = subprocess.run([sys.executable, "scripts/latency_table.py", str(log)], capture_output=True, text=True,
                           cwd=ROOT, timeout=60)
    assert table.returncode == 0, table.stderr
    rows = table.stdout.splitlines()
    assert rows[0].startswith("| `--arch` | fp32, NCHW (ms) | fp32, channels_last (ms) | bf16, NCHW (ms)")
    assert "onnxruntime (fp32 export) (ms)" in rows[0] and rows[2].startswith("| `resnet18` | ")
    assert re.search(r"\| [0-9]+ \| [0-9]+ \| [0-9]+ \| [0-9]+ \| [0-9]+ \| .+, [0-9.]+x fp32, NCHW \|$", rows[2])
