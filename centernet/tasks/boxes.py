"""Boxes (--task detect), in two parametrisations of the box head (--box-head):

- center (CenterNet): "size" (B, 2, H, W) box (w, h) and "offset" (B, 2, H, W) centre (dx, dy) in output-map pixels,
  read at the peak, each with a masked L1 loss.
- ltrb (TTFNet): "ltrb" (B, 4, H, W), read by `centernet.tensors.ltrb_distances` as the distances from the pixel's
  centre to the box's left, top, right and bottom edges in input pixels (with `dfl_bins` n > 0: (B, 4 (n + 1), H, W)
  logits of a distribution over n + 1 bins per distance), trained at every pixel of the object's Gaussian area
  with GIoU (and Distribution Focal Loss).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from centernet.config import STRIDE, InferenceConfig, LossConfig
from centernet.decode import decode, decode_ltrb, merge_flip, merge_flip_ltrb
from centernet.losses.aggregate import Term
from centernet.losses.regression import ltrb_dfl_loss, ltrb_giou_loss, ltrb_iou_map, masked_l1_loss
from centernet.model.heads import HeadLayout
from centernet.structures import DecodedBatch, Targets
from centernet.targets import (
    TTF_ALPHA,
    TTF_BETA,
    ObjectGeometry,
    elliptical_radius,
    gaussian_sigma,
    gaussian_windows,
    ltrb_samples,
)
from centernet.tasks.base import HeatmapTermFactory, Task
from centernet.tensors import ltrb_distances

# The ltrb head's initial output: distances of 1 * LTRB_SCALE = 16 input pixels, a 32 x 32 box around each pixel.
# With the bias at 0 (TTFNet's init) every predicted box starts with size 0, a saddle of the GIoU loss (a distance's
# gradient is proportional to the box's other side): the default run's GIoU loss stayed at 1.00 for its first 100
# steps (3 epochs) and the quality focal loss's for 15 epochs (README, "Which heatmap loss").
LTRB_INITIAL_BIAS = 1.0


class CenterBoxes(Task):
    """CenterNet's box head: size and offset at the peak."""

    def head_layout(self, num_classes: int) -> HeadLayout:
        return HeadLayout({"heatmap": num_classes, "size": 2, "offset": 2}, class_heads=("heatmap",))

    def loss_terms(self, config: LossConfig, heatmap_term: HeatmapTermFactory) -> dict[str, tuple[Term, float]]:
        return {"size": (size_term, config.size_weight), "offset": (offset_term, config.offset_weight)}

    def decode(self, maps: Mapping[str, torch.Tensor], inference: InferenceConfig, flip_test: bool) -> DecodedBatch:
        heatmap, size, offset = maps["heatmap"].float().sigmoid(), maps["size"], maps["offset"]
        if flip_test:
            heatmap, size, offset = merge_flip(heatmap, size, offset)
        return decode(heatmap, size, offset, inference.top_k)


def size_term(outputs: Mapping[str, torch.Tensor], targets: Targets) -> torch.Tensor:
    """Masked L1 on box (w, h) in output pixels."""
    return masked_l1_loss(outputs["size"], targets.index, targets.mask, targets.size)


def offset_term(outputs: Mapping[str, torch.Tensor], targets: Targets) -> torch.Tensor:
    """Masked L1 on the sub-pixel centre offset."""
    return masked_l1_loss(outputs["offset"], targets.index, targets.mask, targets.offset)


class LtrbBoxes(Task):
    """TTFNet's box head: distances to the four edges at every pixel of the object's Gaussian area; `dfl_bins` n > 0
    reads each distance as a distribution over n + 1 bins (GFL)."""

    def __init__(self, dfl_bins: int) -> None:
        self.dfl_bins = dfl_bins

    def head_layout(self, num_classes: int) -> HeadLayout:
        biases = {} if self.dfl_bins else {"ltrb": LTRB_INITIAL_BIAS}
        return HeadLayout({"heatmap": num_classes, "ltrb": 4 * (self.dfl_bins + 1)}, ("heatmap",), biases)

    def loss_terms(self, config: LossConfig, heatmap_term: HeatmapTermFactory) -> dict[str, tuple[Term, float]]:
        bins = self.dfl_bins
        terms: dict[str, tuple[Term, float]] = {"box": (
            lambda outputs, targets: ltrb_giou_loss(outputs["ltrb"], targets.box_index, targets.box_target,
                                                    targets.box_weight, STRIDE, bins), config.box_weight)}
        if bins:
            terms["dfl"] = (lambda outputs, targets: ltrb_dfl_loss(outputs["ltrb"], targets.box_index,
                                                                   targets.box_target, targets.box_weight, STRIDE,
                                                                   bins), config.dfl_weight)
        return terms

    def target_step(self) -> LtrbSamples:
        return LtrbSamples()

    def heatmap_quality(self, outputs: Mapping[str, torch.Tensor], targets: Targets) -> torch.Tensor:
        """--heatmap-loss iou_aware: (B, 1, H, W) the IoU of the box predicted at each regression sample pixel with
        its target box (the smallest object's where Gaussian areas overlap), 1 elsewhere."""
        return ltrb_iou_map(outputs["ltrb"], targets.box_index, targets.box_target, STRIDE, self.dfl_bins)

    def decode(self, maps: Mapping[str, torch.Tensor], inference: InferenceConfig, flip_test: bool) -> DecodedBatch:
        heatmap, distances = maps["heatmap"].float().sigmoid(), ltrb_distances(maps["ltrb"], self.dfl_bins)
        if flip_test:
            heatmap, distances = merge_flip_ltrb(heatmap, distances)
        return decode_ltrb(heatmap, distances, inference.top_k)


class LtrbSamples:
    """TTFNet's regression samples (`centernet.targets.ltrb_samples`): every pixel of each object's beta-Gaussian
    area, the smallest object winning where areas overlap, weighted by Gaussian value * log(box area) / the
    object's Gaussian sum; into `Targets.box_index`, `box_target`, `box_weight`."""

    def shares_heatmap_windows(self, gaussian: str) -> bool:
        # TTFNet's regression windows are the heatmap's when the heatmap is elliptical and alpha = beta
        return gaussian == "elliptical" and TTF_ALPHA == TTF_BETA

    def __call__(self, targets: Targets, geometry: ObjectGeometry) -> None:
        height, width = geometry.output_size
        image, slot = geometry.image, geometry.slot
        if geometry.heatmap_windows is not None:
            owner, key, value = geometry.heatmap_windows
        else:
            radius = elliptical_radius(geometry.size[image, slot], TTF_BETA)
            owner, (key,), value = gaussian_windows(geometry.peak[image, slot], radius, gaussian_sigma(radius),
                                                    geometry.output_size, (image * (height * width),))
        limits = geometry.boxes_xyxy.new_tensor([width, height, width, height]) * geometry.stride
        boxes = torch.minimum(geometry.boxes_xyxy.float()[image, slot].clamp(min=0), limits)  # cut by the input frame
        targets.box_index, targets.box_target, targets.box_weight = ltrb_samples(
            boxes, owner, key, value, geometry.classes.shape[0] * height * width)
