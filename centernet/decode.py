"""Head outputs -> detections: 3x3 max-pool peaks, top-K over classes and pixels, boxes from the box head; the
detections of several test scales merged by class-wise NMS."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import batched_nms

from centernet.config import STRIDE
from centernet.structures import Detections, apply_affine
from centernet.tensors import gather_pixels, ltrb_distances, pixel_centres


def peak_mask(heatmap: torch.Tensor, kernel: int = 3) -> torch.Tensor:
    """heatmap (B, C, H, W) with only the pixels equal to their kernel x kernel neighbourhood max kept."""
    pooled = F.max_pool2d(heatmap, kernel, stride=1, padding=(kernel - 1) // 2)
    return heatmap * (pooled == heatmap).to(heatmap.dtype)


def top_peaks(heatmap: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The k best peaks over all classes and pixels of heatmap (B, C, H, W) probabilities.

    Returns (scores (B, k'), classes (B, k') int64, pixel (B, k') int64 = y * W + x), k' = min(k, C * H * W),
    sorted by score.
    """
    batch, num_classes, height, width = heatmap.shape
    scores, flat = peak_mask(heatmap).reshape(batch, -1).topk(min(k, num_classes * height * width))
    classes = torch.div(flat, height * width, rounding_mode="floor")
    return scores, classes, flat - classes * (height * width)


def _rows(x1, y1, x2, y2, scores, classes) -> torch.Tensor:
    return torch.stack([x1, y1, x2, y2, scores.float(), classes.float()], dim=-1)


def decode(heatmap: torch.Tensor, size: torch.Tensor, offset: torch.Tensor | None, k: int = 100) -> torch.Tensor:
    """The center head's top-k boxes per image.

    heatmap: (B, C, H, W) probabilities (after sigmoid); size: (B, 2, H, W) as (w, h) in output pixels;
    offset: (B, 2, H, W) as (dx, dy), or None to place centres at pixel centres (+0.5).
    Returns (B, k', 6) float rows (x1, y1, x2, y2, score, class) in output-map pixels, sorted by score,
    with k' = min(k, C * H * W).
    """
    width = heatmap.shape[-1]
    scores, classes, pixel = top_peaks(heatmap, k)
    y = torch.div(pixel, width, rounding_mode="floor")
    x = pixel - y * width
    box_size = gather_pixels(size, pixel).float()
    if offset is None:
        center_x, center_y = x.float() + 0.5, y.float() + 0.5
    else:
        shift = gather_pixels(offset, pixel).float()
        center_x, center_y = x.float() + shift[..., 0], y.float() + shift[..., 1]
    half_w, half_h = box_size[..., 0] / 2, box_size[..., 1] / 2
    return _rows(center_x - half_w, center_y - half_h, center_x + half_w, center_y + half_h, scores, classes)


def decode_ltrb(heatmap: torch.Tensor, distances: torch.Tensor, k: int = 100, stride: int = STRIDE) -> torch.Tensor:
    """The ltrb head's top-k boxes per image: each peak's pixel centre minus (left, top), plus (right, bottom).

    heatmap: (B, C, H, W) probabilities; distances: (B, 4, H, W) left, top, right, bottom in input pixels
    (`ltrb_distances`). Returns (B, k', 6) rows as `decode`, in output-map pixels.
    """
    width = heatmap.shape[-1]
    scores, classes, pixel = top_peaks(heatmap, k)
    centres = pixel_centres(pixel, width, stride)  # (B, k', 2) input pixels
    edges = gather_pixels(distances, pixel).float()  # (B, k', 4)
    boxes = torch.cat([centres - edges[..., :2], centres + edges[..., 2:]], dim=-1) / stride
    return _rows(*boxes.unbind(-1), scores, classes)


def decode_outputs(maps: dict[str, torch.Tensor], k: int, dfl_bins: int = 0, flip_test: bool = False) -> torch.Tensor:
    """Raw head outputs (logits; the box head told by their names) -> (B, k', 6) rows as `decode`.

    With `flip_test` the maps are (2B, ...), the images then their mirror images, merged by `merge_flip` or
    `merge_flip_ltrb` first.
    """
    heatmap = maps["heatmap"].float().sigmoid()
    if "ltrb" in maps:
        distances = ltrb_distances(maps["ltrb"], dfl_bins)
        if flip_test:
            heatmap, distances = merge_flip_ltrb(heatmap, distances)
        return decode_ltrb(heatmap, distances, k)
    size, offset = maps["size"], maps["offset"]
    if flip_test:
        heatmap, size, offset = merge_flip(heatmap, size, offset)
    return decode(heatmap, size, offset, k)


def merge_flip(heatmap: torch.Tensor, size: torch.Tensor, offset: torch.Tensor | None):
    """Flip test: outputs for [images; mirrored images] (2B, ...) -> averaged (B, ...).

    The heatmap (probabilities) and size are averaged with the mirror's flipped back; the offset comes
    from the original images only, as in the reference.
    """
    half = heatmap.shape[0] // 2
    heatmap = (heatmap[:half] + heatmap[half:].flip(-1)) / 2
    size = (size[:half] + size[half:].flip(-1)) / 2
    return heatmap, size, None if offset is None else offset[:half]


def merge_flip_ltrb(heatmap: torch.Tensor, distances: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip test for the ltrb head: [images; mirrored images] (2B, ...) -> averaged (B, ...).

    The mirror's maps are flipped back, and its left and right distances swapped (a mirror's left edge is the
    image's right one), before averaging with the image's: heatmap (2B, C, H, W), distances (2B, 4, H, W).
    """
    half = heatmap.shape[0] // 2
    mirrored = distances[half:].flip(-1)[:, [2, 1, 0, 3]]
    return (heatmap[:half] + heatmap[half:].flip(-1)) / 2, (distances[:half] + mirrored) / 2


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


def merge_detections(found: Sequence[Detections], iou_threshold: float, top_k: int) -> Detections:
    """One image's detections from several test scales (or any sources) merged into one `Detections`.

    All boxes (x1, y1, x2, y2, in one frame, e.g. original pixels) go through class-wise NMS
    (`torchvision.ops.batched_nms`): of two boxes of the same class overlapping with IoU above `iou_threshold`
    only the higher-scoring one stays, boxes of different classes never suppress each other. The `top_k` best
    are kept, sorted by score. (The reference merges its scales with Soft-NMS, which decays scores one
    selected box after another; that sequential loop has no batched torchvision operator, so hard NMS it is.)
    """
    boxes = torch.from_numpy(np.concatenate([item.boxes_xyxy for item in found]).astype(np.float32))
    scores = torch.from_numpy(np.concatenate([item.scores for item in found]).astype(np.float32))
    classes = torch.from_numpy(np.concatenate([item.classes for item in found]).astype(np.int64))
    keep = batched_nms(boxes, scores, classes, iou_threshold)[:top_k].numpy()  # sorted by decreasing score
    return Detections(boxes.numpy()[keep].reshape(-1, 4), scores.numpy()[keep], classes.numpy()[keep])
