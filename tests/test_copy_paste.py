"""Simple Copy-Paste (`centernet.data.mixing.copy_paste`, `centernet.data.instances`): the workers draw each object's
polygon pixels into an instance map; on the device a row receives the pixels, boxes, classes and points of the other
row's polygon objects (never crowd regions nor objects without a polygon), and its own objects hidden for more than
70 % of their pixels (`HIDDEN_SHARE_DROPPED`) are dropped."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest
import torch

from centernet.config import AugmentConfig, Config, DataConfig, TrainConfig
from centernet.data.coco import CocoDataset, collate
from centernet.data.mixing import BatchObjects, copy_paste, mix_batch
from centernet.engine.train import copy_paste_line


def objects_of(boxes: list[list[list[float]]], classes: list[list[int]], valid: list[list[bool]],
               crowd: list[list[bool]] | None = None) -> BatchObjects:
    """(B, M) slots from nested lists, each object with one point: its box centre, labelled where it is valid."""
    boxes_xyxy = torch.tensor(boxes, dtype=torch.float32)
    valid_tensor = torch.tensor(valid)
    crowd_tensor = torch.zeros_like(valid_tensor) if crowd is None else torch.tensor(crowd)
    points = ((boxes_xyxy[..., :2] + boxes_xyxy[..., 2:]) / 2)[:, :, None, :]  # (B, M, 1, 2)
    return BatchObjects(boxes_xyxy, torch.tensor(classes), valid_tensor, crowd_tensor, points,
                        valid_tensor[..., None].clone())


def random_images(batch: int, size: int) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0)) * 255


def test_a_pasted_object_brings_its_polygon_pixels_box_class_and_point():
    images = random_images(2, 16)
    instance_map = torch.zeros(2, 16, 16, dtype=torch.int16)
    instance_map[0, 0:4, 0:4] = 1  # row 0's own object, far from the pasted one
    instance_map[1, 4:10, 6:12] = 1  # row 1's object: an L shape inside its box 6, 4, 12, 10
    instance_map[1, 4:7, 9:12] = 0
    objects = objects_of([[[0, 0, 4, 4], [0, 0, 0, 0]], [[6, 4, 12, 10], [0, 0, 0, 0]]], [[2, 0], [5, 0]],
                         [[True, False], [True, False]])
    pasted, mixed = copy_paste(images, objects, instance_map, torch.tensor([True, False]), torch.tensor([1, 0]))
    inside = instance_map[1] > 0
    assert torch.equal(pasted[0], torch.where(inside, images[1], images[0]))  # the polygon's pixels, not its box's
    assert mixed.valid.tolist() == [[True, False, True, False], [True, False, False, False]]
    assert mixed.classes[0, 2] == 5
    torch.testing.assert_close(mixed.boxes_xyxy[0, 2], torch.tensor([6.0, 4, 12, 10]))
    torch.testing.assert_close(mixed.points[0, 2, 0], torch.tensor([9.0, 7.0]))
    assert mixed.point_labelled[0, 2].all() and not mixed.crowd.any()
    assert torch.equal(pasted[1], images[1])  # the row not applied


def test_own_objects_hidden_beyond_the_share_are_dropped_and_others_kept():
    images = random_images(2, 20)
    instance_map = torch.zeros(2, 20, 20, dtype=torch.int16)
    # row 0: four 2 x 10 pixel bands; the last (slot 3) has no polygon, only its box
    for slot, top in enumerate((0, 4, 8)):
        instance_map[0, top:top + 2, 0:10] = slot + 1
    # row 1: one object covering all of band 0, 60 % of band 1, 80 % of band 2 and all of band 3's box
    instance_map[1, 0:2, 0:10] = 1
    instance_map[1, 4:6, 0:6] = 1
    instance_map[1, 8:10, 0:8] = 1
    instance_map[1, 12:14, 0:10] = 1
    objects = objects_of([[[0, 0, 10, 2], [0, 4, 10, 6], [0, 8, 10, 10], [0, 12, 10, 14]],
                          [[0, 0, 10, 14], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]],
                         [[0, 1, 2, 3], [4, 0, 0, 0]], [[True] * 4, [True, False, False, False]])
    _, mixed = copy_paste(images, objects, instance_map, torch.tensor([True, False]), torch.tensor([1, 0]))
    # hidden 100 %: dropped; 60 %: kept; 80 %: dropped (above the share, 70 %); no polygon: kept; then the pasted one
    assert mixed.valid[0].tolist() == [False, True, False, True, True, False, False, False]
    assert mixed.point_labelled[0, :4, 0].tolist() == [False, True, False, True]
    assert mixed.valid[1].tolist() == [True] + [False] * 7  # the row that gave, unchanged


def test_crowd_regions_and_objects_without_a_polygon_are_not_pasted():
    images = random_images(2, 16)
    instance_map = torch.zeros(2, 16, 16, dtype=torch.int16)
    instance_map[1, 10:14, 10:14] = 2  # a crowd region with pixels (the workers draw none, but it must not pass)
    instance_map[1, 0:3, 12:16] = 3  # an object with a polygon
    # row 1: slot 0 an object without a polygon (no pixels), slot 1 the crowd region, slot 2 the polygon object
    objects = objects_of([[[0, 0, 0, 0]] * 3, [[2, 2, 8, 8], [10, 10, 14, 14], [12, 0, 16, 3]]],
                         [[0, 0, 0], [1, 2, 3]], [[False] * 3, [True, False, True]],
                         crowd=[[False] * 3, [False, True, False]])
    pasted, mixed = copy_paste(images, objects, instance_map, torch.tensor([True, False]), torch.tensor([1, 0]))
    assert mixed.valid[0, 3:].tolist() == [False, False, True] and not mixed.crowd[0].any()
    assert not mixed.point_labelled[0, 3:5].any()
    assert torch.equal(pasted[0], torch.where(instance_map[1] == 3, images[1], images[0]))


def test_rows_not_applied_are_left_as_they_were():
    images = random_images(2, 16)
    instance_map = torch.zeros(2, 16, 16, dtype=torch.int16)
    instance_map[:, 4:12, 4:12] = 1  # each row's object covers the other's whole
    objects = objects_of([[[4, 4, 12, 12]], [[4, 4, 12, 12]]], [[0], [1]], [[True], [True]])
    pasted, mixed = copy_paste(images, objects, instance_map, torch.tensor([False, False]), torch.tensor([1, 0]))
    assert torch.equal(pasted, images)
    assert mixed.valid.tolist() == [[True, False], [True, False]]
    assert mixed.classes[:, 0].tolist() == [0, 1] and not mixed.point_labelled[:, 1].any()


def test_mix_batch_draws_copy_paste_only_when_its_probability_is_set():
    images = random_images(4, 16)
    instance_map = torch.zeros(4, 16, 16, dtype=torch.int16)
    instance_map[:, 2:6, 2:6] = 1
    objects = objects_of([[[2, 2, 6, 6]]] * 4, [[0], [1], [2], [3]], [[True]] * 4)
    # at probability 0 the generator draws as it always did: the same mosaic as without the option
    plain = mix_batch(images, objects, 1.0, 0.0, torch.Generator().manual_seed(3))
    off = mix_batch(images, objects, 1.0, 0.0, torch.Generator().manual_seed(3), copy_paste_probability=0.0,
                    instance_map=instance_map)
    assert torch.equal(plain[0], off[0]) and torch.equal(plain[1].boxes_xyxy, off[1].boxes_xyxy)
    pasted_images, pasted = mix_batch(images, objects, 0.0, 0.0, torch.Generator().manual_seed(3),
                                      copy_paste_probability=1.0, instance_map=instance_map)
    # every row received another row's square on its own: its own object dropped, the other's in slot 1
    assert pasted.valid.tolist() == [[False, True]] * 4
    assert all(pasted.classes[row, 1] != row for row in range(4))
    assert not torch.equal(pasted_images, images)
    with pytest.raises(ValueError, match="instance map"):
        mix_batch(images, objects, 0.0, 0.0, torch.Generator(), copy_paste_probability=0.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_copy_paste_on_cuda_equals_the_cpu():
    images = random_images(3, 32)
    instance_map = torch.randint(0, 4, (3, 32, 32), generator=torch.Generator().manual_seed(1)).to(torch.int16)
    objects = objects_of([[[0, 0, 8, 8], [8, 8, 16, 16], [16, 16, 24, 24]]] * 3, [[0, 1, 2]] * 3,
                         [[True, True, False]] * 3, crowd=[[False, False, True]] * 3)
    apply, other = torch.tensor([True, True, False]), torch.tensor([1, 2, 0])
    cpu_images, cpu_objects = copy_paste(images, objects, instance_map, apply, other)
    on_cuda = BatchObjects(**{name: value.cuda() for name, value in objects._tensors().items()})
    cuda_images, cuda_objects = copy_paste(images.cuda(), on_cuda, instance_map.cuda(), apply, other)
    assert torch.equal(cuda_images.cpu(), cpu_images)
    for name, value in cpu_objects._tensors().items():
        assert torch.equal(getattr(cuda_objects, name).cpu(), value), name


def write_polygon_dataset(folder) -> str:
    """One 32 x 32 image: a triangle (4, 4), (16, 4), (4, 16) lying on a square 2..24, an object without a
    segmentation, one with an RLE mask, and a crowd region with a polygon (their slots 0 to 4)."""
    cv2.imwrite(str(folder / "a.png"), np.zeros((32, 32, 3), np.uint8))
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 4, 12, 12], "area": 72, "iscrowd": 0,
         "segmentation": [[4, 4, 16, 4, 4, 16]]},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [2, 2, 22, 22], "area": 484, "iscrowd": 0,
         "segmentation": [[2, 2, 24, 2, 24, 24, 2, 24]]},
        {"id": 3, "image_id": 1, "category_id": 1, "bbox": [26, 26, 4, 4], "area": 16, "iscrowd": 0},
        {"id": 5, "image_id": 1, "category_id": 1, "bbox": [26, 0, 4, 4], "area": 16, "iscrowd": 0,
         "segmentation": {"counts": [832, 4, 28, 4, 28, 4, 28, 4, 92], "size": [32, 32]}},
        {"id": 4, "image_id": 1, "category_id": 1, "bbox": [0, 26, 6, 6], "area": 36, "iscrowd": 1,
         "segmentation": [[0, 26, 6, 26, 6, 32, 0, 32]]},
    ]
    data = {"images": [{"id": 1, "file_name": "a.png", "width": 32, "height": 32}],
            "categories": [{"id": 1, "name": "thing"}], "annotations": annotations}
    (folder / "ann.json").write_text(json.dumps(data))
    return str(folder / "ann.json")


def test_the_workers_draw_each_polygon_warped_into_the_instance_map(tmp_path):
    ann = write_polygon_dataset(tmp_path)
    flip_only = AugmentConfig(scale=0.0, shift=0.0, flip_probability=1.0, color_jitter=0.0, pca_lighting=0.0,
                              copy_paste=0.5)  # the affine is a horizontal flip: x -> 32 - x
    sample = CocoDataset(ann, tmp_path, 32, train=True, augment=flip_only)[0]
    instance_map = sample.instance_map
    assert instance_map.dtype == torch.int16 and instance_map.shape == (32, 32)
    assert sorted(instance_map.unique().tolist()) == [0, 1, 2]  # none for the box-only, RLE or crowd objects
    assert instance_map[5, 26] == 1  # the mirrored triangle, drawn over the larger square
    assert instance_map[14, 17] == 2  # the square, outside the triangle
    assert instance_map[5, 5] == 0  # the triangle's place before the flip: outside both mirrored shapes
    # cv2 rounds the edges to the nearest pixel centre: columns 4..16 (before the flip), 13 pixels tall down to 1
    assert (instance_map == 1).sum() == sum(range(1, 14))
    batch = collate([sample, None], max_objects=4)
    assert torch.equal(batch.instance_map, instance_map[None])
    assert batch.to("meta").instance_map.device.type == "meta"
    assert sorted(collate([sample], max_objects=1).instance_map.unique().tolist()) == [0, 1]  # slot 1 left out


def test_no_instance_map_is_drawn_without_copy_paste_or_for_validation(tmp_path):
    ann = write_polygon_dataset(tmp_path)
    assert CocoDataset(ann, tmp_path, 32, train=True, augment=AugmentConfig(copy_paste=0.0))[0].instance_map is None
    assert CocoDataset(ann, tmp_path, 32, train=True)[0].instance_map is not None  # on by default
    validation = CocoDataset(ann, tmp_path, 32, train=False, augment=AugmentConfig(copy_paste=1.0))[0]
    assert validation.instance_map is None and collate([validation], max_objects=4).instance_map is None


def test_training_says_how_many_objects_copy_paste_can_paste(tmp_path):
    ann = write_polygon_dataset(tmp_path)  # four objects (a crowd region aside), two of them with a polygon
    config = Config(data=DataConfig(train_ann=ann, train_images=str(tmp_path), input_size=32),
                    train=TrainConfig(out=str(tmp_path / "run"), epochs=10))
    train_set = CocoDataset(ann, tmp_path, 32, train=True)
    assert copy_paste_line(train_set, config) == ("copy-paste: 2 of the 4 training objects have polygons; with "
                                                  "probability 1 an image gets those of another image of its "
                                                  "batch, in epochs 1-8 of 10")
    short = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=2))
    assert copy_paste_line(train_set, short) == "copy-paste: off in this run (its 2 epochs are all --plain-last-epochs)"
    off = dataclasses.replace(config, data=dataclasses.replace(config.data, augment=AugmentConfig(copy_paste=0.0)))
    assert copy_paste_line(train_set, off) is None
    for annotation in train_set.coco.anns.values():  # boxes only
        annotation.pop("segmentation", None)
    assert copy_paste_line(train_set, config).startswith("copy-paste: none of the 4 training objects has a polygon")
