"""Decoding on hand-built heads: peaks, top-K, boxes, flip merge and the map back to image pixels; the merge of
several test scales by class-wise NMS."""

import numpy as np
import pytest
import torch

from centernet.decode import decode, merge_detections, merge_flip, peak_mask, to_image_frame
from centernet.structures import DecodedBatch, Detections


def hand_built_heads():
    heatmap = torch.zeros(1, 2, 8, 8)
    heatmap[0, 0, 2, 3] = 0.9  # a peak of class 0 at (x 3, y 2)
    heatmap[0, 0, 2, 4] = 0.5  # its neighbour: suppressed by the 3x3 max
    heatmap[0, 1, 6, 1] = 0.7  # a peak of class 1 at (x 1, y 6)
    size = torch.zeros(1, 2, 8, 8)
    size[0, :, 2, 3] = torch.tensor([2.0, 4.0])
    size[0, :, 6, 1] = torch.tensor([1.0, 1.0])
    offset = torch.zeros(1, 2, 8, 8)
    offset[0, :, 2, 3] = torch.tensor([0.5, 0.25])
    return heatmap, size, offset


def test_peak_mask_keeps_local_maxima_only():
    heatmap, _, _ = hand_built_heads()
    peaks = peak_mask(heatmap)
    assert peaks[0, 0, 2, 4] == 0 and peaks[0, 0, 2, 3] == 0.9 and peaks[0, 1, 6, 1] == 0.7


def test_decode_hand_built_heatmap():
    detections = decode(*hand_built_heads(), k=3)
    assert detections.boxes.shape == (1, 3, 4) and detections.scores.shape == detections.classes.shape == (1, 3)
    assert detections.classes.dtype == torch.int64 and detections.points == {}
    torch.testing.assert_close(detections.boxes[0, 0], torch.tensor([2.5, 0.25, 4.5, 4.25]))
    torch.testing.assert_close(detections.boxes[0, 1], torch.tensor([0.5, 5.5, 1.5, 6.5]))
    torch.testing.assert_close(detections.scores[0, :2], torch.tensor([0.9, 0.7]))
    assert detections.classes[0, :2].tolist() == [0, 1]
    assert detections.scores[0, 2] == 0  # the suppressed neighbour never shows up with its score


def test_decode_without_offset_uses_pixel_centres():
    heatmap, size, _ = hand_built_heads()
    detections = decode(heatmap, size, None, k=1)
    torch.testing.assert_close(detections.boxes[0, 0], torch.tensor([2.5, 0.5, 4.5, 4.5]))


def test_decode_batched_equals_one_by_one():
    generator = torch.Generator().manual_seed(0)
    heatmap = torch.rand(3, 4, 16, 16, generator=generator)
    size = torch.rand(3, 2, 16, 16, generator=generator) * 8
    offset = torch.rand(3, 2, 16, 16, generator=generator)
    batched = decode(heatmap, size, offset, k=20)
    for i in range(3):
        alone = decode(heatmap[i:i + 1], size[i:i + 1], offset[i:i + 1], k=20)
        torch.testing.assert_close(batched.boxes[i:i + 1], alone.boxes)
        torch.testing.assert_close(batched.scores[i:i + 1], alone.scores)
        torch.testing.assert_close(batched.classes[i:i + 1], alone.classes)


def test_decode_limits_k_to_the_number_of_pixels():
    detections = decode(torch.rand(2, 1, 2, 2), torch.rand(2, 2, 2, 2), None, k=100)
    assert detections.boxes.shape == (2, 4, 4) and detections.scores.shape == detections.classes.shape == (2, 4)


def test_flip_merge_averages_heatmap_and_size_and_keeps_original_offset():
    heatmap = torch.rand(1, 2, 4, 6)
    size = torch.rand(1, 2, 4, 6)
    offset = torch.rand(1, 2, 4, 6)
    merged = merge_flip(torch.cat([heatmap, heatmap.flip(-1)]), torch.cat([size, size.flip(-1)]),
                        torch.cat([offset, torch.zeros_like(offset)]))
    torch.testing.assert_close(merged[0], heatmap)
    torch.testing.assert_close(merged[1], size)
    torch.testing.assert_close(merged[2], offset)


def one_row_maps(*images):
    """(images, channels, 1, 3) maps from one list of channel rows per image."""
    return torch.tensor(images).unsqueeze(2)


def test_flip_merge_hand_computed_with_a_mirror_that_disagrees():
    """Two images and their mirrors, (2B, C, 1, 3) maps with B = 2: the mirrored half differs from a mirror of
    the first, so each expected value below needs the mirror flipped back, then averaged (heatmap, size), and
    the offset taken from the original images alone."""
    heatmap = one_row_maps([[0.2, 0.4, 0.6]], [[0.9, 0.5, 0.1]],  # images 0 and 1
                           [[0.8, 0.0, 0.1]], [[0.3, 0.3, 0.7]])  # their mirrors, as the network saw them
    size = one_row_maps([[2.0, 4.0, 6.0], [1.0, 1.0, 1.0]], [[1.0, 2.0, 3.0], [4.0, 4.0, 4.0]],  # (w, h)
                        [[10.0, 0.0, 8.0], [3.0, 5.0, 7.0]], [[5.0, 5.0, 5.0], [0.0, 2.0, 6.0]])
    offset = one_row_maps([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], [[0.7, 0.8, 0.9], [0.0, 0.25, 0.5]],  # (dx, dy)
                          [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]], [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]])
    merged_heatmap, merged_size, merged_offset = merge_flip(heatmap, size, offset)
    # image 0: ([0.2, 0.4, 0.6] + [0.1, 0.0, 0.8]) / 2; image 1: ([0.9, 0.5, 0.1] + [0.7, 0.3, 0.3]) / 2
    torch.testing.assert_close(merged_heatmap, one_row_maps([[0.15, 0.2, 0.7]], [[0.8, 0.4, 0.2]]))
    # w: ([2, 4, 6] + [8, 0, 10]) / 2, h: ([1, 1, 1] + [7, 5, 3]) / 2; image 1 likewise
    torch.testing.assert_close(merged_size, one_row_maps([[5.0, 2.0, 8.0], [4.0, 3.0, 2.0]],
                                                         [[3.0, 3.5, 4.0], [5.0, 3.0, 2.0]]))
    torch.testing.assert_close(merged_offset, offset[:2])  # the mirrors' offsets play no part
    assert merge_flip(heatmap, size, None)[2] is None


def test_to_image_frame_inverts_a_letterbox_and_clips():
    # a 200 x 100 image letterboxed into 64 x 64: scale 64 / 200, centred vertically
    scale = 200 / 64
    inverse = torch.tensor([[[scale, 0.0, 0.0], [0.0, scale, 50.0 - 32 * scale]]])
    detections = DecodedBatch(torch.tensor([[[2.0, 4.0, 6.0, 12.0], [15.0, 0.0, 17.0, 2.0]]]),
                              torch.tensor([[0.8, 0.5]]), torch.tensor([[1, 0]]))
    mapped = to_image_frame(detections, inverse, image_sizes=torch.tensor([[200, 100]]), stride=4)
    torch.testing.assert_close(mapped.boxes[0, 0], torch.tensor([25.0, 0.0, 75.0, 100.0]))
    torch.testing.assert_close(mapped.boxes[0, 1], torch.tensor([187.5, 0.0, 200.0, 0.0]))
    torch.testing.assert_close(mapped.scores, detections.scores)  # scores and classes pass through
    assert mapped.classes.tolist() == [[1, 0]] and mapped.points == {}
    corners = to_image_frame(detections, inverse, stride=4)
    torch.testing.assert_close(corners.boxes[0, 1], torch.tensor([187.5, -50.0, 212.5, -25.0]))  # unclipped


def test_merging_scales_keeps_one_box_per_object_and_class():
    """Two scales find the same object (IoU 0.86): NMS keeps the higher-scoring box. A box of another class on the
    same place, and a box of the same class elsewhere, are kept; the result is sorted by score, each box with its
    class name."""
    half_scale = Detections(np.array([[10, 10, 50, 50], [100, 100, 120, 130]], np.float32),
                            np.array([0.6, 0.4], np.float32), np.array([2, 2]), ["c", "c"])
    full_scale = Detections(np.array([[12, 11, 52, 49], [10, 10, 50, 50]], np.float32),
                            np.array([0.8, 0.7], np.float32), np.array([2, 0]), ["c", "a"])
    merged = merge_detections([half_scale, full_scale], iou_threshold=0.5, top_k=100)
    np.testing.assert_array_equal(merged.boxes, [[12, 11, 52, 49], [10, 10, 50, 50], [100, 100, 120, 130]])
    np.testing.assert_array_equal(merged.scores, np.float32([0.8, 0.7, 0.4]))
    assert merged.classes.tolist() == [2, 0, 2] and merged.classes.dtype == np.int64
    assert merged.names == ["c", "a", "c"]
    # below the IoU threshold both stay; top_k keeps the best
    assert len(merge_detections([half_scale, full_scale], iou_threshold=0.9, top_k=100)) == 4
    assert merge_detections([half_scale, full_scale], iou_threshold=0.5, top_k=1).scores.tolist() == [
        pytest.approx(0.8)]


def test_merging_nothing_gives_nothing():
    empty = Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), [])
    merged = merge_detections([empty, empty], iou_threshold=0.5, top_k=100)
    assert len(merged) == 0 and merged.boxes.shape == (0, 4) and merged.names == []
