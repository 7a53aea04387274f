"""What each choice option selects, by name: plain dicts of data, without torch.

The CLI takes its choice lists from these dicts (`centernet --help` never imports torch) and the layers that
implement a choice look it up here: each name maps to data, or to the name of the function or class that
implements it in that layer's module. So a new architecture, heatmap loss or optimizer is one entry in one
dict (plus its code when it is new): a plain dict, no registry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    """A network: `body` picks the body family in `centernet.model.build`; `variant` is the torchvision ResNet of
    a ResNet body, or "deformable" / "plain" for the convolutions of DLA's up path; `head_conv` is the heads'
    hidden channels when the config leaves it unset."""

    body: str  # resnet | resnet_dcn | dla | hourglass
    variant: str
    head_conv: int


# The plain ResNets' heads have 128 hidden channels (with BatchNorm, measured on resnet18 from scratch:
# docs/results.md, "Learning faster from scratch"); the reference's have 64 (--head-conv 64, configs of version 8
# and older keep theirs).
ARCHITECTURES: dict[str, Architecture] = {
    "resnet18": Architecture("resnet", "resnet18", 128),
    "resnet34": Architecture("resnet", "resnet34", 128),
    "resnet50": Architecture("resnet", "resnet50", 128),
    "resnet101": Architecture("resnet", "resnet101", 128),
    "resnet18_dcn": Architecture("resnet_dcn", "resnet18", 64),
    "resnet50_dcn": Architecture("resnet_dcn", "resnet50", 64),
    "resnet101_dcn": Architecture("resnet_dcn", "resnet101", 64),
    "dla34": Architecture("dla", "deformable", 256),
    "dla34_plain": Architecture("dla", "plain", 256),
    # two stacks with intermediate supervision; no ImageNet weights
    "hourglass104": Architecture("hourglass", "large", 256),
}

# --task name -> what the network predicts (`centernet.tasks` implements each)
TASKS: dict[str, str] = {
    "detect": "CenterNet: a centre heatmap per class and the box head (--box-head)",
    "exdet": "ExtremeNet: heatmaps of the top, left, bottom and right extreme points and of the centre per class, and "
             "the extreme points' sub-pixel offsets; grouped into boxes and octagons by the centre check",
    "keypoints": "CenterNet's multi_pose, any skeleton: the centre heatmap and box head (--box-head), each joint's "
                 "offset from the centre, a heatmap per joint with sub-pixel offsets; regressed joints snap to "
                 "nearby joint peaks",
}

DEFAULT_TASK = "detect"

# --heatmap-loss name -> the dense criterion (`centernet.losses.aggregate.HEATMAP_CRITERIA` implements each)
HEATMAP_LOSSES: dict[str, str] = {
    "penalty_reduced": "CornerNet's / CenterNet's penalty-reduced focal loss (the reference's)",
    "quality_focal": "GFL's quality focal loss, the Gaussian value as the soft target",
    "sigmoid_focal": "RetinaNet's focal loss, the peaks positive and every other pixel negative",
    "mse": "the reference's mse_loss option: sigmoid against the Gaussian target",
    "iou_aware": "quality focal loss, the soft target the Gaussian value times the IoU of the box predicted at the "
                 "pixel (--box-head ltrb): the score ranks boxes by quality",
}

# --box-head name -> what the box head predicts at each stride-4 pixel
BOX_HEADS: dict[str, str] = {
    "center": "CenterNet: box (w, h) and sub-pixel centre offset at the peak, L1 losses",
    "ltrb": "TTFNet: distances to the four box edges at every pixel of the object's Gaussian area, GIoU loss",
}
DEFAULT_BOX_HEAD = "ltrb"

# --head-norm name -> the normalisation after each head's hidden 3x3 convolution (`centernet.model.heads` builds it)
HEAD_NORMS: dict[str, str] = {
    "none": "the reference's heads: conv, ReLU, conv",
    "batch": "BatchNorm after the hidden conv (ScratchDet: normalised heads converge from scratch at higher lr)",
    "group": "GroupNorm (32 groups) after the hidden conv, as FCOS's heads",
}

# --gaussian name -> the shape of the heatmap's Gaussian peaks
GAUSSIANS: dict[str, str] = {
    "round": "CenterNet: radius from CornerNet's overlap formula, sigma = (2r + 1) / 6",
    "elliptical": "TTFNet: half-axes alpha * (w / 2, h / 2) with alpha = 0.54, sigma per axis",
}

# --amp name -> the precision of the forward pass (training, validation, evaluate, demo); the heads' last layers,
# the targets and the criterion stay in float32 (`centernet.device.autocast_dtype` applies it)
AMP_MODES: dict[str, str] = {
    "auto": "bf16 autocast on a CPU with native bf16 (AVX512-BF16, AMX, Arm BF16) and on CUDA (bf16 where the GPU "
            "has it, else fp16 with a gradient scaler); fp32 on other CPUs, where bf16 is emulated and slower",
    "on": "as auto, and bf16 also on CPUs that emulate it",
    "off": "fp32 everywhere",
}

# --optimizer name -> what it is (`centernet.engine.train.OPTIMIZER_CLASSES` maps each to its torch.optim class)
OPTIMIZERS: dict[str, str] = {"adam": "Adam", "adamw": "AdamW (decoupled weight decay)", "sgd": "SGD with momentum"}

# --schedule name -> what it does after the warm-up
SCHEDULES: dict[str, str] = {
    "step": "lr x0.1 at each of --lr-steps epochs",
    "cosine": "half a cosine from lr to 0 over the run",
}

# --backend name -> what runs the network (`centernet.backends.BACKENDS` maps each to its predictor's `from_file`)
BACKENDS: dict[str, str] = {
    "pytorch": "PyTorch on a checkpoint (last.pt / best.pt)",
    "onnxruntime": "onnxruntime on a network-only ONNX export",
}

# --format name -> the file `centernet export` writes and verifies (`centernet.export.WRITERS` implements each)
EXPORT_FORMATS: dict[str, str] = {
    "onnx": ".onnx, checked by onnx.checker and one onnxruntime run compared with PyTorch",
    "torchscript": "a .pt TorchScript trace, reloaded and compared",
}
