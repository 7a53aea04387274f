"""`centernet train` loss options reach the training: --hm-loss picks the heatmap criterion that is called,
--class-balance gives it the class-balanced weights of the training set, and config.json records both.

Every heatmap criterion in `HEATMAP_CRITERIA` is wrapped by one that records its calls, then one epoch runs on
the tiny shapes dataset (16 images of 64 px, no validation set).
"""

import json
from collections import Counter
from pathlib import Path

import pytest
import torch

from centernet.cli import main
from centernet.losses import aggregate
from centernet.losses.focal import class_balanced_weights

HM_LOSSES = ("penalty_reduced", "quality_focal", "sigmoid_focal", "mse", "iou_aware")


def recording(name, criterion, calls):
    """`criterion`, appending the class_weights of each call (None or a CPU copy) to calls[name]."""
    def criterion_that_records(logits, target, class_weights=None, **options):
        calls[name].append(None if class_weights is None else class_weights.detach().cpu().clone())
        return criterion(logits, target, class_weights=class_weights, **options)
    return criterion_that_records


@pytest.fixture
def heatmap_calls(monkeypatch) -> dict[str, list]:
    """--hm-loss name -> the class_weights of each call its criterion got."""
    assert set(aggregate.HEATMAP_CRITERIA) == set(HM_LOSSES)  # a new choice needs a case here
    calls = {name: [] for name in HM_LOSSES}
    for name, criterion in list(aggregate.HEATMAP_CRITERIA.items()):
        monkeypatch.setitem(aggregate.HEATMAP_CRITERIA, name, recording(name, criterion, calls))
    return calls


@pytest.fixture
def train_ann_with_a_crowd(shapes, tmp_path) -> Path:
    """The shapes training annotations with one triangle (category 7) marked as a crowd, which no count includes."""
    dataset = json.loads((shapes / "annotations/train.json").read_text())
    next(a for a in dataset["annotations"] if a["category_id"] == 7)["iscrowd"] = 1
    path = tmp_path / "train_with_a_crowd.json"
    path.write_text(json.dumps(dataset))
    return path


def non_crowd_counts(ann_path: Path) -> list[int]:
    """Objects per class, not counting crowds, classes in the order of their category ids."""
    dataset = json.loads(ann_path.read_text())
    counts = Counter(a["category_id"] for a in dataset["annotations"] if not a.get("iscrowd", 0))
    return [counts[category["id"]] for category in sorted(dataset["categories"], key=lambda c: c["id"])]


def train_one_epoch(train_ann: Path, images: Path, out: Path, *options: str) -> dict:
    """Run `centernet train` for one epoch; returns the run's config.json."""
    assert main(["train", "--train-ann", str(train_ann), "--train-images", str(images), "--out", str(out),
                 "--input-size", "64", "--epochs", "1", "--batch-size", "4", "--workers", "0", "--device", "cpu",
                 *options]) == 0
    return json.loads((out / "config.json").read_text())


@pytest.mark.parametrize("hm_loss", HM_LOSSES)
def test_hm_loss_is_the_heatmap_criterion_called(hm_loss, shapes, tmp_path, heatmap_calls):
    config = train_one_epoch(shapes / "annotations/train.json", shapes / "train", tmp_path / "run",
                             "--hm-loss", hm_loss)
    assert {name for name, calls in heatmap_calls.items() if calls} == {hm_loss}
    assert all(weights is None for weights in heatmap_calls[hm_loss])  # no --class-balance: no class weights
    assert config["loss"]["heatmap_loss"] == hm_loss and config["loss"]["class_balance"] is None


@pytest.mark.parametrize("hm_loss", HM_LOSSES)
def test_class_balance_weights_the_heatmap_criterion_by_non_crowd_counts(hm_loss, shapes, tmp_path, heatmap_calls,
                                                                         train_ann_with_a_crowd):
    counts = non_crowd_counts(train_ann_with_a_crowd)
    assert counts == [13, 16, 17]  # circles, squares, triangles (18, one of them a crowd): distinct weights
    expected = class_balanced_weights(counts, 0.99)
    config = train_one_epoch(train_ann_with_a_crowd, shapes / "train", tmp_path / "run", "--hm-loss", hm_loss,
                             "--class-balance", "0.99")
    assert {name for name, calls in heatmap_calls.items() if calls} == {hm_loss}
    for weights in heatmap_calls[hm_loss]:
        assert weights is not None
        torch.testing.assert_close(weights, expected)
    assert config["loss"]["heatmap_loss"] == hm_loss and config["loss"]["class_balance"] == 0.99
