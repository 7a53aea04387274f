"""Mosaic and mix-up on the training device (`centernet.data.mixing`): the objects, crowd regions and points follow
the pixels, rows left alone stay as they were, empty tiles add nothing, and a training run takes both options (and
copy-paste's, whose own tests are in test_copy_paste.py)."""

from __future__ import annotations

import json

import torch

from centernet.data.mixing import BatchObjects, mix_batch, mixup, mosaic, partners


def square_batch() -> tuple[torch.Tensor, BatchObjects]:
    """Four 64 x 64 black images, image i with a white square (its object, class i) at (8 + 8i, 16)-(24 + 8i, 32),
    a point at its centre; image 3 has no object, and image 2's object is a crowd region."""
    images = torch.zeros(4, 3, 64, 64)
    boxes = torch.zeros(4, 1, 4)
    for row in range(3):
        x = 8 + 8 * row
        images[row, :, 16:32, x:x + 16] = 255
        boxes[row, 0] = torch.tensor([x, 16, x + 16, 32])
    valid = torch.tensor([[True], [True], [False], [False]])
    crowd = torch.tensor([[False], [False], [True], [False]])
    points = ((boxes[:, :, :2] + boxes[:, :, 2:]) / 2)[:, :, None, :]  # (4, 1, 1, 2)
    return images, BatchObjects(boxes, torch.arange(4)[:, None], valid, crowd, points, valid[..., None].clone())


def test_a_mosaic_tiles_four_half_images_and_their_objects_follow_the_pixels():
    images, objects = square_batch()
    apply = torch.tensor([True, False, False, False])
    tiled, moved = mosaic(images, objects, apply, torch.tensor([[1, 2, 3]] * 4))
    assert moved.boxes_xyxy.shape == (4, 4, 4)  # 4 slots: the sample's own, then one per other tile
    # row 0: its own square halved, top left; image 1's top right; image 2's (a crowd region) bottom left
    torch.testing.assert_close(moved.boxes_xyxy[0, :3], torch.tensor([[4.0, 8, 12, 16], [40, 8, 48, 16],
                                                                      [12, 40, 20, 48]]))
    assert moved.valid[0].tolist() == [True, True, False, False] and moved.crowd[0].tolist() == [False, False, True,
                                                                                               False]
    assert moved.classes[0].tolist() == [0, 1, 2, 3]
    for x1, y1, x2, y2 in moved.boxes_xyxy[0, :3].long().tolist():
        assert (tiled[0, :, y1:y2, x1:x2] == 255).all()  # each box holds its white square
    assert tiled[0].sum() == 3 * (8 * 8 * 255 * 3)  # three quarter-size squares, image 3's tile empty
    torch.testing.assert_close(moved.points[0, 1, 0], torch.tensor([44.0, 12.0]))  # image 1's point, moved
    # the rows left alone: their image, their own slot as it was, the other slots empty
    assert torch.equal(tiled[1:], images[1:])
    torch.testing.assert_close(moved.boxes_xyxy[1:, 0], objects.boxes_xyxy[1:, 0])
    assert not moved.valid[1:, 1:].any() and not moved.crowd[1:, 1:].any() and not moved.point_labelled[1:, 1:].any()


def test_mixup_blends_two_images_half_and_half_with_both_objects():
    images, objects = square_batch()
    apply = torch.tensor([True, False, False, False])
    blended, mixed = mixup(images, objects, apply, torch.tensor([1, 0, 0, 0]))
    torch.testing.assert_close(blended[0], (images[0] + images[1]) / 2)
    assert torch.equal(blended[1:], images[1:])
    assert mixed.valid.tolist() == [[True, True], [True, False], [False, False], [False, False]]
    torch.testing.assert_close(mixed.boxes_xyxy[0], objects.boxes_xyxy[[0, 1], 0])
    assert mixed.crowd.tolist() == [[False, False], [False, False], [True, False], [False, False]]


def test_nothing_is_drawn_or_changed_at_probability_zero_and_partners_are_other_rows():
    images, objects = square_batch()
    generator = torch.Generator().manual_seed(0)
    same_images, same_objects = mix_batch(images.to(torch.uint8), objects, 0.0, 0.0, generator)
    assert same_images.dtype == torch.uint8 and same_objects is objects
    assert torch.equal(generator.get_state(), torch.Generator().manual_seed(0).get_state())
    chosen = partners(4, 3, torch.Generator().manual_seed(1))
    for row, others in enumerate(chosen.tolist()):
        assert row not in others and len(set(others)) == 3
    assert partners(2, 3, torch.Generator().manual_seed(1)).tolist() == [[1, 1, 1], [0, 0, 0]]
    mixed_images, mixed = mix_batch(images.to(torch.uint8), objects, 1.0, 1.0, torch.Generator().manual_seed(2))
    assert mixed_images.dtype == torch.float32 and mixed.valid.shape == (4, 8)


def test_training_with_copy_paste_mosaic_and_mixup_turns_them_off_for_the_last_epochs(shapes, tmp_path, monkeypatch):
    from centernet.cli import main
    from centernet.engine import train as engine

    calls = []
    real = engine.mix_batch

    def recorded(*args, **kwargs):
        calls.append((*args[2:4], kwargs["copy_paste_probability"], tuple(kwargs["instance_map"].shape)))
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "mix_batch", recorded)
    assert main(["train", "--train-ann", str(shapes / "annotations/train.json"), "--train-images",
                 str(shapes / "train"), "--out", str(tmp_path / "run"), "--input-size", "64", "--epochs", "2",
                 "--batch-size", "8", "--workers", "0", "--device", "cpu", "--mosaic", "1", "--mixup", "0.5",
                 "--copy-paste", "0.5", "--plain-last-epochs", "1"]) == 0
    assert calls == [(1.0, 0.5, 0.5, (8, 64, 64))] * 2  # the 2 steps of epoch 1, with the workers' instance maps
    config = json.loads((tmp_path / "run/config.json").read_text())
    augment = config["data"]["augment"]
    assert augment["mosaic"] == 1.0 and augment["copy_paste"] == 0.5 and augment["plain_last_epochs"] == 1
