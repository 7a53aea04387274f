"""Specification of the data pipeline: COCO loading, transforms, validation, collation and the data scripts."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from centernet.config import AugmentConfig
from centernet.data import (
    CocoDataset,
    Sample,
    check_coco,
    collate,
    letterbox_affine,
    random_affine,
    read_image_rgb,
    transform_boxes,
    validate_coco,
    warp_image,
)
from centernet.errors import DataError
from centernet.structures import Batch, apply_affine, box_xywh_to_xyxy

REPO = Path(__file__).resolve().parents[1]
NO_AUGMENT = AugmentConfig(scale=0.0, shift=0.0, flip_probability=0.0, color_jitter=0.0, pca_lighting=0.0)
INPUT_SIZE = 64


def load_script(name: str):
    """Import scripts/NAME.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the module is being executed
    spec.loader.exec_module(module)
    return module


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def write_image(path: Path, width: int, height: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    cv2.imwrite(str(path), rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8))


# Categories listed out of order, with gaps: sorted ids 2, 5, 9 become indices 0, 1, 2.
CATEGORIES = [{"id": 9, "name": "nine"}, {"id": 2, "name": "two"}, {"id": 5, "name": "five"}]
IMAGES = [
    {"id": 10, "file_name": "wide.png", "width": 96, "height": 64},
    {"id": 3, "file_name": "tall.png", "width": 48, "height": 80},
    {"id": 7, "file_name": "empty.png", "width": 40, "height": 40},
]
ANNOTATIONS = [
    {"id": 1, "image_id": 10, "category_id": 9, "bbox": [10.0, 5.0, 30.0, 20.0], "area": 600.0, "iscrowd": 0},
    {"id": 2, "image_id": 10, "category_id": 2, "bbox": [50.5, 30.0, 40.0, 30.0], "area": 1200.0, "iscrowd": 0},
    {"id": 3, "image_id": 10, "category_id": 5, "bbox": [0.0, 0.0, 90.0, 60.0], "area": 5400.0, "iscrowd": 1},
    {"id": 4, "image_id": 3, "category_id": 5, "bbox": [4.0, 10.0, 20.0, 50.0], "area": 1000.0, "iscrowd": 0},
]


@pytest.fixture
def coco_files(tmp_path: Path) -> tuple[Path, Path]:
    """(annotation file, image folder) of a tiny dataset: non-square images, gapped ids, a crowd box."""
    image_dir = tmp_path / "images"
    image_dir.mkdir()
    for seed, image in enumerate(IMAGES):
        write_image(image_dir / image["file_name"], image["width"], image["height"], seed)
    ann_file = write_json(tmp_path / "ann.json",
                          {"images": IMAGES, "annotations": ANNOTATIONS, "categories": CATEGORIES})
    return ann_file, image_dir


def make_dataset(coco_files, train: bool, augment: AugmentConfig | None = None, **kwargs) -> CocoDataset:
    ann_file, image_dir = coco_files
    return CocoDataset(ann_file, image_dir, INPUT_SIZE, train=train, augment=augment, **kwargs)


def test_category_ids_map_to_contiguous_indices_and_back(coco_files):
    dataset = make_dataset(coco_files, train=False)
    assert dataset.category_ids == [2, 5, 9]
    assert dataset.class_names == ["two", "five", "nine"]
    assert dataset.num_classes == 3
    assert dataset.image_ids == [3, 7, 10]
    sample = dataset[dataset.image_ids.index(10)]
    original_ids = [dataset.category_ids[index] for index in sample.classes.tolist()]
    assert original_ids == [9, 2, 5]  # the real objects of image 10 in file order, then its crowd region
    assert sample.crowd.tolist() == [False, False, True]


def test_crowd_regions_come_last_and_are_flagged_never_valid(coco_files):
    dataset = make_dataset(coco_files, train=False)
    boxes_xyxy, classes, crowd = dataset.annotations(10)
    assert classes.tolist() == [2, 0, 1] and crowd.tolist() == [False, False, True]
    np.testing.assert_allclose(boxes_xyxy[2], [0, 0, 90, 60])  # the crowd box, x, y, w, h -> x1, y1, x2, y2
    batch = collate([dataset[dataset.image_ids.index(10)]], max_objects=4)
    assert batch.valid.tolist() == [[True, True, False, False]]
    assert batch.crowd.tolist() == [[False, False, True, False]]
    assert dataset[dataset.image_ids.index(7)].boxes_xyxy.shape == (0, 4)  # an image without objects
    assert dataset.class_counts() == [1, 1, 1]  # two, five, nine: the crowd region is not counted


def test_letterbox_inverse_maps_input_pixels_back_to_original(coco_files):
    dataset = make_dataset(coco_files, train=False)
    sample = dataset[dataset.image_ids.index(10)]  # 96 x 64 image into 64 x 64: 10.7 rows of padding top and bottom
    assert sample.image.shape == (3, INPUT_SIZE, INPUT_SIZE) and sample.image.dtype == torch.uint8
    assert sample.image[:, :10].sum() == 0 and sample.image[:, -10:].sum() == 0
    assert bool((sample.image[:, 12:-12].amax(dim=0) > 0).float().mean() > 0.9)
    corners = sample.boxes_xyxy.numpy().reshape(-1, 2, 2)
    restored = apply_affine(corners, sample.inverse_affine.numpy()).reshape(-1, 4)
    expected = box_xywh_to_xyxy(np.array([ANNOTATIONS[i]["bbox"] for i in range(3)], dtype=np.float32))  # 2: crowd
    np.testing.assert_allclose(restored, expected, atol=1e-3)


def test_flip_inside_the_affine_mirrors_boxes_and_pixels_alike():
    affine, inverse, flipped = random_affine(100, 100, 100, AugmentConfig(scale=0, shift=0, flip_probability=1.0),
                                             np.random.default_rng(0))
    assert flipped
    # Pixel-edge frame: x -> 100 - x, so pixel index i goes to 99 - i.
    boxes, keep = transform_boxes(np.array([[10, 20, 30, 40]], np.float32), affine, 100)
    np.testing.assert_allclose(boxes, [[70, 20, 90, 40]], atol=1e-4)
    assert keep.tolist() == [True]
    image = np.random.default_rng(1).integers(0, 256, size=(100, 100, 3), dtype=np.uint8)
    np.testing.assert_array_equal(warp_image(image, affine, 100), image[:, ::-1])
    np.testing.assert_allclose(apply_affine(np.array([[90.0, 20.0]]), inverse), [[10.0, 20.0]], atol=1e-4)


def test_random_affine_keeps_boxes_on_their_pixels():
    image = np.zeros((60, 80, 3), np.uint8)
    image[10:30, 20:40] = 255  # pixels 20..39 x 10..29: the box [20, 10, 40, 30] in pixel edges
    box = np.array([[20, 10, 40, 30]], np.float32)
    augment = AugmentConfig(scale=0.3, shift=0.1, flip_probability=0.5)
    rng = np.random.default_rng(0)
    flips = 0
    for _ in range(12):
        affine, _, flipped = random_affine(80, 60, 64, augment, rng)
        flips += flipped
        coverage = warp_image(image, affine, 64)[:, :, 0] / 255.0
        (x1, y1, x2, y2), = transform_boxes(box, affine, 64)[0]
        pixel_centres = np.arange(64) + 0.5
        centre_x = pixel_centres @ coverage.sum(axis=0) / coverage.sum()
        centre_y = pixel_centres @ coverage.sum(axis=1) / coverage.sum()
        # A half-pixel convention slip would show here as 0.5 px, a flip slip as 1 px.
        assert abs(centre_x - (x1 + x2) / 2) < 0.25 and abs(centre_y - (y1 + y2) / 2) < 0.25
        assert abs(coverage.sum() - (x2 - x1) * (y2 - y1)) < 0.05 * (x2 - x1) * (y2 - y1)
    assert 0 < flips < 12

def test_transform_boxes_clips_and_drops_boxes_outside():
    affine, _ = letterbox_affine(64, 64, 64)  # identity
    boxes = np.array([[-5, -5, 10, 10], [70, 0, 80, 10], [60, 60, 90, 90]], np.float32)
    kept, keep = transform_boxes(boxes, affine, 64)
    assert keep.tolist() == [True, False, True]
    np.testing.assert_allclose(kept, [[0, 0, 10, 10], [60, 60, 63, 63]], atol=1e-5)


# --- rectangular inputs (width, height) ---------------------------------------------------------------------

RECTANGLES = [(96, 64), (64, 96)]


def box_centre_of_mass(coverage: np.ndarray) -> tuple[float, float]:
    """Centre (x, y) in pixel-edge coordinates of an (H, W) coverage map in [0, 1]."""
    centre_x = (np.arange(coverage.shape[1]) + 0.5) @ coverage.sum(axis=0) / coverage.sum()
    centre_y = (np.arange(coverage.shape[0]) + 0.5) @ coverage.sum(axis=1) / coverage.sum()
    return centre_x, centre_y


@pytest.mark.parametrize("image_size", [(96, 64), (48, 80), (120, 80)])
@pytest.mark.parametrize("input_size", RECTANGLES)
def test_a_rectangular_letterbox_fits_the_whole_image_centred_and_maps_back(image_size, input_size):
    (width, height), (input_width, input_height) = image_size, input_size
    affine, inverse = letterbox_affine(width, height, input_size)
    zoom = min(input_width / width, input_height / height)
    np.testing.assert_allclose(affine[:, :2], zoom * np.eye(2), rtol=1e-6)
    # the image's corners land centred in the input: padding only on the axis the aspect ratio leaves free
    corners = apply_affine(np.array([[0.0, 0.0], [width, height]]), affine)
    np.testing.assert_allclose(corners[0] + corners[1], [input_width, input_height], atol=1e-4)
    assert min(input_width - (corners[1, 0] - corners[0, 0]), input_height - (corners[1, 1] - corners[0, 1])) < 1e-4
    np.testing.assert_allclose(apply_affine(corners, inverse), [[0, 0], [width, height]], atol=1e-4)
    image = np.full((height, width, 3), 255, np.uint8)
    warped = warp_image(image, affine, input_size)
    assert warped.shape == (input_height, input_width, 3)
    assert abs(warped[:, :, 0].sum() / 255.0 - width * height * zoom**2) < 0.02 * width * height * zoom**2


def test_a_16_9_frame_fills_a_16_9_input_with_no_padding():
    affine, _ = letterbox_affine(1920, 1080, (512, 288))
    warped = warp_image(np.full((1080, 1920, 3), 200, np.uint8), affine, (512, 288))
    assert warped.shape == (288, 512, 3) and int(warped.min()) == 200


@pytest.mark.parametrize("input_size", RECTANGLES)
def test_random_affine_keeps_boxes_on_their_pixels_in_rectangular_inputs(input_size):
    image = np.zeros((60, 80, 3), np.uint8)
    image[10:30, 20:40] = 255  # the box [20, 10, 40, 30] in pixel edges
    box = np.array([[20, 10, 40, 30]], np.float32)
    rng = np.random.default_rng(0)
    flips = round_trips = 0
    for _ in range(12):
        affine, inverse, flipped = random_affine(80, 60, input_size, AugmentConfig(scale=0.3, shift=0.1), rng)
        flips += flipped
        coverage = warp_image(image, affine, input_size)[:, :, 0] / 255.0
        assert coverage.shape == input_size[::-1]
        (x1, y1, x2, y2), = transform_boxes(box, affine, input_size)[0]
        centre_x, centre_y = box_centre_of_mass(coverage)
        assert abs(centre_x - (x1 + x2) / 2) < 0.25 and abs(centre_y - (y1 + y2) / 2) < 0.25  # no half-pixel slip
        assert abs(coverage.sum() - (x2 - x1) * (y2 - y1)) < 0.05 * (x2 - x1) * (y2 - y1)
        if min(x1, y1) > 0 and x2 < input_size[0] - 1 and y2 < input_size[1] - 1:  # not clipped: a round trip
            restored = apply_affine(np.array([[x1, y1], [x2, y2]]), inverse)
            np.testing.assert_allclose(np.sort(restored[:, 0]), [20, 40], atol=1e-3)  # a flip swaps x1 and x2
            np.testing.assert_allclose(restored[:, 1], [10, 30], atol=1e-3)
            round_trips += 1
    assert 0 < flips < 12 and round_trips > 6


def test_a_flip_mirrors_about_the_rectangular_input_centre():
    augment = AugmentConfig(scale=0, shift=0, flip_probability=1.0)
    affine, _, flipped = random_affine(96, 64, (96, 64), augment, np.random.default_rng(0))
    assert flipped
    boxes, _ = transform_boxes(np.array([[10, 20, 30, 40]], np.float32), affine, (96, 64))
    np.testing.assert_allclose(boxes, [[66, 20, 86, 40]], atol=1e-4)  # x -> 96 - x
    image = np.random.default_rng(1).integers(0, 256, size=(64, 96, 3), dtype=np.uint8)
    np.testing.assert_array_equal(warp_image(image, affine, (96, 64)), image[:, ::-1])


def test_transform_boxes_clips_each_axis_to_its_own_side():
    affine, _ = letterbox_affine(96, 64, (96, 64))  # identity
    boxes = np.array([[-5, -5, 100, 70], [80, 10, 95, 20], [10, 63.5, 20, 80]], np.float32)
    kept, keep = transform_boxes(boxes, affine, (96, 64))
    assert keep.tolist() == [True, True, False]
    np.testing.assert_allclose(kept, [[0, 0, 95, 63], [80, 10, 95, 20]], atol=1e-5)


@pytest.mark.parametrize("input_size", RECTANGLES)
def test_rectangular_samples_have_the_input_shape_and_boxes_inside_it(coco_files, input_size):
    ann_file, image_dir = coco_files
    width, height = input_size
    train = CocoDataset(ann_file, image_dir, input_size, train=True, augment=AugmentConfig(scale=0.6, shift=0.3))
    plain = CocoDataset(ann_file, image_dir, input_size, train=True, augment=NO_AUGMENT)
    validation = CocoDataset(ann_file, image_dir, input_size, train=False)
    assert validation.with_input_size(64).input_size == (64, 64) and validation.input_size == input_size
    for index in range(len(train)):
        for sample in (train[index], validation[index]):
            assert sample.image.shape == (3, height, width) and sample.image.dtype == torch.uint8
            boxes = sample.boxes_xyxy
            assert bool((boxes >= 0).all() and (boxes[:, 0::2] <= width - 1).all())
            assert bool((boxes[:, 1::2] <= height - 1).all() and (boxes[:, 2:] > boxes[:, :2]).all())
        assert torch.equal(plain[index].image, validation[index].image)  # no augmentation: the letterbox
        assert torch.equal(plain[index].inverse_affine, validation[index].inverse_affine)
    wide = validation[validation.image_ids.index(10)]  # the 96 x 64 image
    expected = box_xywh_to_xyxy(np.array([ANNOTATIONS[i]["bbox"] for i in range(3)], dtype=np.float32))
    restored = apply_affine(wide.boxes_xyxy.numpy().reshape(-1, 2, 2), wide.inverse_affine.numpy()).reshape(-1, 4)
    if input_size == (96, 64):  # same aspect ratio: the identity, boxes clipped to [0, 95] x [0, 63] only
        np.testing.assert_allclose(restored, np.minimum(expected, [95, 63, 95, 63]), atol=1e-3)
    else:
        np.testing.assert_allclose(restored, expected, atol=1e-3)


def test_training_samples_are_uint8_with_boxes_inside_the_input(coco_files):
    dataset = make_dataset(coco_files, train=True, augment=AugmentConfig(scale=0.6, shift=0.3))
    for epoch in range(4):
        dataset.set_epoch(epoch)
        for index in range(len(dataset)):
            sample = dataset[index]
            assert sample.image.shape == (3, INPUT_SIZE, INPUT_SIZE) and sample.image.dtype == torch.uint8
            boxes = sample.boxes_xyxy
            assert boxes.dtype == torch.float32 and len(boxes) == len(sample.classes)
            assert bool((boxes >= 0).all() and (boxes <= INPUT_SIZE - 1).all())
            assert bool((boxes[:, 2:] > boxes[:, :2]).all())


def test_same_seed_epoch_and_index_give_the_same_sample(coco_files):
    first, second = make_dataset(coco_files, train=True, seed=3), make_dataset(coco_files, train=True, seed=3)
    for dataset in (first, second):
        dataset.set_epoch(2)
    a, b = first[2], second[2]
    assert torch.equal(a.image, b.image) and torch.equal(a.boxes_xyxy, b.boxes_xyxy)
    assert torch.equal(a.inverse_affine, b.inverse_affine)
    second.set_epoch(3)
    assert not torch.equal(a.image, second[2].image)


def test_training_without_augmentation_equals_the_validation_letterbox(coco_files):
    train = make_dataset(coco_files, train=True, augment=NO_AUGMENT)
    validation = make_dataset(coco_files, train=False)
    for index in range(len(train)):
        augmented, plain = train[index], validation[index]
        assert torch.equal(augmented.image, plain.image)
        assert torch.equal(augmented.boxes_xyxy, plain.boxes_xyxy)
        assert torch.equal(augmented.inverse_affine, plain.inverse_affine)


def test_workers_return_the_warped_uint8_image_with_no_colour_change(coco_files):
    """Colour is the train step's job: with strong colour augmentation on, a training sample's image is exactly the
    warp of the file with its drawn affine crop, and that of a dataset with colour off (colour is drawn after the
    crop, so the crops agree); the colour parameters come along, drawn from the same generator."""
    geometry = {"scale": 0.3, "shift": 0.2, "flip_probability": 0.5}
    coloured = make_dataset(coco_files, train=True, augment=AugmentConfig(**geometry, color_jitter=0.9,
                                                                          pca_lighting=2.0), seed=4)
    plain = make_dataset(coco_files, train=True, augment=AugmentConfig(**geometry, color_jitter=0.0,
                                                                       pca_lighting=0.0), seed=4)
    for epoch in range(3):
        coloured.set_epoch(epoch)
        plain.set_epoch(epoch)
        for index in range(len(coloured)):
            sample = coloured[index]
            assert sample.image.dtype == torch.uint8 and sample.encoded_jpeg is None
            image = read_image_rgb(coloured.image_path(coloured.image_ids[index]))
            rng = np.random.default_rng([4, epoch, index])
            affine, inverse, _ = random_affine(image.shape[1], image.shape[0], INPUT_SIZE, coloured.augment, rng)
            assert torch.equal(sample.image, torch.from_numpy(warp_image(image, affine, INPUT_SIZE)).permute(2, 0, 1))
            assert torch.equal(sample.image, plain[index].image)
            np.testing.assert_array_equal(sample.inverse_affine.numpy(), inverse)
            assert sample.colour_order.tolist() == rng.permutation(3).tolist()
            np.testing.assert_array_equal(sample.colour_factors.numpy(),
                                          np.float32([1 + rng.uniform(-0.9, 0.9) for _ in range(3)]))
            np.testing.assert_array_equal(sample.lighting_alpha.numpy(), np.float32(rng.normal(0, 2.0, 3)))


def test_grayscale_rgba_palette_and_16_bit_images_read_as_rgb_uint8(tmp_path):
    rgb = np.zeros((6, 10, 3), np.uint8)
    rgb[:, :5] = (255, 0, 0)  # red on the left: the channel order must survive
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgb).convert("L").save(tmp_path / "gray.png")
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "palette.png")
    cv2.imwrite(str(tmp_path / "deep.png"), np.full((6, 10, 3), 65535, np.uint16))
    for name in ("rgb", "gray", "rgba", "palette", "deep"):
        image = read_image_rgb(tmp_path / f"{name}.png")
        assert image.shape == (6, 10, 3) and image.dtype == np.uint8, name
    assert read_image_rgb(tmp_path / "rgb.png")[0, 0].tolist() == [255, 0, 0]
    assert read_image_rgb(tmp_path / "palette.png")[0, 0].tolist() == [255, 0, 0]
    assert read_image_rgb(tmp_path / "rgba.png")[0, 0].tolist() == [255, 0, 0]
    assert read_image_rgb(tmp_path / "deep.png")[0, 0].tolist() == [255, 255, 255]


def test_missing_and_corrupt_images_raise_errors_naming_the_file(tmp_path):
    with pytest.raises(DataError, match="image not found: .*nothing.png"):
        read_image_rgb(tmp_path / "nothing.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    with pytest.raises(DataError, match="corrupt or unreadable image: .*broken.jpg"):
        read_image_rgb(tmp_path / "broken.jpg")


def test_bad_image_in_dataset_raises_when_strict_else_warns_and_gives_none(coco_files):
    (coco_files[1] / "tall.png").write_bytes(b"garbage")
    index = make_dataset(coco_files, train=False).image_ids.index(3)
    with pytest.raises(DataError, match="tall.png"):
        make_dataset(coco_files, train=False, strict=True)[index]
    with pytest.warns(UserWarning, match="tall.png"):
        assert make_dataset(coco_files, train=True)[index] is None


def test_bad_json_raises_an_error_naming_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="bad.json"):
        CocoDataset(bad, tmp_path, INPUT_SIZE, train=False)
    with pytest.raises(DataError, match="bad.json"):
        check_coco(bad, tmp_path)
    incomplete = write_json(tmp_path / "incomplete.json", {"images": []})
    with pytest.raises(DataError, match=r"incomplete.json.*annotations"):
        check_coco(incomplete, tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bbox": [10.0, 5.0, 0.0, 20.0]}, "non-positive"),
        ({"bbox": [100.0, 5.0, 10.0, 10.0]}, "entirely outside"),
        ({"bbox": [80.0, 5.0, 20.0, 10.0]}, "outside"),
        ({"category_id": 4}, "unknown category id 4"),
        ({"image_id": 99}, "unknown image id 99"),
    ],
)
def test_each_bad_annotation_gives_a_data_error_naming_the_file(coco_files, change, message):
    ann_file, image_dir = coco_files
    data = json.loads(ann_file.read_text())
    data["annotations"][0].update(change)
    write_json(ann_file, data)
    with pytest.raises(DataError, match=message) as error:
        check_coco(ann_file, image_dir)
    assert str(error.value).startswith(f"1 problem in {ann_file}:")
    assert "ann.json" in str(error.value).splitlines()[1]


def test_validate_reports_all_problems_at_once(coco_files):
    ann_file, image_dir = coco_files
    assert validate_coco(ann_file, image_dir) == []
    data = json.loads(ann_file.read_text())
    data["annotations"][0]["bbox"] = [95.5, 5.0, 1.0, 10.0]  # half a pixel past the border: tolerated
    data["annotations"][1]["bbox"] = [1.0, 1.0, -3.0, 4.0]
    data["annotations"][3]["category_id"] = 77
    data["images"].append({"id": 11, "file_name": "gone.png", "width": 10, "height": 10})
    write_json(ann_file, data)
    problems = validate_coco(ann_file, image_dir)
    assert len(problems) == 3
    assert any("gone.png" in problem for problem in problems)
    assert any("wide.png" in problem and "non-positive" in problem for problem in problems)
    assert any("tall.png" in problem and "77" in problem for problem in problems)


def test_check_coco_caps_the_listing(tmp_path):
    images = [{"id": index, "file_name": f"{index}.png", "width": 8, "height": 8} for index in range(1, 61)]
    ann_file = write_json(tmp_path / "many.json", {"images": images, "annotations": [], "categories": CATEGORIES})
    with pytest.raises(DataError) as error:
        check_coco(ann_file, tmp_path)
    lines = str(error.value).splitlines()
    assert lines[0] == f"60 problems in {ann_file}:" and lines[-1].strip() == "... and 10 more"


def fake_sample(image_id: int, num_objects: int, num_crowd: int = 0) -> Sample:
    return Sample(
        image=torch.full((3, 8, 8), image_id, dtype=torch.uint8),
        boxes_xyxy=torch.arange(num_objects * 4, dtype=torch.float32).reshape(num_objects, 4) + 1,
        classes=torch.arange(num_objects, dtype=torch.int64),
        crowd=torch.arange(num_objects) >= num_objects - num_crowd,
        image_id=image_id,
        inverse_affine=torch.eye(2, 3),
        colour_order=torch.arange(3).roll(image_id),
        colour_factors=torch.full((3,), 1 + image_id / 10),
        lighting_alpha=torch.full((3,), image_id / 100),
    )


def test_collate_pads_truncates_and_counts_skipped_samples():
    batch = collate([fake_sample(1, 2), None, fake_sample(2, 5), None], max_objects=3)
    assert isinstance(batch, Batch) and batch.skipped == 2
    assert batch.images.shape == (2, 3, 8, 8) and batch.boxes_xyxy.shape == (2, 3, 4)
    assert batch.valid.tolist() == [[True, True, False], [True, True, True]]
    assert batch.truncated == [(2, 5)]  # image 2 had 5 objects for 3 slots
    assert batch.classes.tolist() == [[0, 1, 0], [0, 1, 2]]
    assert batch.boxes_xyxy[0, 2].tolist() == [0, 0, 0, 0]
    assert batch.image_ids.tolist() == [1, 2] and batch.image_ids.dtype == torch.int64
    assert batch.inverse_affine.shape == (2, 2, 3)
    assert batch.colour_order.tolist() == [[2, 0, 1], [1, 2, 0]] and batch.colour_order.dtype == torch.int64
    torch.testing.assert_close(batch.colour_factors, torch.tensor([[1.1] * 3, [1.2] * 3]))
    torch.testing.assert_close(batch.lighting_alpha, torch.tensor([[0.01] * 3, [0.02] * 3]))
    assert batch.encoded_jpegs == {}
    empty = collate([None], max_objects=3)
    assert empty.skipped == 1 and empty.images.shape[0] == 0
    assert empty.colour_order.shape == empty.colour_factors.shape == empty.lighting_alpha.shape == (0, 3)


def test_collate_marks_crowd_slots_apart_from_valid_ones():
    batch = collate([fake_sample(1, 3, num_crowd=1), fake_sample(2, 4, num_crowd=2)], max_objects=3)
    assert batch.valid.tolist() == [[True, True, False], [True, True, False]]
    assert batch.crowd.tolist() == [[False, False, True], [False, False, True]]  # image 2's last crowd left out
    assert batch.truncated == [(2, 4)]


def test_dataloader_yields_batches(coco_files):
    dataset = make_dataset(coco_files, train=True, max_objects=4)
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=0,
                                         collate_fn=functools.partial(collate, max_objects=4))
    batches = list(loader)
    assert [len(batch.image_ids) for batch in batches] == [2, 1]
    assert all(isinstance(batch, Batch) and batch.valid.shape[1] == 4 for batch in batches)
    assert next(iter(torch.utils.data.DataLoader(dataset, batch_size=3, collate_fn=dataset.collate_fn()))).skipped == 0


def test_make_shapes_writes_a_valid_coco_dataset(tmp_path):
    make_shapes = load_script("make_shapes")
    paths = make_shapes.make_shapes(tmp_path / "shapes", num_train=12, num_val=4, image_size=64, seed=1)
    assert validate_coco(paths["train"], tmp_path / "shapes" / "train") == []
    assert validate_coco(paths["val"], tmp_path / "shapes" / "val") == []
    dataset = CocoDataset(paths["train"], tmp_path / "shapes" / "train", 64, train=False)
    assert dataset.category_ids == [1, 3, 7] and dataset.class_names == ["circle", "square", "triangle"]
    assert len(dataset) == 12 and len(dataset.coco.anns) >= 12
    annotation = next(iter(dataset.coco.anns.values()))
    assert annotation["iscrowd"] == 0 and annotation["area"] > 0 and set(annotation) >= {"id", "bbox", "image_id"}


def test_make_shapes_boxes_are_tight_around_the_drawn_shapes():
    make_shapes = load_script("make_shapes")
    rng = np.random.default_rng(0)
    for _ in range(20):
        image, instances = make_shapes.render_scene(rng, image_size=96)
        assert image.shape == (96, 96, 3) and image.dtype == np.uint8 and 1 <= len(instances) <= 5
        for instance in instances:
            x, y, width, height = (int(value) for value in instance.box_xywh)
            assert width >= 0.12 * 96 - 1 and height >= 0.12 * 96 * 0.5
            inside = np.zeros_like(instance.mask)
            inside[y:y + height, x:x + width] = True
            assert not (instance.mask & ~inside).any()  # nothing outside the box
            box_mask = instance.mask[y:y + height, x:x + width]
            # every edge of the box touches the shape
            assert box_mask[0].any() and box_mask[-1].any() and box_mask[:, 0].any() and box_mask[:, -1].any()


def test_make_shapes_long_tail_skews_training_classes(tmp_path):
    make_shapes = load_script("make_shapes")
    paths = make_shapes.make_shapes(tmp_path, num_train=60, num_val=1, image_size=48, long_tail=True,
                                    image_format="png")
    annotations = json.loads(Path(paths["train"]).read_text())["annotations"]
    categories = [annotation["category_id"] for annotation in annotations]
    assert categories.count(1) > categories.count(3) > categories.count(7)
    assert os.path.isfile(tmp_path / "val" / "000001.png")


def write_voc_xml(path: Path, file_name: str, width: int, height: int, objects: list[tuple]) -> None:
    parts = [f"<annotation><filename>{file_name}</filename>",
             f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>"]
    for name, difficult, (xmin, ymin, xmax, ymax) in objects:
        parts.append(f"<object><name>{name}</name><difficult>{difficult}</difficult><bndbox><xmin>{xmin}</xmin>"
                     f"<ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>")
    path.write_text("".join(parts) + "</annotation>")


def test_voc_to_coco_converts_a_tiny_tree(tmp_path):
    voc_to_coco = load_script("voc_to_coco")
    root = tmp_path / "VOC2007"
    for folder in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / folder).mkdir(parents=True)
    (root / "ImageSets/Main/train.txt").write_text("000005\n000007\n")
    write_voc_xml(root / "Annotations/000005.xml", "000005.jpg", 50, 40,
                  [("chair", 0, (1, 1, 20, 10)), ("person", 1, (5, 6, 50, 40))])
    write_voc_xml(root / "Annotations/000007.xml", "000007.jpg", 30, 30, [("tvmonitor", 0, (3, 4, 12, 14))])
    write_image(root / "JPEGImages/000005.jpg", 50, 40)
    write_image(root / "JPEGImages/000007.jpg", 30, 30)
    out = tmp_path / "voc.json"
    voc_to_coco.main(["--voc-root", str(root), "--split", "train", "--out", str(out)])
    coco = json.loads(out.read_text())
    assert [category["id"] for category in coco["categories"]] == list(range(1, 21))
    assert coco["categories"][8]["name"] == "chair"
    assert [image["file_name"] for image in coco["images"]] == ["000005.jpg", "000007.jpg"]
    chair, person, monitor = coco["annotations"]
    assert chair["bbox"] == [0, 0, 20, 10] and chair["category_id"] == 9 and chair["iscrowd"] == 0
    assert person["iscrowd"] == 1 and person["category_id"] == 15
    assert monitor["image_id"] == 2 and monitor["category_id"] == 20
    assert validate_coco(out, root / "JPEGImages") == []
    _, _, crowd = CocoDataset(out, root / "JPEGImages", 32, train=False).annotations(1)
    assert crowd.tolist() == [False, True]  # the difficult person is a crowd (ignore) region, not a target
    dropped = voc_to_coco.voc_to_coco([root], "train", drop_difficult=True)
    assert [annotation["category_id"] for annotation in dropped["annotations"]] == [9, 20]


def test_subset_coco_keeps_the_named_classes_of_an_image_range(coco_files, tmp_path):
    subset_coco = load_script("subset_coco")
    ann_file, image_dir = coco_files
    out = tmp_path / "subset.json"
    assert subset_coco.main([str(ann_file), str(out), "--classes", "NINE", "five", "--images", "1:"]) == 0
    subset = json.loads(out.read_text())
    assert [image["id"] for image in subset["images"]] == [7, 10]  # images sorted by id: 3, 7, 10
    assert sorted(category["id"] for category in subset["categories"]) == [5, 9]  # ids kept
    assert sorted(annotation["id"] for annotation in subset["annotations"]) == [1, 3]  # of image 10, classes 9, 5
    assert validate_coco(out, image_dir) == []  # a valid COCO file
    assert subset_coco.main([str(ann_file), str(out), "--classes", "seven"]) == 1
