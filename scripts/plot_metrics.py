"""Plot a validation metric (mAP@[.5:.95] by default) against epoch for training runs, from their metrics.jsonl
files, into a PNG drawn with OpenCV (matplotlib is no dependency of this project).

Files named ROW_seedS.jsonl (or run directories' metrics.jsonl, named by their directory) are grouped by ROW:
one colour per row, each seed a thin line, and a thick line with dots through the mean over the row's seeds
of each evaluation that all of them reached. With `--x seconds` the horizontal axis is the training time
(the sum of the epochs' training seconds up to the evaluation), to compare runs on one wall-clock budget.
TensorBoard shows the same runs (`tensorboard --logdir RUNS`, tag val/AP).

Usage:
    python scripts/plot_metrics.py --out docs/heatmap_losses/map_vs_epoch.png docs/heatmap_losses/*.jsonl
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/ is no package; also when loaded from elsewhere
from run_metrics import evaluations, read_records, row_and_seed, training_seconds  # noqa: E402

# Tableau 10, as BGR: distinct hues that stay apart in greyscale print too
PALETTE = ((180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148), (75, 86, 140),
           (194, 119, 227), (127, 127, 127), (34, 189, 188), (207, 190, 23))
WIDTH, HEIGHT = 900, 520
LEFT, RIGHT, TOP, BOTTOM = 70, 210, 40, 55  # margins around the plot area; the legend sits in the right one
FONT = cv2.FONT_HERSHEY_SIMPLEX
BLACK, GREY = (0, 0, 0), (215, 215, 215)
X_LABELS = {"epoch": "epoch", "seconds": "training seconds"}


def series(path: str | Path, metric: str, x_axis: str) -> list[tuple[float, float]]:
    """(x, metric) at each evaluation of a run that has the metric; x is the epoch or the training seconds."""
    records = read_records(path)
    points = []
    for record in evaluations(records):
        if record.get(metric) is None:
            continue
        x = record["epoch"] if x_axis == "epoch" else training_seconds(records, until_epoch=record["epoch"])
        points.append((float(x), float(record[metric])))
    return points


def mean_series(runs: Sequence[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    """Point k: the mean x and mean metric of the runs' k-th evaluations, for every k that all runs reached."""
    count = min(len(run) for run in runs)
    return [(float(np.mean([run[k][0] for run in runs])), float(np.mean([run[k][1] for run in runs])))
            for k in range(count)]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values (steps of 1, 2 or 5 times a power of ten) covering [low, high]."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(factor * power for factor in (1, 2, 5, 10) if factor * power >= raw)
    first = math.floor(low / step + 1e-9) * step
    ticks = []
    value = first
    while value < high + step - 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _put_text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float = 0.45,
              colour: tuple[int, int, int] = BLACK, align: str = "left") -> None:
    """Text whose baseline starts at `origin` ("left"), is centred on it ("centre") or ends there ("right")."""
    (width, height), _ = cv2.getTextSize(text, FONT, scale, 1)
    x = origin[0] - {"left": 0, "centre": width // 2, "right": width}[align]
    cv2.putText(image, text, (x, origin[1] + (height // 2 if align != "left" else 0)), FONT, scale, colour, 1,
                cv2.LINE_AA)


def _axes(image: np.ndarray, x_ticks: list[float], y_ticks: list[float], to_pixel, x_label: str,
          y_label: str, title: str) -> None:
    """Grid lines and tick labels at the ticks, the frame of the plot area, axis labels and the title."""
    right, bottom = WIDTH - RIGHT, HEIGHT - BOTTOM
    for value in x_ticks:
        x, _ = to_pixel(value, y_ticks[0])
        cv2.line(image, (x, TOP), (x, bottom), GREY, 1)
        _put_text(image, f"{value:g}", (x, bottom + 14), align="centre")
    for value in y_ticks:
        _, y = to_pixel(x_ticks[0], value)
        cv2.line(image, (LEFT, y), (right, y), GREY, 1)
        _put_text(image, f"{value:g}", (LEFT - 8, y), align="right")
    cv2.rectangle(image, (LEFT, TOP), (right, bottom), BLACK, 1)
    _put_text(image, x_label, ((LEFT + right) // 2, HEIGHT - 14), 0.5, align="centre")
    _put_text(image, y_label, (8, TOP - 12), 0.5)
    _put_text(image, title, ((LEFT + right) // 2, 18), 0.55, align="centre")


def _legend(image: np.ndarray, rows: Sequence[str]) -> None:
    """A coloured line and the name of each row, in the right margin, and what the line widths mean."""
    for index, row in enumerate(rows):
        y = TOP + 12 + 22 * index
        x = WIDTH - RIGHT + 15
        cv2.line(image, (x, y), (x + 28, y), PALETTE[index % len(PALETTE)], 3, cv2.LINE_AA)
        _put_text(image, row, (x + 36, y + 5))
    _put_text(image, "thin: each seed, thick: mean", (WIDTH - RIGHT + 15, TOP + 12 + 22 * len(rows) + 5), 0.4)


def plot(rows: dict[str, list[list[tuple[float, float]]]], metric: str = "AP", x_axis: str = "epoch",
         title: str = "") -> np.ndarray:
    """(HEIGHT, WIDTH, 3) uint8 BGR image of the runs: {row: [points of each seed]} with (x, y) points."""
    image = np.full((HEIGHT, WIDTH, 3), 255, np.uint8)
    points = [point for runs in rows.values() for run in runs for point in run]
    xs, ys = [x for x, _ in points] or [0.0, 1.0], [y for _, y in points] or [0.0, 1.0]
    x_ticks = nice_ticks(min(0.0, min(xs)), max(xs))
    y_ticks = nice_ticks(min(0.0, min(ys)), max(ys))

    def to_pixel(x: float, y: float) -> tuple[int, int]:
        fraction_x = (x - x_ticks[0]) / (x_ticks[-1] - x_ticks[0])
        fraction_y = (y - y_ticks[0]) / (y_ticks[-1] - y_ticks[0])
        return (round(LEFT + fraction_x * (WIDTH - RIGHT - LEFT)), round(HEIGHT - BOTTOM - fraction_y *
                                                                          (HEIGHT - BOTTOM - TOP)))

    _axes(image, x_ticks, y_ticks, to_pixel, X_LABELS[x_axis], f"validation {metric}", title)
    for index, runs in enumerate(rows.values()):
        colour = PALETTE[index % len(PALETTE)]
        for run in runs:
            cv2.polylines(image, [np.array([to_pixel(*point) for point in run], np.int32)], False, colour, 1,
                          cv2.LINE_AA)
        mean = mean_series(runs) if runs else []
        cv2.polylines(image, [np.array([to_pixel(*point) for point in mean], np.int32)], False, colour, 3,
                      cv2.LINE_AA)
        for point in mean:
            cv2.circle(image, to_pixel(*point), 4, colour, -1, cv2.LINE_AA)
    _legend(image, list(rows))
    return image


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="metrics.jsonl files named ROW_seedS.jsonl")
    parser.add_argument("--out", required=True, type=Path, help="PNG file to write")
    parser.add_argument("--metric", default="AP", help="metrics.jsonl key to plot (default: AP, i.e. mAP@[.5:.95])")
    parser.add_argument("--x", dest="x_axis", choices=tuple(X_LABELS), default="epoch", help="horizontal axis")
    parser.add_argument("--title", default="", help="title above the plot")
    args = parser.parse_args(argv)
    rows: dict[str, list[list[tuple[float, float]]]] = {}
    for path in args.runs:
        run = series(path, args.metric, args.x_axis)
        if run:
            rows.setdefault(row_and_seed(path)[0], []).append(run)
    if not rows:
        raise SystemExit(f"no run has an evaluation with {args.metric}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), plot(rows, args.metric, args.x_axis, args.title)):
        raise SystemExit(f"could not write {args.out}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
