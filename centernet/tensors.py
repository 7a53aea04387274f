"""Tensor helpers shared by the losses and the decoder (which must not import each other)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

LTRB_SCALE = 16.0  # TTFNet: an ltrb head's distance is ReLU(output) * 16 input pixels
DFL_BIN_WIDTH = 8.0  # input pixels between two bins of a distance distribution: n bins reach 8 n pixels


def gather_pixels(feature_map: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Pick pixels from feature_map (B, D, H, W) at flat index (B, M) = y * W + x -> (B, M, D)."""
    batch, channels = feature_map.shape[:2]
    flat = feature_map.reshape(batch, channels, -1)
    return flat.gather(2, index.unsqueeze(1).expand(-1, channels, -1)).transpose(1, 2)


def ltrb_distances(raw: torch.Tensor, dfl_bins: int = 0) -> torch.Tensor:
    """An ltrb head's output -> distances (left, top, right, bottom) in input pixels, >= 0, channels on dim 1.

    raw: (N, 4, ...), read as ReLU(x) * LTRB_SCALE; or with dfl_bins n > 0, (N, 4 (n + 1), ...) logits over the
    bins 0, 1, ..., n of each distance, read as the expected bin (the integral of GFL) * DFL_BIN_WIDTH.
    Returns (N, 4, ...) float32.
    """
    if dfl_bins == 0:
        return F.relu(raw.float()) * LTRB_SCALE
    probabilities = raw.float().unflatten(1, (4, dfl_bins + 1)).softmax(dim=2)  # (N, 4, n + 1, ...)
    bins = torch.arange(dfl_bins + 1, device=raw.device, dtype=torch.float32)
    return (probabilities * bins.view(1, 1, -1, *[1] * (raw.dim() - 2))).sum(dim=2) * DFL_BIN_WIDTH


def pixel_centres(index: torch.Tensor, width: int, stride: int) -> torch.Tensor:
    """(..., 2) x, y in input pixels of the centres of output pixels at flat index (...) = y * W + x."""
    y = torch.div(index, width, rounding_mode="floor")
    return torch.stack([index - y * width, y], dim=-1).float().add(0.5).mul(stride)


def paired_box_iou(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """(N,) IoU of the pairs of boxes (N, 4) and (N, 4), x1, y1, x2, y2 (torchvision's box_iou is all pairs, N x N);
    0 where both are empty."""
    top_left, bottom_right = torch.maximum(first[:, :2], second[:, :2]), torch.minimum(first[:, 2:], second[:, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(dim=1)
    area = lambda boxes: (boxes[:, 2:] - boxes[:, :2]).clamp(min=0).prod(dim=1)  # noqa: E731
    return inter / (area(first) + area(second) - inter).clamp(min=1e-6)
