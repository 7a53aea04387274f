"""Boxes -> CenterNet training targets: Gaussian heatmap, size, offset, index and mask, encoded batched on the
training device (GPU or CPU) from the padded boxes of a `Batch`.

The encoder follows the reference exactly (radius, sigma = (2r + 1) / 6, element-wise max, clipping at the map
border) and fixes its two defects: crowd regions are ignore regions, never targets, and when several objects
share one peak pixel only the largest keeps its size and offset slot, because the size and offset heads are
class-agnostic and can hold one box per pixel. tests/reference.py holds the reference's per-object loop, which
the tests compare with every slot and pixel of ours.

A task adds its own targets through a `TargetStep` (`centernet.tasks`), from primitives of this module: the exdet
task (ExtremeNet) splats each object's four extreme points, with the reference's round radius of the object's box,
into four per-class heatmaps, with their sub-pixel offsets (`extreme_targets`); the ltrb box head takes TTFNet's
regression samples (every pixel of an object's Gaussian area, weighted; `ltrb_samples`), equal to TTFNet's
per-object loop (also in tests/reference.py).

Speed: no loop over objects or pixels. Objects are grouped by the size of their Gaussian window (exactly, or
rounded up a ladder when there are many sizes), so each group is one broadcast; a Gaussian is the outer product
of its two 1-D profiles. An 80-class heatmap is mostly zeros, and writing them all costs more than everything
else together, so on the CPU the (B, C, H, W) heatmap comes from lazily zeroed memory (calloc) and the encoder
keeps it for the next batch, clearing only the elements it wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from centernet.config import STRIDE
from centernet.structures import Targets

TTF_ALPHA = 0.54  # TTFNet: elliptical heatmap Gaussians span alpha of each half side
TTF_BETA = 0.54  # TTFNet: the ltrb head's regression samples, the pixels of the beta Gaussian
MAX_EXACT_GROUPS = 48  # beyond this many distinct window sizes, `gaussian_windows` pads them onto REACH_LADDER
# the window half-sizes groups of objects are padded to (see _group_reach); larger radii are computed exactly
REACH_LADDER = (0, 1, 2, 3, 4, 6, 8, 11, 16, 22, 32, 45, 64, 90, 128, 181, 256, 362, 512, 724, 1024, 1448, 2048)


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
    """Clip boxes (..., 4) to the output map and derive size (w, h), centre, integer peak and validity."""
    height, width = output_size
    boxes = boxes_xyxy / stride
    x1, x2 = (boxes[..., i].clip(0, width - 1) for i in (0, 2))
    y1, y2 = (boxes[..., i].clip(0, height - 1) for i in (1, 3))
    box_w, box_h = x2 - x1, y2 - y1
    valid = valid & (box_w > 0) & (box_h > 0)
    center = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2], -1)
    return torch.stack([box_w, box_h], -1), center, center.long(), valid


def round_radius(size: torch.Tensor) -> torch.Tensor:
    """(..., 2) int64 radii (r, r) of CenterNet's round Gaussians for box sizes (..., 2) (w, h) in output pixels."""
    radius = gaussian_radius(size[..., 1].ceil().double(), size[..., 0].ceil().double()).clip(0, None).long()
    return radius[..., None].expand(*radius.shape, 2)


def elliptical_radius(size: torch.Tensor, alpha: float = TTF_ALPHA) -> torch.Tensor:
    """(..., 2) int64 half-axes (rx, ry) = int(alpha * (w, h) / 2) of TTFNet's elliptical Gaussians."""
    return (size.double() / 2 * alpha).long()


# --gaussian name -> the window half-sizes (..., 2) of boxes (..., 2) (w, h) in output pixels
RADII: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"round": round_radius, "elliptical": elliptical_radius}


def _profile(offsets: torch.Tensor, reach: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """1-D Gaussian exp(-d^2 / (2 sigma^2)) at offsets (S,) for objects (N,), computed in float64, 0 beyond
    each reach and below float64 eps (as the reference's kernel); (N, S) float32."""
    distance = offsets[None, :].double()
    values = torch.exp(-distance * distance / (2 * sigma[:, None] * sigma[:, None]))
    return (values * ((distance.abs() <= reach[:, None]) & (values >= np.finfo(np.float64).eps))).float()


def _group_reach(radius_xy: torch.Tensor) -> torch.Tensor:
    """(N, 2) window half-sizes the groups of `gaussian_windows` compute: the exact radii when they take few
    values (round Gaussians), else the next steps of a ladder growing ~1.4x (padding at most ~2x a window's area),
    so that there are always few groups."""
    exact_keys = torch.unique(radius_xy[:, 0] * (REACH_LADDER[-1] + 1) + radius_xy[:, 1])
    if len(exact_keys) <= MAX_EXACT_GROUPS:
        return radius_xy
    ladder = torch.tensor(REACH_LADDER, device=radius_xy.device)
    return ladder[torch.searchsorted(ladder, radius_xy.clamp(max=REACH_LADDER[-1]))].maximum(radius_xy)


def gaussian_windows(peak: torch.Tensor, radius_xy: torch.Tensor, sigma_xy: torch.Tensor, output_size: tuple[int, int],
                     bases: Sequence[torch.Tensor], *,
                     owners: bool = True) -> tuple[torch.Tensor | None, list[torch.Tensor], torch.Tensor]:
    """Every pixel of every object's Gaussian window, without a loop over objects or pixels.

    peak (N, 2) int x, y; radius_xy (N, 2) int window half-sizes; sigma_xy (N, 2) float64. An object's window
    is (2 rx + 1) x (2 ry + 1) pixels around its peak, its values exp(-dx^2 / 2 sx^2 - dy^2 / 2 sy^2), the
    outer product of the two 1-D profiles. Objects are grouped by window size (one broadcast a group), and each
    group writes its slice of the outputs in place (no concatenation, no gather over the elements). Padding
    elements and elements outside the map have value 0 and a pixel clamped into the map, so that a max or a sum
    over them changes nothing.

    bases: per-object (N,) int64 offsets; for each, an index (E,) int64 = base + y * W + x is
    returned (e.g. base = plane * H * W for a flat heatmap index, image * H * W for a sample key).
    Returns (owner (E,) int64 object index, or None with `owners=False`, [index per base], value (E,) float32).
    """
    height, width = output_size
    device = peak.device
    reach = _group_reach(radius_xy)
    keys = reach[:, 0] * (REACH_LADDER[-1] + 1) + reach[:, 1]
    order = torch.argsort(keys)
    group_keys, counts = torch.unique_consecutive(keys[order], return_counts=True)
    reaches, splits = [divmod(key, REACH_LADDER[-1] + 1) for key in group_keys.tolist()], counts.tolist()
    sizes = [(2 * reach_x + 1) * (2 * reach_y + 1) for reach_x, reach_y in reaches]
    total = sum(count * size for count, size in zip(splits, sizes, strict=True))
    value = torch.empty(total, device=device)
    indices = [torch.empty(total, dtype=torch.int64, device=device) for _ in bases]
    owner = torch.empty(total, dtype=torch.int64, device=device) if owners else None
    ordered_bases = [base[order].split(splits) for base in bases]
    groups = zip(reaches, sizes, order.split(splits), peak[order].split(splits), radius_xy[order].split(splits),
                 sigma_xy[order].split(splits), *ordered_bases, strict=True)
    start = 0
    for (reach_x, reach_y), size, members, centre, radius, sigma, *group_bases in groups:
        offset_x = torch.arange(-reach_x, reach_x + 1, device=device)
        offset_y = torch.arange(-reach_y, reach_y + 1, device=device)
        x = centre[:, 0, None] + offset_x  # (n, Sx)
        y = centre[:, 1, None] + offset_y  # (n, Sy)
        profile_x = _profile(offset_x, radius[:, 0], sigma[:, 0]) * ((x >= 0) & (x < width))
        profile_y = _profile(offset_y, radius[:, 1], sigma[:, 1]) * ((y >= 0) & (y < height))
        count = len(members)
        stop = start + count * size
        window = (count, len(offset_y), len(offset_x))
        torch.mul(profile_y[:, :, None], profile_x[:, None, :], out=value[start:stop].view(window))
        rows = (y.clamp(0, height - 1) * width)[:, :, None]  # (n, Sy, 1)
        columns = x.clamp(0, width - 1)[:, None, :]  # (n, 1, Sx)
        for index, base in zip(indices, group_bases, strict=True):
            torch.add(rows + base[:, None, None], columns, out=index[start:stop].view(window))
        if owner is not None:
            owner[start:stop].view(count, size).copy_(members[:, None].expand(count, size))
        start = stop
    return owner, indices, value


def gaussian_sigma(radius_xy: torch.Tensor) -> torch.Tensor:
    """sigma = (2r + 1) / 6 per axis, float64, as the reference's kernels (diameter / 6)."""
    return (2 * radius_xy + 1).double() / 6


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


@dataclass
class ObjectGeometry:
    """What the encoder derived of a batch's (B, M) object slots, for a task's `TargetStep`.

    boxes_xyxy: (B, M, 4) float32 in input pixels, as given; classes: (B, M) int64; valid: (B, M) bool, the objects
    that are targets (not padding, not crowd, not empty once clipped to the map); size: (B, M, 2) float32 box (w, h)
    in output pixels, clipped to the map; peak: (B, M, 2) int64 centre pixel (x, y); image, slot: (N,) int64 the
    positions of the N valid objects; crowd_ignore: (B, C, H, W) bool, the pixels of crowd regions in their class
    channel, or None; points: (B, M, P, 2) float32 per-object points in input pixels (`Batch.points`) and
    point_labelled (B, M, P) bool, or None; heatmap_windows: the heatmap's
    Gaussian windows (owner (E,) into the N, key (E,) image * H * W + y * W + x, value (E,)) when the step asked to
    share them (`TargetStep.shares_heatmap_windows`), else None.
    """

    boxes_xyxy: torch.Tensor
    classes: torch.Tensor
    valid: torch.Tensor
    size: torch.Tensor
    peak: torch.Tensor
    image: torch.Tensor
    slot: torch.Tensor
    num_classes: int
    output_size: tuple[int, int]
    stride: int
    crowd_ignore: torch.Tensor | None = None
    points: torch.Tensor | None = None
    point_labelled: torch.Tensor | None = None
    heatmap_windows: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None


class TargetStep(Protocol):
    """A task's part of target encoding: fills its fields of `Targets` from the objects' geometry."""

    def shares_heatmap_windows(self, gaussian: str) -> bool:
        """Whether the step reads the heatmap's Gaussian windows (`ObjectGeometry.heatmap_windows`)."""
        ...

    def __call__(self, targets: Targets, geometry: ObjectGeometry) -> None: ...


class TargetEncoder:
    """Padded batches -> `Targets` on the batch's device: the centre heatmap and the centre slots (size, offset,
    index, mask) of every task, then the task's own fields (`step`, see `centernet.tasks`).

    num_classes: object classes C; output_size: (H, W) of the heads; gaussian: "round" (CenterNet's radius) or
    "elliptical" (TTFNet's alpha half-axes); min_radius: the smallest half-axis of a Gaussian window in output
    pixels (0: as the reference and TTFNet, whose small objects get one pixel); step: the task's `TargetStep`, or
    None.

    On the CPU the heatmap buffer is kept between calls and only the elements the previous call wrote are
    cleared, so that no page of a large, mostly-zero heatmap is zeroed twice: the targets a call returns are
    read-only and valid until the next call.
    """

    def __init__(self, num_classes: int, output_size: tuple[int, int], *, gaussian: str,
                 step: TargetStep | None, stride: int = STRIDE, min_radius: int = 0) -> None:
        if gaussian not in RADII:
            raise ValueError(f"unknown Gaussian {gaussian!r}; choose from {', '.join(RADII)}")
        if min_radius < 0:
            raise ValueError(f"--gaussian-min-radius: the Gaussians' smallest half-axis is a number of pixels >= 0, "
                             f"got {min_radius}")
        self.num_classes, self.output_size, self.stride = num_classes, tuple(output_size), stride
        self.gaussian, self.step, self.min_radius = gaussian, step, min_radius
        self._buffer: torch.Tensor | None = None  # (capacity, C, H, W) float32 heatmap workspace (CPU)
        self._written = torch.zeros(0, dtype=torch.int64)  # its flat elements the last call set

    def _heatmap(self, batch: int, device: torch.device) -> torch.Tensor:
        """(B, C, H, W) zeros: on the CPU the workspace with the last call's elements cleared."""
        shape = (batch, self.num_classes, *self.output_size)
        if device.type != "cpu":
            return torch.zeros(shape, device=device)
        if self._buffer is None or self._buffer.shape[0] < batch:
            self._buffer, self._written = zeros(shape, device), torch.zeros(0, dtype=torch.int64)
        self._buffer.view(-1)[self._written] = 0
        return self._buffer[:batch]

    def __call__(self, boxes_xyxy: torch.Tensor, classes: torch.Tensor, valid: torch.Tensor,
                 crowd: torch.Tensor | None = None, points: torch.Tensor | None = None,
                 point_labelled: torch.Tensor | None = None) -> Targets[torch.Tensor]:
        """boxes (B, M, 4) x1, y1, x2, y2 in input pixels, classes (B, M) in [0, C), valid (B, M) bool, crowd
        (B, M) bool or None (crowd regions: `Targets.ignore`, the pixels they overlap in their class channel
        minus real peaks; None without any), points (B, M, P, 2) in input pixels and point_labelled (B, M, P) where
        the task needs them (`Batch.points`).
        Returns `Targets` with a leading batch axis: heatmap (B, C, H, W), (B, M) slots of size, offset, index and
        mask (padding and shared-peak losers all zero), and the task's fields."""
        height, width = self.output_size
        size, center, peak, valid = _box_geometry(boxes_xyxy.float(), valid.bool(), self.output_size, self.stride)
        index = peak[..., 1] * width + peak[..., 0]
        image, slot = valid.nonzero(as_tuple=True)
        heatmap = self._heatmap(classes.shape[0], boxes_xyxy.device)
        radius = RADII[self.gaussian](size[image, slot]).clamp(min=self.min_radius)
        plane_base = (image * self.num_classes + classes.long()[image, slot]) * (height * width)
        windows = None
        if self.step is not None and self.step.shares_heatmap_windows(self.gaussian):
            # the heatmap's flat index and the step's key (image * H * W + pixel), from one pass
            owner, (flat, key), value = gaussian_windows(peak[image, slot], radius, gaussian_sigma(radius),
                                                         self.output_size, (plane_base, image * (height * width)))
            windows = (owner, key, value)
        else:
            _, (flat,), value = gaussian_windows(peak[image, slot], radius, gaussian_sigma(radius),
                                                 self.output_size, (plane_base,), owners=False)
        heatmap.view(-1).scatter_reduce_(0, flat, value, reduce="amax")
        if self._buffer is not None and heatmap.device.type == "cpu":
            self._written = flat
        mask = _keep_largest_per_peak(index, size[..., 0] * size[..., 1], valid).float()
        targets = Targets(heatmap=heatmap, size=size * mask[..., None], offset=(center - peak) * mask[..., None],
                          index=index * mask.long(), mask=mask)
        crowd_ignore = None
        if crowd is not None and bool(crowd.any()):
            crowd_ignore = crowd_ignore_mask(boxes_xyxy, classes, crowd.bool(), self.num_classes, self.output_size,
                                             self.stride)
            targets.ignore = crowd_ignore & (heatmap != 1)
        if self.step is not None:
            self.step(targets, ObjectGeometry(boxes_xyxy, classes, valid, size, peak, image, slot, self.num_classes,
                                              self.output_size, self.stride, crowd_ignore, points, point_labelled,
                                              windows))
        return targets


def extreme_targets(targets: Targets, extreme_points: torch.Tensor, size: torch.Tensor, classes: torch.Tensor,
                    valid: torch.Tensor, num_classes: int, stride: int = STRIDE,
                    crowd_ignore: torch.Tensor | None = None) -> None:
    """Fill the exdet fields of `targets` (see `Targets`) for (B, M) objects: extreme_points (B, M, 4, 2) top,
    left, bottom, right in input pixels; size (B, M, 2) box (w, h) in output pixels, which gives each object's
    round radius (the reference's, for all four points); classes (B, M); valid (B, M) bool; crowd_ignore
    (B, C, H, W) bool or None, the crowd regions' pixels, ignored in every extreme heatmap except at its peaks.

    As for the centre, an extreme peak pixel shared by several objects keeps the largest one's offset (the
    offset heads are class-agnostic).
    """
    batch, height, width = classes.shape[0], *targets.heatmap.shape[-2:]
    points = extreme_points.float() / stride
    points = torch.stack([points[..., 0].clamp(0, width - 1), points[..., 1].clamp(0, height - 1)], -1)
    peak = points.long()  # (B, M, 4, 2)
    index = peak[..., 1] * width + peak[..., 0]  # (B, M, 4)
    image, slot = valid.nonzero(as_tuple=True)
    radius = round_radius(size[image, slot]).repeat_interleave(4, dim=0)  # (4N, 2), four points an object
    side = torch.arange(4, device=image.device).repeat(len(image))
    plane = ((image.repeat_interleave(4) * 4 + side) * num_classes
             + classes.long()[image, slot].repeat_interleave(4))  # (4N,) planes of the (B, 4, C) heatmaps
    _, (flat,), value = gaussian_windows(peak[image, slot].reshape(-1, 2), radius, gaussian_sigma(radius),
                                         (height, width), (plane * (height * width),), owners=False)
    heatmap = zeros((batch, 4, num_classes, height, width), points.device)
    heatmap.view(-1).scatter_reduce_(0, flat, value, reduce="amax")
    area = size[..., 0] * size[..., 1]
    mask = torch.stack([_keep_largest_per_peak(index[..., j], area, valid) for j in range(4)], -1).float()
    targets.extreme_heatmap = heatmap
    targets.extreme_offset = (points - peak) * mask[..., None]
    targets.extreme_index = index * mask.long()
    targets.extreme_mask = mask
    if crowd_ignore is not None:
        targets.extreme_ignore = crowd_ignore[:, None] & (heatmap != 1)


def ltrb_samples(boxes_xyxy: torch.Tensor, owner: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                 pixels: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """TTFNet's regression samples for N objects: boxes (N, 4) in input pixels and the E elements of their
    beta-Gaussian windows (`gaussian_windows`): owner (E,) object index, key (E,) image * H * W + y * W + x in
    [0, `pixels`), value (E,) the Gaussian (0 for padding).

    Every pixel of an object's window is a sample of that object, unless a smaller object's window covers it
    too (the smaller wins; equal areas: the earlier). Returns (index (S,) int64 = image * H * W + y * W + x, box
    target (S, 4) x1, y1, x2, y2 in input pixels, weight (S,) = Gaussian value * log(box area) / the sum of the
    object's Gaussian values over its whole window), so each object's weights sum to log(its area) less what
    smaller objects took.
    """
    count = len(boxes_xyxy)
    area = ((boxes_xyxy[:, 2] - boxes_xyxy[:, 0]) * (boxes_xyxy[:, 3] - boxes_xyxy[:, 1])).clamp(min=2.0)
    # rank 0 is the smallest object (a stable sort: among equal areas the earlier object ranks first)
    rank = torch.empty(count, dtype=torch.int64, device=area.device)
    rank[torch.argsort(area, stable=True)] = torch.arange(count, device=area.device)
    inside = value > 0
    candidate = rank.index_select(0, owner).masked_fill_(~inside, count)  # padding never wins
    best = torch.full((pixels,), count, dtype=torch.int64, device=area.device)
    best.scatter_reduce_(0, key, candidate, reduce="amin")
    kept = (candidate == best.index_select(0, key)).logical_and_(inside).nonzero().squeeze(1)
    total = torch.zeros(count, dtype=value.dtype, device=value.device).index_add_(0, owner, value)
    owner = owner.index_select(0, kept)
    weight = value.index_select(0, kept) * (area.log() / total).index_select(0, owner)
    return key.index_select(0, kept), boxes_xyxy.index_select(0, owner), weight


def encode_targets_batched(boxes_xyxy: torch.Tensor, classes: torch.Tensor, valid: torch.Tensor, num_classes: int,
                           output_size: tuple[int, int], *, gaussian: str, step: TargetStep | None,
                           stride: int = STRIDE, crowd: torch.Tensor | None = None, points: torch.Tensor | None = None,
                           point_labelled: torch.Tensor | None = None, min_radius: int = 0) -> Targets[torch.Tensor]:
    """One call of a fresh `TargetEncoder` (its targets stay valid): see there for shapes and frames."""
    return TargetEncoder(num_classes, output_size, gaussian=gaussian, step=step, stride=stride, min_radius=min_radius)(
        boxes_xyxy, classes, valid, crowd, points, point_labelled)
