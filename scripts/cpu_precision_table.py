"""Print the Markdown table of experiments/cpu_precision.sh: per seed, the float32 row and the bf16 default's final
AP and median epoch seconds, each as a ratio of the float32 row's (the issue's bar: AP >= 0.93x, time <= 0.6x).

The time of a run is the median training seconds of its epochs 3-15 (epochs 1-2 also warm caches and workers),
shown with the highest 1-minute load average recorded over those epochs and the commit the run ran at.

Usage:
    python scripts/cpu_precision_table.py docs/cpu_speed
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/ is no package; also when loaded from elsewhere
from run_metrics import last_evaluation, read_records, row_and_seed  # noqa: E402

ROWS = ("fp32", "bf16")  # the baseline first
FIRST_TIMED_EPOCH = 3


def summary(path: Path) -> dict:
    """{"AP", "AP50", "epoch", "seconds", "load", "commit"} of one ROW_seedS.jsonl file."""
    records = read_records(path)
    last = last_evaluation(records, path)
    timed = [record for record in records if record["epoch"] >= FIRST_TIMED_EPOCH]
    commit = path.with_suffix(".commit")
    return {"AP": last["AP"], "AP50": last["AP50"], "epoch": last["epoch"],
            "seconds": statistics.median(record["epoch_seconds"] for record in timed) if timed else None,
            "load": max(record["load_average"][0] for record in timed) if timed else None,
            "commit": commit.read_text().strip() if commit.exists() else "-"}


def table(folder: Path) -> str:
    runs: dict[tuple[int, str], dict] = {}
    for path in sorted(folder.glob("*_seed*.jsonl")):
        row, seed = row_and_seed(path)
        if row in ROWS and seed is not None:
            runs[seed, row] = summary(path)
    header = ["seed", "row", "epochs", "AP", "AP50", "AP x fp32", "s / epoch (3-15)", "time x fp32", "max load",
              "commit"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (seed, row), run in sorted(runs.items(), key=lambda item: (item[0][0], ROWS.index(item[0][1]))):
        base = runs.get((seed, ROWS[0]))
        ap_ratio = f"{run['AP'] / base['AP']:.2f}" if base and base["AP"] else "-"
        time_ratio = f"{run['seconds'] / base['seconds']:.2f}" if base and base["seconds"] and run["seconds"] else "-"
        seconds = "-" if run["seconds"] is None else f"{run['seconds']:.1f}"
        load = "-" if run["load"] is None else f"{run['load']:.2f}"
        lines.append("| " + " | ".join([str(seed), row, str(run["epoch"]), f"{run['AP']:.4f}", f"{run['AP50']:.4f}",
                                        ap_ratio, seconds, time_ratio, load, run["commit"]]) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the folder of ROW_seedS.jsonl files (docs/cpu_speed)")
    print(table(parser.parse_args(argv).folder))


if __name__ == "__main__":
    main()
