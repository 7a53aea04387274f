"""Print, and write as a Markdown file, the table of the heatmap-loss study from its runs' metrics.jsonl files.

Files named ROW_seedS.jsonl are grouped into one row per ROW, in the order the rows first appear on the command
line. Every column is taken from each run's last evaluation and shown as the mean over the row's seeds ± half
their range (with two seeds: the mean and how far each seed lies from it):
    mAP@[.5:.95] and AP50 (COCOeval),
    the AP@[.5:.95] of the rarest class: the class with the fewest objects in the training annotation file given
        with --rarest-from (the long-tailed set's), the same class in every row so that the column compares,
    the mean over classes of the per-class heatmap AUROC (the heatmap as a pixel classifier; "-" for a detector
        without a heatmap, such as the RetinaNet baseline),
    training seconds: the sum of the epochs' training times, evaluation excluded (the wall-clock budget),
    max load: the highest 1-minute load average recorded over the run's epochs (above about 2.5 on the 2-core
        machine something else shared the cores, and the seconds are not comparable).

Usage:
    python scripts/loss_study_table.py --rarest-from data/hard_longtail/annotations/train.json \
        --out docs/heatmap_losses/table.md docs/heatmap_losses/*.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/ is no package; also when loaded from elsewhere
from run_metrics import last_evaluation, read_records, row_and_seed, training_seconds  # noqa: E402

COLUMNS = ("mAP@[.5:.95]", "AP50", "AP {rarest} (rarest)", "heatmap AUROC", "train s", "max load")


def rarest_class(ann_path: str | Path) -> str:
    """Name of the category with the fewest (non-crowd) objects in a COCO annotation file; the first in category
    id order among equals."""
    data = json.loads(Path(ann_path).read_text())
    counts = Counter(annotation["category_id"] for annotation in data["annotations"]
                     if not annotation.get("iscrowd", 0))
    categories = sorted(data["categories"], key=lambda category: category["id"])
    return min(categories, key=lambda category: counts[category["id"]])["name"]


def run_summary(path: str | Path, rarest: str) -> dict:
    """{"row", "seed", and one value per column (None where the run does not have it)} of one metrics.jsonl."""
    records = read_records(path)
    last = last_evaluation(records, path)
    aurocs = [value for value in (last.get("per_class_auroc") or {}).values() if value is not None]
    row, seed = row_and_seed(path)
    return {"row": row, "seed": seed, "mAP@[.5:.95]": last["AP"], "AP50": last["AP50"],
            "AP {rarest} (rarest)": (last.get("per_class_ap") or {}).get(rarest),
            "heatmap AUROC": sum(aurocs) / len(aurocs) if aurocs else None, "train s": training_seconds(records),
            "max load": max((record["load_average"][0] for record in records if "load_average" in record),
                            default=None)}


def mean_and_spread(values: Sequence[float | None]) -> tuple[float, float] | None:
    """(mean, half the range) of the values that are not None; None when there is none."""
    known = [value for value in values if value is not None]
    if not known:
        return None
    return sum(known) / len(known), (max(known) - min(known)) / 2


def cell(values: Sequence[float | None], digits: int) -> str:
    """"mean ± half-range", just the value for a single run, "-" without any."""
    summary = mean_and_spread(values)
    if summary is None:
        return "-"
    mean, spread = summary
    known = sum(value is not None for value in values)
    return f"{mean:.{digits}f}" if known == 1 else f"{mean:.{digits}f} ± {spread:.{digits}f}"


def table(summaries: Sequence[dict], rarest: str) -> str:
    """The Markdown table: a row per ROW (first-appearance order), the seeds it averages, the COLUMNS."""
    rows: dict[str, list[dict]] = {}
    for summary in summaries:
        rows.setdefault(summary["row"], []).append(summary)
    header = ["row", "seeds", *(column.format(rarest=rarest) for column in COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row, runs in rows.items():
        seeds = ", ".join(str(run["seed"]) for run in runs if run["seed"] is not None) or "-"
        cells = [cell([run[column] for run in runs], {"train s": 0, "max load": 1}.get(column, 3))
                 for column in COLUMNS]
        lines.append("| " + " | ".join([row, seeds, *cells]) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="metrics.jsonl files named ROW_seedS.jsonl")
    parser.add_argument("--rarest-from", required=True, type=Path,
                        help="COCO training annotation file whose least frequent class is the rarest-class column's")
    parser.add_argument("--out", type=Path, help="also write the table (and a note on the spread) to this file")
    args = parser.parse_args(argv)
    rarest = rarest_class(args.rarest_from)
    text = table([run_summary(path, rarest) for path in args.runs], rarest)
    text += ("\n\nEach cell: mean ± half the range over the seeds (the last evaluation of each run); rarest class: "
             f"{rarest}, the least frequent in {args.rarest_from.as_posix()}.")
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
