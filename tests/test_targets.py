"""Target encoding, hand-computed: radius, splat, clipping, tiny boxes, shared peaks, and encoder agreement."""

import math

import numpy as np
import pytest
import torch

from centernet.structures import Targets
from centernet.targets import encode_targets_batched, gaussian_radius
from tests.reference import reference_draw_gaussian as draw_gaussian
from tests.reference import reference_encode, reference_gaussian_radius, shared_peak_duplicates


def encode_targets(boxes_xyxy, classes, num_classes, output_size, max_objects=128):
    """The batched encoder on one image padded to `max_objects` slots; numpy Targets without the batch axis."""
    boxes = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)[:max_objects]
    labels = np.asarray(classes, dtype=np.int64).reshape(-1)[:max_objects]
    padded_boxes, padded_classes = torch.zeros(1, max_objects, 4), torch.zeros(1, max_objects, dtype=torch.long)
    valid = torch.zeros(1, max_objects, dtype=torch.bool)
    padded_boxes[0, :len(boxes)] = torch.from_numpy(boxes)
    padded_classes[0, :len(boxes)] = torch.from_numpy(labels)
    valid[0, :len(boxes)] = True
    targets = encode_targets_batched(padded_boxes, padded_classes, valid, num_classes, output_size, gaussian="round",
                                     step=None)
    return Targets(**{name: getattr(targets, name)[0].numpy() for name in ("heatmap", "size", "offset", "index",
                                                                           "mask")})

E2, E4 = math.exp(-2), math.exp(-4)  # radius 1: sigma = 0.5, edge exp(-1 / 0.5), corner exp(-2 / 0.5)


@pytest.mark.parametrize(("height", "width", "expected"), [(10, 10, 2.7332), (32, 64, 11.7694), (100, 50, 18.3896)])
def test_gaussian_radius_matches_reference_values(height, width, expected):
    assert gaussian_radius(height, width) == pytest.approx(expected, abs=1e-4)


def test_gaussian_radius_is_vectorised_over_numpy_and_torch():
    heights, widths = np.array([10.0, 32.0]), np.array([10.0, 64.0])
    np.testing.assert_allclose(gaussian_radius(heights, widths), [2.7332, 11.7694], atol=1e-4)
    torch.testing.assert_close(gaussian_radius(torch.tensor(heights), torch.tensor(widths)),
                               torch.tensor([2.7332, 11.7694], dtype=torch.float64), atol=1e-4, rtol=0)


def test_draw_gaussian_radius_one_in_the_middle():
    heatmap = draw_gaussian(np.zeros((5, 5), np.float32), (2, 2), 1)
    expected = np.zeros((5, 5), np.float32)
    expected[1:4, 1:4] = [[E4, E2, E4], [E2, 1, E2], [E4, E2, E4]]
    np.testing.assert_allclose(heatmap, expected, rtol=1e-6)


def test_draw_gaussian_is_clipped_at_the_border():
    heatmap = draw_gaussian(np.zeros((3, 3), np.float32), (0, 0), 1)
    np.testing.assert_allclose(heatmap, [[1, E2, 0], [E2, E4, 0], [0, 0, 0]], rtol=1e-6)


def test_draw_gaussian_merges_by_elementwise_max():
    heatmap = np.full((3, 5), 0.1, np.float32)
    draw_gaussian(heatmap, (1, 1), 1)
    draw_gaussian(heatmap, (3, 1), 1)
    np.testing.assert_allclose(heatmap[1], [E2, 1, E2, 1, E2], rtol=1e-6)  # at x = 2 the max, not 2 * E2
    np.testing.assert_allclose(heatmap[0], [0.1, E2, 0.1, E2, 0.1], rtol=1e-6)  # 0.1 beats exp(-4)


def test_encode_one_box_on_the_grid():
    # (8, 8, 40, 24) input px -> (2, 2, 10, 6) output px: w 8, h 4, centre (6, 4), radius int(1.47) = 1
    targets = encode_targets(np.array([[8, 8, 40, 24]]), np.array([1]), num_classes=2, output_size=(8, 16))
    assert targets.heatmap.shape == (2, 8, 16)
    assert targets.heatmap[0].max() == 0
    np.testing.assert_allclose(targets.heatmap[1, 3:6, 5:8], [[E4, E2, E4], [E2, 1, E2], [E4, E2, E4]], rtol=1e-6)
    assert targets.heatmap[1].sum() == pytest.approx(1 + 4 * E2 + 4 * E4, rel=1e-6)
    np.testing.assert_allclose(targets.size[0], [8, 4])
    np.testing.assert_allclose(targets.offset[0], [0, 0])
    assert targets.index[0] == 4 * 16 + 6
    assert targets.mask.tolist() == [1] + [0] * 127
    assert targets.size.shape == (128, 2) and targets.offset.shape == (128, 2) and targets.index.shape == (128,)


def test_encode_sub_pixel_centre_gives_offset():
    # (10, 6, 31, 23) -> (2.5, 1.5, 7.75, 5.75): centre (5.125, 3.625), peak (5, 3)
    targets = encode_targets(np.array([[10, 6, 31, 23]]), np.array([0]), 1, (16, 16))
    np.testing.assert_allclose(targets.size[0], [5.25, 4.25])
    np.testing.assert_allclose(targets.offset[0], [0.125, 0.625])
    assert targets.index[0] == 3 * 16 + 5
    assert targets.heatmap[0, 3, 5] == 1
    # radius int(gaussian_radius(ceil 5, ceil 6)) = 1: the ring at distance 2 stays empty
    assert targets.heatmap[0, 3, 7] == 0 and targets.heatmap[0, 3, 6] == pytest.approx(E2)


def test_encode_clips_boxes_cut_by_the_border_before_measuring():
    # (-20, -20, 30, 30) -> clipped to (0, 0, 7.5, 7.5): w = h = 7.5, centre (3.75, 3.75)
    targets = encode_targets(np.array([[-20, -20, 30, 30]]), np.array([0]), 1, (16, 16))
    np.testing.assert_allclose(targets.size[0], [7.5, 7.5])
    np.testing.assert_allclose(targets.offset[0], [0.75, 0.75])
    assert targets.index[0] == 3 * 16 + 3


def test_encode_drops_boxes_outside_the_map():
    targets = encode_targets(np.array([[100, 100, 120, 120], [4, 4, 4, 12]]), np.array([0, 0]), 1, (16, 16))
    assert targets.mask.sum() == 0 and targets.heatmap.sum() == 0 and targets.size.sum() == 0


def test_encode_tiny_box_is_a_single_pixel_peak():
    targets = encode_targets(np.array([[100, 100, 101, 101]]), np.array([0]), 1, (32, 32))
    assert targets.heatmap.sum() == 1 and targets.heatmap[0, 25, 25] == 1
    np.testing.assert_allclose(targets.size[0], [0.25, 0.25])
    assert targets.mask[0] == 1


def test_encode_two_objects_on_one_peak_keep_only_the_larger_box():
    boxes = np.array([[36, 36, 44, 44], [24, 24, 56, 56]])  # both centred on output pixel (10, 10)
    targets = encode_targets(boxes, np.array([0, 0]), 1, (32, 32))
    assert targets.mask.tolist()[:2] == [0, 1]
    np.testing.assert_allclose(targets.size[1], [8, 8])
    assert targets.size[0].tolist() == [0, 0] and targets.index[0] == 0
    assert targets.heatmap[0, 10, 10] == 1
    # both Gaussians are in the heatmap: the larger one reaches further
    assert targets.heatmap[0, 10, 12] > 0


def test_encode_overlapping_objects_of_one_class_with_distinct_peaks_both_count():
    boxes = np.array([[8, 8, 40, 40], [16, 16, 48, 48]])
    targets = encode_targets(boxes, np.array([0, 0]), 1, (16, 16))
    assert targets.mask[:2].tolist() == [1, 1]
    assert targets.heatmap[0, 6, 6] == 1 and targets.heatmap[0, 8, 8] == 1


def test_encode_truncates_to_max_objects():
    boxes = np.array([[4 * i, 0, 4 * i + 8, 8] for i in range(10)], dtype=np.float32)
    targets = encode_targets(boxes, np.zeros(10), 1, (8, 64), max_objects=4)
    assert targets.mask.tolist() == [1, 1, 1, 1]


def random_boxes(rng, count, extent=560):
    corner = rng.uniform(-40, extent - 40, (count, 2))
    size = rng.uniform(0.5, 220, (count, 2))
    return np.concatenate([corner, corner + size], 1).astype(np.float32), rng.integers(0, 6, count)


def shared_peak_boxes(rng, groups):
    """`groups` x 3 boxes; the three of a group share a centre well inside a 512 px input, so one peak pixel:
    a box (w, h), the same box turned (h, w) (an equal area: the earlier slot wins), and one of another size."""
    centres = rng.integers(80, 440, (groups, 1, 2)).astype(np.float32)
    halves = rng.integers(2, 60, (groups, 2, 2)).astype(np.float32) / 2
    halves = np.concatenate([halves[:, :1], halves[:, :1, ::-1], halves[:, 1:]], 1)  # (groups, 3, 2)
    boxes = np.concatenate([centres - halves, centres + halves], -1).reshape(-1, 4)
    return boxes, rng.integers(0, 6, len(boxes))


def mixed_boxes(rng, count, groups):
    """`count` random boxes and `groups` shared-peak triples, in a random order."""
    (random, random_classes), (shared, shared_classes) = random_boxes(rng, count), shared_peak_boxes(rng, groups)
    order = rng.permutation(count + 3 * groups)
    return np.concatenate([random, shared])[order], np.concatenate([random_classes, shared_classes])[order]


@pytest.mark.parametrize(("height", "width", "expected"), [(10, 10, 2.7332), (32, 64, 11.7694), (100, 50, 18.3896)])
def test_the_test_oracle_radius_matches_reference_values(height, width, expected):
    assert reference_gaussian_radius(height, width) == pytest.approx(expected, abs=1e-4)


def encode_with_the_batched_encoder(boxes, classes, num_classes, output_size, max_objects=128):
    """`encode_targets_batched` on one image padded to `max_objects` slots, as numpy arrays."""
    padded_boxes, padded_classes = torch.zeros(1, max_objects, 4), torch.zeros(1, max_objects, dtype=torch.long)
    valid = torch.zeros(1, max_objects, dtype=torch.bool)
    count = min(len(boxes), max_objects)
    padded_boxes[0, :count] = torch.from_numpy(boxes[:count])
    padded_classes[0, :count] = torch.from_numpy(classes[:count])
    valid[0, :count] = True
    targets = encode_targets_batched(padded_boxes, padded_classes, valid, num_classes, output_size, gaussian="round",
                                     step=None)
    return {name: getattr(targets, name)[0].numpy() for name in ("heatmap", "size", "offset", "index", "mask")}


def assert_equals_the_reference_but_for_shared_peaks(ours, reference):
    """Every slot compared. The heatmaps are equal. Where both masks are 1, size, offset and index are equal;
    ours is 0 where the reference's is 1 exactly at the shared-peak duplicates (`shared_peak_duplicates`), and
    never 1 where the reference's is 0; every slot ours leaves out (empty or duplicate) is all zero."""
    np.testing.assert_allclose(ours["heatmap"], reference["heatmap"], atol=1e-7)
    same = ours["mask"].astype(bool)
    assert not (same & (reference["mask"] == 0)).any()
    for name in ("size", "offset", "index"):
        np.testing.assert_allclose(ours[name][same], reference[name][same])
    expected_mask = reference["mask"].astype(bool) & ~shared_peak_duplicates(reference)
    np.testing.assert_array_equal(same, expected_mask, err_msg="mask: ours must drop exactly the duplicates")
    for name in ("size", "offset", "index"):
        np.testing.assert_array_equal(ours[name][same], reference[name][same], err_msg=name)
        assert not ours[name][~same].any(), f"{name} is not zero in a slot without an object"


def test_the_encoder_equals_the_reference_loop_but_for_shared_peaks():
    encoder = encode_with_the_batched_encoder
    rng = np.random.default_rng(0)
    for count, groups in ((0, 0), (1, 0), (7, 0), (60, 0), (30, 10)):
        boxes, classes = mixed_boxes(rng, count, groups)
        reference = reference_encode(boxes, classes, 6, (128, 128))
        assert shared_peak_duplicates(reference).sum() >= 2 * groups  # each triple has one winner, two losers
        assert_equals_the_reference_but_for_shared_peaks(encoder(boxes, classes, 6, (128, 128)), reference)


def test_a_batch_encodes_as_its_images_one_by_one():
    rng = np.random.default_rng(1)
    images = [random_boxes(rng, count) for count in (0, 5, 40)]
    slots = 64
    boxes = torch.zeros(3, slots, 4)
    classes = torch.zeros(3, slots, dtype=torch.long)
    valid = torch.zeros(3, slots, dtype=torch.bool)
    for i, (image_boxes, image_classes) in enumerate(images):
        boxes[i, :len(image_boxes)] = torch.from_numpy(image_boxes)
        classes[i, :len(image_boxes)] = torch.from_numpy(image_classes)
        valid[i, :len(image_boxes)] = True
    batched = encode_targets_batched(boxes, classes, valid, 6, (128, 128), gaussian="round", step=None)
    for i, (image_boxes, image_classes) in enumerate(images):
        single = encode_targets(image_boxes, image_classes, 6, (128, 128), max_objects=slots)
        for name in ("heatmap", "size", "offset", "index", "mask"):
            np.testing.assert_allclose(getattr(batched, name)[i].numpy(), getattr(single, name), atol=1e-6)
