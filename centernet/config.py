"""One config tree of frozen dataclasses: the single source of every default, and of the CLI.

Each field is declared with `option(default, help)`; `centernet train` derives one command-line option per
field from these declarations (`--` + the field name with dashes), with the help text written beside the
field and the choices taken from `centernet.catalog`. Adding a field here adds its option.

The whole tree is saved (as plain JSON-able dicts, with its `version`) in every checkpoint and in
`RUN_DIR/config.json`, so a checkpoint alone is enough to rebuild the model and its pre-processing. Configs
written by older versions load through `config_from_dict`, which renames moved fields and gives fields that
did not exist yet the values that reproduce the older version's behaviour.
"""

from __future__ import annotations

import copy
import dataclasses
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from centernet import catalog

STRIDE = 4  # output stride R of every architecture: heads are input_size / 4
INPUT_MULTIPLE = 32  # every input side is a multiple of the bodies' total downsampling
CONFIG_VERSION = 11


IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB on the [0, 1] scale, what torchvision backbones expect
IMAGENET_STD = (0.229, 0.224, 0.225)
MAX_OBJECTS = 128  # objects kept per image, training and validation alike


def option_name(field_name: str) -> str:
    """The command-line option of a config field: `lr_steps` -> `--lr-steps`."""
    return "--" + field_name.replace("_", "-")


def option(default: Any, help: str, *, choices: Mapping[str, Any] | None = None, required: bool = False,
           cli: bool = True, nargs: str | None = None, metavar: str | None = None, const: Any = None) -> Any:
    """A config field with what its command-line option needs: help text, choices (the names of a catalog
    dict), whether the option is required; `cli=False` for fields derived from the data, not chosen; `nargs`,
    `metavar` and `const` (the value of a bare option with nargs "?") where the annotation alone does not say
    them (argparse's meanings)."""
    metadata = {"help": help, "choices": tuple(choices) if choices is not None else None, "required": required,
                "cli": cli, "nargs": nargs, "metavar": metavar, "const": const}
    return field(default=default, metadata=metadata)


def input_size_pair(size: int | Sequence[int]) -> tuple[int, int]:
    """(width, height) of a network input size given as one side (a square) or as width and height."""
    try:
        values = [operator.index(size)] if not isinstance(size, Sequence) else [operator.index(v) for v in size]
    except TypeError:
        values = []
    if len(values) not in (1, 2):
        raise ValueError(f"an input size is one side (a square) or width and height, in whole pixels; got {size!r}")
    return (values[0], values[0]) if len(values) == 1 else (values[0], values[1])


def check_input_size(size: int | Sequence[int]) -> tuple[int, int]:
    """`input_size_pair`, with a ValueError naming --input-size unless both sides are positive multiples of 32."""
    width, height = input_size_pair(size)
    if min(width, height) <= 0 or width % INPUT_MULTIPLE or height % INPUT_MULTIPLE:
        shown = f"{width}" if width == height else f"{width} {height}"
        raise ValueError(f"--input-size: each side must be a positive multiple of {INPUT_MULTIPLE} (width height, "
                         f"or one side for a square), got {shown}")
    return width, height


def scaled_input_size(size: int | Sequence[int], scale: float) -> tuple[int, int]:
    """(width, height) of an input size times `scale`, each side rounded to the nearest multiple of 32 (at
    least 32): the input of one scale of a multi-scale test."""
    width, height = (max(INPUT_MULTIPLE, int(side * scale / INPUT_MULTIPLE + 0.5) * INPUT_MULTIPLE)
                     for side in input_size_pair(size))
    return width, height


@dataclass(frozen=True)
class ModelConfig:
    """The network. `num_classes` counts object classes only: there is no background class."""

    task: str = option(catalog.DEFAULT_TASK, "what the network finds: boxes (detect); the four extreme points "
                                             "and the centre of each object, grouped into boxes and octagons (exdet, "
                                             "ExtremeNet); boxes and the joints of any skeleton (keypoints, "
                                             "CenterNet's multi_pose)", choices=catalog.TASKS)
    arch: str = option("resnet18", "backbone and neck", choices=catalog.ARCHITECTURES)
    num_classes: int = option(80, "object classes (from the training set)", cli=False)
    head_conv: int | None = option(None, "hidden channels of each head (default: 128 for the plain ResNets, 64 for "
                                         "the DCN ones, 256 for DLA and Hourglass)")
    # measured (docs/results.md, "Learning faster from scratch"): BatchNorm in the heads learns more per epoch from
    # scratch (ScratchDet) at 1.03x the epoch time; the reference's heads have none (--head-norm none)
    head_norm: str = option("batch", "normalisation after each head's hidden convolution", choices=catalog.HEAD_NORMS)
    heatmap_prior: float = option(0.1, "initial foreground probability of every heatmap pixel (the last bias); "
                                       "RetinaNet's 0.01, the reference's 0.1")
    backbone_weights: str | None = option(None, 'ImageNet weights: a local state-dict file, or "imagenet" for '
                                                "torchvision's (cached or online)")
    box_head: str = option(catalog.DEFAULT_BOX_HEAD, "what the box head predicts (--task detect; exdet has its own "
                                                     "heads)", choices=catalog.BOX_HEADS)
    dfl_bins: int = option(0, "ltrb head: each distance as a distribution over this many bins, decoded by its "
                              "integral, with Distribution Focal Loss (GFL); 0: one value per distance")
    neck_shortcuts: bool = option(True, "ResNet bodies: 3x3 conv shortcuts from the stages at strides 16, 8, 4 "
                                         "added to the up path (TTFNet's U-Net-style shortcuts); DLA ignores it")
    neck_channels: tuple[int, int, int] = option((256, 128, 64), "ResNet bodies: channels of the up path's three x2 "
                                                                 "stages (TTFNet's and the reference's DCN neck; "
                                                                 "the reference's plain ResNet: 256 256 256)")
    joint_names: tuple[str, ...] = option((), "--task keypoints: the joints, in order (from the training set's "
                                              "category `keypoints`)", cli=False)
    skeleton: tuple[tuple[int, int], ...] = option((), "--task keypoints: the limbs as pairs of 0-based joint "
                                                       "indices (from the category's `skeleton`), for drawing",
                                                   cli=False)
    flip_pairs: tuple[int, ...] = option((), "--task keypoints: 0-based joint indices that a horizontal flip swaps, "
                                             "in pairs (e.g. 1 2 3 4 swaps joints 1 and 2, 3 and 4); default: each "
                                             "left_* joint with its right_* twin, by name", metavar="JOINT")


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation, as in the reference, and the batch-level mosaic and mix-up; 0 turns each one off."""

    # measured (docs/results.md, "Learning faster from scratch"): from scratch on small data a 15-epoch run
    # underfits, and half the reference's random scale without colour augmentation learns more per epoch; the
    # reference's --scale 0.4 --color-jitter 0.4 --pca-lighting 0.1 is in REFERENCE_RECIPE
    scale: float = option(0.2, "random scale in [1 - scale, 1 + scale] of the image")
    shift: float = option(0.1, "random centre shift, a fraction of the image size")
    flip_probability: float = option(0.5, "probability of a horizontal flip")
    color_jitter: float = option(0.0, "brightness / contrast / saturation jitter strength")
    pca_lighting: float = option(0.0, "standard deviation of the PCA lighting noise")
    mosaic: float = option(0.0, "probability that a training image becomes a 2x2 mosaic of itself and three other "
                                "images of its batch, each at half size (YOLOX), their objects with them")
    mixup: float = option(0.0, "probability that a training image is blended half and half with another image of "
                               "its batch, both images' objects targets (YOLOX)")
    # measured (docs/results.md, "Copy-paste on the default"): on data with polygons, 1.35x the mAP of 15 epochs from
    # scratch over three seeds at the same epoch time (0.5: 1.12x); data without polygons pastes nothing;
    # REFERENCE_RECIPE pins 0
    copy_paste: float = option(1.0, "probability that a training image gets the objects with polygons of another "
                                    "image of its batch pasted onto it, pixels inside their polygons (Simple "
                                    "Copy-Paste); objects it hides mostly are dropped")
    plain_last_epochs: int = option(2, "the last this many epochs train without mosaic, mix-up and copy-paste "
                                       "(YOLOX: 15 of 300)")


@dataclass(frozen=True)
class DataConfig:
    """Where the data is and how images become network inputs (RGB, ImageNet statistics)."""

    train_ann: str | None = option(None, "COCO annotation json of the training set")
    train_images: str | None = option(None, "folder of the training images")
    val_ann: str | None = option(None, "COCO annotation json of the validation set")
    val_images: str | None = option(None, "folder of the validation images")
    input_size: tuple[int, int] = option((512, 512), "network input width and height in pixels, each a multiple "
                                                     "of 32; one value: a square", nargs="+", metavar="SIDE")
    max_objects: int = option(MAX_OBJECTS, "objects per image kept for training; more are reported and left out")
    mean: tuple[float, float, float] = option(IMAGENET_MEAN, "per-channel RGB mean on the [0, 1] scale")
    std: tuple[float, float, float] = option(IMAGENET_STD, "per-channel RGB standard deviation")
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    workers: int = option(2, "data loader processes")
    gpu_decode: bool = option(False, "training on CUDA: the workers pass JPEG files undecoded and the train step "
                                     "decodes (nvjpeg) and warps them on the GPU; without CUDA, and for other "
                                     "files, the workers decode as usual")

    def __post_init__(self) -> None:
        # validated here, once: one side means a square (as in configs before version 3 and on the command line),
        # each side a positive multiple of 32; everything downstream takes the (width, height) pair as it is
        object.__setattr__(self, "input_size", check_input_size(self.input_size))

    @property
    def output_size(self) -> tuple[int, int]:
        """(height, width) of the heads: the input at stride STRIDE."""
        width, height = self.input_size
        return height // STRIDE, width // STRIDE


@dataclass(frozen=True)
class LossConfig:
    """Which heatmap criterion, and how the heads are weighted (reference: 1, 0.1, 1)."""

    heatmap_loss: str = option("penalty_reduced", "heatmap criterion", choices=catalog.HEATMAP_LOSSES)
    gaussian: str = option("elliptical", "shape of the heatmap's Gaussian peaks", choices=catalog.GAUSSIANS)
    # objects under ~4 output pixels get a one-pixel peak and one regression sample with 0, 3 x 3 with 1; measured
    # (docs/results.md, "On a slower EPYC"): 1.03x the mAP over six seeds on two CPUs, no measurable gain, no cost
    gaussian_min_radius: int = option(1, "smallest half-axis of the heatmap's Gaussians in output pixels (with "
                                         "elliptical Gaussians also the ltrb head's regression windows); 0: the "
                                         "reference's and TTFNet's, one pixel for small objects")
    heatmap_weight: float = option(1.0, "weight of the heatmap term")
    size_weight: float = option(0.1, "weight of the box-size term")
    offset_weight: float = option(1.0, "weight of the centre-offset term")
    # TTFNet's 5 slows the heatmap from scratch (the GIoU term's gradient dominates the shared features early);
    # measured with the augmentation above (docs/results.md, "Learning faster from scratch")
    box_weight: float = option(1.0, "weight of the ltrb head's GIoU term (TTFNet: 5)")
    dfl_weight: float = option(0.25, "weight of the Distribution Focal Loss term (with --dfl-bins)")
    joint_weight: float = option(1.0, "--task keypoints: weight of the joints' offsets from the centre (their "
                                      "heatmaps take the heatmap weight, their sub-pixel offsets the offset weight)")
    class_balance: float | None = option(None, "beta of class-balanced heatmap weights (e.g. 0.999) for "
                                               "long-tailed data; unset: every class weighs 1")


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation. `lr` is given for `reference_batch` images and scaled linearly to the global batch."""

    out: str = option("runs/default", "run directory (checkpoints, TensorBoard events, metrics): a new or empty one; "
                                      "required unless --resume RUN gives it", required=True)
    epochs: int = option(140, "epochs to train")
    batch_size: int = option(32, "images per process and step")
    lr: float = option(4e-3, "learning rate for --reference-batch images, scaled linearly to the global batch")
    reference_batch: int = option(32, "the batch --lr is given for")
    optimizer: str = option("adam", "optimizer", choices=catalog.OPTIMIZERS)
    weight_decay: float = option(0.0, "weight decay")
    schedule: str = option("cosine", "learning-rate schedule after the warm-up", choices=catalog.SCHEDULES)
    lr_steps: tuple[int, ...] = option((90, 120), "epochs at which the step schedule multiplies lr by 0.1")
    warmup_iters: int = option(100, "iterations of linear learning-rate warm-up")
    grad_clip: float | None = option(None, "clip the gradient norm to this value; unset: no clipping")
    ema: bool = option(True, "keep an exponential moving average of the weights: evaluated during training, "
                              "saved in best.pt, used by evaluate, demo and export")
    # YOLOX's 0.9998 / 2000 are for runs of ~10^5 steps; these average over ~10^3 steps once ramped up, and still
    # over ~15 steps after the ~550 steps of a 15-epoch run on 600 images
    ema_decay: float = option(0.999, "EMA decay once ramped up")
    ema_ramp: float = option(200.0, "updates over which the EMA decay ramps up: decay * (1 - exp(-updates / ramp))")
    # measured on 2 cores with AVX512-BF16 and AMX (README, Performance): bf16 + channels_last steps 3x faster than
    # fp32 at the same accuracy; emulated bf16 is slower than fp32, hence auto
    amp: str = option("auto", "mixed precision of the forward pass (--amp alone: on)", choices=catalog.AMP_MODES,
                      nargs="?", const="on")
    channels_last: bool = option(True, "channels-last memory format (faster convolutions on CPUs and GPUs)")
    compile: bool = option(False, "torch.compile the model and the heatmap loss (slow first steps, faster after)")
    device: str = option("auto", "auto | cpu | cuda | cuda:N")
    seed: int = option(0, "random seed of weights, data order and augmentation")
    eval_interval: int = option(1, "evaluate every N epochs (and after the last)")
    log_interval: int = option(10, "write train scalars to TensorBoard every N steps")
    strict: bool = option(False, "a corrupt image fails the run instead of being skipped")
    resume: bool = option(False, "continue the run in --out from its last.pt (`centernet train --resume RUN`)",
                          cli=False)
    init_from: str | None = option(None, "start from the weights of a trained detector (best.pt / last.pt, or an "
                                         "original CenterNet checkpoint converted with --classes): those whose name "
                                         "and shape match, and the heatmap channels of classes of the same name; "
                                         "optimizer and epoch start fresh", metavar="CHECKPOINT")


@dataclass(frozen=True)
class InferenceConfig:
    """Decoding and test-time options (validation during training, evaluate, demo, export)."""

    top_k: int = option(100, "detections kept per image")
    score_threshold: float = option(0.01, "detections scoring below this are dropped")
    flip_test: bool = option(False, "test-time flip: average the heads with those of the mirrored image")
    test_scales: tuple[float, ...] = option((1.0,), "multi-scale test: run at each of these multiples of the input "
                                                    "size (sides rounded to multiples of 32) and merge the detections "
                                                    "with class-wise NMS", nargs="+", metavar="SCALE")
    nms_iou: float = option(0.5, "IoU above which NMS merges two same-class detections of different scales")
    extreme_peaks: int = option(40, "--task exdet: the peaks of each extreme-point heatmap the centre grouping "
                                    "combines (the reference's K)")
    snap_joints: bool = option(True, "--task keypoints: move each joint regressed from the centre to the nearest "
                                     "joint-heatmap peak scoring >= 0.1 inside the box within 0.3x its longer side "
                                     "(the reference's decoding)")
    oks_sigmas: tuple[float, ...] = option((), "--task keypoints: per-joint OKS sigmas of the keypoint AP (default: "
                                               "COCO's for the 17-joint person skeleton, else 0.07 per joint)",
                                           nargs="+", metavar="SIGMA")

    def __post_init__(self) -> None:
        object.__setattr__(self, "test_scales", tuple(float(scale) for scale in self.test_scales))  # a CLI list
        if not self.test_scales or min(self.test_scales) <= 0:
            raise ValueError(f"--test-scales must be positive numbers, got {list(self.test_scales)}")
        if not 0 < self.nms_iou <= 1:
            raise ValueError(f"--nms-iou must be in (0, 1], got {self.nms_iou}")


@dataclass(frozen=True)
class Config:
    version: int = option(CONFIG_VERSION, "version of this config's layout", cli=False)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)


def frame_input_size(frame_width: int, frame_height: int, input_size: int | Sequence[int]) -> tuple[int, int]:
    """(width, height) of an input of the frame's aspect ratio, so that no compute goes to padding: the longer
    side keeps the longer side of `input_size`, the shorter is the smallest multiple of 32 that holds the frame
    scaled to it (1920x1080 at 512 -> 512x288; 640x480 at 512 -> 512x384; a square frame -> a square)."""
    long_side = max(input_size_pair(input_size))
    short_frame, long_frame = sorted((frame_width, frame_height))
    short_side = min(long_side, -(-long_side * short_frame // (long_frame * INPUT_MULTIPLE)) * INPUT_MULTIPLE)
    return (long_side, short_side) if frame_width >= frame_height else (short_side, long_side)


def _square(side: int) -> list[int]:
    return [side, side]


def reference_neck_channels(arch: str) -> tuple[int, int, int]:
    """The reference's up path for `arch`: 256 channels per stage for the plain ResNet bodies, 256 128 64 for the
    DCN ones (the DLA bodies ignore the option; they get the default)."""
    return (256, 256, 256) if arch.startswith("resnet") and not arch.endswith("_dcn") else (256, 128, 64)


def _reference_neck(values: dict[str, Any]) -> list[int]:
    """The up path a config of version 3 or older built (the reference's of its architecture)."""
    return list(reference_neck_channels(values.get("model", {}).get("arch", "resnet18")))


def _old_head_conv(values: dict[str, Any]) -> int | None:
    """The heads' hidden channels a config of version 8 or older built when it left them unset: 64 for every
    ResNet, 256 for DLA and Hourglass."""
    model = values.get("model", {})
    if model.get("head_conv") is not None:
        return model["head_conv"]
    return 64 if model.get("arch", "resnet18").startswith("resnet") else 256


def _amp_mode(value: Any) -> Any:
    """--amp of a config before version 6, a bool (True: mixed precision on CUDA only), as a mode: True -> "on",
    False -> "off" (a version-5 CPU run was fp32, as "off" keeps it)."""
    return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value


# Per version: fields renamed on the way to the next version (dotted paths), the values that reproduce that
# version's behaviour for fields the next version added, the fields whose values change form ("converted"), and
# added fields whose old behaviour depends on other fields ("derived", from the whole dict).
MIGRATIONS: dict[int, dict[str, dict[str, Any]]] = {
    1: {"renamed": {"loss.heatmap": "loss.heatmap_loss", "data.augment.flip": "data.augment.flip_probability"},
        "added": {"model.box_head": "center", "model.dfl_bins": 0, "model.neck_shortcuts": False,
                  "loss.gaussian": "round", "train.ema": False, "data.gpu_decode": False}},
    2: {"renamed": {},
        "added": {"train.init_from": None, "inference.scales": [1.0], "inference.nms_iou": 0.5},
        "converted": {"data.input_size": _square}},  # one side -> [width, height]
    3: {"renamed": {},
        "added": {},
        "derived": {"model.neck_channels": _reference_neck}},
    4: {"renamed": {}, "added": {"model.task": "detect", "inference.extreme_peaks": 40}},
    5: {"renamed": {}, "added": {}, "converted": {"train.amp": _amp_mode}},  # --amp became auto | on | off
    6: {"renamed": {},
        "added": {"model.joint_names": [], "model.skeleton": [], "model.flip_pairs": [],
                                 "loss.joint_weight": 1.0, "inference.snap_joints": True, "inference.oks_sigmas": []}},
    7: {"renamed": {"inference.scales": "inference.test_scales"},  # beside --scale, the augmentation
        "added": {"model.head_norm": "none", "data.augment.mosaic": 0.0, "data.augment.mixup": 0.0,
                  "data.augment.plain_last_epochs": 0}},
    8: {"renamed": {}, "added": {}, "derived": {"model.head_conv": _old_head_conv}},  # plain ResNets: 64 -> 128
    9: {"renamed": {}, "added": {"loss.gaussian_min_radius": 0}},  # the default became 1
    10: {"renamed": {}, "added": {"data.augment.copy_paste": 0.0}},  # the default became 1.0 (plain_last_epochs: 2)
}


def config_to_dict(config: Any) -> dict[str, Any]:
    """A plain nested dict of builtins (tuples become lists), safe for JSON and `weights_only` loading."""
    return dataclasses.asdict(config)


def _pop_path(values: dict[str, Any], path: str) -> tuple[bool, Any]:
    *parents, name = path.split(".")
    for parent in parents:
        values = values.get(parent, {})
    return (True, values.pop(name)) if name in values else (False, None)


def _set_path(values: dict[str, Any], path: str, value: Any) -> None:
    *parents, name = path.split(".")
    for parent in parents:
        values = values.setdefault(parent, {})
    values[name] = value


def upgrade_config_dict(values: dict[str, Any]) -> dict[str, Any]:
    """A saved config dict of any version rewritten in the current layout (a deep copy; version 1 had none)."""
    values = copy.deepcopy(dict(values))
    version = values.pop("version", 1)
    if not isinstance(version, int) or not 1 <= version <= CONFIG_VERSION:
        raise ValueError(f"config version {version!r} is not one this centernet reads (1..{CONFIG_VERSION})")
    for step in range(version, CONFIG_VERSION):
        for old, new in MIGRATIONS[step]["renamed"].items():
            found, value = _pop_path(values, old)
            if found:
                _set_path(values, new, value)
        for path, value in MIGRATIONS[step]["added"].items():
            found, saved = _pop_path(values, path)  # a field the config already holds (saved by a commit between
            _set_path(values, path, saved if found else value)  # the option and its version) keeps its value
        converters: dict[str, Callable[[Any], Any]] = MIGRATIONS[step].get("converted", {})
        for path, convert in converters.items():
            found, value = _pop_path(values, path)
            if found:
                _set_path(values, path, convert(value))
        derivations: dict[str, Callable[[dict[str, Any]], Any]] = MIGRATIONS[step].get("derived", {})
        for path, derive in derivations.items():
            _set_path(values, path, derive(values))
    values["version"] = CONFIG_VERSION
    return values


def _from_dict(cls: type, values: dict[str, Any]) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
    kwargs = {}
    for name, value in values.items():
        default = getattr(cls(), name)
        if dataclasses.is_dataclass(default):
            value = _from_dict(type(default), value)
        elif isinstance(default, tuple) and isinstance(value, list):
            value = _tuples(value)
        kwargs[name] = value
    return cls(**kwargs)


def _tuples(value: Any) -> Any:
    """JSON lists back into the (nested) tuples of a tuple field (e.g. the skeleton's pairs)."""
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value


def config_from_dict(values: dict[str, Any]) -> Config:
    """Inverse of `config_to_dict`, for configs of this or an older version (see `upgrade_config_dict`);
    missing fields take their defaults, unknown ones are an error."""
    return _from_dict(Config, upgrade_config_dict(values))
