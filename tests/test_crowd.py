"""Crowd regions (COCO iscrowd, VOC difficult) are ignore regions in training, as they are in COCO evaluation.

The hand-built case, on an 8 x 8 output map (stride 4, input 32 x 32), one crowd region and two real objects:
- crowd region of class 0, input box (8, 8, 24, 20) -> output (2, 2, 6, 5): the pixels it overlaps are
  x in 2..5, y in 2..4 (pixel x covers [x, x + 1), so x = 5 overlaps up to 6 and x = 6 does not);
- a real class-0 object inside it, input box (12, 12, 20, 16) -> output (3, 3, 5, 4): centre (4, 3.5), peak (4, 3),
  which stays a positive;
- a real class-1 object over part of the region, input box (0, 8, 16, 20): class 1's channel ignores nothing.
"""

import json

import pytest
import torch

from centernet.cli import main
from centernet.engine.auroc import HeatmapAUROC
from centernet.losses import aggregate, penalty_reduced_focal_loss
from centernet.targets import encode_targets_batched
from tests.reference import log_sigmoid_focal_loss

CROWD_PIXELS = {(x, y) for x in range(2, 6) for y in range(2, 5)}
PEAK = (4, 3)


def hand_built_batch():
    boxes = torch.tensor([[[8.0, 8, 24, 20], [12, 12, 20, 16], [0, 8, 16, 20]]])
    classes = torch.tensor([[0, 0, 1]])
    valid = torch.tensor([[False, True, True]])
    crowd = torch.tensor([[True, False, False]])
    return encode_targets_batched(boxes, classes, valid, num_classes=2, output_size=(8, 8), gaussian="round",
                                  step=None, crowd=crowd)


def test_the_ignore_mask_covers_the_crowd_box_in_its_class_channel_except_real_peaks():
    targets = hand_built_batch()
    expected = torch.zeros(1, 2, 8, 8, dtype=torch.bool)
    for x, y in CROWD_PIXELS - {PEAK}:
        expected[0, 0, y, x] = True
    assert torch.equal(targets.ignore, expected)
    assert targets.heatmap[0, 0, PEAK[1], PEAK[0]] == 1  # the real object's peak inside the region
    assert targets.mask[0].tolist() == [0, 1, 1]  # the crowd slot is no object


def test_without_crowd_regions_nothing_is_ignored():
    boxes = torch.tensor([[[12.0, 12, 20, 16]]])
    targets = encode_targets_batched(boxes, torch.tensor([[0]]), torch.tensor([[True]]), 2, (8, 8), gaussian="round",
                                     step=None, crowd=torch.tensor([[False]]))
    assert targets.ignore is None


CRITERIA = {
    "penalty_reduced (log-sigmoid oracle)": log_sigmoid_focal_loss,
    **{f"--hm-loss {name}": criterion for name, criterion in aggregate.HEATMAP_CRITERIA.items()},
}


@pytest.mark.parametrize("name", list(CRITERIA))
def test_every_heatmap_criterion_ignores_crowd_pixels_but_keeps_real_peaks(name):
    criterion = CRITERIA[name]
    targets = hand_built_batch()
    generator = torch.Generator().manual_seed(0)
    logits = (torch.randn(1, 2, 8, 8, generator=generator) * 2).requires_grad_()
    loss = criterion(logits, targets.heatmap, ignore=targets.ignore)
    loss.backward()
    ignored = targets.ignore
    assert (logits.grad[ignored] == 0).all()  # ignored pixels: neither positive nor negative
    assert logits.grad[0, 0, PEAK[1], PEAK[0]] != 0  # the peak inside the region still learns
    assert (logits.grad[~ignored] != 0).sum() > 0.5 * (~ignored).sum()
    # confident false positives in the crowd region cost nothing...
    shifted = logits.detach().masked_fill(ignored, 12.0)
    assert criterion(shifted, targets.heatmap, ignore=ignored).item() == pytest.approx(loss.item(), rel=1e-5)
    # ...while without the mask they are expensive negatives: the focal losses sum over pixels (per peak), the MSE
    # averages over them, so there each ignored pixel adds about its own squared error / the pixel count
    margin = 0.25 * ignored.sum().item() / ignored.numel() if name == "--hm-loss mse" else 1.0
    assert criterion(shifted, targets.heatmap).item() > loss.item() + margin


def test_the_penalty_reduced_loss_with_ignore_equals_the_formula_over_the_kept_pixels():
    targets = hand_built_batch()
    logits = torch.randn(1, 2, 8, 8, generator=torch.Generator().manual_seed(1)) * 2
    p, y = torch.sigmoid(logits.double()), targets.heatmap.double()
    per_pixel = torch.where(y == 1, (1 - p) ** 2 * torch.log(p), (1 - y) ** 4 * p**2 * torch.log(1 - p))
    expected = -per_pixel[~targets.ignore].sum() / (y == 1).sum()
    for criterion in (log_sigmoid_focal_loss, penalty_reduced_focal_loss):
        assert criterion(logits, targets.heatmap, ignore=targets.ignore).item() == pytest.approx(expected.item(),
                                                                                                 rel=1e-5)


def test_heatmap_auroc_does_not_count_ignored_pixels_as_negatives():
    targets = hand_built_batch()
    scores = torch.full((1, 2, 8, 8), 0.1)
    scores[0, 0, PEAK[1], PEAK[0]] = 0.5
    for x, y in CROWD_PIXELS - {PEAK}:
        scores[0, 0, y, x] = 0.9  # confident in the crowd: no false positive there
    with_ignore, without = HeatmapAUROC(2), HeatmapAUROC(2)
    with_ignore.update(scores, targets.heatmap, targets.ignore)
    without.update(scores, targets.heatmap)
    assert with_ignore.compute()[0] == 1.0 and without.compute()[0] < 1.0


def test_training_passes_crowd_regions_to_the_heatmap_loss(shapes, tmp_path, monkeypatch):
    """A crowd annotation in the training json reaches the loss as an ignore mask over its box."""
    data = json.loads((shapes / "annotations/train.json").read_text())
    image = data["images"][0]
    crowd_box = [4.0, 4.0, 24.0, 20.0]
    data["annotations"].append({"id": 10_000, "image_id": image["id"], "category_id": 3, "bbox": crowd_box,
                                "area": 480.0, "iscrowd": 1})
    ann_file = tmp_path / "train_crowd.json"
    ann_file.write_text(json.dumps(data))
    seen = []
    criterion = aggregate.HEATMAP_CRITERIA["penalty_reduced"]

    def recording(logits, target, class_weights=None, ignore=None):
        seen.append(None if ignore is None else ignore.clone())
        return criterion(logits, target, class_weights=class_weights, ignore=ignore)

    monkeypatch.setitem(aggregate.HEATMAP_CRITERIA, "penalty_reduced", recording)
    assert main(["train", "--train-ann", str(ann_file), "--train-images", str(shapes / "train"), "--out",
                 str(tmp_path / "run"), "--input-size", "64", "--epochs", "1", "--batch-size", "16", "--workers", "0",
                 "--device", "cpu", "--no-scale", "--no-shift", "--no-flip", "--no-color"]) == 0
    assert len(seen) == 1 and seen[0] is not None
    # the only crowd region: category 3 is class index 1 (ids 1, 3, 7), one image of the batch, about its box
    planes = seen[0].any(dim=(2, 3)).nonzero().tolist()
    assert len(planes) == 1 and planes[0][1] == 1
    assert 10 <= int(seen[0].sum()) <= 40  # the box covers (24 / 4) x (20 / 4) = 30 output pixels, letterbox aside
