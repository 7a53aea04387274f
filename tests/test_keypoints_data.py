"""Keypoints in the data workers (`centernet.data.keypoints`): joints follow the warp, a flip swaps each left joint
with its right twin, and joints that are unlabelled or pushed out of the input carry no position to learn."""

from __future__ import annotations

import json

import numpy as np
import pytest

from centernet.config import AugmentConfig
from centernet.data.coco import CocoDataset, collate
from centernet.data.keypoints import KeypointSource, flip_permutation
from centernet.data.transforms import affine_matrix, compose_affine, horizontal_flip_matrix

NAMES = ("nose", "left_eye", "right_eye", "left_hand", "right_hand")


def test_left_and_right_twins_swap_by_name_and_the_rest_stay():
    assert flip_permutation(NAMES).tolist() == [0, 2, 1, 4, 3]
    assert flip_permutation(NAMES)[flip_permutation(NAMES)].tolist() == list(range(5))  # an involution


def test_explicit_flip_pairs_replace_the_names_and_bad_pairs_are_refused():
    assert flip_permutation(("a", "b", "c"), [(0, 2)]).tolist() == [2, 1, 0]
    with pytest.raises(ValueError, match="not two joints"):
        flip_permutation(("a", "b"), [(0, 5)])


def annotation(triplets) -> dict:
    return {"id": 1, "keypoints": [value for triplet in triplets for value in triplet]}


def test_joints_follow_the_warp_and_unlabelled_or_outside_ones_are_not_learned():
    source = KeypointSource(NAMES)
    # a 2x zoom about (20, 20) into a 32 x 32 input: original (20, 20) -> input (16, 16)
    affine = affine_matrix((20, 20), 16, 32)
    joints = [(20, 20, 2), (22, 18, 1), (0, 0, 0), (40, 20, 2), (21, 21, 2)]  # (40, 20) lands at x = 56: outside
    found = source([annotation(joints)], np.zeros((1, 4), np.float32), affine, False, (32, 32))
    np.testing.assert_allclose(found.points[0, [0, 1, 4]], [[16, 16], [20, 12], [18, 18]], atol=1e-4)
    assert found.labelled.tolist() == [[True, True, False, False, True]]
    np.testing.assert_array_equal(found.points[0, [2, 3]], 0)
    assert found.from_annotation.tolist() == [True]


def test_a_flip_mirrors_the_joints_and_swaps_their_names():
    source = KeypointSource(NAMES)
    plain = affine_matrix((16, 16), 32, 32)  # identity on a 32 x 32 image
    flipped = compose_affine(plain, horizontal_flip_matrix(32))
    joints = [(16, 4, 2), (10, 8, 2), (22, 8, 2), (4, 20, 2), (28, 20, 1)]
    found = source([annotation(joints)], np.zeros((1, 4), np.float32), flipped, True, (32, 32))
    # the mirror of the right eye (22, 8) is at (10, 8), and it is now the left eye
    np.testing.assert_allclose(found.points[0], [[16, 4], [10, 8], [22, 8], [4, 20], [28, 20]], atol=1e-4)
    assert found.labelled.tolist() == [[True] * 5]


def test_the_dataset_carries_the_joints_into_the_batch(tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((32, 32, 3), np.uint8))
    data = {"images": [{"id": 1, "file_name": "a.png", "width": 32, "height": 32}],
            "categories": [{"id": 1, "name": "figure", "keypoints": list(NAMES), "skeleton": [[1, 2]]}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 2, 24, 20], "area": 480,
                             "iscrowd": 0, "num_keypoints": 4,
                             "keypoints": [16, 4, 2, 10, 8, 2, 22, 8, 2, 4, 20, 2, 0, 0, 0]}]}
    (tmp_path / "ann.json").write_text(json.dumps(data))
    dataset = CocoDataset(tmp_path / "ann.json", tmp_path, 32, train=True, points=KeypointSource(NAMES),
                          augment=AugmentConfig(scale=0, shift=0, flip_probability=1.0, color_jitter=0,
                                                pca_lighting=0))
    batch = collate([dataset[0]], max_objects=2)
    assert batch.points.shape == (1, 2, 5, 2)
    # flipped: the left eye is the mirrored right eye, the right hand (unlabelled before) the mirrored left hand
    np.testing.assert_allclose(batch.points[0, 0, :4].numpy(), [[16, 4], [10, 8], [22, 8], [0, 0]], atol=1e-3)
    np.testing.assert_allclose(batch.points[0, 0, 4].numpy(), [28, 20], atol=1e-3)
    assert batch.point_labelled[0].tolist() == [[True, True, True, False, True], [False] * 5]
