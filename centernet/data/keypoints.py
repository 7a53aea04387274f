"""COCO keypoints -> per-object joints in input pixels, for a keypoint task (CenterNet's multi_pose, any skeleton).

Annotations carry `keypoints`: K triplets [x, y, v] in original pixels (COCO's continuous frame, as the boxes),
v = 0 not labelled, 1 labelled but not visible, 2 visible; the category names the joints (`keypoints`) and joins
them (`skeleton`). A joint is learned where it is labelled (v > 0) and lands inside the input after the sample's
warp ([0, W) x [0, H)); a joint the crop pushes out becomes unlabelled. A horizontal flip mirrors the figure, so
each joint takes its twin's name: `left_*` swaps with `right_*` (or the pairs given), applied after the warp.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from centernet.data.points import PointSet
from centernet.structures import apply_affine


def flip_permutation(names: Sequence[str], pairs: Sequence[tuple[int, int]] | None = None) -> np.ndarray:
    """(K,) int64 index of each joint's twin under a horizontal flip (itself when it has none): `pairs` of joint
    indices where given, else each `left_X` with `right_X` by name. An involution: applying it twice is the
    identity."""
    permutation = np.arange(len(names))
    if pairs is None:
        index = {name: position for position, name in enumerate(names)}
        pairs = [(position, index["right_" + name.removeprefix("left_")]) for position, name in enumerate(names)
                 if name.startswith("left_") and "right_" + name.removeprefix("left_") in index]
    for first, second in pairs:
        if not (0 <= first < len(names) and 0 <= second < len(names)) or first == second:
            raise ValueError(f"flip pair ({first}, {second}) is not two joints of {len(names)}")
        permutation[first], permutation[second] = second, first
    return permutation


class KeypointSource:
    """A keypoint task's `PointSource`: each object's K joints (the category's `keypoints` names), warped into the
    input, swapped with their twins on a flip (`flip_permutation`), labelled where v > 0 and inside the input."""

    stand_in_note = "had no labelled joint"

    def __init__(self, names: Sequence[str], flip_pairs: Sequence[tuple[int, int]] | None = None) -> None:
        self.names = list(names)
        self.count = len(self.names)
        self.permutation = flip_permutation(self.names, flip_pairs)

    def __call__(self, annotations: Sequence[dict], boxes_xyxy: np.ndarray, affine: np.ndarray, flipped: bool,
                 input_size: tuple[int, int]) -> PointSet:
        width, height = input_size
        points = np.zeros((len(annotations), self.count, 2), dtype=np.float32)
        labelled = np.zeros((len(annotations), self.count), dtype=bool)
        for row, annotation in enumerate(annotations):
            triplets = np.asarray(annotation.get("keypoints") or np.zeros(3 * self.count), dtype=np.float32)
            if triplets.size != 3 * self.count:
                raise ValueError(f"annotation {annotation.get('id')} has {triplets.size // 3} keypoints, its "
                                 f"category names {self.count}")
            triplets = triplets.reshape(self.count, 3)
            points[row] = apply_affine(triplets[:, :2], affine.astype(np.float32))
            labelled[row] = triplets[:, 2] > 0
        if flipped:
            points, labelled = points[:, self.permutation], labelled[:, self.permutation]
        inside = (points[..., 0] >= 0) & (points[..., 0] < width) & (points[..., 1] >= 0) & (points[..., 1] < height)
        labelled &= inside
        points[~labelled] = 0
        return PointSet(points, labelled, labelled.any(axis=1))
