"""The CenterNet heads on a stride-4 feature map: 3x3 conv -> ReLU -> 1x1 conv each.

Under autocast the last 1x1 conv of each head runs in float32, so that the logits and box distances the criterion
and the decoder read keep float32's precision (bf16 keeps 8 bits: a 60-pixel distance to +-0.25 px). It costs 2%
of a bf16 training step of ResNet-18 at 256 px (README, Performance); the whole heads in float32 cost 22%.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from centernet.device import in_float32
from centernet.structures import EXDET_HEAD_NAMES

HEATMAP_PRIOR = 0.1  # initial foreground probability: bias -log((1 - 0.1) / 0.1) = -2.19
# The ltrb head's initial output: distances of 1 * LTRB_SCALE = 16 input pixels, a 32 x 32 box around each pixel.
# With the bias at 0 (TTFNet's init) every predicted box starts with size 0, a saddle of the GIoU loss (a distance's
# gradient is proportional to the box's other side): the default run's GIoU loss stayed at 1.00 for its first 100
# steps (3 epochs) and the quality focal loss's for 15 epochs (README, "Which heatmap loss").
LTRB_INITIAL_BIAS = 1.0


def _head(in_channels: int, head_conv: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, head_conv, 3, padding=1, bias=True),
        nn.ReLU(inplace=True),
        nn.Conv2d(head_conv, out_channels, 1, bias=True),
    )


class CenterNetHeads(nn.ModuleDict):
    """The heads on a stride-4 feature map (B, in_channels, H, W); `forward` returns their raw outputs by name.

    Always "heatmap": (B, C, H, W) class logits (C = num_classes, no background). With box_head "center" (the
    reference): "size" (B, 2, H, W) box (w, h) and "offset" (B, 2, H, W) centre (dx, dy), in output-map pixels.
    With "ltrb" (TTFNet): "ltrb" (B, 4, H, W), read by `centernet.tensors.ltrb_distances` as the distances from
    the pixel's centre to the box's left, top, right and bottom edges in input pixels; with `dfl_bins` n > 0,
    (B, 4 (n + 1), H, W) logits of a distribution over n + 1 bins per distance.
    With task "exdet" (ExtremeNet; box_head and dfl_bins do not apply): "heatmap" (B, C, H, W) box-centre logits,
    "heatmap_top", "heatmap_left", "heatmap_bottom", "heatmap_right" (B, C, H, W) extreme-point logits, and
    "offset_top", ... (B, 2, H, W) each extreme point's sub-pixel (dx, dy) in output-map pixels.
    """

    def __init__(self, in_channels: int, num_classes: int, head_conv: int, box_head: str = "center",
                 dfl_bins: int = 0, task: str = "detect") -> None:
        if task == "exdet":
            outputs = {name: num_classes if name.startswith("heatmap") else 2 for name in EXDET_HEAD_NAMES}
        else:
            box_outputs = {"center": {"size": 2, "offset": 2}, "ltrb": {"ltrb": 4 * (dfl_bins + 1)}}[box_head]
            outputs = {"heatmap": num_classes, **box_outputs}
        super().__init__({name: _head(in_channels, head_conv, channels) for name, channels in outputs.items()})
        for name in outputs:
            if name.startswith("heatmap"):
                nn.init.constant_(self[name][-1].bias, -math.log((1 - HEATMAP_PRIOR) / HEATMAP_PRIOR))
                continue
            nn.init.normal_(self[name][-1].weight, std=0.001)
            nn.init.constant_(self[name][-1].bias, LTRB_INITIAL_BIAS if name == "ltrb" and dfl_bins == 0 else 0.0)

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, in_channels, H, W) features -> {name: (B, channels, H, W) float32 under autocast too}."""
        return {name: in_float32(head[-1], head[:-1](features)) for name, head in self.items()}
