"""Boxes -> CenterNet training targets: Gaussian heatmap, size, offset, index and mask.

Two encoders give identical results: `encode_targets` (numpy, one image, for the data loader, tests and
tools) and `encode_targets_batched` (torch, a padded batch on the training device). Both follow the
reference exactly (radius, sigma = (2r + 1) / 6, element-wise max, clipping at the map border) and fix its
two defects: crowd boxes never reach them (the dataset drops them), and when several objects share one peak
pixel only the largest keeps its size and offset slot, because the size and offset heads are class-agnostic
and can hold one box per pixel.
"""

from __future__ import annotations

import numpy as np
import torch

from centernet.config import STRIDE
from centernet.structures import Targets


def gaussian_radius(height, width, min_overlap: float = 0.7):
    """The reference's (CornerNet's) Gaussian radius for a box of `height` x `width` output pixels.

    Works on Python floats, numpy arrays and tensors alike. Known not to be the exact geometric radius;
    trained models depend on it, so it is kept as is. E.g. (10, 10) -> 2.7332, (32, 64) -> 11.7694.
    """
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + (b1**2 - 4 * c1) ** 0.5) / 2
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + (b2**2 - 16 * c2) ** 0.5) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + (b3**2 - 4 * a3 * c3) ** 0.5) / 2
    if isinstance(r1, torch.Tensor):
        return torch.minimum(torch.minimum(r1, r2), r3)
    if isinstance(r1, np.ndarray):
        return np.minimum(np.minimum(r1, r2), r3)
    return min(r1, r2, r3)


def gaussian_kernel(radius: int) -> np.ndarray:
    """(2r+1, 2r+1) float32 Gaussian with sigma = (2r + 1) / 6 and peak 1 at the centre."""
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    sigma = (2 * radius + 1) / 6
    kernel = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * sigma * sigma))
    kernel[kernel < np.finfo(kernel.dtype).eps * kernel.max()] = 0
    return kernel.astype(np.float32)


def draw_gaussian(heatmap: np.ndarray, center: tuple[int, int], radius: int) -> np.ndarray:
    """Splat a Gaussian of `radius` at integer `center` (x, y) into `heatmap` (H, W) by element-wise max.

    The window is clipped at the map border. Modifies `heatmap` in place and returns it.
    """
    x, y = int(center[0]), int(center[1])
    height, width = heatmap.shape
    left, right = min(x, radius), min(width - x, radius + 1)
    top, bottom = min(y, radius), min(height - y, radius + 1)
    if left + right <= 0 or top + bottom <= 0:
        return heatmap
    window = heatmap[y - top:y + bottom, x - left:x + right]
    kernel = gaussian_kernel(radius)[radius - top:radius + bottom, radius - left:radius + right]
    np.maximum(window, kernel, out=window)
    return heatmap


def _keep_largest_per_peak(index, area, valid, xp):
    """(..., M) bool: valid objects not beaten at their peak by a larger one (earlier wins ties)."""
    slots = np.arange(index.shape[-1]) if xp is np else torch.arange(index.shape[-1], device=index.device)
    same_peak = (index[..., :, None] == index[..., None, :]) & valid[..., None, :]
    beats = (area[..., None, :] > area[..., :, None]) | (
        (area[..., None, :] == area[..., :, None]) & (slots[None, :] < slots[:, None]))
    return valid & ~(same_peak & beats).any(-1)


def _box_geometry(boxes_xyxy, valid, output_size, stride, xp):
    """Clip boxes to the output map and derive size, centre, integer peak, radius and validity."""
    height, width = output_size
    boxes = boxes_xyxy / stride
    x1, x2 = (boxes[..., i].clip(0, width - 1) for i in (0, 2))
    y1, y2 = (boxes[..., i].clip(0, height - 1) for i in (1, 3))
    box_w, box_h = x2 - x1, y2 - y1
    valid = valid & (box_w > 0) & (box_h > 0)
    center = xp.stack([(x1 + x2) / 2, (y1 + y2) / 2], -1)
    peak = center.astype(np.int64) if xp is np else center.long()
    ceil_h, ceil_w = (xp.ceil(v).astype(np.float64) if xp is np else xp.ceil(v).double() for v in (box_h, box_w))
    radius = gaussian_radius(ceil_h, ceil_w).clip(0, None)
    radius = radius.astype(np.int64) if xp is np else radius.long()
    size = xp.stack([box_w, box_h], -1)
    return size, center, peak, radius, valid


def encode_targets(boxes_xyxy: np.ndarray, classes: np.ndarray, num_classes: int, output_size: tuple[int, int],
                   stride: int = STRIDE, max_objects: int = 128) -> Targets[np.ndarray]:
    """Encode one image's boxes (N, 4) x1, y1, x2, y2 in input pixels and classes (N,) in [0, C).

    Returns numpy `Targets`: heatmap (C, H, W) with (H, W) = `output_size`, and (M,) slots with
    M = `max_objects`; objects past M are dropped, slots without an object are all zero.
    """
    boxes = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)[:max_objects]
    labels = np.asarray(classes, dtype=np.int64).reshape(-1)[:max_objects]
    count = len(boxes)
    heatmap = np.zeros((num_classes, *output_size), dtype=np.float32)
    size, center, peak, radius, valid = _box_geometry(boxes, np.ones(count, bool), output_size, stride, np)
    index = peak[:, 1] * output_size[1] + peak[:, 0]
    _splat(heatmap, labels[valid], peak[valid], radius[valid])
    mask = _keep_largest_per_peak(index, size[:, 0] * size[:, 1], valid, np)
    targets = Targets(heatmap=heatmap, size=np.zeros((max_objects, 2), np.float32),
                      offset=np.zeros((max_objects, 2), np.float32), index=np.zeros(max_objects, np.int64),
                      mask=np.zeros(max_objects, np.float32))
    targets.size[:count] = size * mask[:, None]
    targets.offset[:count] = (center - peak) * mask[:, None]
    targets.index[:count] = index * mask
    targets.mask[:count] = mask
    return targets


def _window_elements(peak, radius):
    """Every pixel of every object's (2r+1)^2 window, without padding or a loop over objects.

    peak (N, 2) int x, y and radius (N,) int, numpy or torch. Returns (owner, x, y, values): the object
    each element belongs to, its pixel, and its Gaussian value (float32, computed in float64 as the
    reference's per-object kernel is).
    """
    is_numpy = isinstance(radius, np.ndarray)
    side = 2 * radius + 1
    counts = side * side
    if is_numpy:
        owner = np.repeat(np.arange(len(radius)), counts)
        local = np.arange(len(owner))
    else:
        owner = torch.repeat_interleave(torch.arange(len(radius), device=radius.device), counts)
        local = torch.arange(len(owner), device=radius.device)
    local = local - (counts.cumsum(0) - counts)[owner]
    side, reach = side[owner], radius[owner]
    dx, dy = local % side - reach, local // side - reach
    squared, diameter = dx * dx + dy * dy, 2 * reach + 1
    if is_numpy:
        squared, diameter = squared.astype(np.float64), diameter.astype(np.float64)
    else:
        squared, diameter = squared.double(), diameter.double()
    sigma = diameter / 6
    values = (-squared / (2 * sigma * sigma)).exp() if not is_numpy else np.exp(-squared / (2 * sigma * sigma))
    values = values.astype(np.float32) if is_numpy else values.float()
    return owner, peak[owner, 0] + dx, peak[owner, 1] + dy, values


def _splat(heatmap, channel, peak, radius) -> None:
    """Vectorised `draw_gaussian` for many objects: one scatter-max into heatmap (K, H, W).

    channel (N,) selects each object's plane; numpy or torch alike.
    """
    if len(radius) == 0:
        return
    _, height, width = heatmap.shape
    owner, x, y, values = _window_elements(peak, radius)
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    flat = ((channel[owner] * height + y) * width + x)[inside]
    if isinstance(heatmap, np.ndarray):
        np.maximum.at(heatmap.reshape(-1), flat, values[inside])
    else:
        heatmap.view(-1).scatter_reduce_(0, flat, values[inside], reduce="amax")


def encode_targets_batched(boxes_xyxy: torch.Tensor, classes: torch.Tensor, valid: torch.Tensor, num_classes: int,
                           output_size: tuple[int, int], stride: int = STRIDE) -> Targets[torch.Tensor]:
    """Encode a padded batch on its own device: boxes (B, M, 4) input pixels, classes (B, M), valid (B, M).

    Returns torch `Targets` with a leading batch axis, equal to `encode_targets` applied image by image.
    """
    batch, slots = classes.shape
    height, width = output_size
    size, center, peak, radius, valid = _box_geometry(boxes_xyxy.float(), valid.bool(), output_size, stride, torch)
    index = peak[..., 1] * width + peak[..., 0]
    heatmap = torch.zeros(batch, num_classes, height, width, device=boxes_xyxy.device)
    image, slot = valid.nonzero(as_tuple=True)
    channel = image * num_classes + classes.long()[image, slot]
    _splat(heatmap.view(-1, height, width), channel, peak[image, slot], radius[image, slot])
    mask = _keep_largest_per_peak(index, size[..., 0] * size[..., 1], valid, torch).float()
    return Targets(heatmap=heatmap, size=size * mask[..., None], offset=(center - peak) * mask[..., None],
                   index=index * mask.long(), mask=mask)
