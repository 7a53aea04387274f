"""Training scalars of runs step by step, from their TensorBoard event files: the evidence behind a claim such as
"the box loss sat at 1.00 for the first 100 steps".

    python scripts/scalars_by_step.py --tag train/box_loss --steps 10 50 100 150 200 runs/a runs/b

Prints one row per run (its directory name) and one column per step: the value logged at the last step at or
before it (the trainer logs every --log-interval steps).
"""

from __future__ import annotations

import argparse
import bisect
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def scalar_series(run: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of `tag` in the run directory's event files, by step."""
    accumulator = EventAccumulator(str(run), size_guidance={"scalars": 0})
    accumulator.Reload()
    if tag not in accumulator.Tags()["scalars"]:
        raise SystemExit(f"{run}: no scalar {tag!r} in its event files")
    return sorted((event.step, event.value) for event in accumulator.Scalars(tag))


def value_at(series: list[tuple[int, float]], step: int) -> float | None:
    """The value logged at the last step at or before `step` (None before the first)."""
    position = bisect.bisect_right([logged for logged, _ in series], step)
    return series[position - 1][1] if position else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (with events.out.tfevents.* files)")
    parser.add_argument("--tag", default="train/box_loss")
    parser.add_argument("--steps", nargs="+", type=int, required=True)
    args = parser.parse_args(argv)
    width = max(len(run.name) for run in args.runs)
    print(f"{args.tag} at step".ljust(width) + "".join(f"{step:>8}" for step in args.steps))
    for run in args.runs:
        series = scalar_series(run, args.tag)
        cells = (value_at(series, step) for step in args.steps)
        print(run.name.ljust(width) + "".join(f"{'-':>8}" if value is None else f"{value:8.3f}" for value in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
