"""`centernet train`: every option is a config field (`centernet.config`); this module only adds the deprecated
spellings of renamed options and checks what the fields cannot say alone.

The engine is imported inside `run_train`: `centernet --help` imports this module to build its parser, and torch
alone takes seconds to import.
"""

from __future__ import annotations

import argparse
import json

from centernet.apps.options import add_config_options, add_deprecated, config_from_options
from centernet.errors import CenterNetError


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_options(parser)
    old = parser.add_argument_group("deprecated spellings (kept for one release)")
    add_deprecated(old, "--hm-loss", {"loss.heatmap_loss": None}, "--heatmap-loss", metavar="NAME")
    add_deprecated(old, "--hm-weight", {"loss.heatmap_weight": None}, "--heatmap-weight", type=float,
                   metavar="WEIGHT")
    add_deprecated(old, "--no-amp", {"train.amp": "off"}, "--amp off")
    add_deprecated(old, "--no-scale", {"data.augment.scale": 0.0}, "--scale 0")
    add_deprecated(old, "--no-shift", {"data.augment.shift": 0.0}, "--shift 0")
    add_deprecated(old, "--no-flip", {"data.augment.flip_probability": 0.0}, "--flip-probability 0")
    add_deprecated(old, "--no-color", {"data.augment.color_jitter": 0.0, "data.augment.pca_lighting": 0.0},
                   "--color-jitter 0 --pca-lighting 0")


def run_train(args: argparse.Namespace) -> int:
    from centernet.engine.train import train

    config = config_from_options(args)
    if bool(config.data.val_ann) != bool(config.data.val_images):
        raise CenterNetError("--val-ann and --val-images go together")
    metrics = train(config)
    if metrics:
        print(json.dumps({name: None if value is None else round(value, 4) for name, value in metrics.items()}))
    return 0
