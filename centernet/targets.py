"""Boxes -> CenterNet training targets: Gaussian heatmap, size, offset, index and mask, encoded batched on the
training device (GPU or CPU) from the padded boxes of a `Batch`.

The encoder follows the reference exactly (radius, sigma = (2r + 1) / 6, element-wise max, clipping at the map
border) and fixes its two defects: crowd regions are ignore regions, never targets, and when several objects
share one peak pixel only the largest keeps its size and offset slot, because the size and offset heads are
class-agnostic and can hold one box per pixel. tests/reference.py holds the reference's per-object loop, which
the tests compare with every slot and pixel of ours.

Speed: no loop over objects or pixels. Objects are grouped by the size of their Gaussian window, rounded up to
a power of two plus one, so each group is one broadcast; a Gaussian is the outer product of its two 1-D
profiles. On the CPU the (B, C, H, W) heatmap comes from lazily zeroed memory (calloc), so only the pages that
Gaussians touch are ever written: an 80-class batch is mostly zeros, and writing them all costs more than
everything else together.
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


def zeros(shape: tuple[int, ...], device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """torch.zeros, but on the CPU from calloc'd memory (numpy's zeros): pages are zeroed lazily by the kernel,
    when first touched, instead of all written up front."""
    if device.type == "cpu":
        return torch.from_numpy(np.zeros(shape, dtype=torch.empty(0, dtype=dtype).numpy().dtype))
    return torch.zeros(shape, dtype=dtype, device=device)


def _keep_largest_per_peak(index: torch.Tensor, area: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, M) bool: valid objects not beaten at their peak by a larger one (earlier wins ties)."""
    slots = torch.arange(index.shape[-1], device=index.device)
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


def _profile(offsets: torch.Tensor, reach: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """1-D Gaussian exp(-d^2 / (2 sigma^2)) in float64 at offsets (S,) for objects (N,), 0 beyond each reach."""
    distance = offsets[None, :].double()
    values = torch.exp(-distance * distance / (2 * sigma[:, None] * sigma[:, None]))
    return values * (distance.abs() <= reach[:, None])


def gaussian_windows(peak: torch.Tensor, radius_xy: torch.Tensor, sigma_xy: torch.Tensor,
                     output_size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every pixel of every object's Gaussian window inside the map, without a loop over objects or pixels.

    peak (N, 2) int x, y; radius_xy (N, 2) int window half-sizes; sigma_xy (N, 2) float64. The window of an
    object is (2 rx + 1) x (2 ry + 1) pixels around its peak, its values exp(-dx^2 / 2 sx^2 - dy^2 / 2 sy^2)
    computed in float64 (values below float64 eps are 0, as the reference's kernel), clipped at the border.
    Returns (owner (E,) int64 object index, pixel (E,) int64 y * W + x, value (E,) float32).
    """
    height, width = output_size
    # windows padded to 2^k + 1 per axis: few groups, each at most twice as wide as its windows
    bucket = torch.ceil(torch.log2(radius_xy.clamp(min=1).double() * 2)).long()
    keys = bucket[:, 0] * 64 + bucket[:, 1]
    owners, pixels, values = [], [], []
    for key in torch.unique(keys).tolist():
        members = (keys == key).nonzero().squeeze(1)
        reach_x, reach_y = 2 ** (key // 64) // 2, 2 ** (key % 64) // 2
        offset_x = torch.arange(-reach_x, reach_x + 1, device=peak.device)
        offset_y = torch.arange(-reach_y, reach_y + 1, device=peak.device)
        profile_x = _profile(offset_x, radius_xy[members, 0], sigma_xy[members, 0])  # (n, Sx)
        profile_y = _profile(offset_y, radius_xy[members, 1], sigma_xy[members, 1])  # (n, Sy)
        window = profile_y[:, :, None] * profile_x[:, None, :]  # (n, Sy, Sx)
        x = peak[members, 0, None, None] + offset_x[None, None, :]
        y = peak[members, 1, None, None] + offset_y[None, :, None]
        keep = (window >= np.finfo(np.float64).eps) & (x >= 0) & (x < width) & (y >= 0) & (y < height)
        kept = keep.view(-1).nonzero().squeeze(1)  # flat positions in (n, Sy, Sx), found once
        owners.append(members[kept // (len(offset_y) * len(offset_x))])
        pixels.append((y * width + x).view(-1)[kept])
        values.append(window.view(-1)[kept].float())
    if not owners:
        empty = torch.zeros(0, dtype=torch.int64, device=peak.device)
        return empty, empty, torch.zeros(0, device=peak.device)
    return torch.cat(owners), torch.cat(pixels), torch.cat(values)


def _splat(heatmap: torch.Tensor, plane: torch.Tensor, peak: torch.Tensor, radius: torch.Tensor) -> None:
    """The reference's round Gaussians (sigma = (2r + 1) / 6) into heatmap planes (P, H, W) by element-wise max;
    plane (N,) picks each object's plane, peak (N, 2), radius (N,) int."""
    if len(radius) == 0:
        return
    _, height, width = heatmap.shape
    radius_xy = radius[:, None].expand(-1, 2)
    owner, pixel, value = gaussian_windows(peak, radius_xy, (2 * radius_xy + 1).double() / 6, (height, width))
    heatmap.view(-1).scatter_reduce_(0, plane[owner] * (height * width) + pixel, value, reduce="amax")


def crowd_ignore_mask(boxes_xyxy: torch.Tensor, classes: torch.Tensor, crowd: torch.Tensor, num_classes: int,
                      output_size: tuple[int, int], stride: int = STRIDE) -> torch.Tensor:
    """(B, C, H, W) bool: the output pixels that overlap a crowd region, in that region's class channel.

    boxes_xyxy (B, M, 4) in input pixels, classes (B, M), crowd (B, M) bool. Output pixel (x, y) covers
    [x, x + 1) x [y, y + 1) of the map; it is ignored when that square overlaps the box / stride.
    """
    batch, height, width = classes.shape[0], *output_size
    ignore = zeros((batch * num_classes, height, width), boxes_xyxy.device, torch.bool)
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

    Returns torch `Targets` with a leading batch axis: heatmap (B, C, H, W) with (H, W) = `output_size`, and
    (B, M) slots of size, offset, index and mask; padding and shared-peak losers have all-zero slots.
    crowd (B, M) bool, optional: crowd regions, which become `Targets.ignore` (pixels overlapping them in their
    class channel, minus real objects' peaks, which stay positive); without any, `ignore` is None.
    """
    batch, slots = classes.shape
    height, width = output_size
    size, center, peak, radius, valid = _box_geometry(boxes_xyxy.float(), valid.bool(), output_size, stride)
    index = peak[..., 1] * width + peak[..., 0]
    heatmap = zeros((batch, num_classes, height, width), boxes_xyxy.device)
    image, slot = valid.nonzero(as_tuple=True)
    plane = image * num_classes + classes.long()[image, slot]
    _splat(heatmap.view(-1, height, width), plane, peak[image, slot], radius[image, slot])
    mask = _keep_largest_per_peak(index, size[..., 0] * size[..., 1], valid).float()
    ignore = None
    if crowd is not None and bool(crowd.any()):
        ignore = crowd_ignore_mask(boxes_xyxy, classes, crowd.bool(), num_classes, output_size, stride)
        ignore &= heatmap != 1
    return Targets(heatmap=heatmap, size=size * mask[..., None], offset=(center - peak) * mask[..., None],
                   index=index * mask.long(), mask=mask, ignore=ignore)
