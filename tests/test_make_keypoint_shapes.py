"""Specification of scripts/make_keypoint_shapes.py: a COCO keypoint set whose joints, visibility flags and left /
right names a keypoint task can trust."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from centernet.data import validate_coco
from tests.conftest import load_script


@pytest.fixture(scope="module")
def generator():
    return load_script("make_keypoint_shapes")


@pytest.fixture(scope="module")
def keypoint_set(generator, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("keypoints")
    generator.make_keypoint_shapes(out, num_train=8, num_val=3, seed=0)
    return out


def annotations(keypoint_set: Path, split: str = "train") -> dict:
    return json.loads((keypoint_set / "annotations" / f"{split}.json").read_text())


def test_the_category_names_every_joint_with_left_and_right_twins_and_a_one_based_skeleton(generator, keypoint_set):
    category = annotations(keypoint_set)["categories"][0]
    names = category["keypoints"]
    assert names == list(generator.JOINTS)
    assert {name.removeprefix("left_") for name in names if name.startswith("left_")} == {
        name.removeprefix("right_") for name in names if name.startswith("right_")}
    assert all(1 <= joint <= len(names) for limb in category["skeleton"] for joint in limb)


def test_each_annotation_is_valid_coco_with_one_triplet_per_joint(keypoint_set):
    data = annotations(keypoint_set)
    assert validate_coco(keypoint_set / "annotations" / "train.json", keypoint_set / "train") == []
    joints = len(data["categories"][0]["keypoints"])
    assert data["annotations"]
    for annotation in data["annotations"]:
        triplets = np.array(annotation["keypoints"], dtype=float).reshape(-1, 3)
        assert triplets.shape == (joints, 3)
        assert annotation["num_keypoints"] == int((triplets[:, 2] > 0).sum()) >= 1


def test_labelled_joints_lie_in_their_image_and_unlabelled_ones_are_zeros(keypoint_set):
    data = annotations(keypoint_set)
    sizes = {image["id"]: (image["width"], image["height"]) for image in data["images"]}
    flags = []
    for annotation in data["annotations"]:
        width, height = sizes[annotation["image_id"]]
        for x, y, v in np.array(annotation["keypoints"], dtype=float).reshape(-1, 3):
            flags.append(v)
            if v == 0:
                assert x == y == 0
            else:
                assert 0 <= x <= width and 0 <= y <= height
    assert {0, 1, 2} <= set(flags)  # figures cut by the border, covered joints and visible ones all occur


def test_a_visible_joint_lies_on_its_figures_pixels_in_the_image(keypoint_set):
    # v = 2 joints are drawn (a limb end, the head's centre, a hand or foot marker): not background
    data = annotations(keypoint_set)
    files = {image["id"]: image["file_name"] for image in data["images"]}
    checked = 0
    for annotation in data["annotations"][:10]:
        x, y, w, h = annotation["bbox"]
        triplets = np.array(annotation["keypoints"], dtype=float).reshape(-1, 3)
        for px, py, v in triplets:
            if v == 2:
                assert x - 1 <= px <= x + w + 1 and y - 1 <= py <= y + h + 1
                checked += 1
    assert checked > 20
    assert Image.open(keypoint_set / "train" / files[data["annotations"][0]["image_id"]]).mode == "RGB"


def test_the_validation_split_does_not_change_with_the_training_size(generator, keypoint_set, tmp_path):
    generator.make_keypoint_shapes(tmp_path, num_train=2, num_val=3, seed=0)
    assert annotations(tmp_path, "val") == annotations(keypoint_set, "val")


def test_a_figures_area_is_its_silhouette_the_convex_hull_of_its_pixels(generator):
    mask = np.zeros((12, 12), bool)
    mask[0, :10] = True  # an L of two 10-pixel bars: 19 pixels
    mask[:10, 0] = True
    # the hull of the pixels' squares: (0, 0), (10, 0), (10, 1), (1, 10), (0, 10)
    assert generator.silhouette_area(mask) == pytest.approx(59.5)
    assert generator.silhouette_area(np.eye(1, dtype=bool)) == 1.0  # one pixel: its square


def test_the_annotations_area_is_the_silhouettes_not_the_thin_limbs(keypoint_set):
    fractions = [annotation["area"] / (annotation["bbox"][2] * annotation["bbox"][3])
                 for annotation in annotations(keypoint_set)["annotations"]]
    assert max(fractions) <= 1 + 1e-6
    assert np.median(fractions) > 0.4  # the limbs alone cover about a fifth of the box


def test_the_clean_set_has_no_figure_under_forty_pixels(generator):
    head, pelvis = generator.JOINTS.index("head"), generator.JOINTS.index("pelvis")

    def smallest_reach(clean: bool) -> float:
        """The shortest head-to-pelvis distance over the figures of 30 scenes (about half a figure's height)."""
        rng = np.random.default_rng(3)
        figures = [figure for _ in range(30) for figure in generator.render_scene(rng, 200, 160, clean)[1]]
        return min(float(np.linalg.norm(figure.joints[head] - figure.joints[pelvis])) for figure in figures)

    assert smallest_reach(clean=True) >= 0.4 * 40
    assert smallest_reach(clean=False) < 0.4 * 40  # the full set's smallest figures are 24 pixels tall
