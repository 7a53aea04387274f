"""Extreme points (--task exdet, ExtremeNet): per class a heatmap of each object's top, left, bottom and right
extreme point beside the centre heatmap, and each extreme point's sub-pixel offset; decoded by ExtremeNet's
centre grouping (`centernet.decode.group_extremes`) into boxes, extreme points and octagons.

Heads: "heatmap" (B, C, H, W) box-centre logits; "heatmap_top", "heatmap_left", "heatmap_bottom",
"heatmap_right" (B, C, H, W) extreme-point logits; "offset_top", ... (B, 2, H, W) each extreme point's sub-pixel
(dx, dy) in output-map pixels. Loss (the reference's ExdetLoss): the four extreme heatmaps through the heatmap
criterion at the heatmap weight, the offsets' masked L1 at the offset weight.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np
import torch

from centernet.config import InferenceConfig, LossConfig, ModelConfig
from centernet.data.extreme import ExtremePointSource
from centernet.decode import decode_extremes, merge_flip_extremes
from centernet.losses.aggregate import Term
from centernet.losses.regression import masked_l1_loss
from centernet.model.heads import HeadLayout
from centernet.structures import DecodedBatch, Detections, Targets, extreme_octagons
from centernet.targets import ObjectGeometry, extreme_targets
from centernet.tasks.base import HeatmapTermFactory, Task

EXTREME_SIDES = ("top", "left", "bottom", "right")  # the extreme points, in this order everywhere
HEATMAP_HEADS = tuple(f"heatmap_{side}" for side in EXTREME_SIDES)
OFFSET_HEADS = tuple(f"offset_{side}" for side in EXTREME_SIDES)


class ExtremePoints(Task):
    """ExtremeNet's extreme points, grouped by the centre check."""

    decodes_in_graph = False  # the grouping's joins have data-dependent shapes

    def __init__(self, model: ModelConfig) -> None:
        if model.dfl_bins:
            raise ValueError("--dfl-bins is for --task detect's ltrb box head; --task exdet has its own heads")

    def head_layout(self, num_classes: int) -> HeadLayout:
        channels = {"heatmap": num_classes, **dict.fromkeys(HEATMAP_HEADS, num_classes),
                    **dict.fromkeys(OFFSET_HEADS, 2)}
        return HeadLayout(channels, class_heads=("heatmap", *HEATMAP_HEADS))

    def loss_terms(self, config: LossConfig, heatmap_term: HeatmapTermFactory) -> dict[str, tuple[Term, float]]:
        terms = {head: (heatmap_term(head, _extreme_heatmap(side)), config.heatmap_weight)
                 for side, head in enumerate(HEATMAP_HEADS)}
        terms.update({head: (_offset_term(side), config.offset_weight) for side, head in enumerate(OFFSET_HEADS)})
        return terms

    def point_source(self) -> ExtremePointSource:
        return ExtremePointSource()

    def target_step(self) -> ExtremeTargets:
        return ExtremeTargets()

    def decode(self, maps: Mapping[str, torch.Tensor], inference: InferenceConfig, flip_test: bool) -> DecodedBatch:
        centre = maps["heatmap"].float().sigmoid()
        extremes = torch.stack([maps[head].float() for head in HEATMAP_HEADS], 1).sigmoid()  # (B, 4, C, H, W)
        offsets = torch.stack([maps[head].float() for head in OFFSET_HEADS], 1)  # (B, 4, 2, H, W)
        if flip_test:
            centre, extremes, offsets = merge_flip_extremes(centre, extremes, offsets)
        return decode_extremes(centre, extremes, offsets, inference.extreme_peaks, inference.top_k)

    def result_fields(self, points: dict[str, np.ndarray], point_scores: dict[str, np.ndarray]
                      ) -> dict[str, np.ndarray]:
        extreme_points = points["extreme_points"].astype(np.float32)
        return {"extreme_points": extreme_points, "octagons": extreme_octagons(extreme_points)}

    def coco_fields(self, detections: Detections, index: int) -> dict:
        """ExtremeNet's results format: "segmentation" [the octagon as one polygon, x1, y1, ..., x8, y8] and
        "extreme_points" [top x, top y, left x, ..., right y]."""
        octagon, points = detections.octagons[index], detections.extreme_points[index]
        return {"segmentation": [octagon.astype(np.float64).round(2).reshape(-1).tolist()],
                "extreme_points": points.astype(np.float64).round(2).reshape(-1).tolist()}

    def iou_types(self, has_polygons: bool) -> tuple[str, ...]:
        return ("bbox", "segm") if has_polygons else ("bbox",)  # segm: the octagons against the polygons

    def draw(self, canvas: np.ndarray, detections: Detections, index: int, color: tuple[int, int, int],
             thickness: int) -> None:
        """The octagon (8, 2) as a closed outline and the extreme points (4, 2) as dots."""
        octagon = np.round(detections.octagons[index]).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [octagon], True, color, thickness, cv2.LINE_AA)
        for x, y in np.round(detections.extreme_points[index]).astype(np.int32):
            cv2.circle(canvas, (int(x), int(y)), thickness + 2, color, -1, cv2.LINE_AA)


def _extreme_heatmap(side: int):
    def target(targets: Targets) -> tuple[torch.Tensor, torch.Tensor | None]:
        ignore = None if targets.extreme_ignore is None else targets.extreme_ignore[:, side]
        return targets.extreme_heatmap[:, side], ignore
    return target


def _offset_term(side: int) -> Term:
    """Masked L1 on one extreme point's sub-pixel offset, `side` its index in `EXTREME_SIDES`."""
    return lambda outputs, targets: masked_l1_loss(outputs[OFFSET_HEADS[side]], targets.extreme_index[..., side],
                                                   targets.extreme_mask[..., side],
                                                   targets.extreme_offset[..., side, :])


class ExtremeTargets:
    """The extreme points' heatmaps, offsets and ignore masks (`centernet.targets.extreme_targets`)."""

    def shares_heatmap_windows(self, gaussian: str) -> bool:
        return False

    def __call__(self, targets: Targets, geometry: ObjectGeometry) -> None:
        if geometry.points is None:
            raise ValueError("the exdet task's targets need the objects' extreme points (Batch.points)")
        extreme_targets(targets, geometry.points, geometry.size, geometry.classes, geometry.valid,
                        geometry.num_classes, geometry.stride, geometry.crowd_ignore)
