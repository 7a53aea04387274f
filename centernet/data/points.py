"""Per-object point sets in the data workers: what a task learns besides boxes at fixed points of each object
(exdet's four extreme points; keypoints' joints), carried from the annotation file through the sample's warp into
the batch.

A `PointSource` reads an image's annotations and returns, per object, P points in input pixels and which of them
carry a position to learn (`PointSet`); the dataset (`centernet.data.coco.CocoDataset(points=...)`) pads them into
`Batch.points` and `Batch.point_labelled`. A task picks its source (`Task.point_source`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class PointSet:
    """One sample's per-object points, in input pixels.

    points: (N, P, 2) float32 x, y; labelled: (N, P) bool, the points with a position to learn (zeros where not);
    from_annotation: (N,) bool, False where the source had to stand in for the object's points (e.g. box edge
    midpoints for an object without a polygon), which the trainer reports; boxes_xyxy: (N, 4) float32, the boxes
    the source derives from the points (exdet: the box its extreme points span), or None to keep the annotation's.
    """

    points: np.ndarray
    labelled: np.ndarray
    from_annotation: np.ndarray
    boxes_xyxy: np.ndarray | None = None


class PointSource(Protocol):
    """A task's per-object points (`PointSet`) of one image, in the data workers."""

    count: int  # P, points per object
    stand_in_note: str  # what the trainer says about objects with from_annotation False, after their count

    def __call__(self, annotations: Sequence[dict], boxes_xyxy: np.ndarray, affine: np.ndarray, flipped: bool,
                 input_size: tuple[int, int]) -> PointSet:
        """`annotations`: the image's kept COCO annotation records (original pixels); `boxes_xyxy` (N, 4) their boxes
        already in input pixels; `affine` (2, 3) original -> input pixels, a horizontal flip composed in when
        `flipped`; `input_size` (width, height)."""
        ...
