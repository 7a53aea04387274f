"""Hourglass-104 (CornerNet / ExtremeNet / CenterNet's "large hourglass"): stacked hourglasses with intermediate
supervision, as the reference builds it.

A 7x7 stride-2 convolution (128 channels) and a stride-2 residual (256) bring the image to stride 4; then each of
`num_stacks` hourglasses (5 levels, channels [256, 256, 384, 384, 384, 512], residual modules per level
[2, 2, 2, 2, 2, 4], each level down by a stride-2 residual and up by nearest 2x upsampling, added to a skip branch)
is followed by a 3x3 convolution (256) whose output the heads read. Between stacks the input of the next
hourglass is ReLU(BN(1x1(previous input)) + BN(1x1(this stack's features))) through one more residual.

`forward` returns every stack's features: the heads are applied to each in training (intermediate supervision,
`centernet.model.build.CenterNet`), and to the last at inference.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

LARGE_DIMS = (256, 256, 384, 384, 384, 512)  # channels per hourglass level, outermost first
LARGE_MODULES = (2, 2, 2, 2, 2, 4)  # residual modules per level
FEATURE_CHANNELS = 256  # the reference's cnv_dim: what the heads read


class ConvBNReLU(nn.Sequential):
    """k x k convolution (no bias) -> BatchNorm -> ReLU: the reference's `convolution`."""

    def __init__(self, kernel: int, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__(nn.Conv2d(in_channels, out_channels, kernel, stride, (kernel - 1) // 2, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class Residual(nn.Module):
    """Two 3x3 conv-BN (ReLU between) plus a shortcut (1x1 conv-BN where the shape changes), then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False), nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False), nn.BatchNorm2d(out_channels))
        changes = stride != 1 or in_channels != out_channels
        self.skip = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                  nn.BatchNorm2d(out_channels)) if changes else nn.Identity()
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.skip(x))


def _residuals(in_channels: int, out_channels: int, count: int, stride: int = 1) -> nn.Sequential:
    """`count` residuals, the first one changing channels (and stride)."""
    return nn.Sequential(Residual(in_channels, out_channels, stride),
                         *(Residual(out_channels, out_channels) for _ in range(count - 1)))


def _residuals_reversed(in_channels: int, out_channels: int, count: int) -> nn.Sequential:
    """`count` residuals, the last one changing channels (the reference's make_layer_revr)."""
    return nn.Sequential(*(Residual(in_channels, in_channels) for _ in range(count - 1)),
                         Residual(in_channels, out_channels))


class Hourglass(nn.Module):
    """One hourglass level and, recursively, those below it: (B, dims[0], H, W) -> the same shape.

    skip branch: modules[0] residuals at dims[0]; down branch: a stride-2 residual to dims[1] and modules[0] - 1
    more, the next level (or modules[1] residuals at the innermost), modules[0] residuals back to dims[0], then
    nearest 2x upsampling; the two branches are added.
    """

    def __init__(self, dims: Sequence[int], modules: Sequence[int]) -> None:
        super().__init__()
        current, below = dims[0], dims[1]
        self.skip = _residuals(current, current, modules[0])
        self.down = _residuals(current, below, modules[0], stride=2)
        self.inner = Hourglass(dims[1:], modules[1:]) if len(dims) > 2 else _residuals(below, below, modules[1])
        self.up = _residuals_reversed(below, current, modules[0])
        self.upsample = nn.Upsample(scale_factor=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.upsample(self.up(self.inner(self.down(x))))


class HourglassBody(nn.Module):
    """Images (B, 3, H, W), normalised, H and W multiples of 4 -> a list of `num_stacks` feature maps
    (B, 256, H/4, W/4), one per stack, the last one deepest. The hourglass halves its input once per level, so
    images are zero-padded on the right and bottom to a multiple of 4 * 2^levels (128 for Hourglass-104) and the
    features cropped back (a 512x288 input runs at 512x384).

    `dims` and `modules` describe one hourglass (outermost level first); the defaults are Hourglass-104's.
    """

    out_channels = FEATURE_CHANNELS

    def __init__(self, num_stacks: int = 2, dims: Sequence[int] = LARGE_DIMS,
                 modules: Sequence[int] = LARGE_MODULES) -> None:
        super().__init__()
        if len(dims) != len(modules) or len(dims) < 2 or num_stacks < 1:
            raise ValueError(f"an hourglass needs as many dims as modules (>= 2) and a stack, got {dims}, {modules}")
        width = dims[0]
        self.num_stacks = num_stacks
        self.multiple = 4 * 2 ** (len(dims) - 1)
        self.stem = nn.Sequential(ConvBNReLU(7, 3, 128, stride=2), Residual(128, width, stride=2))
        self.hourglasses = nn.ModuleList(Hourglass(dims, modules) for _ in range(num_stacks))
        self.features = nn.ModuleList(ConvBNReLU(3, width, FEATURE_CHANNELS) for _ in range(num_stacks))
        self.inputs_ = nn.ModuleList(nn.Sequential(nn.Conv2d(width, width, 1, bias=False), nn.BatchNorm2d(width))
                                     for _ in range(num_stacks - 1))
        self.features_ = nn.ModuleList(nn.Sequential(nn.Conv2d(FEATURE_CHANNELS, width, 1, bias=False),
                                                     nn.BatchNorm2d(width)) for _ in range(num_stacks - 1))
        self.between = nn.ModuleList(Residual(width, width) for _ in range(num_stacks - 1))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        height, width = images.shape[-2:]
        padded = [-side % self.multiple for side in (width, height)]
        if any(padded):
            images = nn.functional.pad(images, (0, padded[0], 0, padded[1]))
        return [features[..., :height // 4, :width // 4] for features in self._stacks(images)]

    def _stacks(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(images)
        outputs = []
        for stack in range(self.num_stacks):
            features = self.features[stack](self.hourglasses[stack](x))
            outputs.append(features)
            if stack < self.num_stacks - 1:
                x = self.between[stack](self.relu(self.inputs_[stack](x) + self.features_[stack](features)))
        return outputs
