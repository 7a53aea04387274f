"""Run-directory logging: config.json, metrics.jsonl and TensorBoard event files (rank 0 only)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.tensorboard import SummaryWriter

from centernet.config import Config, config_to_dict
from centernet.engine.evaluate import Evaluation, format_metric
from centernet.viz import draw_detections, overlay_heatmap

PACKAGE = Path(__file__).resolve().parents[1]  # the centernet package folder


def source_commit(folder: Path = PACKAGE) -> str | None:
    """The git commit of the centernet source that runs (short hash, "+changes" when tracked files of the package
    `folder`, any of its subfolders, differ from it), or None where it is not a git checkout (an installed wheel)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=folder, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        changes = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "."], cwd=folder,
                                 capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+changes" if changes else "")


class RunLogger:
    """Writes what a run produces into `out`: scalars and images for TensorBoard, one JSON line per epoch.

    `provenance` (e.g. {"commit": ..., "precision": "bf16", "channels_last": True}) is written into every line, so
    that a table made of several runs can show which commit and precision each ran at.
    """

    def __init__(self, out: str | Path, config: Config, interval: int = 10,
                 provenance: dict[str, Any] | None = None) -> None:
        self.out = Path(out)
        self.provenance = dict(provenance or {})
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "config.json").write_text(json.dumps(config_to_dict(config), indent=2) + "\n")
        self.writer = SummaryWriter(str(self.out))
        self.interval = interval

    def scalars(self, prefix: str, values: dict[str, float], step: int) -> None:
        for name, value in values.items():
            self.writer.add_scalar(f"{prefix}/{name}", value, step)

    def evaluation(self, result: Evaluation, class_names: list[str], epoch: int, step: int) -> None:
        """COCO metrics, per-class AP, validation losses and example images with boxes and heatmaps."""
        self.scalars("val", {name: value for name, value in result.metrics.items() if value is not None}, step)
        self.scalars("val", {name: value for name, value in result.losses.items()}, step)
        self.scalars("val_ap_per_class", result.per_class_ap, step)
        self.scalars("val_auroc_per_class", {k: v for k, v in result.per_class_auroc.items() if v is not None}, step)
        for index, (image, detections, heatmap) in enumerate(result.examples):
            drawn = draw_detections(image, detections, score_threshold=0.3)
            panel = np.concatenate([drawn, overlay_heatmap(image, heatmap)], axis=1)
            self.writer.add_image(f"val_examples/{index}", panel, step, dataformats="HWC")
        self.writer.add_scalar("val/epoch", epoch, step)
        self.writer.flush()

    def log_json(self, record: dict[str, Any]) -> None:
        with open(self.out / "metrics.jsonl", "a") as file:
            file.write(json.dumps({**record, **self.provenance}) + "\n")

    def close(self) -> None:
        self.writer.close()


def format_duration(seconds: float) -> str:
    """3 h 05 min, 4 min 07 s, 12 s."""
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def epoch_line(epoch: int, epochs: int, losses: dict[str, float], lr: float, seconds: float, eta_seconds: float,
               result: Evaluation | None) -> str:
    """The line each epoch leaves on the console: the mean losses of its steps (the total, then each term), the
    last lr, its training seconds, the run's ETA, and the evaluation where there was one."""
    terms = ", ".join(f"{name.removesuffix('_loss')} {value:.3f}" for name, value in losses.items() if name != "loss")
    line = (f"epoch {epoch}/{epochs}: loss {losses.get('loss', float('nan')):.3f} ({terms}), lr {lr:.2e}, "
            f"{seconds:.1f} s, ETA {format_duration(eta_seconds)}")
    if result is not None:
        line += (f"; AP {format_metric(result.metrics['AP'])}, AP50 {format_metric(result.metrics['AP50'])}, "
                 f"val loss {result.losses.get('loss', float('nan')):.4f}")
    return line
