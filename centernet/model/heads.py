"""The three CenterNet heads on a stride-4 feature map: 3x3 conv -> ReLU -> 1x1 conv each."""

from __future__ import annotations

import math

import torch
from torch import nn

HEATMAP_PRIOR = 0.1  # initial foreground probability: bias -log((1 - 0.1) / 0.1) = -2.19


def _head(in_channels: int, head_conv: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, head_conv, 3, padding=1, bias=True),
        nn.ReLU(inplace=True),
        nn.Conv2d(head_conv, out_channels, 1, bias=True),
    )


class CenterNetHeads(nn.Module):
    """Heatmap (num_classes logits), size (w, h) and offset (dx, dy) heads.

    `forward(features (B, in_channels, H, W))` returns {"heatmap": (B, C, H, W) logits,
    "size": (B, 2, H, W) output-map pixels, "offset": (B, 2, H, W)}.
    """

    def __init__(self, in_channels: int, num_classes: int, head_conv: int) -> None:
        super().__init__()
        self.heatmap = _head(in_channels, head_conv, num_classes)
        self.size = _head(in_channels, head_conv, 2)
        self.offset = _head(in_channels, head_conv, 2)
        nn.init.constant_(self.heatmap[-1].bias, -math.log((1 - HEATMAP_PRIOR) / HEATMAP_PRIOR))
        for head in (self.size, self.offset):
            nn.init.normal_(head[-1].weight, std=0.001)
            nn.init.zeros_(head[-1].bias)

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"heatmap": self.heatmap(features), "size": self.size(features), "offset": self.offset(features)}
