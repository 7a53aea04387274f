"""One config tree of frozen dataclasses, filled by the CLI and the experiment scripts.

The whole tree is saved (as plain JSON-able dicts) in every checkpoint and in `RUN_DIR/config.json`, so a
checkpoint alone is enough to rebuild the model and its pre-processing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

STRIDE = 4  # output stride R of every architecture: heads are input_size / 4


@dataclass(frozen=True)
class ModelConfig:
    """The network. `num_classes` counts object classes only: there is no background class."""

    arch: str = "resnet18"
    num_classes: int = 80
    head_conv: int | None = None  # None: the architecture's default (64 for ResNet, 256 for DLA)
    backbone_weights: str | None = None  # a local ImageNet state-dict file, or "imagenet" for torchvision's


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation, as in the reference; each switch can be turned off."""

    scale: float = 0.4  # random scale in [1 - scale, 1 + scale]
    shift: float = 0.1  # random centre shift, as a fraction of the image size
    flip: float = 0.5  # probability of a horizontal flip
    color_jitter: float = 0.4  # brightness / contrast / saturation strength; 0 turns it off
    pca_lighting: float = 0.1  # std of the PCA lighting noise; 0 turns it off


@dataclass(frozen=True)
class DataConfig:
    """Where the data is and how images become network inputs (RGB, ImageNet statistics)."""

    train_ann: str | None = None
    train_images: str | None = None
    val_ann: str | None = None
    val_images: str | None = None
    input_size: int = 512
    max_objects: int = 128
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    workers: int = 2


@dataclass(frozen=True)
class LossConfig:
    """Which heatmap criterion, and how the heads are weighted (reference: 1, 0.1, 1)."""

    heatmap: str = "penalty_reduced"  # penalty_reduced | quality_focal | sigmoid_focal
    heatmap_weight: float = 1.0
    size_weight: float = 0.1
    offset_weight: float = 1.0
    class_balance: float | None = None  # beta for class-balanced heatmap weights; None: off


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation. `lr` is given for `reference_batch` images and scaled linearly to `batch_size`."""

    out: str = "runs/default"
    epochs: int = 140
    batch_size: int = 32
    lr: float = 1.25e-4
    reference_batch: int = 32
    optimizer: str = "adam"  # adam | adamw | sgd
    weight_decay: float = 0.0
    schedule: str = "step"  # step | cosine
    lr_steps: tuple[int, ...] = (90, 120)  # epochs at which a step schedule multiplies lr by 0.1
    warmup_iters: int = 0
    grad_clip: float | None = None  # max gradient norm; None: no clipping
    amp: bool = False  # mixed precision on CUDA (bf16 where supported, else fp16)
    channels_last: bool = False
    compile: bool = False  # torch.compile the model and the heatmap loss (slow first steps, faster after)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    seed: int = 0
    eval_interval: int = 1  # evaluate every N epochs (and always after the last)
    log_interval: int = 10  # write train scalars to TensorBoard every N steps
    strict: bool = False  # a corrupt image fails the run instead of being skipped
    resume: bool = False  # continue from RUN_DIR/last.pt when it exists


@dataclass(frozen=True)
class InferenceConfig:
    """Decoding and test-time options."""

    top_k: int = 100
    score_threshold: float = 0.01
    flip_test: bool = False


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A plain nested dict of builtins (tuples become lists), safe for JSON and `weights_only` loading."""
    return dataclasses.asdict(config)


def _from_dict(cls: type, values: dict[str, Any]) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
    kwargs = {}
    for name, value in values.items():
        default = getattr(cls(), name) if name in known else None
        if dataclasses.is_dataclass(default):
            value = _from_dict(type(default), value)
        elif isinstance(default, tuple) and isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def config_from_dict(values: dict[str, Any]) -> Config:
    """Inverse of `config_to_dict`; missing fields take their defaults, unknown ones are an error."""
    return _from_dict(Config, values)
