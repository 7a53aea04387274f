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


ARCHITECTURES: dict[str, Architecture] = {
    "resnet18": Architecture("resnet", "resnet18", 64),
    "resnet34": Architecture("resnet", "resnet34", 64),
    "resnet50": Architecture("resnet", "resnet50", 64),
    "resnet101": Architecture("resnet", "resnet101", 64),
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
}

DEFAULT_TASK = "detect"

# --heatmap-loss name -> "module.function" of the dense criterion in the package `centernet.losses`
HEATMAP_LOSSES: dict[str, str] = {
    "penalty_reduced": "penalty_reduced.penalty_reduced_focal_loss",  # CornerNet / CenterNet (reference)
    "quality_focal": "focal.heatmap_quality_focal_loss",  # GFL's QFL, the Gaussian value as the soft target
    "sigmoid_focal": "focal.heatmap_sigmoid_focal_loss",  # RetinaNet's focal loss, peaks positive
    "mse": "regression.heatmap_mse_loss",  # the reference's mse_loss option: sigmoid vs the Gaussian target
}

# --box-head name -> what the box head predicts at each stride-4 pixel
BOX_HEADS: dict[str, str] = {
    "center": "CenterNet: box (w, h) and sub-pixel centre offset at the peak, L1 losses",
    "ltrb": "TTFNet: distances to the four box edges at every pixel of the object's Gaussian area, GIoU loss",
}
DEFAULT_BOX_HEAD = "ltrb"

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

# --optimizer name -> class in `torch.optim`
OPTIMIZERS: dict[str, str] = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}

# --schedule name -> what it does after the warm-up
SCHEDULES: dict[str, str] = {
    "step": "lr x0.1 at each of --lr-steps epochs",
    "cosine": "half a cosine from lr to 0 over the run",
}

# --backend name -> "module.Class" of the predictor in the package `centernet` (its `from_file` reads
# --checkpoint): PyTorch on a checkpoint (last.pt / best.pt), or onnxruntime on a network-only ONNX export
BACKENDS: dict[str, str] = {
    "pytorch": "predictor.Predictor",
    "onnxruntime": "onnx_backend.OnnxPredictor",
}

# --format name -> function of `centernet.export` writing and verifying the file: .onnx (onnx.checker and one
# onnxruntime run compared) or a .pt TorchScript trace (reloaded and compared)
EXPORT_FORMATS: dict[str, str] = {"onnx": "write_onnx", "torchscript": "write_torchscript"}
