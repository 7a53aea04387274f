"""The ltrb box head (TTFNet): regression samples and weights, GIoU and DFL losses, decoding, flip merge.

Hand-built cases on an 8 x 8 output map (stride 4, 32 x 32 input). With beta = 0.54 an object of w x h output
pixels has a window of half-axes int(0.54 w / 2), int(0.54 h / 2) and sigma (2r + 1) / 6 per axis:
- A, input box (4, 4, 28, 20): output (1, 1, 7, 5), w 6, h 4, peak (4, 3), half-axes (1, 1), sigma 0.5, so the
  3 x 3 window holds 1 at the peak, exp(-2) beside it and exp(-4) at the corners; area 24 * 16 = 384.
- B, input box (16, 8, 24, 16): output (4, 2, 6, 4), w = h = 2, peak (5, 3), half-axes (0, 0): one pixel, value 1,
  area 64. B is smaller, so it wins pixel (5, 3), which A's window covers too.
"""

import math

import numpy as np
import pytest
import torch
from torchvision.ops import generalized_box_iou_loss

from centernet.config import Config, InferenceConfig, LossConfig, ModelConfig
from centernet.decode import decode_ltrb, merge_flip_ltrb
from centernet.losses.regression import ltrb_dfl_loss, ltrb_giou_loss
from centernet.targets import TargetEncoder, elliptical_radius
from centernet.tasks import build_target_encoder, task_for
from centernet.tasks.boxes import LtrbBoxes, LtrbSamples
from centernet.tensors import DFL_BIN_WIDTH, LTRB_SCALE, ltrb_distances
from tests.reference import reference_ltrb_encode

E2, E4 = math.exp(-2), math.exp(-4)
A_BOX, B_BOX = [4.0, 4, 28, 20], [16.0, 8, 24, 16]


def encode(boxes, classes=None, gaussian="elliptical", min_radius=0):
    boxes = torch.tensor([boxes], dtype=torch.float32)
    classes = torch.zeros(boxes.shape[:2], dtype=torch.long) if classes is None else torch.tensor([classes])
    encoder = TargetEncoder(2, (8, 8), gaussian=gaussian, step=LtrbSamples(), min_radius=min_radius)
    return encoder(boxes, classes, torch.ones(classes.shape, dtype=torch.bool))


def samples(targets) -> dict[tuple[int, int], tuple[list[float], float]]:
    """{(x, y): (target box, weight)} of image 0's samples."""
    return {(int(i) % 8, int(i) // 8): (box.tolist(), float(w))
            for i, box, w in zip(targets.box_index, targets.box_target, targets.box_weight, strict=True)}


def test_one_object_samples_its_window_with_gaussian_times_log_area_over_the_window_sum():
    found = samples(encode([A_BOX]))
    window_sum = 1 + 4 * E2 + 4 * E4
    assert set(found) == {(x, y) for x in (3, 4, 5) for y in (2, 3, 4)}
    assert all(box == A_BOX for box, _ in found.values())
    assert found[(4, 3)][1] == pytest.approx(math.log(384) / window_sum, rel=1e-5)
    assert found[(5, 3)][1] == pytest.approx(E2 * math.log(384) / window_sum, rel=1e-5)
    assert found[(3, 2)][1] == pytest.approx(E4 * math.log(384) / window_sum, rel=1e-5)
    assert sum(weight for _, weight in found.values()) == pytest.approx(math.log(384), rel=1e-5)


def test_where_windows_overlap_the_smaller_object_wins_and_weights_keep_their_own_normalisation():
    found = samples(encode([A_BOX, B_BOX]))
    assert found[(5, 3)] == (B_BOX, pytest.approx(math.log(64), rel=1e-5))  # B: one pixel, weight log(64)
    a_pixels = {pixel for pixel, (box, _) in found.items() if box == A_BOX}
    assert a_pixels == {(x, y) for x in (3, 4, 5) for y in (2, 3, 4)} - {(5, 3)}
    a_sum = sum(weight for pixel, (_, weight) in found.items() if pixel in a_pixels)
    assert a_sum == pytest.approx(math.log(384) * (1 + 3 * E2 + 4 * E4) / (1 + 4 * E2 + 4 * E4), rel=1e-5)
    # the order of the objects does not matter
    assert samples(encode([B_BOX, A_BOX])) == found


def test_a_box_cut_by_the_border_regresses_to_its_part_inside_the_input():
    found = samples(encode([[-8.0, 8, 12, 24]]))  # 8 pixels left of the image
    # inside: (0, 8, 12, 24) -> output (0, 2, 3, 6): w 3, h 4, centre (1.5, 4), half-axes (0, 1)
    assert set(found) == {(1, 3), (1, 4), (1, 5)}
    assert all(box == [0.0, 8, 12, 24] for box, _ in found.values())
    assert sum(weight for _, weight in found.values()) == pytest.approx(math.log(12 * 16), rel=1e-5)


def test_a_minimum_radius_of_one_gives_a_small_object_a_3x3_peak_and_nine_regression_samples():
    # B: output (4, 2, 6, 4), w = h = 2, half-axes int(0.54 * 1) = 0: one pixel at (5, 3) without the minimum
    alone = encode([B_BOX])
    assert alone.heatmap[0, 0].count_nonzero() == 1 and set(samples(alone)) == {(5, 3)}
    widened = encode([B_BOX], min_radius=1)  # radius 1: sigma 0.5, as the reference's kernels
    np.testing.assert_allclose(widened.heatmap[0, 0, 2:5, 4:7], [[E4, E2, E4], [E2, 1, E2], [E4, E2, E4]], rtol=1e-6)
    assert widened.heatmap[0, 0].count_nonzero() == 9
    found = samples(widened)
    assert set(found) == {(x, y) for x in (4, 5, 6) for y in (2, 3, 4)}
    assert all(box == B_BOX for box, _ in found.values())
    assert found[(5, 3)][1] == pytest.approx(math.log(64) / (1 + 4 * E2 + 4 * E4), rel=1e-5)
    assert sum(weight for _, weight in found.values()) == pytest.approx(math.log(64), rel=1e-5)
    # larger half-axes are kept: A's (1, 1) window is the same with the minimum
    assert samples(encode([A_BOX], min_radius=1)) == samples(encode([A_BOX]))


def test_the_minimum_radius_option_reaches_the_target_encoder():
    config = Config(model=ModelConfig(num_classes=2), loss=LossConfig(gaussian_min_radius=1))
    assert build_target_encoder(task_for(config.model), config).min_radius == 1
    with pytest.raises(ValueError, match="smallest half-axis"):
        TargetEncoder(2, (8, 8), gaussian="elliptical", step=None, min_radius=-1)


def test_a_tiny_box_is_one_sample_with_the_log_area_floored_at_log_2():
    found = samples(encode([[13.0, 13, 14, 14]]))  # 1 x 1 input pixel: output centre (3.375, 3.375)
    assert found == {(3, 3): ([13.0, 13, 14, 14], pytest.approx(math.log(2), rel=1e-5))}


def test_elliptical_heatmap_half_axes_follow_width_and_height():
    assert elliptical_radius(torch.tensor([[20.0, 8.0]])).tolist() == [[5, 2]]  # int(0.54 * 10), int(0.54 * 4)
    # output (0, 0, 8, 4) clipped to (0, 0, 7, 4): w 7, h 4, peak (3, 2), half-axes (int(1.89), int(1.08)) = (1, 1)
    heatmap = encode([[0.0, 0, 32, 16]]).heatmap[0, 0]
    assert heatmap[2, 3] == 1 and heatmap[2, 4] == pytest.approx(E2) and heatmap[2, 5] == 0
    assert heatmap[1, 3] == pytest.approx(E2) and heatmap[0, 3] == 0


def test_giou_loss_is_zero_for_exact_boxes_and_the_weighted_mean_of_torchvisions_otherwise():
    targets = encode([A_BOX])
    exact = torch.zeros(1, 4, 8, 8)
    for index, (box, _) in zip(targets.box_index.tolist(), [(b, 0) for b in targets.box_target], strict=True):
        x, y = index % 8, index // 8
        centre_x, centre_y = (x + 0.5) * 4, (y + 0.5) * 4
        distances = torch.tensor([centre_x - box[0], centre_y - box[1], box[2] - centre_x, box[3] - centre_y])
        exact[0, :, y, x] = distances / LTRB_SCALE  # ReLU(x) * 16 reads them back
    loss = ltrb_giou_loss(exact, targets.box_index, targets.box_target, targets.box_weight, stride=4)
    assert loss.item() == pytest.approx(0.0, abs=1e-5)
    shrunk = ltrb_giou_loss(exact / 2, targets.box_index, targets.box_target, targets.box_weight, stride=4)
    assert 0.1 < shrunk.item() < 1.0


def ltrb_map(samples: dict[tuple[int, int], list[float]], channels: int = 4) -> torch.Tensor:
    """A (1, channels, 4, 4) ltrb head output, zero but at the pixels (x, y) given, which hold the values given."""
    raw = torch.zeros(1, channels, 4, 4)
    for (x, y), values in samples.items():
        raw[0, :, y, x] = torch.tensor(values)
    return raw


def test_giou_loss_is_torchvisions_giou_loss_of_the_predicted_boxes_beyond_one_where_they_miss_their_targets():
    """Stride 4 on a 4 x 4 map: pixel (x, y) has its centre at (4x + 2, 4y + 2). Three samples:
    - (0, 0), centre (2, 2), distances (2, 2, 6, 2): box (0, 0, 8, 4) against (4, 0, 12, 4): intersection 16,
      union 48, the enclosing box is the union: GIoU 1/3, loss 2/3;
    - (3, 1), centre (14, 6), distances 2: box (12, 4, 16, 8) against (0, 4, 4, 8), a miss: union 32, enclosing
      (0, 4, 16, 8) 64, GIoU -1/2, loss 3/2;
    - (1, 3), centre (6, 14), distances 4: box (2, 10, 10, 18) against (20, 30, 24, 34), far off: union 80,
      enclosing (2, 10, 24, 34) 22 * 24 = 528, GIoU -448/528, loss 1 + 448/528.
    A plain IoU loss would be 2/3, 1, 1: it never exceeds 1."""
    distances = {(0, 0): [2.0, 2, 6, 2], (3, 1): [2.0, 2, 2, 2], (1, 3): [4.0, 4, 4, 4]}
    raw = ltrb_map({pixel: [d / LTRB_SCALE for d in values] for pixel, values in distances.items()})
    box_index = torch.tensor([y * 4 + x for x, y in distances])
    box_target = torch.tensor([[4.0, 0, 12, 4], [0.0, 4, 4, 8], [20.0, 30, 24, 34]])
    predicted = torch.tensor([[0.0, 0, 8, 4], [12.0, 4, 16, 8], [2.0, 10, 10, 18]])
    per_box = generalized_box_iou_loss(predicted, box_target, reduction="none")
    torch.testing.assert_close(per_box, torch.tensor([2 / 3, 3 / 2, 1 + 448 / 528]))
    for i in range(3):  # each sample alone: its own loss (weight w: w * loss / (w + 1e-4))
        alone = ltrb_giou_loss(raw, box_index[i:i + 1], box_target[i:i + 1], torch.ones(1), stride=4)
        assert alone.item() == pytest.approx(per_box[i].item() / (1 + 1e-4), abs=1e-5)
    box_weight = torch.tensor([1.0, 2.0, 0.5])
    loss = ltrb_giou_loss(raw, box_index, box_target, box_weight, stride=4)
    expected = (2 / 3 * 1.0 + 3 / 2 * 2.0 + (1 + 448 / 528) * 0.5) / (3.5 + 1e-4)
    assert loss.item() == pytest.approx(expected, abs=1e-5)
    assert loss.item() == pytest.approx(((per_box * box_weight).sum() / (box_weight.sum() + 1e-4)).item(), abs=1e-5)
    assert loss.item() > 1


def test_no_samples_give_a_zero_box_loss_with_a_finite_gradient():
    raw = torch.randn(2, 4, 8, 8, requires_grad=True)
    empty = torch.zeros(0, dtype=torch.long)
    loss = ltrb_giou_loss(raw, empty, torch.zeros(0, 4), torch.zeros(0), stride=4)
    loss.backward()
    assert loss.item() == 0 and torch.isfinite(raw.grad).all()


def test_dfl_distances_are_the_expected_bin_times_the_bin_width():
    logits = torch.full((1, 4 * 5, 1, 1), -1e4)  # 4 distances, bins 0..4
    logits[0, 0 * 5 + 1], logits[0, 0 * 5 + 2] = math.log(0.25), math.log(0.75)  # left: 1.75 bins
    logits[0, 1 * 5 + 4] = 0.0  # top: bin 4
    logits[0, 2 * 5:3 * 5] = 0.0  # right: uniform, 2 bins
    logits[0, 3 * 5 + 0] = 0.0  # bottom: 0
    distances = ltrb_distances(logits, dfl_bins=4)[0, :, 0, 0]
    torch.testing.assert_close(distances, torch.tensor([1.75, 4.0, 2.0, 0.0]) * DFL_BIN_WIDTH)


def test_dfl_loss_is_lowest_at_the_two_bins_around_the_target():
    targets = encode([[8.0, 8, 24, 24]])  # centre pixel (3.5, 3.5) ... distances 6 px = 0.75 bins
    logits = torch.zeros(1, 4 * 9, 8, 8, requires_grad=True)
    loss = ltrb_dfl_loss(logits, targets.box_index, targets.box_target, targets.box_weight, stride=4, dfl_bins=8)
    loss.backward()
    assert torch.isfinite(loss) and logits.grad.abs().sum() > 0


def test_dfl_loss_by_hand_with_target_distances_in_bins_of_dfl_bin_width_pixels():
    """Four bins (0..4, bins of 8 pixels). Pixel (x 2, y 3), centre (10, 14) at stride 4, target box
    (4, 2, 12, 30): distances 6, 12, 2, 16 pixels = 0.75, 1.5, 0.25, 2 bins. The logits are log-probabilities,
    so S is given: left -(0.25 log S_0 + 0.75 log S_1), top -(0.5 log S_1 + 0.5 log S_2),
    right -(0.75 log S_0 + 0.25 log S_1), bottom (an integer) -log S_2; the loss is their mean, weighted."""
    probabilities = [[0.1, 0.2, 0.3, 0.25, 0.15],  # left
                     [0.05, 0.15, 0.4, 0.3, 0.1],  # top
                     [0.6, 0.2, 0.1, 0.05, 0.05],  # right
                     [0.1, 0.1, 0.5, 0.2, 0.1]]  # bottom
    raw = ltrb_map({(2, 3): [math.log(p) for edge in probabilities for p in edge]}, channels=4 * 5)
    box_target = torch.tensor([[4.0, 2, 12, 30]])
    assert [6 / DFL_BIN_WIDTH, 12 / DFL_BIN_WIDTH, 2 / DFL_BIN_WIDTH, 16 / DFL_BIN_WIDTH] == [0.75, 1.5, 0.25, 2]
    per_edge = [-(0.25 * math.log(0.1) + 0.75 * math.log(0.2)),
                -(0.5 * math.log(0.15) + 0.5 * math.log(0.4)),
                -(0.75 * math.log(0.6) + 0.25 * math.log(0.2)),
                -math.log(0.5)]
    loss = ltrb_dfl_loss(raw, torch.tensor([3 * 4 + 2]), box_target, torch.tensor([2.0]), stride=4, dfl_bins=4)
    assert loss.item() == pytest.approx(2.0 * sum(per_edge) / 4 / (2.0 + 1e-4), abs=1e-5)


def test_dfl_targets_beyond_the_last_bin_are_capped_just_below_it():
    """Pixel (0, 0), centre (2, 2), target box (-38, 2, 2, 2): left 40 pixels = 5 bins > 4, capped at 3.99, so
    -(0.01 log S_3 + 0.99 log S_4); top, right, bottom 0 bins: -log S_0. S uniform (1/5) on every edge but the
    left: (0.1, 0.1, 0.1, 0.3, 0.4)."""
    left = [0.1, 0.1, 0.1, 0.3, 0.4]
    raw = ltrb_map({(0, 0): [math.log(p) for p in left] + [0.0] * 15}, channels=4 * 5)
    loss = ltrb_dfl_loss(raw, torch.tensor([0]), torch.tensor([[-38.0, 2, 2, 2]]), torch.ones(1), stride=4,
                         dfl_bins=4)
    per_edge = [-(0.01 * math.log(0.3) + 0.99 * math.log(0.4))] + [math.log(5)] * 3
    assert loss.item() == pytest.approx(sum(per_edge) / 4 / (1 + 1e-4), abs=1e-5)


def test_decode_of_a_hand_built_ltrb_map():
    heatmap = torch.zeros(1, 2, 8, 8)
    heatmap[0, 1, 1, 2] = 0.8  # class 1 at (x 2, y 1): pixel centre (10, 6) in input pixels
    distances = torch.zeros(1, 4, 8, 8)
    distances[0, :, 1, 2] = torch.tensor([6.0, 2.0, 10.0, 4.0])
    found = decode_ltrb(heatmap, distances, k=1, stride=4)
    torch.testing.assert_close(found.boxes[0, 0], torch.tensor([1.0, 1.0, 5.0, 2.5]))  # output pixels
    torch.testing.assert_close(found.scores[0, 0], torch.tensor(0.8))
    assert found.classes[0, 0].item() == 1 and found.points == {}
    raw = torch.zeros(1, 4, 8, 8)
    raw[0, :, 1, 2] = torch.tensor([6.0, 2.0, 10.0, 4.0]) / LTRB_SCALE
    logits = torch.logit(heatmap.clamp(1e-6, 1 - 1e-6))
    task = task_for(ModelConfig(box_head="ltrb"))  # the ltrb task decodes raw head outputs (logits, ReLU * 16)
    decoded = task.decode({"heatmap": logits, "ltrb": raw}, InferenceConfig(top_k=1), flip_test=False)
    torch.testing.assert_close(decoded.boxes[0, 0], found.boxes[0, 0])


def test_flip_merge_swaps_left_and_right_of_the_mirror():
    """One row of 3 pixels. The mirror's left edge is the image's right edge: an image whose pixel 0 has
    (l, t, r, b) = (1, 2, 3, 4), mirrored, has at pixel 2 the distances (3, 2, 1, 4)."""
    distances = torch.zeros(2, 4, 1, 3)
    distances[0, :, 0, 0] = torch.tensor([1.0, 2.0, 3.0, 4.0])
    distances[1, :, 0, 2] = torch.tensor([5.0, 6.0, 1.0, 8.0])  # the mirror's view of pixel 0: l 5, r 1
    heatmap = torch.zeros(2, 1, 1, 3)
    heatmap[0, 0, 0, 0], heatmap[1, 0, 0, 2] = 0.6, 0.2
    merged_heatmap, merged = merge_flip_ltrb(heatmap, distances)
    torch.testing.assert_close(merged[0, :, 0, 0], torch.tensor([(1 + 1) / 2, (2 + 6) / 2, (3 + 5) / 2, (4 + 8) / 2]))
    assert merged_heatmap[0, 0, 0, 0].item() == pytest.approx(0.4)


def test_the_batched_encoder_equals_ttfnets_per_object_loop():
    rng = np.random.default_rng(0)
    for count in (0, 1, 9, 40):
        corner = rng.uniform(-20, 120, (count, 2))
        boxes = np.concatenate([corner, corner + rng.uniform(1, 90, (count, 2))], 1).astype(np.float32)
        classes = rng.integers(0, 3, count)
        reference = reference_ltrb_encode(boxes, classes, 3, (32, 32))
        padded = torch.zeros(1, 48, 4)
        padded[0, :count] = torch.from_numpy(boxes)
        labels = torch.zeros(1, 48, dtype=torch.long)
        labels[0, :count] = torch.from_numpy(classes)
        valid = torch.arange(48)[None] < count
        ours = TargetEncoder(3, (32, 32), gaussian="elliptical", step=LtrbSamples())(padded, labels, valid)
        np.testing.assert_allclose(ours.heatmap[0].numpy(), reference["heatmap"], atol=1e-7)
        weight = np.zeros(32 * 32, np.float32)
        weight[ours.box_index.numpy()] = ours.box_weight.numpy()
        np.testing.assert_allclose(weight.reshape(32, 32), reference["weight"], rtol=1e-5, atol=1e-7)
        target = np.zeros((32 * 32, 4), np.float32)
        target[ours.box_index.numpy()] = ours.box_target.numpy()
        np.testing.assert_array_equal(target.T.reshape(4, 32, 32), reference["box_target"])


def test_a_fresh_ltrb_head_predicts_32_pixel_boxes_whose_giou_loss_has_a_gradient():
    # Distances of 0 (TTFNet's zero bias) are a saddle of the GIoU loss: the head would start with no gradient.
    from centernet.model.heads import CenterNetHeads

    torch.manual_seed(0)
    head = CenterNetHeads(in_channels=8, head_conv=8, layout=LtrbBoxes(dfl_bins=0).head_layout(2))
    raw = head(torch.rand(1, 8, 8, 8))["ltrb"]
    assert torch.allclose(ltrb_distances(raw), torch.full_like(raw, LTRB_SCALE), atol=0.1)
    targets = encode([A_BOX])
    raw = raw.detach().requires_grad_()
    ltrb_giou_loss(raw, targets.box_index, targets.box_target, targets.box_weight, stride=4).backward()
    assert raw.grad.abs().sum() > 0.01
