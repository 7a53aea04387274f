"""Head outputs -> detections: 3x3 max-pool peaks, top-K over classes and pixels, boxes from size/offset."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from centernet.config import STRIDE
from centernet.structures import apply_affine
from centernet.tensors import gather_pixels


def peak_mask(heatmap: torch.Tensor, kernel: int = 3) -> torch.Tensor:
    """heatmap (B, C, H, W) with only the pixels equal to their kernel x kernel neighbourhood max kept."""
    pooled = F.max_pool2d(heatmap, kernel, stride=1, padding=(kernel - 1) // 2)
    return heatmap * (pooled == heatmap).to(heatmap.dtype)


def decode(heatmap: torch.Tensor, size: torch.Tensor, offset: torch.Tensor | None, k: int = 100) -> torch.Tensor:
    """Turn probabilities into the top-k boxes per image.

    heatmap: (B, C, H, W) probabilities (after sigmoid); size: (B, 2, H, W) as (w, h) in output pixels;
    offset: (B, 2, H, W) as (dx, dy), or None to place centres at pixel centres (+0.5).
    Returns (B, k', 6) float rows (x1, y1, x2, y2, score, class) in output-map pixels, sorted by score,
    with k' = min(k, C * H * W).
    """
    batch, num_classes, height, width = heatmap.shape
    k = min(k, num_classes * height * width)
    scores, flat = peak_mask(heatmap).reshape(batch, -1).topk(k)
    classes = torch.div(flat, height * width, rounding_mode="floor")
    pixel = flat - classes * (height * width)
    y = torch.div(pixel, width, rounding_mode="floor")
    x = pixel - y * width
    box_size = gather_pixels(size, pixel).float()
    if offset is None:
        center_x, center_y = x.float() + 0.5, y.float() + 0.5
    else:
        shift = gather_pixels(offset, pixel).float()
        center_x, center_y = x.float() + shift[..., 0], y.float() + shift[..., 1]
    half_w, half_h = box_size[..., 0] / 2, box_size[..., 1] / 2
    return torch.stack([center_x - half_w, center_y - half_h, center_x + half_w, center_y + half_h,
                        scores.float(), classes.float()], dim=-1)


def merge_flip(heatmap: torch.Tensor, size: torch.Tensor, offset: torch.Tensor | None):
    """Flip test: outputs for [images; mirrored images] (2B, ...) -> averaged (B, ...).

    The heatmap (probabilities) and size are averaged with the mirror's flipped back; the offset comes
    from the original images only, as in the reference.
    """
    half = heatmap.shape[0] // 2
    heatmap = (heatmap[:half] + heatmap[half:].flip(-1)) / 2
    size = (size[:half] + size[half:].flip(-1)) / 2
    return heatmap, size, None if offset is None else offset[:half]


def to_image_coordinates(detections: torch.Tensor, inverse_affine: torch.Tensor, stride: int = STRIDE,
                         image_sizes: torch.Tensor | None = None) -> torch.Tensor:
    """Map (B, K, 6) detections from output-map pixels to original image pixels.

    inverse_affine: (B, 2, 3) maps input pixels to original pixels (no rotation, so corners map to corners).
    image_sizes: optional (B, 2) original (width, height) to clip the boxes to.
    """
    corners = detections[..., :4].reshape(detections.shape[0], -1, 2) * stride
    boxes = apply_affine(corners, inverse_affine.to(corners)).reshape(*detections.shape[:2], 4)
    if image_sizes is not None:
        limits = image_sizes.to(boxes).repeat(1, 2)[:, None, :]
        boxes = torch.minimum(boxes.clamp(min=0), limits)
    return torch.cat([boxes, detections[..., 4:]], dim=-1)
