"""What a run saves and how it resumes: the contents of best.pt and last.pt, and the options a resumed run may
change."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from centernet.checkpoint import checkpoint_config, load_checkpoint
from centernet.config import Config, config_to_dict, option_name
from centernet.data.coco import CocoDataset
from centernet.errors import CenterNetError

if TYPE_CHECKING:
    from centernet.engine.train import TrainState


def inference_checkpoint(state: TrainState, dataset: CocoDataset) -> dict[str, Any]:
    """What inference needs (best.pt): the weights, config, class names and category ids, and where they
    come from (epoch, step); no optimizer state."""
    return {
        "model": state.inference_model.state_dict(),
        "epoch": state.epoch,
        "step": state.step,
        "config": config_to_dict(state.config),
        "class_names": list(dataset.class_names),
        "category_ids": list(dataset.category_ids),
    }


def resume_checkpoint(state: TrainState, dataset: CocoDataset) -> dict[str, Any]:
    """What an exact resume needs (last.pt): the inference checkpoint plus optimizer, scaler and best AP.

    The learning rate is a function of the loader position (`lr_factor`), so no scheduler state is saved. With an
    EMA, "model" holds the trained weights and "ema_model" the averaged ones (which inference reads).
    """
    saved = {
        **inference_checkpoint(state, dataset),
        "model": state.bare_model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scaler": state.scaler.state_dict(),
        "best_ap": state.best_ap,
    }
    if state.ema is not None:
        saved.update(ema_model=state.ema.module.state_dict(), ema_updates=state.ema.updates)
    return saved


def restore(state: TrainState, saved: dict[str, Any]) -> None:
    state.bare_model.load_state_dict(saved["model"])
    if state.ema is not None:
        state.ema.module.load_state_dict(saved["ema_model"])
        state.ema.updates = saved["ema_updates"]
    state.optimizer.load_state_dict(saved["optimizer"])
    state.scaler.load_state_dict(saved["scaler"])
    state.epoch, state.step, state.best_ap = saved["epoch"], saved["step"], saved["best_ap"]


# Options a resumed run may change: how long, where and how fast it runs, and how often it reports.
RESUMABLE_CHANGES = frozenset({"train.resume", "train.epochs", "train.device", "train.out", "data.workers",
                               "train.log_interval", "train.eval_interval"})
# Derived from the data set, not chosen by an option.
DERIVED_FIELDS = frozenset({"model.num_classes", "model.joint_names", "model.skeleton"})


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def changed_options(launched: Config, saved: Config) -> list[str]:
    """`--option: now X, saved Y` for every config field that differs and may not change on resume."""
    now, before = _flatten(config_to_dict(launched)), _flatten(config_to_dict(saved))
    return [f"{option_name(path.rsplit('.', 1)[-1])}: now {now[path]!r}, saved {before.get(path)!r}"
            for path in sorted(now) if path not in RESUMABLE_CHANGES | DERIVED_FIELDS and now[path] != before.get(path)]


def resume_config(config: Config, out: Path) -> tuple[Config, dict[str, Any]]:
    """With --resume: the config saved in out/last.pt with this launch's epochs, device, workers, output folder and
    intervals, and the checkpoint. Any other option that differs from the saved run is an error, and so is a
    missing last.pt (never a silent fresh start)."""
    last = out / "last.pt"
    if not last.is_file():
        raise CenterNetError(f"{last}: no checkpoint to resume; a run saves last.pt after each epoch (train into a "
                             "new --out to start one)")
    saved = load_checkpoint(last)
    saved_config = checkpoint_config(saved, last)
    changes = changed_options(config, saved_config)
    if changes:
        raise CenterNetError(f"--resume: these options differ from the run saved in {last}: {'; '.join(changes)}; "
                             "resume with the same options, or train into a new --out")
    train = dataclasses.replace(saved_config.train, epochs=config.train.epochs, device=config.train.device,
                                out=config.train.out, log_interval=config.train.log_interval,
                                eval_interval=config.train.eval_interval, resume=True)
    data = dataclasses.replace(saved_config.data, workers=config.data.workers)
    if config.train.epochs != saved_config.train.epochs:
        stretched = ("the cosine schedule is re-stretched over them" if saved_config.train.schedule == "cosine"
                     else f"the step schedule keeps its steps at epochs {' '.join(map(str, train.lr_steps))}")
        tqdm.write(f"--resume: {config.train.epochs} epochs where the run had {saved_config.train.epochs}; "
                   f"{stretched}", file=sys.stderr)
    return dataclasses.replace(saved_config, train=train, data=data), saved
