"""Why the first epochs of a from-scratch run learn little: the evidence issue 26 asks for, from stopped runs.

    python scripts/start_diagnosis.py --data data/hard runs/screen/default_seed0 runs/screen/prior001_seed0 ...

For each run directory (a `centernet train` run whose last.pt is the checkpoint to look at, e.g. after epoch 5):
- the learning rate and the EMA's decay the run's config gives at each of --steps (the EMA's effective window is
  1 / (1 - decay) steps: how many recent steps the evaluated weights average);
- the per-term training losses at each of --steps, from its TensorBoard events;
- the heatmap AUROC and the AP after each epoch, from its metrics.jsonl;
- the AP of its last.pt evaluated with the raw weights and with the EMA's (`centernet evaluate` on the validation
  set, the checkpoint copied without its EMA for the raw weights).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from scalars_by_step import scalar_series, value_at

from centernet.checkpoint import checkpoint_config, load_checkpoint, save_checkpoint
from centernet.config import TrainConfig
from centernet.engine.ema import ema_decay
from centernet.engine.train import lr_factor, scaled_lr


def schedule_rows(config: TrainConfig, steps: list[int], iters_per_epoch: int) -> list[str]:
    peak = scaled_lr(config, 1)
    lrs = [peak * lr_factor(step - 1, config, iters_per_epoch) for step in steps]
    decays = [ema_decay(step, config.ema_decay, config.ema_ramp) if config.ema else 0.0 for step in steps]
    return ["lr".ljust(24) + "".join(f"{lr:9.1e}" for lr in lrs),
            "EMA decay".ljust(24) + "".join(f"{decay:9.3f}" for decay in decays),
            "EMA window (steps)".ljust(24) + "".join(f"{1 / (1 - decay):9.1f}" for decay in decays)]


def evaluate(checkpoint: Path, data: Path, out: Path) -> float:
    metrics = out.with_suffix(".metrics.json")
    subprocess.run(["centernet", "evaluate", "--ann", str(data / "annotations/val.json"), "--images",
                    str(data / "val"), "--out", str(out), "--metrics", str(metrics), "--checkpoint",
                    str(checkpoint), "--workers", "0"], check=True, capture_output=True)
    return json.loads(metrics.read_text())["AP"]


def raw_and_ema_ap(run: Path, state: dict[str, Any], data: Path) -> tuple[float, float]:
    """AP of the run's last.pt (its loaded `state`) with the raw weights and with the EMA's."""
    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder, "raw.pt")
        save_checkpoint(raw, {key: value for key, value in state.items() if key not in ("ema_model", "ema_updates")})
        return evaluate(raw, data, Path(folder, "raw.json")), evaluate(run / "last.pt", data, Path(folder, "ema.json"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--data", type=Path, default=Path("data/hard"))
    parser.add_argument("--steps", nargs="+", type=int, default=[10, 20, 40, 60, 80, 100, 120, 150, 185])
    parser.add_argument("--tags", nargs="+", default=["train/heatmap_loss", "train/box_loss"])
    args = parser.parse_args(argv)
    for run in args.runs:
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
        iters_per_epoch = rows[0]["step"]
        print(f"## {run.name} (last.pt after epoch {rows[-1]['epoch']}, {iters_per_epoch} steps per epoch)")
        print("at step".ljust(24) + "".join(f"{step:>9}" for step in args.steps))
        state = load_checkpoint(run / "last.pt")
        for line in schedule_rows(checkpoint_config(state, run / "last.pt").train, args.steps, iters_per_epoch):
            print(line)
        for tag in args.tags:
            series = scalar_series(run, tag)
            print(tag.ljust(24) + "".join(f"{value_at(series, step) or float('nan'):9.3f}" for step in args.steps))
        print("epoch".ljust(24) + "".join(f"{row['epoch']:>9}" for row in rows))
        print("AP (EMA)".ljust(24) + "".join(f"{row['AP']:9.4f}" for row in rows))
        print("heatmap AUROC (mean)".ljust(24) + "".join(
            f"{sum(row['per_class_auroc'].values()) / len(row['per_class_auroc']):9.3f}" for row in rows))
        raw, ema = raw_and_ema_ap(run, state, args.data)
        print(f"last.pt AP: raw weights {raw:.4f}, EMA {ema:.4f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
