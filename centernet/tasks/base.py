"""What a task is: the parts of CenterNet that differ between the things it predicts from its centre heatmap.

Every task has the centre heatmap: a "heatmap" head of C class logits, trained by the dense criterion of
--heatmap-loss against the Gaussian centre targets, its peaks the detections. A task adds its own heads and says
what they mean: their layout, its step of target encoding, its loss terms, how its peaks become detections (and
merge under flip test), the fields its detections carry, their COCO result records, how they are drawn, and which
heads carry one channel per class (for fine-tuning onto other classes).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping

import numpy as np
import torch

from centernet.config import InferenceConfig, LossConfig
from centernet.data.points import PointSource
from centernet.losses.aggregate import HeatmapQuality, Term
from centernet.model.heads import HeadLayout
from centernet.structures import DecodedBatch, Detections
from centernet.targets import TargetStep

# (head name, the head's target, whether its channels are the classes) -> that heatmap head's term, with the run's
# criterion and (for a head of class channels) its class weights
HeatmapTermFactory = Callable[..., Term]


class Task(ABC):
    """One task's parts (see the module docstring). Subclasses: `centernet.tasks.boxes`, `centernet.tasks.extremes`,
    `centernet.tasks.keypoints`."""

    # whether `decode` traces into an exported graph (`centernet export --with-decode`)
    decodes_in_graph: bool = True
    # (head outputs, targets) -> (B, 1, H, W) quality of the box predicted at each pixel, for --heatmap-loss
    # iou_aware; None: the task predicts no box at every pixel
    heatmap_quality: HeatmapQuality | None = None

    @abstractmethod
    def head_layout(self, num_classes: int) -> HeadLayout:
        """The heads, "heatmap" (num_classes channels) first."""

    @abstractmethod
    def loss_terms(self, config: LossConfig, heatmap_term: HeatmapTermFactory) -> dict[str, tuple[Term, float]]:
        """The task's loss terms by name with their weights (the centre heatmap's term is every task's, not here)."""

    def point_source(self) -> PointSource | None:
        """The per-object points the data must carry for this task (`Batch.points`), or None."""
        return None

    def target_step(self) -> TargetStep | None:
        """The task's part of target encoding (None: the centre heatmap and slots are all it needs)."""
        return None

    @abstractmethod
    def decode(self, maps: Mapping[str, torch.Tensor], inference: InferenceConfig, flip_test: bool) -> DecodedBatch:
        """Head outputs (B, ...) float32 logits by name -> the batch's detections in output-map pixels; with
        `flip_test` the maps are (2B, ...), the images then their mirror images, merged first."""

    def result_fields(self, points: dict[str, np.ndarray], point_scores: dict[str, np.ndarray]
                      ) -> dict[str, np.ndarray]:
        """One image's `Detections` fields of the task from its decoded points (N, P, 2) by name, in image pixels,
        and their scores (N, P) where the task scores them (`DecodedBatch.point_scores`)."""
        return points

    def coco_fields(self, detections: Detections, index: int) -> dict:
        """The task's fields of detection `index`'s COCO result record (besides bbox, score and category)."""
        return {}

    def iou_types(self, has_polygons: bool) -> tuple[str, ...]:
        """The COCOeval iou types its results are scored with, given whether the ground truth has polygons."""
        return ("bbox",)

    def cocoeval_params(self, iou_type: str, inference: InferenceConfig) -> dict[str, object]:
        """COCOeval parameters (`COCOeval.params` attributes) of an iou type beyond pycocotools' defaults."""
        return {}

    def draw(self, canvas: np.ndarray, detections: Detections, index: int, color: tuple[int, int, int],
             thickness: int) -> None:
        """Draw detection `index`'s task fields (beyond its box and label) on `canvas` (H, W, 3) uint8, in place;
        boxes have none."""
        return
