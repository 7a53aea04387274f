"""Modulated deformable convolution (DCNv2) on torchvision's kernel, and bilinear upsampling init."""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.ops import deform_conv2d

from centernet.device import in_float32


class ModulatedDeformConv2d(nn.Module):
    """DCNv2: a convolution sampling at learned offsets, each sample scaled by a learned mask in (0, 1).

    A plain convolution `offset_and_mask` (same kernel, stride, padding and dilation) predicts
    3 * kernel_size**2 channels from the input: first 2 * kernel_size**2 offsets as (dy, dx) pairs per
    kernel position in row-major order (torchvision's layout, also the original DCNv2's), then
    kernel_size**2 mask logits; mask = sigmoid(logits). `offset_and_mask` starts at zero (weight and bias),
    so at initialisation offsets are 0 and the mask is 0.5 everywhere, and since torchvision adds the bias
    after modulation the layer computes exactly

        output = 0.5 * conv2d(features, weight, bias=None) + bias.

    features: (B, in_channels, H, W) -> (B, out_channels, H_out, W_out) with H_out, W_out as for nn.Conv2d.
    Under autocast the layer runs in float32 and returns float32.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, *, stride: int = 1,
                 padding: int = 1, dilation: int = 1, bias: bool = True) -> None:
        super().__init__()
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.kernel_positions = kernel_size * kernel_size
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.offset_and_mask = nn.Conv2d(in_channels, 3 * self.kernel_positions, kernel_size, stride=stride,
                                         padding=padding, dilation=dilation, bias=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight uniform in +-1/sqrt(fan_in) (as DCNv2 and nn.Conv2d), bias 0, offsets and mask logits 0."""
        bound = 1.0 / math.sqrt(self.weight[0].numel())
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        nn.init.zeros_(self.offset_and_mask.weight)
        nn.init.zeros_(self.offset_and_mask.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # torchvision has no half or bfloat16 deform_conv2d kernel on every device, and sampling positions lose
        # precision in half; so under autocast the whole layer runs in float32 outside it.
        return in_float32(self._modulated_deform, features)

    def _modulated_deform(self, features: torch.Tensor) -> torch.Tensor:
        offsets, mask_logits = self.offset_and_mask(features).split(
            [2 * self.kernel_positions, self.kernel_positions], dim=1)
        return deform_conv2d(features, offsets, self.weight, self.bias, stride=self.stride, padding=self.padding,
                             dilation=self.dilation, mask=mask_logits.sigmoid())


def bilinear_kernel(size: int) -> torch.Tensor:
    """(size, size) bilinear interpolation weights for a transposed conv with stride ceil(size / 2)."""
    factor = math.ceil(size / 2)
    center = (2 * factor - 1 - factor % 2) / (2.0 * factor)
    profile = 1 - (torch.arange(size, dtype=torch.float64) / factor - center).abs()
    return (profile[:, None] * profile[None, :]).float()


@torch.no_grad()
def init_bilinear_upsample_(upsample: nn.ConvTranspose2d) -> None:
    """Make a square transposed conv (channels -> channels) an exact per-channel bilinear upsampler.

    Depthwise (groups = channels): every channel's kernel is the bilinear one, as the reference's
    fill_up_weights. Dense (groups = 1): the bilinear kernel on the diagonal and zeros elsewhere. The
    reference applies its depthwise routine to dense convs too, which writes the kernel into output
    channel 0 only and leaves the rest random: an accident we do not copy.
    """
    in_channels, out_per_group, height, width = upsample.weight.shape
    if height != width or in_channels != out_per_group * upsample.groups:
        raise ValueError(f"bilinear init needs square kernels and as many outputs as inputs, got "
                         f"weight {tuple(upsample.weight.shape)} with groups={upsample.groups}")
    kernel = bilinear_kernel(height).to(upsample.weight)
    if upsample.groups == in_channels:
        upsample.weight.copy_(kernel.expand_as(upsample.weight))
    elif upsample.groups == 1:
        upsample.weight.zero_()
        upsample.weight[range(in_channels), range(in_channels)] = kernel
    else:
        raise ValueError(f"bilinear init supports groups 1 or {in_channels}, got {upsample.groups}")
    if upsample.bias is not None:
        upsample.bias.zero_()
