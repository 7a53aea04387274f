"""Print a Markdown table of training runs from their metrics.jsonl files (one line per epoch, see the README).

Each row: the run's last evaluation (AP@[.5:.95], AP50, AP75, APs, APm, APl, at which epoch), the median training
seconds of its epochs 2-4 (the first one also pays for warming caches and workers) and the load average recorded
with them, so a reader can tell a slow machine from a slow recipe.

Usage:
    python scripts/ablation_table.py docs/ablation/reference_seed0.jsonl docs/ablation/default_seed0.jsonl ...
    python scripts/ablation_table.py --baseline docs/ablation/reference_seed0.jsonl docs/ablation/*.jsonl
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/ is no package; also when loaded from elsewhere
from run_metrics import last_evaluation, read_records  # noqa: E402

METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl")
TIMED_EPOCHS = (2, 3, 4)


def read_run(path: Path) -> dict:
    """{"name", "epoch", metrics..., "epoch_seconds", "load"} of one metrics.jsonl file."""
    records = read_records(path)
    last = last_evaluation(records, path)
    timed = [record for record in records if record["epoch"] in TIMED_EPOCHS and "epoch_seconds" in record]
    return {
        "name": path.stem, "epoch": last["epoch"], **{name: last.get(name) for name in METRICS},
        "epoch_seconds": statistics.median(record["epoch_seconds"] for record in timed) if timed else None,
        "load": statistics.median(record["load_average"][0] for record in timed) if timed else None,
    }


def cell(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(runs: Sequence[dict], baseline: dict | None) -> str:
    header = ["run", "epochs", *METRICS, "x baseline AP", "s / epoch (2-4)", "load"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in runs:
        ratio = (run["AP"] / baseline["AP"]) if baseline and baseline["AP"] else None
        lines.append("| " + " | ".join([run["name"], str(run["epoch"]), *(cell(run[name]) for name in METRICS),
                                        cell(ratio, 2), cell(run["epoch_seconds"], 1), cell(run["load"], 2)]) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="metrics.jsonl files, one per row, in row order")
    parser.add_argument("--baseline", type=Path, help="the run the AP ratios are taken against")
    args = parser.parse_args(argv)
    print(table([read_run(path) for path in args.runs], read_run(args.baseline) if args.baseline else None))


if __name__ == "__main__":
    main()
