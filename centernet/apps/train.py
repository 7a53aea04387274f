"""`centernet train`: every option is a config field (`centernet.config`); this module only adds the deprecated
spellings of renamed options and checks what the fields cannot say alone.

The engine is imported inside `run_train`: `centernet --help` imports this module to build its parser, and torch
alone takes seconds to import.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from centernet.apps.options import add_config_options, add_deprecated, apply_options, given_options
from centernet.config import Config, TrainConfig, config_from_dict
from centernet.errors import CenterNetError


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    runs = parser.add_argument_group("runs")
    runs.add_argument("--resume", nargs="?", const=True, metavar="RUN",
                      help="continue a run from its last.pt: RUN is its directory or its last.pt (data, model and "
                           "recipe come from the checkpoint; --epochs may extend it; other options given must agree "
                           "with it); bare --resume continues the run in --out")
    runs.add_argument("--config", metavar="CONFIG_JSON",
                      help="start from a saved config (a run's config.json) instead of the defaults, all but its "
                           "--out and --init-from; options given override it")
    add_config_options(parser, track_given=True)
    old = parser.add_argument_group("deprecated spellings of release 0.1 (kept until 0.3.0)")
    add_deprecated(old, "--hm-loss", {"loss.heatmap_loss": None}, "--heatmap-loss", metavar="NAME")
    add_deprecated(old, "--hm-weight", {"loss.heatmap_weight": None}, "--heatmap-weight", type=float,
                   metavar="WEIGHT")
    add_deprecated(old, "--no-amp", {"train.amp": "off"}, "--amp off")
    add_deprecated(old, "--no-scale", {"data.augment.scale": 0.0}, "--scale 0")
    add_deprecated(old, "--no-shift", {"data.augment.shift": 0.0}, "--shift 0")
    add_deprecated(old, "--no-flip", {"data.augment.flip_probability": 0.0}, "--flip-probability 0")
    add_deprecated(old, "--no-color", {"data.augment.color_jitter": 0.0, "data.augment.pca_lighting": 0.0},
                   "--color-jitter 0 --pca-lighting 0")


def config_for_train(args: argparse.Namespace) -> Config:
    """The run's config from parsed `centernet train` options, checked: the defaults (or --config's saved config)
    with the options given; with --resume, the run's saved config with the options given (which the engine checks
    against it)."""
    given = given_options(args)
    resume = getattr(args, "resume", None)
    if resume:
        config = _resumed_config(given, resume)
    else:
        if "train.out" not in given:
            raise CenterNetError("centernet train needs --out RUN_DIR, a new or empty run directory (--resume RUN "
                                 "continues a run)")
        config = apply_options(_saved_config(args.config) if args.config else Config(), given)
    if bool(config.data.val_ann) != bool(config.data.val_images):
        raise CenterNetError("--val-ann and --val-images go together")
    return config


def _saved_config(path: str) -> Config:
    """--config: a saved config.json, less its run directory, resume flag and --init-from."""
    try:
        config = config_from_dict(json.loads(Path(path).read_text()))
    except (OSError, ValueError, TypeError) as error:
        raise CenterNetError(f"--config {path}: not a centernet config ({error})") from None
    fresh = TrainConfig()
    return apply_options(config, {"train.out": fresh.out, "train.resume": False, "train.init_from": fresh.init_from})


def _resumed_config(given: dict, resume: str | bool) -> Config:
    """--resume [RUN]: the config saved in the run's last.pt with the options given, and resume on."""
    from centernet.checkpoint import checkpoint_config, load_checkpoint

    if resume is True:
        if "train.out" not in given:
            raise CenterNetError("--resume needs the run: --resume RUN_DIR (or RUN_DIR/last.pt), or --out RUN_DIR")
        last = Path(given["train.out"]) / "last.pt"
    else:
        path = Path(resume)
        last = path if path.suffix == ".pt" else path / "last.pt"
        if "train.out" in given and Path(given["train.out"]).resolve() != last.parent.resolve():
            raise CenterNetError(f"--resume {resume} continues the run in {last.parent}, not --out "
                                 f"{given['train.out']}; leave --out out")
        given = {**given, "train.out": str(last.parent)}
    if not last.is_file():
        raise CenterNetError(f"{last}: no checkpoint to resume; a run saves last.pt after each epoch (train into a "
                             "new --out to start one)")
    return apply_options(checkpoint_config(load_checkpoint(last), last), {**given, "train.resume": True})


def run_train(args: argparse.Namespace) -> int:
    from centernet.engine.train import train

    config = config_for_train(args)
    metrics = train(config)
    if metrics:
        print(json.dumps({name: None if value is None else round(value, 4) for name, value in metrics.items()}))
    return 0
