"""The one builder that reads the model config: an architecture from `centernet.catalog` -> body, plus the heads."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from centernet.catalog import ARCHITECTURES, Architecture
from centernet.config import DataConfig, ModelConfig, reference_neck_channels
from centernet.model.dla import DLABody
from centernet.model.heads import CenterNetHeads
from centernet.model.hourglass import HourglassBody
from centernet.model.resnet import ResNetBody
from centernet.model.resnet_dcn import ResNetDCNBody

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB on the [0, 1] scale, what torchvision backbones expect
IMAGENET_STD = (0.229, 0.224, 0.225)


class CenterNet(nn.Module):
    """Normalisation, a body (images -> stride-4 features) and the heads; forward returns the head tensors only.

    images: (B, 3, H, W) RGB in [0, 255], uint8 or float, H and W divisible by 32. They are normalised here,
    (images / 255 - mean) / std per channel, so that training, the Predictor and exported graphs cannot differ.
    Returns {"heatmap": (B, C, H/4, W/4) logits, "size": (B, 2, H/4, W/4), "offset": (B, 2, H/4, W/4)} (the
    names of `CenterNetHeads`).

    Stacked bodies (Hourglass-104) return a list of feature maps, one per stack, and get one set of heads per
    stack (`stack_heads`, then `heads` for the last): in training forward returns the list of each stack's head
    dicts (intermediate supervision, averaged by the loss), in eval mode the last stack's dict only.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, body: nn.Module, heads: CenterNetHeads, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, stack_heads: Sequence[CenterNetHeads] = ()) -> None:
        super().__init__()
        self.body = body
        self.heads = heads
        # the earlier stacks' heads (the same layout, their own weights); empty for single-stack bodies
        self.stack_heads = nn.ModuleList(stack_heads)
        if len(self.stack_heads) != getattr(body, "num_stacks", 1) - 1:
            raise ValueError(f"a body of {getattr(body, 'num_stacks', 1)} stacks needs one set of heads per stack")
        # not persistent: they come from the config, so state dicts stay those of the bare network
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [0, 255] -> float32 (x / 255 - mean) / std."""
        return (images.float() / 255.0 - self.mean) / self.std

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor] | list[dict[str, torch.Tensor]]:
        features = self.body(self.normalize(images))
        if not isinstance(features, list):
            return self.heads(features)
        if not self.training:
            return self.heads(features[-1])
        return [heads(stack) for heads, stack in zip([*self.stack_heads, self.heads], features, strict=True)]


# Architecture.body -> constructor of the body from (Architecture, weights, neck shortcuts, neck channels); DLA and
# Hourglass aggregate their stages in their own up paths, so they take neither
BODIES: dict[str, Callable[[Architecture, str | None, bool, tuple[int, ...]], nn.Module]] = {
    "resnet": lambda spec, weights, shortcuts, channels: ResNetBody(spec.variant, weights, shortcuts, channels),
    "resnet_dcn": lambda spec, weights, shortcuts, channels: ResNetDCNBody(spec.variant, weights, shortcuts, channels),
    "dla": lambda spec, weights, shortcuts, channels: DLABody(deformable=spec.variant == "deformable", weights=weights),
    "hourglass": lambda spec, weights, shortcuts, channels: HourglassBody(),
}


def build_model(arch: str, num_classes: int, head_conv: int | None = None, backbone_weights: str | None = None,
                mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD, *,
                box_head: str = "center", dfl_bins: int = 0, neck_shortcuts: bool = False,
                neck_channels: tuple[int, ...] | None = None, task: str = "detect") -> CenterNet:
    """Build a CenterNet. `num_classes` excludes background; `head_conv` None takes the arch default; `mean` and
    `std` (RGB, [0, 1] scale) normalise the input inside the model; `box_head`, `dfl_bins`, `task` as in
    `CenterNetHeads`; `neck_shortcuts` and `neck_channels` (the up path's three stages; None: the reference's for
    the body, 256 256 256 plain, 256 128 64 DCN) shape the ResNet bodies' up path; DLA's and Hourglass's ignore
    both. Hourglass-104 has no ImageNet weights (it trains from scratch) and one set of heads per stack."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown arch {arch!r}; choose from {', '.join(sorted(ARCHITECTURES))}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if neck_channels is not None and (len(neck_channels) != 3 or min(neck_channels) < 1):
        raise ValueError(f"neck channels: three positive numbers, one per x2 stage, got {list(neck_channels)}")
    spec = ARCHITECTURES[arch]
    if backbone_weights and spec.body == "hourglass":
        raise ValueError(f"{arch} has no ImageNet weights; leave --backbone-weights unset")
    body = BODIES[spec.body](spec, backbone_weights, neck_shortcuts,
                             tuple(neck_channels) if neck_channels is not None else reference_neck_channels(arch))
    heads = [CenterNetHeads(body.out_channels, num_classes, head_conv or spec.head_conv, box_head, dfl_bins, task)
             for _ in range(getattr(body, "num_stacks", 1))]
    return CenterNet(body, heads[-1], mean, std, stack_heads=heads[:-1])


def build_model_from_config(config: ModelConfig, data: DataConfig) -> CenterNet:
    """`build_model` with every argument from the config (the model section and the data's normalisation)."""
    return build_model(config.arch, config.num_classes, config.head_conv, config.backbone_weights, data.mean,
                       data.std, box_head=config.box_head, dfl_bins=config.dfl_bins,
                       neck_shortcuts=config.neck_shortcuts, neck_channels=config.neck_channels, task=config.task)
