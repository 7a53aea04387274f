"""Reading training runs' metrics.jsonl files (one JSON line per epoch, see the README), for the table and plot
scripts: scripts/readme_tables.py, scripts/loss_study_table.py, scripts/plot_metrics.py and the budget of
scripts/retinanet_baseline.py.

A line holds "epoch", "step", "epoch_seconds" (training only, evaluation excluded) and "load_average"; an epoch
that was evaluated also holds the COCO metrics ("AP", "AP50", ...), "per_class_ap" and "per_class_auroc".
Files copied out of their run directories are named ROW_seedS.jsonl (experiments/*.sh), which
`row_and_seed` splits.

The other scripts import this one by name, with scripts/ put first on sys.path (where Python puts it when one of
them runs as `python scripts/NAME.py`, but not when the tests load them).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

_SEED_SUFFIX = re.compile(r"^(?P<row>.+)_seed(?P<seed>\d+)$")


def read_records(path: str | Path) -> list[dict]:
    """Every line of a metrics.jsonl file, in order; SystemExit when there is none."""
    path = Path(path)
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not records:
        raise SystemExit(f"{path}: no metrics in it")
    return records


def evaluations(records: list[dict]) -> list[dict]:
    """The records of evaluated epochs (those with an "AP" key), in order."""
    return [record for record in records if "AP" in record]


def last_evaluation(records: list[dict], path: str | Path) -> dict:
    """The record of the last evaluated epoch; SystemExit naming `path` when the run was never evaluated."""
    evaluated = evaluations(records)
    if not evaluated:
        raise SystemExit(f"{path}: no evaluation in it")
    return evaluated[-1]


def training_seconds(records: list[dict], until_epoch: int | None = None) -> float:
    """Sum of the epochs' training seconds ("epoch_seconds"; evaluation is not counted), up to `until_epoch`."""
    return float(sum(record.get("epoch_seconds", 0.0) for record in records
                     if until_epoch is None or record["epoch"] <= until_epoch))


def row_and_seed(path: str | Path) -> tuple[str, int | None]:
    """("ROW", S) of a file named ROW_seedS.jsonl (or a run directory named ROW_seedS), else (stem, None)."""
    path = Path(path)
    stem = path.parent.name if path.name == "metrics.jsonl" else path.stem
    match = _SEED_SUFFIX.match(stem)
    return (match["row"], int(match["seed"])) if match else (stem, None)
