"""The one builder that reads the model config: architecture name -> body, plus the heads."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from centernet.model.dla import DLABody
from centernet.model.heads import CenterNetHeads
from centernet.model.resnet import ResNetBody
from centernet.model.resnet_dcn import ResNetDCNBody


class CenterNet(nn.Module):
    """A body (images -> stride-4 features) and the heads; forward returns the head tensors only.

    images: (B, 3, H, W) normalised float, H and W divisible by 32.
    Returns {"heatmap": (B, C, H/4, W/4) logits, "size": (B, 2, H/4, W/4), "offset": (B, 2, H/4, W/4)}.
    """

    def __init__(self, body: nn.Module, heads: CenterNetHeads) -> None:
        super().__init__()
        self.body = body
        self.heads = heads

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.heads(self.body(images))


# name -> (body constructor taking `weights`, default head_conv). A plain dict: no registry.
ARCHITECTURES: dict[str, tuple[Callable[..., nn.Module], int]] = {
    "resnet18": (partial(ResNetBody, "resnet18"), 64),
    "resnet34": (partial(ResNetBody, "resnet34"), 64),
    "resnet50": (partial(ResNetBody, "resnet50"), 64),
    "resnet101": (partial(ResNetBody, "resnet101"), 64),
    "resnet18_dcn": (partial(ResNetDCNBody, "resnet18"), 64),
    "resnet50_dcn": (partial(ResNetDCNBody, "resnet50"), 64),
    "resnet101_dcn": (partial(ResNetDCNBody, "resnet101"), 64),
    "dla34": (partial(DLABody, deformable=True), 256),
    "dla34_plain": (partial(DLABody, deformable=False), 256),
}


def build_model(arch: str, num_classes: int, head_conv: int | None = None,
                backbone_weights: str | None = None) -> CenterNet:
    """Build a CenterNet. `num_classes` excludes background; `head_conv` None takes the arch default."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown arch {arch!r}; choose from {', '.join(sorted(ARCHITECTURES))}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    make_body, default_head_conv = ARCHITECTURES[arch]
    body = make_body(weights=backbone_weights)
    heads = CenterNetHeads(body.out_channels, num_classes, head_conv or default_head_conv)
    return CenterNet(body, heads)
