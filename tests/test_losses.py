"""The CenterNet losses and the aggregator, against straightforward formulas and at saturation."""

import math

import pytest
import torch

from centernet.config import LossConfig, ModelConfig
from centernet.losses import DetectionLoss, masked_l1_loss, penalty_reduced_focal_loss
from centernet.structures import Targets
from centernet.targets import encode_targets_batched
from centernet.tasks import build_criterion, task_for
from tests.reference import reference_focal_loss

CENTER_BOXES = task_for(ModelConfig(box_head="center"))  # the reference's heads: heatmap, size and offset


def straightforward_focal(logits, target, alpha=2.0, beta=4.0):
    p = torch.sigmoid(logits.double())
    target = target.double()
    positive = target == 1
    loss = torch.where(positive, (1 - p) ** alpha * torch.log(p), (1 - target) ** beta * p**alpha * torch.log(1 - p))
    return -loss.sum() / max(int(positive.sum()), 1)


def gaussian_like_target(shape, peaks=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    target = torch.rand(shape, generator=generator) * 0.9
    flat = target.view(-1)
    flat[torch.randperm(flat.numel(), generator=generator)[:peaks]] = 1.0
    return target


def test_penalty_reduced_focal_loss_equals_the_formula():
    logits = torch.randn(2, 3, 8, 8) * 3
    target = gaussian_like_target(logits.shape)
    expected = straightforward_focal(logits, target)
    assert penalty_reduced_focal_loss(logits, target).item() == pytest.approx(expected.item(), rel=1e-5)
    assert penalty_reduced_focal_loss(logits, target, alpha=1.5, beta=3.0).item() == pytest.approx(
        straightforward_focal(logits, target, 1.5, 3.0).item(), rel=1e-5)


def test_penalty_reduced_focal_loss_equals_the_reference_where_no_clamp_bites():
    logits = torch.randn(2, 4, 16, 16).clamp(-5, 5)
    target = gaussian_like_target(logits.shape, peaks=5)
    torch.testing.assert_close(penalty_reduced_focal_loss(logits, target), reference_focal_loss(logits, target))


def test_no_positive_map_is_summed_not_divided():
    logits = torch.full((1, 2, 4, 4), -1.0)
    target = torch.zeros(1, 2, 4, 4)
    p = 1 / (1 + math.e)
    expected = -32 * p**2 * math.log(1 - p)
    assert penalty_reduced_focal_loss(logits, target).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("magnitude", [60.0, 80.0])
def test_saturated_logits_give_finite_values_and_gradients(magnitude):
    target = gaussian_like_target((1, 2, 6, 6), peaks=2)
    right = torch.where(target == 1, magnitude, -magnitude).requires_grad_()
    wrong = torch.where(target == 1, -magnitude, magnitude).requires_grad_()
    right_loss = penalty_reduced_focal_loss(right, target)
    wrong_loss = penalty_reduced_focal_loss(wrong, target)
    (right_loss + wrong_loss).backward()
    assert right_loss.item() == pytest.approx(0, abs=1e-6)
    assert math.isfinite(wrong_loss.item()) and wrong_loss.item() > magnitude  # keeps learning past the clamp
    assert torch.isfinite(right.grad).all() and torch.isfinite(wrong.grad).all()
    assert wrong.grad.abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_finite_under_cpu_autocast(dtype):
    target = gaussian_like_target((1, 2, 6, 6), peaks=2)
    weight = torch.randn(2, 2, 1, 1, requires_grad=True)
    features = torch.randn(1, 2, 6, 6) * 100
    with torch.autocast("cpu", dtype=dtype):
        logits = torch.nn.functional.conv2d(features, weight)
        loss = penalty_reduced_focal_loss(logits, target)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss) and torch.isfinite(weight.grad).all()


def test_class_weights_scale_each_channel():
    logits = torch.randn(1, 2, 5, 5)
    target = gaussian_like_target(logits.shape, peaks=2)
    only_first = penalty_reduced_focal_loss(logits, target, class_weights=torch.tensor([1.0, 0.0]))
    positives = int((target == 1).sum())
    manual = straightforward_focal(logits[:, :1], target[:, :1]) * max(int((target[:, :1] == 1).sum()), 1)
    assert only_first.item() == pytest.approx(manual.item() / max(positives, 1), rel=1e-5)
    torch.testing.assert_close(penalty_reduced_focal_loss(logits, target, class_weights=torch.ones(2)),
                               penalty_reduced_focal_loss(logits, target))


def test_masked_l1_loss_hand_computed():
    pred = torch.zeros(1, 2, 2, 3)
    pred[0, :, 1, 2] = torch.tensor([3.0, 5.0])  # pixel (x 2, y 1) -> index 5
    index = torch.tensor([[5, 0]])
    mask = torch.tensor([[1.0, 0.0]])
    target = torch.tensor([[[2.0, 7.0], [100.0, 100.0]]])  # second slot is masked out
    expected = (1 + 2) / (1 * 2 + 1e-4)
    assert masked_l1_loss(pred, index, mask, target).item() == pytest.approx(expected, rel=1e-6)


def test_masked_l1_loss_is_zero_with_finite_gradient_without_objects():
    pred = torch.randn(2, 2, 4, 4, requires_grad=True)
    loss = masked_l1_loss(pred, torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3), torch.ones(2, 3, 2))
    loss.backward()
    assert loss.item() == 0 and torch.isfinite(pred.grad).all()


def empty_and_full_targets():
    boxes = torch.tensor([[[0.0, 0, 0, 0]], [[8, 8, 40, 40]]])
    return encode_targets_batched(boxes, torch.zeros(2, 1, dtype=torch.long), torch.tensor([[False], [True]]), 3,
                                  (16, 16), gaussian="round", step=None)


def test_aggregator_returns_weighted_total_and_detached_stats():
    outputs = {"heatmap": torch.randn(2, 3, 16, 16, requires_grad=True), "size": torch.randn(2, 2, 16, 16),
               "offset": torch.randn(2, 2, 16, 16)}
    targets = empty_and_full_targets()
    total, stats = build_criterion(CENTER_BOXES, LossConfig())(outputs, targets)
    assert set(stats) == {"loss", "heatmap_loss", "size_loss", "offset_loss"}
    expected = stats["heatmap_loss"] + 0.1 * stats["size_loss"] + stats["offset_loss"]
    torch.testing.assert_close(total.detach(), expected)
    assert all(not value.requires_grad for value in stats.values())
    total.backward()
    assert torch.isfinite(outputs["heatmap"].grad).all()


@pytest.mark.parametrize("class_weights", [None, torch.tensor([0.5, 1.0, 2.0])])
def test_aggregator_terms_are_their_criteria_with_their_own_weights(class_weights):
    """Each returned term equals its criterion computed directly on the same tensors, and the total is the
    weighted sum with weights that differ from one another (and from the defaults), so a swapped term or
    weight changes the result."""
    generator = torch.Generator().manual_seed(0)
    outputs = {"heatmap": torch.randn(2, 3, 16, 16, generator=generator),
               "size": torch.rand(2, 2, 16, 16, generator=generator) * 10,  # far from the targets: a large L1
               "offset": torch.rand(2, 2, 16, 16, generator=generator)}  # within a pixel: a small L1
    targets = empty_and_full_targets()
    config = LossConfig(heatmap_weight=0.5, size_weight=0.3, offset_weight=2.0)
    total, stats = build_criterion(CENTER_BOXES, config, class_weights)(outputs, targets)
    heatmap = penalty_reduced_focal_loss(outputs["heatmap"], targets.heatmap, class_weights=class_weights)
    size = masked_l1_loss(outputs["size"], targets.index, targets.mask, targets.size)
    offset = masked_l1_loss(outputs["offset"], targets.index, targets.mask, targets.offset)
    assert size.item() > 2 * offset.item() > 0  # the two L1 terms are far apart, so a swap is visible
    torch.testing.assert_close(stats["heatmap_loss"], heatmap)
    torch.testing.assert_close(stats["size_loss"], size)
    torch.testing.assert_close(stats["offset_loss"], offset)
    expected_total = 0.5 * heatmap + 0.3 * size + 2.0 * offset
    torch.testing.assert_close(total, expected_total)
    torch.testing.assert_close(stats["loss"], expected_total)


def test_aggregator_averages_over_stacks_and_handles_an_all_empty_batch():
    criterion = DetectionLoss({"constant": (lambda outputs, targets: outputs["value"], 2.0)})
    total, stats = criterion([{"value": torch.tensor(1.0)}, {"value": torch.tensor(3.0)}], None)
    assert total.item() == 4.0 and stats["constant_loss"].item() == 2.0
    empty = Targets(heatmap=torch.zeros(1, 3, 8, 8), size=torch.zeros(1, 4, 2), offset=torch.zeros(1, 4, 2),
                    index=torch.zeros(1, 4, dtype=torch.long), mask=torch.zeros(1, 4))
    outputs = {"heatmap": torch.randn(1, 3, 8, 8), "size": torch.randn(1, 2, 8, 8), "offset": torch.randn(1, 2, 8, 8)}
    total, stats = build_criterion(CENTER_BOXES, LossConfig())(outputs, empty)
    assert torch.isfinite(total) and stats["size_loss"] == 0 and stats["offset_loss"] == 0


def test_unknown_heatmap_loss_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown heatmap loss"):
        build_criterion(CENTER_BOXES, LossConfig(heatmap_loss="nope"))


def test_mse_heatmap_loss_is_torchs_mse_of_the_sigmoid_and_leaves_ignored_pixels_out():
    from centernet.losses.aggregate import HEATMAP_CRITERIA

    mse = HEATMAP_CRITERIA["mse"]
    logits = torch.randn(2, 3, 8, 8)
    target = gaussian_like_target((2, 3, 8, 8))
    torch.testing.assert_close(mse(logits, target), torch.nn.MSELoss()(logits.sigmoid(), target))
    ignore = torch.zeros(2, 3, 8, 8, dtype=torch.bool)
    ignore[0, 1] = True  # one channel of one image ignored, its peaks excepted
    counted = ~(ignore & (target != 1))
    expected = ((logits.sigmoid() - target) ** 2)[counted].mean()
    torch.testing.assert_close(mse(logits, target, ignore=ignore), expected)
    weights = torch.tensor([1.0, 0.0, 2.0])
    expected = (((logits.sigmoid() - target) ** 2) * weights.view(1, 3, 1, 1)).mean()
    torch.testing.assert_close(mse(logits, target, class_weights=weights), expected)


def test_mse_is_a_heatmap_loss_of_the_aggregator():
    targets = empty_and_full_targets()
    outputs = {"heatmap": torch.randn(2, 3, 16, 16), "size": torch.randn(2, 2, 16, 16),
               "offset": torch.randn(2, 2, 16, 16)}
    _, stats = build_criterion(CENTER_BOXES, LossConfig(heatmap_loss="mse"))(outputs, targets)
    torch.testing.assert_close(stats["heatmap_loss"], torch.nn.MSELoss()(outputs["heatmap"].sigmoid(),
                                                                         targets.heatmap))
