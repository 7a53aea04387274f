"""The CenterNet heads on a stride-4 feature map: 3x3 conv (-> BatchNorm or GroupNorm with --head-norm) -> ReLU ->
1x1 conv each, laid out by a task.

Under autocast the last 1x1 conv of each head runs in float32, so that the logits and box distances the criterion
and the decoder read keep float32's precision (bf16 keeps 8 bits: a 60-pixel distance to +-0.25 px). It costs 2%
of a bf16 training step of ResNet-18 at 256 px (README, Performance); the whole heads in float32 cost 22%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from centernet.device import in_float32

HEATMAP_PRIOR = 0.1  # the reference's initial foreground probability: bias -log((1 - 0.1) / 0.1) = -2.19


@dataclass(frozen=True)
class HeadLayout:
    """A task's heads: `channels` the output channels of each head by name, in output order; `class_heads` the
    heads with one channel per class (heatmap logits: their last bias starts at the heads' prior, and fine-tuning
    moves their rows with the classes); `biases` the initial last-layer bias of other heads (default 0);
    `prior_heads` other heads of heatmap logits (keypoints' per-joint heatmaps), initialised as the class heads."""

    channels: dict[str, int]
    class_heads: tuple[str, ...]
    biases: dict[str, float] = field(default_factory=dict)
    prior_heads: tuple[str, ...] = ()


GROUP_NORM_GROUPS = 32  # FCOS's; fewer where the hidden channels do not divide by it


def _norm(kind: str, channels: int) -> list[nn.Module]:
    """The normalisation layer of a --head-norm name (none: no layer)."""
    if kind == "batch":
        return [nn.BatchNorm2d(channels)]
    if kind == "group":
        return [nn.GroupNorm(math.gcd(GROUP_NORM_GROUPS, channels), channels)]
    if kind != "none":
        raise ValueError(f"unknown head normalisation {kind!r}; choose from none, batch, group")
    return []


def _head(in_channels: int, head_conv: int, out_channels: int, norm: str = "none") -> nn.Sequential:
    """3x3 conv (with --head-norm's layer after it, and then no bias) -> ReLU -> 1x1 conv."""
    return nn.Sequential(
        nn.Conv2d(in_channels, head_conv, 3, padding=1, bias=norm == "none"),
        *_norm(norm, head_conv),
        nn.ReLU(inplace=True),
        nn.Conv2d(head_conv, out_channels, 1, bias=True),
    )


class CenterNetHeads(nn.ModuleDict):
    """The heads of a `HeadLayout` on a stride-4 feature map (B, in_channels, H, W), heatmap logits starting at
    `prior` everywhere; `forward` returns their raw outputs by name, (B, channels, H, W) each (what they mean:
    the task's module in `centernet.tasks`)."""

    def __init__(self, in_channels: int, head_conv: int, layout: HeadLayout, norm: str = "none",
                 prior: float = HEATMAP_PRIOR) -> None:
        if not 0 < prior < 1:
            raise ValueError(f"the heatmap prior is a probability in (0, 1), got {prior}")
        super().__init__({name: _head(in_channels, head_conv, channels, norm)
                          for name, channels in layout.channels.items()})
        for name in layout.channels:
            if name in layout.class_heads or name in layout.prior_heads:
                nn.init.constant_(self[name][-1].bias, -math.log((1 - prior) / prior))
                continue
            nn.init.normal_(self[name][-1].weight, std=0.001)
            nn.init.constant_(self[name][-1].bias, layout.biases.get(name, 0.0))

    def output_parameter_names(self, head: str) -> tuple[str, str]:
        """The names, relative to this module, of `head`'s last-layer weight and bias (one row per channel)."""
        last = len(self[head]) - 1
        return f"{head}.{last}.weight", f"{head}.{last}.bias"

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, in_channels, H, W) features -> {name: (B, channels, H, W) float32 under autocast too}."""
        return {name: in_float32(head[-1], head[:-1](features)) for name, head in self.items()}
