"""experiments/heatmap_losses.sh end to end on a tiny harder set: every row for one epoch, one seed, the RetinaNet
baseline on the seconds of the penalty-reduced row; the table and the plots come out and parse."""

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from tests.conftest import ROOT, load_script, subprocess_env

ROWS = ("penalty_reduced", "quality_focal", "sigmoid_focal", "longtail_plain", "longtail_balanced", "retinanet")


def test_the_study_script_writes_a_table_row_per_criterion_and_the_plots(tmp_path):
    hard = load_script("make_hard_shapes")
    hard.make_hard_shapes(tmp_path / "hard", 8, 4, seed=0)
    hard.make_hard_shapes(tmp_path / "hard_longtail", 8, 4, seed=0, long_tail=True)
    docs = tmp_path / "docs"
    env = dict(subprocess_env(), DATA=str(tmp_path / "hard"), DATA_LONGTAIL=str(tmp_path / "hard_longtail"),
               OUT=str(tmp_path / "runs"), DOCS=str(docs), DEVICE="cpu", WORKERS="0", EPOCHS="1", INPUT_SIZE="64",
               BATCH_SIZE="4", EVAL_INTERVAL="1", SEEDS="0", BASELINE_MAX_EPOCHS="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # this python and its `centernet`
    result = subprocess.run(["bash", "experiments/heatmap_losses.sh"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    assert sorted(path.name for path in docs.glob("*.jsonl")) == sorted(f"{row}_seed0.jsonl" for row in ROWS)
    lines = (docs / "table.md").read_text().splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[:4] == ["row", "seeds", "mAP@[.5:.95]", "AP50"]
    assert header[-3:] == ["heatmap AUROC", "train s", "max load"]
    assert header[4].startswith("AP ") and header[4].endswith("(rarest)")
    rows = {cells[0]: cells for cells in ([cell.strip() for cell in line.strip("|").split("|")]
                                          for line in lines[2:] if line.startswith("|"))}
    assert list(rows) == list(ROWS)
    for name, cells in rows.items():
        assert len(cells) == len(header) and cells[1] == "0", lines
        # whole seconds: a tiny run may show 0
        assert 0.0 <= float(cells[2]) <= 1.0 and 0.0 <= float(cells[3]) <= 1.0 and float(cells[6]) >= 0, lines
        assert (cells[5] == "-") == (name == "retinanet"), lines  # the baseline has no heatmap
    assert "\n".join(lines[:2 + len(ROWS)]) in result.stdout  # the table is printed too

    for name in ("map_vs_epoch.png", "map_vs_seconds.png"):
        image = cv2.imread(str(docs / name))
        assert image is not None and image.ndim == 3 and image.shape[0] > 100
        assert np.count_nonzero((image < 128).all(axis=2)) > 500 and len(np.unique(image.reshape(-1, 3), axis=0)) > 10
