"""Specification of scripts/make_hard_shapes.py, and of the COCO polygons both shapes generators write."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from centernet.data import validate_coco
from tests.conftest import load_script

NUM_TRAIN, NUM_VAL = 12, 6


@pytest.fixture(scope="module")
def hard():
    return load_script("make_hard_shapes")


@pytest.fixture(scope="module")
def hard_set(hard, tmp_path_factory) -> Path:
    """12 training and 6 validation images, seed 0, balanced classes."""
    out = tmp_path_factory.mktemp("hard")
    hard.make_hard_shapes(out, NUM_TRAIN, NUM_VAL, seed=0)
    return out


def read_split(root: Path, split: str) -> dict:
    return json.loads((root / "annotations" / f"{split}.json").read_text())


def assert_polygons_fit_the_box(annotation: dict, width: int, height: int) -> None:
    """COCO polygons in pixel-edge coordinates whose extremes are the box edges and which cover `area` pixels."""
    x, y, box_width, box_height = annotation["bbox"]
    polygons = annotation["segmentation"]
    assert isinstance(polygons, list) and polygons, annotation
    for polygon in polygons:
        assert len(polygon) >= 6 and len(polygon) % 2 == 0, annotation
    xs = np.concatenate([polygon[0::2] for polygon in polygons])
    ys = np.concatenate([polygon[1::2] for polygon in polygons])
    # A mask covering columns 3..7 has x = 3, width = 5: its polygon runs from x = 3 to x = 8.
    np.testing.assert_allclose([xs.min(), ys.min()], [x, y], atol=1.0)
    np.testing.assert_allclose([xs.max(), ys.max()], [x + box_width, y + box_height], atol=1.0)
    rasterised = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))).astype(bool)
    rows, columns = np.flatnonzero(rasterised.any(axis=1)), np.flatnonzero(rasterised.any(axis=0))
    np.testing.assert_allclose([columns[0], rows[0], columns[-1] + 1, rows[-1] + 1],
                               [x, y, x + box_width, y + box_height], atol=1.0)
    assert rasterised.sum() >= annotation["area"]  # polygons hold no holes, so they cover at least the mask


def test_hard_shapes_is_a_valid_coco_set_with_five_non_contiguous_categories(hard_set):
    for split in ("train", "val"):
        assert validate_coco(hard_set / "annotations" / f"{split}.json", hard_set / split) == []
    categories = read_split(hard_set, "train")["categories"]
    ids = [category["id"] for category in categories]
    assert len(categories) >= 5 and len(set(ids)) == len(ids)
    assert sorted(ids) != list(range(min(ids), min(ids) + len(ids)))  # the id -> index mapping is exercised
    assert all(set(category) >= {"id", "name", "supercategory"} for category in categories)
    assert len({category["name"] for category in categories}) == len(categories)


def test_images_have_varying_sizes_that_match_the_json(hard_set):
    for split, count in (("train", NUM_TRAIN), ("val", NUM_VAL)):
        images = read_split(hard_set, split)["images"]
        assert [image["id"] for image in images] == list(range(1, count + 1))
        for image in images:
            with Image.open(hard_set / split / image["file_name"]) as file:
                assert file.format == "JPEG" and file.size == (image["width"], image["height"])
            assert 160 <= image["width"] <= 420 and 160 <= image["height"] <= 420
    images = read_split(hard_set, "train")["images"]
    assert len({image["width"] for image in images}) > NUM_TRAIN // 2
    assert any(image["width"] > image["height"] for image in images)
    assert any(image["width"] < image["height"] for image in images)


def test_every_annotation_has_a_positive_area_and_a_polygon_on_its_box(hard_set):
    for split in ("train", "val"):
        data = read_split(hard_set, split)
        images = {image["id"]: image for image in data["images"]}
        for annotation in data["annotations"]:
            image = images[annotation["image_id"]]
            assert annotation["iscrowd"] == 0 and annotation["area"] >= 20
            assert annotation["area"] <= annotation["bbox"][2] * annotation["bbox"][3]
            assert_polygons_fit_the_box(annotation, image["width"], image["height"])


def test_objects_range_from_small_to_large_and_some_are_cut_by_the_border(hard_set):
    data = read_split(hard_set, "train")
    images = {image["id"]: image for image in data["images"]}
    per_image = [sum(annotation["image_id"] == image_id for annotation in data["annotations"]) for image_id in images]
    assert max(per_image) <= 10 and np.mean(per_image) >= 3
    extents = [max(annotation["bbox"][2:]) for annotation in data["annotations"]]
    shorter_sides = [min(images[annotation["image_id"]]["width"], images[annotation["image_id"]]["height"])
                     for annotation in data["annotations"]]
    assert min(extents) <= 16 and np.median(extents) < 60
    assert max(extent / side for extent, side in zip(extents, shorter_sides, strict=True)) >= 0.3

    def touches_border(annotation: dict) -> bool:
        x, y, width, height = annotation["bbox"]
        image = images[annotation["image_id"]]
        return x == 0 or y == 0 or x + width == image["width"] or y + height == image["height"]

    assert any(touches_border(annotation) for annotation in data["annotations"])


def test_render_scene_annotates_disjoint_visible_masks_of_occluded_and_clipped_objects(hard):
    rng = np.random.default_rng(3)
    occluded = clipped = 0
    for width, height in ((300, 200), (170, 410), (420, 420), (250, 250)):
        image, instances = hard.render_scene(rng, width, height, hard.class_frequencies(False))
        assert image.shape == (height, width, 3) and image.dtype == np.uint8
        coverage = np.sum([instance.mask for instance in instances], axis=0)
        assert coverage.max() == 1  # a pixel belongs to the object drawn last over it only
        for instance in instances:
            visible = instance.mask.sum()
            assert visible >= 20 and visible >= 0.35 * instance.full_area
            on_border = instance.mask[[0, -1]].any() or instance.mask[:, [0, -1]].any()
            clipped += bool(on_border and visible < instance.full_area)
            occluded += bool(not on_border and visible < instance.full_area)
    assert occluded > 0 and clipped > 0


def test_many_objects_are_centred_on_earlier_ones_or_across_the_image_border(hard):
    rng = np.random.default_rng(0)
    mask = np.zeros((300, 400), bool)
    mask[100:110, 200:210] = True  # 100 of the image's 120000 pixels
    earlier = [hard.HardInstance(category_id=1, full_area=100, mask=mask)]
    extent = 40.0
    centres = np.array([hard.object_centre(rng, extent, earlier, 400, 300) for _ in range(400)])
    on_earlier = (centres >= [200, 100]).all(axis=1) & (centres < [210, 110]).all(axis=1)
    margins = np.min([centres[:, 0], 400 - centres[:, 0], centres[:, 1], 300 - centres[:, 1]], axis=0)
    assert on_earlier.mean() > 0.3  # chance would put 0.1% there
    assert (margins < extent / 2).mean() > 0.15 and margins.min() >= -0.1 * extent


def test_rasterise_counts_the_whole_shape_also_outside_the_image(hard):
    square = np.array([[0, 0], [6, 0], [6, 6], [0, 6]], float)
    inside, inside_area = hard.rasterise(square + 2, 12, 10)
    assert inside.shape == (10, 12) and inside.sum() == inside_area > 0
    cut, cut_area = hard.rasterise(square - 3, 12, 10)  # a quarter-ish of it lies in the image
    assert cut_area == inside_area and 0 < cut.sum() < inside_area / 2
    assert cut[0, 0] and not cut[:, 5:].any() and not cut[5:].any()
    gone, gone_area = hard.rasterise(square + 20, 12, 10)
    assert gone_area == inside_area and not gone.any()


def test_objects_less_than_35_percent_or_20_pixels_visible_are_not_annotated(hard):
    def instance(visible_pixels: int, full_area: int):
        mask = np.zeros((20, 20), bool)
        mask.flat[:visible_pixels] = True
        return hard.HardInstance(category_id=1, full_area=full_area, mask=mask)

    cases = [instance(35, 100), instance(34, 100), instance(19, 40), instance(20, 40), instance(20, 57)]
    kept = hard.visible_instances(cases)
    assert [any(case is instance for instance in kept) for case in cases] == [True, False, False, True, True]


@pytest.mark.parametrize("faint", [False, True])
def test_object_colours_contrast_with_what_is_under_them_except_faint_ones(hard, faint):
    rng = np.random.default_rng(0)
    unders = [np.zeros(3), np.full(3, 255.0), np.full(3, 127.5), np.array([250.0, 5.0, 128.0])]
    unders += list(rng.uniform(0, 255, size=(20, 3)))
    for under in unders:
        colour = hard.object_colour(rng, under, faint)
        distance = np.linalg.norm(colour - under)
        assert colour.min() >= 0 and colour.max() <= 255
        if faint:
            assert 25 - 1e-9 <= distance <= 45 + 1e-9
        else:
            assert distance >= 70


def test_same_seed_same_files_other_seed_other_files_and_validation_fixed(hard, hard_set, tmp_path):
    hard.make_hard_shapes(tmp_path / "again", NUM_TRAIN, NUM_VAL, seed=0)
    for folder in ("train", "val", "annotations"):
        comparison = filecmp.dircmp(hard_set / folder, tmp_path / "again" / folder)
        names = comparison.common_files
        assert not comparison.left_only and not comparison.right_only
        assert filecmp.cmpfiles(hard_set / folder, tmp_path / "again" / folder, names, shallow=False)[0] == names
    # validation changes neither with the number of training images nor with --long-tail
    hard.make_hard_shapes(tmp_path / "fewer", 3, NUM_VAL, seed=0, long_tail=True)
    assert (tmp_path / "fewer/annotations/val.json").read_bytes() == (hard_set / "annotations/val.json").read_bytes()
    assert (tmp_path / "fewer/val/000006.jpg").read_bytes() == (hard_set / "val/000006.jpg").read_bytes()
    hard.make_hard_shapes(tmp_path / "other", 2, 2, seed=1)
    for name in ("train/000001.jpg", "train/000002.jpg", "val/000001.jpg"):
        assert (tmp_path / "other" / name).read_bytes() != (hard_set / name).read_bytes()


def test_long_tail_spans_more_than_50_to_1_in_training_only(hard, tmp_path):
    balanced, long_tail = hard.class_frequencies(False), hard.class_frequencies(True)
    assert len(balanced) == len(long_tail) == len(hard.CATEGORIES)
    np.testing.assert_allclose([balanced.sum(), long_tail.sum()], [1.0, 1.0])
    assert np.ptp(balanced) == 0 and long_tail.max() / long_tail.min() >= 50
    paths = hard.make_hard_shapes(tmp_path, 30, 0, seed=0, long_tail=True)
    counts = list(hard.count_by_class(paths["train"]).values())
    common, rare = counts[int(np.argmax(long_tail))], sorted(counts)[:2]
    assert common > 0.5 * sum(counts) and sum(rare) < 0.1 * sum(counts)


def test_the_command_line_prints_training_objects_per_class(hard, tmp_path, capsys):
    hard.main(["--out", str(tmp_path), "--train", "3", "--val", "1", "--seed", "2"])
    counts = hard.count_by_class(tmp_path / "annotations" / "train.json")
    assert sum(counts.values()) == len(read_split(tmp_path, "train")["annotations"]) > 0
    expected = ", ".join(f"{name} {count}" for name, count in counts.items())
    assert capsys.readouterr().out.splitlines()[-1] == f"training objects per class: {expected}"


def test_mask_polygons_trace_pixel_edges():
    make_shapes = load_script("make_shapes")
    mask = np.zeros((10, 12), bool)
    mask[2:6, 3:8] = True  # rows 2..5, columns 3..7
    mask[8, 10] = True
    polygons = sorted(make_shapes.mask_polygons(mask), key=len)
    assert len(polygons) == 2
    assert {tuple(point) for point in np.reshape(polygons[0], (-1, 2))} == {(10, 8), (11, 8), (11, 9), (10, 9)}
    assert {tuple(point) for point in np.reshape(polygons[1], (-1, 2))} == {(3, 2), (8, 2), (8, 6), (3, 6)}


def test_make_shapes_writes_a_polygon_on_every_box(tmp_path):
    make_shapes = load_script("make_shapes")
    paths = make_shapes.make_shapes(tmp_path, num_train=8, num_val=2, image_size=64, seed=0)
    for path in paths.values():
        data = json.loads(Path(path).read_text())
        assert data["annotations"]
        for annotation in data["annotations"]:
            assert_polygons_fit_the_box(annotation, 64, 64)


@pytest.mark.parametrize("tail_ratio", [4.0, 100.0])
def test_tail_ratio_sets_the_training_class_counts_within_sampling_error(hard, hard_set, tmp_path, tail_ratio):
    frequencies = hard.class_frequencies(True, tail_ratio)
    assert frequencies[0] / frequencies[-1] == pytest.approx(tail_ratio)
    assert np.all(np.diff(frequencies) < 0) and frequencies.sum() == pytest.approx(1.0)
    paths = hard.make_hard_shapes(tmp_path, 40, 0, seed=0, long_tail=True, tail_ratio=tail_ratio)
    counts = np.array(list(hard.count_by_class(paths["train"]).values()))
    total = counts.sum()
    # each class's share within 3 binomial standard deviations (plus one object) of the requested frequency
    tolerance = 3 * np.sqrt(frequencies * (1 - frequencies) / total) + 1 / total
    np.testing.assert_array_less(np.abs(counts / total - frequencies), tolerance)
    balanced = np.array(list(hard.count_by_class(hard_set / "annotations" / "train.json").values()))
    assert np.ptp(balanced / balanced.sum()) < 0.5 * np.ptp(counts / total)  # the option is what skews them


def test_tail_ratio_below_one_is_refused(hard):
    with pytest.raises(ValueError, match="at least 1"):
        hard.class_frequencies(True, 0.5)
