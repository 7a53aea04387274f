"""Tasks: what CenterNet predicts from its centre heatmap, each a unit (`Task`): boxes (`boxes.py`, the center
and ltrb parametrisations of --box-head), extreme points (`extremes.py`) and keypoints (`keypoints.py`, boxes and
joints).

`task_for(model_config)` is the task of a config; `build(config, ...)` returns the parts of a run side by side, as
DETR's build does: the model, the criterion, the target encoder and the task itself (which decodes). The trainer,
evaluation, the Predictor, export and the demo ask the task and never name one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from centernet.config import Config, DataConfig, LossConfig, ModelConfig
from centernet.losses.aggregate import (
    QUALITY_CRITERIA,
    DetectionLoss,
    HeatmapTarget,
    HeatmapTerm,
    Term,
    centre_heatmap,
    heatmap_criterion,
)
from centernet.model.build import CenterNet
from centernet.model.build import build_model as build_network
from centernet.targets import TargetEncoder
from centernet.tasks.base import Task
from centernet.tasks.boxes import CenterBoxes, LtrbBoxes
from centernet.tasks.extremes import ExtremePoints
from centernet.tasks.keypoints import Keypoints, joint_fields

# --box-head name -> the boxes task of that parametrisation
BOX_TASKS: dict[str, Callable[[ModelConfig], Task]] = {
    "center": lambda model: CenterBoxes(),
    "ltrb": lambda model: LtrbBoxes(model.dfl_bins),
}
# --task name -> the task of a model config
TASKS: dict[str, Callable[[ModelConfig], Task]] = {
    "detect": lambda model: _box_task(model),
    "exdet": ExtremePoints,
    "keypoints": lambda model: Keypoints(model, _box_task(model)),
}
# --task name -> the ModelConfig fields it reads from the training set's categories (besides num_classes), given
# the categories and the file's name for errors
DATA_FIELDS: dict[str, Callable[[Sequence[dict], str], dict[str, Any]]] = {"keypoints": joint_fields}


def _box_task(model: ModelConfig) -> Task:
    if model.box_head not in BOX_TASKS:
        raise ValueError(f"unknown box head {model.box_head!r}; choose from {', '.join(BOX_TASKS)}")
    return BOX_TASKS[model.box_head](model)


def task_for(model: ModelConfig) -> Task:
    """The task of a model config (`model.task`, and for boxes `model.box_head`)."""
    if model.task not in TASKS:
        raise ValueError(f"unknown task {model.task!r}; choose from {', '.join(TASKS)}")
    return TASKS[model.task](model)


def fit_to_data(model: ModelConfig, categories: Sequence[dict], source: str) -> ModelConfig:
    """The model config with the fields a training set decides: num_classes (its categories), and the task's
    (keypoints: the joint names and skeleton); `source` names the annotation file in errors."""
    fields = DATA_FIELDS[model.task](categories, source) if model.task in DATA_FIELDS else {}
    return dataclasses.replace(model, num_classes=len(categories), **fields)


def build_model(model: ModelConfig, data: DataConfig | None = None) -> CenterNet:
    """The network of a model config, with its task's heads; `data` gives the input normalisation (None: the
    default's, ImageNet statistics)."""
    return build_network(model, data or DataConfig(), task_for(model).head_layout(model.num_classes))


def build_criterion(task: Task, config: LossConfig, class_weights: torch.Tensor | None = None,
                    compile_heatmap: bool = False) -> DetectionLoss:
    """The criterion: the centre heatmap's term (--heatmap-loss, `class_weights` (C,) or None), then the task's
    terms, each with its weight. `compile_heatmap` runs the penalty-reduced loss through torch.compile."""
    criterion = heatmap_criterion(config.heatmap_loss, compile_heatmap)
    quality = None
    if config.heatmap_loss in QUALITY_CRITERIA:
        quality = task.heatmap_quality
        if quality is None:
            raise ValueError(f"--heatmap-loss {config.heatmap_loss} needs a box predicted at every pixel: "
                             "--box-head ltrb")

    def heatmap_term(head: str, target: HeatmapTarget, per_class: bool = True) -> Term:
        return HeatmapTerm(criterion, head, target, class_weights if per_class else None)

    # the centre heatmap's term takes the task's box quality; other heatmaps (extreme points, joints) none
    centre = HeatmapTerm(criterion, "heatmap", centre_heatmap, class_weights, quality)
    return DetectionLoss({"heatmap": (centre, config.heatmap_weight), **task.loss_terms(config, heatmap_term)})


def build_target_encoder(task: Task, config: Config, output_size: tuple[int, int] | None = None,
                         *, with_task_targets: bool = True) -> TargetEncoder:
    """The target encoder of a run (its Gaussian, --gaussian) at `output_size` (H, W; None: the config's), with the
    task's targets, or the centre heatmap and slots only (`with_task_targets=False`)."""
    return TargetEncoder(config.model.num_classes, output_size or config.data.output_size,
                         gaussian=config.loss.gaussian, step=task.target_step() if with_task_targets else None,
                         min_radius=config.loss.gaussian_min_radius)


@dataclass
class TaskParts:
    """What `build` returns: a run's model, criterion, target encoder and task, side by side."""

    task: Task
    model: CenterNet
    criterion: DetectionLoss
    encoder: TargetEncoder


def build(config: Config, class_weights: torch.Tensor | None = None, compile_heatmap: bool = False) -> TaskParts:
    """The parts of a run from its config (see `build_model`, `build_criterion`, `build_target_encoder`)."""
    task = task_for(config.model)
    model = build_network(config.model, config.data, task.head_layout(config.model.num_classes))
    return TaskParts(task, model, build_criterion(task, config.loss, class_weights, compile_heatmap),
                     build_target_encoder(task, config))


__all__ = ["BOX_TASKS", "DATA_FIELDS", "TASKS", "Task", "TaskParts", "build", "build_criterion", "build_model",
           "build_target_encoder", "fit_to_data", "task_for"]
