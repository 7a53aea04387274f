"""Reference-style formulations, kept as baselines that tests compare against and benchmarks time.

They restate how the original CenterNet computes targets and the heatmap loss (a Python loop over objects;
sigmoid, clamp, then masked pow/log). Training never uses them.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from centernet.targets import gaussian_radius


def reference_gaussian_2d(diameter: int, sigma: float) -> np.ndarray:
    radius = (diameter - 1.0) / 2.0
    y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    kernel = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    kernel[kernel < np.finfo(kernel.dtype).eps * kernel.max()] = 0
    return kernel


def reference_draw_gaussian(heatmap: np.ndarray, center, radius: int) -> None:
    diameter = 2 * radius + 1
    kernel = reference_gaussian_2d(diameter, sigma=diameter / 6)
    x, y = int(center[0]), int(center[1])
    height, width = heatmap.shape[0:2]
    left, right = min(x, radius), min(width - x, radius + 1)
    top, bottom = min(y, radius), min(height - y, radius + 1)
    window = heatmap[y - top:y + bottom, x - left:x + right]
    kernel = kernel[radius - top:radius + bottom, radius - left:radius + right]
    if min(kernel.shape) > 0 and min(window.shape) > 0:
        np.maximum(window, kernel, out=window)


def reference_encode(boxes_xyxy: np.ndarray, classes: np.ndarray, num_classes: int, output_size, stride: int = 4,
                     max_objects: int = 128) -> dict[str, np.ndarray]:
    """The original per-object loop (ctdet.py), without its duplicate-peak fix: every valid box is masked in."""
    height, width = output_size
    heatmap = np.zeros((num_classes, height, width), dtype=np.float32)
    size = np.zeros((max_objects, 2), dtype=np.float32)
    offset = np.zeros((max_objects, 2), dtype=np.float32)
    index = np.zeros(max_objects, dtype=np.int64)
    mask = np.zeros(max_objects, dtype=np.uint8)
    for k in range(min(len(boxes_xyxy), max_objects)):
        box = np.array(boxes_xyxy[k], dtype=np.float32) / stride
        box[[0, 2]] = np.clip(box[[0, 2]], 0, width - 1)
        box[[1, 3]] = np.clip(box[[1, 3]], 0, height - 1)
        box_h, box_w = box[3] - box[1], box[2] - box[0]
        if box_h > 0 and box_w > 0:
            radius = max(0, int(gaussian_radius(math.ceil(box_h), math.ceil(box_w))))
            center = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], dtype=np.float32)
            peak = center.astype(np.int32)
            reference_draw_gaussian(heatmap[int(classes[k])], peak, radius)
            size[k] = 1.0 * box_w, 1.0 * box_h
            index[k] = peak[1] * width + peak[0]
            offset[k] = center - peak
            mask[k] = 1
    return {"heatmap": heatmap, "size": size, "offset": offset, "index": index, "mask": mask}


def reference_focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The reference heatmap loss: sigmoid, clamp to [1e-4, 1 - 1e-4], then the masked pow/log expression."""
    pred = logits.sigmoid().clamp(1e-4, 1 - 1e-4)
    positive = target.eq(1).float()
    negative = target.lt(1).float()
    negative_weights = torch.pow(1 - target, 4)
    positive_loss = (torch.log(pred) * torch.pow(1 - pred, 2) * positive).sum()
    negative_loss = (torch.log(1 - pred) * torch.pow(pred, 2) * negative_weights * negative).sum()
    num_positive = positive.sum()
    if num_positive == 0:
        return -negative_loss
    return -(positive_loss + negative_loss) / num_positive
