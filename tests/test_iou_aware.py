"""--heatmap-loss iou_aware: the quality focal loss whose soft target at each regression sample pixel is the
Gaussian value times the IoU of the box the ltrb head predicts there (so a peak's target is its box's IoU).

Hand-built case on an 8 x 8 output map (stride 4, 32 x 32 input), as tests/test_ltrb.py: object A, input box
(4, 4, 28, 20), peak pixel (4, 3) whose centre is input (18, 14), a 3 x 3 window of samples around it. The ltrb
map predicts (left, top, right, bottom) = (14, 10, 10, 6) px at every pixel: A's box exactly at the peak; at
(5, 3), centre (22, 14), the box (8, 4, 32, 20): intersection 20 x 16 = 320, union 384 + 384 - 320 = 448, IoU 5/7.
"""

import math

import pytest
import torch
from torchvision.ops import box_iou

from centernet.config import LossConfig, ModelConfig
from centernet.losses.focal import heatmap_iou_aware_focal_loss, heatmap_quality_focal_loss
from centernet.losses.regression import ltrb_iou_map
from centernet.targets import TargetEncoder
from centernet.tasks import build_criterion, task_for
from centernet.tasks.boxes import LtrbSamples
from centernet.tensors import LTRB_SCALE, paired_box_iou

A_BOX = [4.0, 4, 28, 20]
DISTANCES = torch.tensor([14.0, 10, 10, 6])


def encode(boxes):
    boxes = torch.tensor([boxes], dtype=torch.float32)
    classes = torch.zeros(boxes.shape[:2], dtype=torch.long)
    return TargetEncoder(2, (8, 8), gaussian="elliptical", step=LtrbSamples())(
        boxes, classes, torch.ones(classes.shape, dtype=torch.bool))


def ltrb_map(requires_grad=False):
    return (DISTANCES / LTRB_SCALE).view(1, 4, 1, 1).expand(1, 4, 8, 8).clone().requires_grad_(requires_grad)


def test_paired_iou_is_the_diagonal_of_torchvisions_box_iou():
    first = torch.tensor([[0.0, 0, 10, 10], [0, 0, 4, 4], [0, 0, 2, 2]])
    second = torch.tensor([[5.0, 0, 15, 10], [0, 0, 4, 4], [5, 5, 6, 6]])
    assert paired_box_iou(first, second).tolist() == pytest.approx([1 / 3, 1.0, 0.0])
    assert torch.allclose(paired_box_iou(first, second), box_iou(first, second).diagonal())


def test_the_quality_map_is_the_iou_of_each_samples_predicted_box_and_one_elsewhere():
    targets = encode([A_BOX])
    quality = ltrb_iou_map(ltrb_map(), targets.box_index, targets.box_target, stride=4)
    assert quality.shape == (1, 1, 8, 8)
    assert quality[0, 0, 3, 4] == pytest.approx(1.0)  # the peak predicts A's box exactly
    assert quality[0, 0, 3, 5] == pytest.approx(5 / 7)
    assert quality[0, 0, 0, 0] == 1.0 and quality[0, 0, 7, 7] == 1.0  # outside the window: no sample
    assert (quality < 1).sum() == 8  # the window's 8 other pixels predict shifted boxes


def test_the_loss_is_the_quality_focal_loss_against_gaussian_times_iou_over_the_peaks():
    targets = encode([A_BOX])
    logits = torch.randn(1, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    criterion = build_criterion(task_for(ModelConfig(box_head="ltrb", num_classes=2)),
                                LossConfig(heatmap_loss="iou_aware"))
    _, stats = criterion({"heatmap": logits, "ltrb": ltrb_map()}, targets)
    # by hand: each sample pixel's predicted box against A's, through torchvision
    quality = torch.ones(64)
    for index in targets.box_index.tolist():
        x, y = index % 8, index // 8
        centre = torch.tensor([(x + 0.5) * 4, (y + 0.5) * 4])
        predicted = torch.cat([centre - DISTANCES[:2], centre + DISTANCES[2:]])
        quality[index] = box_iou(predicted[None], torch.tensor([A_BOX]))[0, 0]
    soft = targets.heatmap * quality.view(1, 1, 8, 8)
    assert soft[0, 0, 3, 4] == pytest.approx(1.0) and soft[0, 0, 3, 5] == pytest.approx(math.exp(-2) * 5 / 7)
    expected = heatmap_quality_focal_loss(logits, soft)  # one peak: the same normaliser
    assert stats["heatmap_loss"] == pytest.approx(float(expected), rel=1e-5)
    plain = heatmap_quality_focal_loss(logits, targets.heatmap)
    assert float(plain) != pytest.approx(float(expected), rel=1e-3)


def test_a_peak_whose_box_is_poor_is_trained_towards_its_iou():
    """One peak, logit 0 (score 0.5): a box of IoU 0.5 makes the peak's target 0.5 and its loss 0."""
    logits, target = torch.zeros(1, 1, 1, 2), torch.tensor([[[[1.0, 0.0]]]])
    quality = torch.tensor([[[[0.5, 1.0]]]])
    # the peak: BCE(0, 0.5) |0.5 - 0.5|^2 = 0; the other pixel: ln 2 * 0.5^2
    assert float(heatmap_iou_aware_focal_loss(logits, target, quality=quality)) == pytest.approx(math.log(2) / 4)
    assert float(heatmap_iou_aware_focal_loss(logits, target)) == pytest.approx(math.log(2) / 2)  # plain QFL


def test_the_heatmap_term_sends_no_gradient_to_the_box_head():
    targets = encode([A_BOX])
    criterion = build_criterion(task_for(ModelConfig(box_head="ltrb", num_classes=2)),
                                LossConfig(heatmap_loss="iou_aware"))
    ltrb, logits = ltrb_map(requires_grad=True), torch.zeros(1, 2, 8, 8, requires_grad=True)
    heatmap_term, _ = criterion.terms["heatmap"]
    heatmap_term({"heatmap": logits, "ltrb": ltrb}, targets).backward()
    assert ltrb.grad is None and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("model", [ModelConfig(box_head="center", num_classes=2),
                                   ModelConfig(task="exdet", num_classes=2)])
def test_a_task_without_a_box_at_every_pixel_is_refused(model):
    with pytest.raises(ValueError, match="--heatmap-loss iou_aware needs .* --box-head ltrb"):
        build_criterion(task_for(model), LossConfig(heatmap_loss="iou_aware"))
