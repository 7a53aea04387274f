"""Boxes -> CenterNet training targets: Gaussian heatmap, size, offset, index and mask.

Two encoders give identical results: `encode_targets` (numpy, one image, for the data loader, tests and
tools) and `encode_targets_batched` (torch, a padded batch on the training device). Both follow the
reference exactly (radius, sigma = (2r + 1) / 6, element-wise max, clipping at the map border) and fix its
two defects: crowd boxes never reach them (the dataset drops them), and when several objects share one peak
pixel only the largest keeps its size and offset slot, because the size and offset heads are class-agnostic
and can hold one box per pixel.
"""

from __future__ import annotations

import functools

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


@functools.cache
def _cached_kernel(radius: int) -> np.ndarray:
    """`gaussian_kernel(radius)`, computed once per radius; read-only, since every caller shares it."""
    kernel = gaussian_kernel(radius)
    kernel.flags.writeable = False
    return kernel


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
    kernel = _cached_kernel(radius)[radius - top:radius + bottom, radius - left:radius + right]
    np.maximum(window, kernel, out=window)
    return heatmap


def _keep_largest_per_peak(index, area, valid, xp):
    """(..., M) bool: valid objects not beaten at their peak by a larger one (earlier wins ties)."""
    slots = np.arange(index.shape[-1]) if xp is np else torch.arange(index.shape[-1], device=index.device)
    same_peak = (index[..., :, None] == index[..., None, :]) & valid[..., None, :]
    beats = (area[..., None, :] > area[..., :, None]) | (
        (area[..., None, :] == area[..., :, None]) & (slots[None, :] < slots[:, None]))
    return valid & ~(same_peak & beats).any(-1)


def _box_geometry(boxes_xyxy: torch.Tensor, valid: torch.Tensor, output_size: tuple[int, int], stride: int):
    """Clip boxes (..., 4) to the output map and derive size, centre, integer peak, radius and validity."""
    height, width = output_size
    boxes = boxes_xyxy / stride
    x1, x2 = (boxes[..., i].clip(0, width - 1) for i in (0, 2))
    y1, y2 = (boxes[..., i].clip(0, height - 1) for i in (1, 3))
    box_w, box_h = x2 - x1, y2 - y1
    valid = valid & (box_w > 0) & (box_h > 0)
    center = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2], -1)
    radius = gaussian_radius(box_h.ceil().double(), box_w.ceil().double()).clip(0, None).long()
    return torch.stack([box_w, box_h], -1), center, center.long(), radius, valid


@functools.lru_cache(maxsize=8)
def _radius_table(height: int, width: int) -> np.ndarray:
    """(H, W) int64: the clipped integer radius of a box of ceil-size (h, w), for every box an H x W map holds.

    The radius depends only on the integers ceil(h) and ceil(w), so one table per map size, computed by the
    same float64 expression, replaces some 25 array operations per image.
    """
    heights = np.arange(height, dtype=np.float64)[:, None]
    widths = np.arange(width, dtype=np.float64)[None, :]
    table = gaussian_radius(heights, widths).clip(0, None).astype(np.int64)
    table.flags.writeable = False
    return table


def _box_geometry_numpy(boxes_xyxy: np.ndarray, output_size: tuple[int, int], stride: int):
    """`_box_geometry` for one image's (N, 4) float32 boxes: the same arithmetic in fewer numpy calls."""
    height, width = output_size
    upper = np.array([width - 1, height - 1, width - 1, height - 1], dtype=np.float32)
    boxes = np.minimum(np.maximum(boxes_xyxy / stride, 0), upper)
    size = boxes[:, 2:] - boxes[:, :2]  # (w, h)
    valid = (size > 0).all(1)
    center = (boxes[:, :2] + boxes[:, 2:]) / 2
    ceil_size = np.ceil(size).astype(np.int64).clip(0, None)  # invalid boxes look up row or column 0
    radius = _radius_table(height, width)[ceil_size[:, 1], ceil_size[:, 0]]
    return size, center, center.astype(np.int64), radius, valid


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
    size, center, peak, radius, valid = _box_geometry_numpy(boxes, output_size, stride)
    index = peak[:, 1] * output_size[1] + peak[:, 0]
    _splat_numpy(heatmap, labels[valid], peak[valid], radius[valid])
    mask = _keep_largest_per_peak(index, size[:, 0] * size[:, 1], valid, np)
    targets = Targets(heatmap=heatmap, size=np.zeros((max_objects, 2), np.float32),
                      offset=np.zeros((max_objects, 2), np.float32), index=np.zeros(max_objects, np.int64),
                      mask=np.zeros(max_objects, np.float32))
    targets.size[:count] = size * mask[:, None]
    targets.offset[:count] = (center - peak) * mask[:, None]
    targets.index[:count] = index * mask
    targets.mask[:count] = mask
    return targets


def _splat_numpy(heatmap: np.ndarray, channel: np.ndarray, peak: np.ndarray, radius: np.ndarray) -> None:
    """`draw_gaussian` for many objects into heatmap (K, H, W); channel (N,) picks each object's plane.

    peak (N, 2) int x, y inside the map, radius (N,) int. One slice and one in-place max per object with a
    cached kernel: at tens of objects an image this beats generating every window element and scatter-maxing.
    """
    _, height, width = heatmap.shape
    x, y = peak[:, 0], peak[:, 1]
    left, right = np.maximum(x - radius, 0), np.minimum(x + radius + 1, width)
    top, bottom = np.maximum(y - radius, 0), np.minimum(y + radius + 1, height)
    shift_x, shift_y = radius - x, radius - y  # map pixel + shift = kernel pixel
    columns = (channel, radius, left, right, top, bottom, shift_x, shift_y)
    for plane, reach, x0, x1, y0, y1, dx, dy in zip(*(column.tolist() for column in columns), strict=True):
        window = heatmap[plane, y0:y1, x0:x1]
        np.maximum(window, _cached_kernel(reach)[y0 + dy:y1 + dy, x0 + dx:x1 + dx], out=window)


def _window_elements(peak: torch.Tensor, radius: torch.Tensor):
    """Every pixel of every object's (2r+1)^2 window, without padding or a loop over objects.

    peak (N, 2) int x, y and radius (N,) int. Returns (owner, x, y, values): the object each element
    belongs to, its pixel, and its Gaussian value (float32, computed in float64 as the reference's
    per-object kernel is).
    """
    side = 2 * radius + 1
    counts = side * side
    owner = torch.repeat_interleave(torch.arange(len(radius), device=radius.device), counts)
    local = torch.arange(len(owner), device=radius.device)
    local = local - (counts.cumsum(0) - counts)[owner]
    side, reach = side[owner], radius[owner]
    dx, dy = local % side - reach, local // side - reach
    squared, diameter = (dx * dx + dy * dy).double(), (2 * reach + 1).double()
    sigma = diameter / 6
    values = (-squared / (2 * sigma * sigma)).exp().float()
    return owner, peak[owner, 0] + dx, peak[owner, 1] + dy, values


def _splat(heatmap: torch.Tensor, channel: torch.Tensor, peak: torch.Tensor, radius: torch.Tensor) -> None:
    """Vectorised `draw_gaussian` for many objects: one scatter-max into heatmap (K, H, W).

    channel (N,) selects each object's plane.
    """
    if len(radius) == 0:
        return
    _, height, width = heatmap.shape
    owner, x, y, values = _window_elements(peak, radius)
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    flat = ((channel[owner] * height + y) * width + x)[inside]
    heatmap.view(-1).scatter_reduce_(0, flat, values[inside], reduce="amax")


def crowd_ignore_mask(boxes_xyxy: torch.Tensor, classes: torch.Tensor, crowd: torch.Tensor, num_classes: int,
                      output_size: tuple[int, int], stride: int = STRIDE) -> torch.Tensor:
    """(B, C, H, W) bool: the output pixels that overlap a crowd region, in that region's class channel.

    boxes_xyxy (B, M, 4) in input pixels, classes (B, M), crowd (B, M) bool. Output pixel (x, y) covers
    [x, x + 1) x [y, y + 1) of the map; it is ignored when that square overlaps the box / stride.
    """
    batch, height, width = classes.shape[0], *output_size
    ignore = torch.zeros(batch * num_classes, height, width, dtype=torch.bool, device=boxes_xyxy.device)
    image, slot = crowd.nonzero(as_tuple=True)
    if len(image) == 0:
        return ignore.view(batch, num_classes, height, width)
    boxes = boxes_xyxy[image, slot].float() / stride  # (N, 4) crowd boxes in output pixels
    columns = torch.arange(width, device=boxes.device)
    rows = torch.arange(height, device=boxes.device)
    inside_x = (columns[None] + 1 > boxes[:, :1]) & (columns[None] < boxes[:, 2:3])  # (N, W)
    inside_y = (rows[None] + 1 > boxes[:, 1:2]) & (rows[None] < boxes[:, 3:4])  # (N, H)
    owner, y, x = (inside_y[:, :, None] & inside_x[:, None, :]).nonzero(as_tuple=True)  # pixels of (N, H, W)
    planes = image * num_classes + classes[image, slot].long()
    ignore[planes[owner], y, x] = True  # regions sharing a pixel all write True: no accumulation needed
    return ignore.view(batch, num_classes, height, width)


def encode_targets_batched(boxes_xyxy: torch.Tensor, classes: torch.Tensor, valid: torch.Tensor, num_classes: int,
                           output_size: tuple[int, int], stride: int = STRIDE,
                           crowd: torch.Tensor | None = None) -> Targets[torch.Tensor]:
    """Encode a padded batch on its own device: boxes (B, M, 4) input pixels, classes (B, M), valid (B, M).

    Returns torch `Targets` with a leading batch axis, equal to `encode_targets` applied image by image.
    crowd (B, M) bool, optional: crowd regions, which become `Targets.ignore` (pixels overlapping them in their
    class channel, minus real objects' peaks, which stay positive); without any, `ignore` is None.
    """
    batch, slots = classes.shape
    height, width = output_size
    size, center, peak, radius, valid = _box_geometry(boxes_xyxy.float(), valid.bool(), output_size, stride)
    index = peak[..., 1] * width + peak[..., 0]
    heatmap = torch.zeros(batch, num_classes, height, width, device=boxes_xyxy.device)
    image, slot = valid.nonzero(as_tuple=True)
    channel = image * num_classes + classes.long()[image, slot]
    _splat(heatmap.view(-1, height, width), channel, peak[image, slot], radius[image, slot])
    mask = _keep_largest_per_peak(index, size[..., 0] * size[..., 1], valid, torch).float()
    ignore = None
    if crowd is not None and bool(crowd.any()):
        ignore = crowd_ignore_mask(boxes_xyxy, classes, crowd.bool(), num_classes, output_size, stride)
        ignore &= heatmap != 1
    return Targets(heatmap=heatmap, size=size * mask[..., None], offset=(center - peak) * mask[..., None],
                   index=index * mask.long(), mask=mask, ignore=ignore)
