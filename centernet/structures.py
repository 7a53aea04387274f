"""Typed containers passed between the stages, and box format conversions.

Boxes are always named by their format: `boxes_xyxy` are (x1, y1, x2, y2), `boxes_xywh` are COCO's
(x, y, width, height). The frame (input pixels, output-map pixels, original image pixels) is stated where
the boxes are documented.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)

@dataclass
class Targets(Generic[Array]):
    """Ground truth for one image (numpy, no batch axis) or a batch (torch, leading B axis).

    heatmap: (C, H, W) float32 Gaussian peaks in [0, 1] at output stride.
    size: (M, 2) float32 box (w, h) in output-map pixels.
    offset: (M, 2) float32 sub-pixel centre (dx, dy) = centre - floor(centre).
    index: (M,) int64 peak position y * W + x.
    mask: (M,) float32, 1 where a slot holds an object whose size and offset are learned.
    ignore: (C, H, W) bool or None: heatmap pixels that are neither positive nor negative (inside a crowd
        region of that class, except real objects' peaks); None when nothing is ignored.
    box_index, box_target, box_weight: the ltrb head's S regression samples, None for the center head:
        (S,) int64 image * H * W + y * W + x; (S, 4) float32 target box x1, y1, x2, y2 in input pixels; (S,)
        float32 sample weights (see `centernet.targets.ltrb_samples`).
    extreme_heatmap, extreme_offset, extreme_index, extreme_mask, extreme_ignore: the exdet task's extreme points
        in the order top, left, bottom, right (None for detect): (4, C, H, W) float32 Gaussian peaks, one heatmap
        per extreme; (M, 4, 2) float32 sub-pixel (dx, dy) = point - floor(point) in output pixels; (M, 4) int64
        peak position y * W + x; (M, 4) float32 1 where the offset is learned; (4, C, H, W) bool or None, as
        `ignore` for each extreme heatmap. `heatmap` is then the box-centre heatmap.
    joint_heatmap, joint_vector, joint_mask, joint_index, joint_offset: the keypoints task's K joints (None for the
        other tasks): (K, H, W) float32 Gaussian peaks of every object's joints, one class-agnostic map per joint;
        (M, K, 2) float32 each joint's (dx, dy) from its object's peak pixel `index` in output pixels; (M, K)
        float32 1 where the joint is labelled (its object's slot in `mask` too); (M, K) int64 the joint's own peak
        position y * W + x; (M, K, 2) float32 its sub-pixel (dx, dy) = joint - floor(joint).
    """

    heatmap: Array
    size: Array
    offset: Array
    index: Array
    mask: Array
    ignore: Array | None = None
    box_index: Array | None = None
    box_target: Array | None = None
    box_weight: Array | None = None
    extreme_heatmap: Array | None = None
    extreme_offset: Array | None = None
    extreme_index: Array | None = None
    extreme_mask: Array | None = None
    extreme_ignore: Array | None = None
    joint_heatmap: Array | None = None
    joint_vector: Array | None = None
    joint_mask: Array | None = None
    joint_index: Array | None = None
    joint_offset: Array | None = None


@dataclass
class Batch:
    """A collated batch, kept compact for the trip to the device (targets are encoded there).

    images: (B, 3, H, W) uint8 RGB network inputs, warped but not colour-augmented (the train step augments them
        on the device); the rows in `encoded_jpegs` are zeros until the train step decodes them there.
    boxes_xyxy: (B, M, 4) float32 boxes in input pixels, padded with zeros.
    classes: (B, M) int64 contiguous class indices in [0, num_classes), padded with 0.
    valid: (B, M) bool, True for real objects (training targets).
    crowd: (B, M) bool, True for crowd regions (COCO iscrowd, VOC difficult): ignored by the heatmap loss in
        their class channel, never targets. A slot is valid, crowd or padding.
    image_ids: (B,) int64 dataset image ids.
    inverse_affine: (B, 2, 3) float32 maps input pixels back to original image pixels.
    colour_order: (B, 3) int64 colour-jitter operations in the order applied, 0 brightness, 1 contrast,
        2 saturation; colour_factors: (B, 3) float32 the factor of each, 1 + U(-s, s); lighting_alpha: (B, 3)
        float32 PCA lighting coefficients per eigenvector, N(0, std). Identity (0, 1, 2), 1 and 0 where an
        augmentation is off and for validation samples. See `centernet.data.colour`.
    skipped: how many samples of this batch were dropped (corrupt images), for reporting.
    truncated: (image id, number of objects) of each image that had more objects than M slots.
    encoded_jpegs: row -> (N,) uint8 bytes of that row's JPEG file, kept on the CPU, for rows the train step
        decodes and warps on the device (--gpu-decode); empty otherwise.
    points: (B, M, P, 2) float32 per-object points (x, y) in input pixels, padded with zeros, where the data has a
        point source (a task's: exdet's extreme points top, left, bottom, right; keypoints' joints), else None;
        point_labelled: (B, M, P) bool, the points with a position to learn; points_from_annotation: (B, M) bool,
        False where the source stood in for an object's points (exdet: box edge midpoints without a polygon).
    instance_map: (B, H, W) int16 at the input size, k + 1 on the pixels inside slot k's polygons (its COCO
        `segmentation` polygons warped like the image), 0 elsewhere; objects without a polygon (RLE, crowd regions,
        none) have no pixel. Only training batches with copy-paste on (`centernet.data.mixing.copy_paste`) carry
        it, else None.
    """

    images: torch.Tensor
    boxes_xyxy: torch.Tensor
    classes: torch.Tensor
    valid: torch.Tensor
    crowd: torch.Tensor
    image_ids: torch.Tensor
    inverse_affine: torch.Tensor
    colour_order: torch.Tensor
    colour_factors: torch.Tensor
    lighting_alpha: torch.Tensor
    skipped: int = 0
    truncated: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    encoded_jpegs: dict[int, torch.Tensor] = dataclasses.field(default_factory=dict)
    points: torch.Tensor | None = None
    point_labelled: torch.Tensor | None = None
    points_from_annotation: torch.Tensor | None = None
    instance_map: torch.Tensor | None = None

    def _map(self, function) -> Batch:
        tensors = {f.name: function(getattr(self, f.name)) for f in dataclasses.fields(self)
                   if isinstance(getattr(self, f.name), torch.Tensor)}
        return dataclasses.replace(self, **tensors)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> Batch:
        return self._map(torch.Tensor.pin_memory)


def box_xyxy_to_xywh(boxes_xyxy: Array) -> Array:
    """(..., 4) x1, y1, x2, y2 -> COCO x, y, width, height."""
    out = boxes_xyxy.copy() if isinstance(boxes_xyxy, np.ndarray) else boxes_xyxy.clone()
    out[..., 2:] = boxes_xyxy[..., 2:] - boxes_xyxy[..., :2]
    return out


def box_xywh_to_xyxy(boxes_xywh: Array) -> Array:
    """(..., 4) COCO x, y, width, height -> x1, y1, x2, y2."""
    out = boxes_xywh.copy() if isinstance(boxes_xywh, np.ndarray) else boxes_xywh.clone()
    out[..., 2:] = boxes_xywh[..., :2] + boxes_xywh[..., 2:]
    return out


def apply_affine(points_xy: Array, affine: Array) -> Array:
    """Map (..., 2) points through a (2, 3) affine matrix (or (B, 2, 3) with points (B, N, 2))."""
    linear = affine[..., :2].swapaxes(-1, -2) if isinstance(affine, np.ndarray) else affine[..., :2].mT
    return points_xy @ linear + affine[..., None, :, 2]


def extreme_octagons(extreme_points: np.ndarray) -> np.ndarray:
    """ExtremeNet's octagon masks of (N, 4, 2) extreme points (top, left, bottom, right; x, y): each point is
    extended along its edge of the box the points span by 1/8 of that edge's length to either side (1/4 in
    all), cut at the box, and the eight ends joined. Returns (N, 8, 2) float32 vertices: top's right and left
    end, left's upper and lower end, bottom's left and right end, right's lower and upper end (counter-clockwise
    on the screen, as the reference lists them).
    """
    points = np.asarray(extreme_points, dtype=np.float32).reshape(-1, 4, 2)
    (top_x, top_y), (left_x, left_y), (bottom_x, bottom_y), (right_x, right_y) = points.transpose(1, 2, 0)
    reach_x = (right_x - left_x) / 8
    reach_y = (bottom_y - top_y) / 8
    vertices = [
        (np.minimum(top_x + reach_x, right_x), top_y), (np.maximum(top_x - reach_x, left_x), top_y),
        (left_x, np.maximum(left_y - reach_y, top_y)), (left_x, np.minimum(left_y + reach_y, bottom_y)),
        (np.maximum(bottom_x - reach_x, left_x), bottom_y), (np.minimum(bottom_x + reach_x, right_x), bottom_y),
        (right_x, np.minimum(right_y + reach_y, bottom_y)), (right_x, np.maximum(right_y - reach_y, top_y)),
    ]
    return np.stack([np.stack(vertex, -1) for vertex in vertices], axis=1).astype(np.float32)


@dataclass
class DecodedBatch:
    """A batch's detections as decoded from the heads, before the score threshold, in one frame (output-map pixels
    as decoded, original image pixels after `centernet.decode.to_image_frame`).

    boxes: (B, K, 4) float32 x1, y1, x2, y2; scores: (B, K) float32, descending, -1 in a slot without a detection;
    classes: (B, K) int64 contiguous class indices in [0, C); points: the task's points by the name of their
    `Detections` field, each (B, K, P, 2) float32 x, y (e.g. "extreme_points", P = 4); empty for boxes;
    point_scores: (B, K, P) float32 in [0, 1] per point of `points` where the task scores them (keypoints' joints),
    by the same names; pixel: (B, K) int64 each detection's peak y * W + x in the output map, where the decoder
    read the heads at one peak (boxes, keypoints), else None.
    """

    boxes: torch.Tensor
    scores: torch.Tensor
    classes: torch.Tensor
    points: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)
    point_scores: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)
    pixel: torch.Tensor | None = None


@dataclass
class Detections:
    """One image's detections in its own pixels (numpy, on the host), best first.

    boxes: (N, 4) float32 x1, y1, x2, y2; scores: (N,) float32 in [0, 1], descending; classes: (N,) int64
    contiguous class indices in [0, C); names: the N class names. A task adds its fields (None where it has none):
    extreme_points (N, 4, 2) float32 top, left, bottom, right (x, y) and octagons (N, 8, 2) float32
    (`extreme_octagons`), for the exdet task; keypoints (N, K, 3) float32 each joint's x, y and score in [0, 1],
    for the keypoints task; track_id (N,) int64 each detection's track (`centernet.tracking`), when tracked.
    """

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    names: list[str]
    extreme_points: np.ndarray | None = None
    octagons: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    track_id: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.scores)

    def select(self, index: np.ndarray) -> Detections:
        """The detections at `index` (an int array or a bool mask over the N), every field alike."""
        index = np.asarray(index)
        picked = np.arange(len(self))[index]
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return Detections(**{name: _pick(value, picked) for name, value in fields.items()})

    @staticmethod
    def concatenate(parts: Sequence[Detections]) -> Detections:
        """The detections of `parts` one after another (a task field is kept where every part has it)."""
        def joined(name: str):
            values = [getattr(part, name) for part in parts]
            if any(value is None for value in values):
                return None
            return [item for value in values for item in value] if name == "names" else np.concatenate(values)
        return Detections(**{f.name: joined(f.name) for f in dataclasses.fields(Detections)})


def _pick(value, picked: np.ndarray):
    if value is None:
        return None
    if isinstance(value, list):
        return [value[i] for i in picked]
    return value[picked]
