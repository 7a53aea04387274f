"""The exdet task (ExtremeNet): extreme points from polygons, their targets, the nine-term loss, the centre
grouping, octagons, the flip, and an overfit run that recovers the extreme points."""

import json

import cv2
import numpy as np
import pytest
import torch

from centernet.backends import load_predictor
from centernet.checkpoint import save_checkpoint
from centernet.config import Config, DataConfig, InferenceConfig, LossConfig, ModelConfig, config_to_dict
from centernet.data.coco import CocoDataset, collate
from centernet.data.extreme import (
    box_edge_midpoints,
    clip_polygon,
    polygon_extreme_points,
    polygons_from_segmentation,
    warped_extreme_points,
)
from centernet.data.transforms import affine_matrix, compose_affine, horizontal_flip_matrix
from centernet.decode import (
    decode_extremes,
    group_extremes,
    merge_flip_extremes,
    thresholded_peaks,
    to_image_frame,
    top_peaks,
)
from centernet.errors import CenterNetError
from centernet.export import export_checkpoint
from centernet.losses.penalty_reduced import penalty_reduced_focal_loss
from centernet.predictor import Predictor
from centernet.structures import extreme_octagons
from centernet.targets import encode_targets_batched
from centernet.tasks import build_criterion, build_model, task_for
from centernet.tasks.extremes import EXTREME_SIDES, ExtremePoints, ExtremeTargets
from tests.reference import reference_extreme_groups

EXDET = task_for(ModelConfig(task="exdet", num_classes=2))
# the exdet task's outputs: the box-centre heatmap, one heatmap per extreme point, one offset per extreme point
EXDET_HEAD_NAMES = ("heatmap", *(f"heatmap_{side}" for side in EXTREME_SIDES),
                    *(f"offset_{side}" for side in EXTREME_SIDES))

# --- extreme points of polygons ---------------------------------------------------------------------------------


def test_extreme_points_of_a_kite_are_its_four_vertices_in_top_left_bottom_right_order():
    kite = np.array([[10, 2], [3, 9], [11, 20], [18, 7]], np.float32)  # top, left, bottom, right, in that order
    np.testing.assert_allclose(polygon_extreme_points([kite]), [[10, 2], [3, 9], [11, 20], [18, 7]])


def test_vertices_sharing_the_extreme_coordinate_give_the_middle_of_their_run():
    # an L-shaped outline: flat top from x 2 to 10 (three vertices), flat left side from y 2 to 14, bottom
    # from x 2 to 6, and a right side at x 10 from y 2 to 8
    outline = np.array([[2, 2], [6, 2], [10, 2], [10, 8], [6, 8], [6, 14], [2, 14], [2, 8]], np.float32)
    np.testing.assert_allclose(polygon_extreme_points([outline]), [[6, 2], [2, 8], [4, 14], [10, 5]])


def test_a_run_that_wraps_around_the_vertex_list_is_one_run():
    # the top edge is split between the last and the first vertex of the list
    square = np.array([[8, 0], [8, 6], [0, 6], [0, 0], [4, 0]], np.float32)
    np.testing.assert_allclose(polygon_extreme_points([square])[0], [4, 0])


def test_a_polygon_cut_by_the_image_border_takes_its_points_on_the_clipped_polygon():
    triangle = np.array([[-4, 10], [5, 0], [10, 10]], np.float32)  # pokes 4 px out of the left border
    clipped = clip_polygon(triangle, 20, 20)
    assert clipped[:, 0].min() == 0
    points = polygon_extreme_points([clipped])
    # the cut runs along x = 0 from y = 10 (the bottom edge) up to where the left edge crosses x = 0
    crossing_y = 10 - 10 * 4 / 9
    np.testing.assert_allclose(points, [[5, 0], [0, (10 + crossing_y) / 2], [5, 10], [10, 10]], atol=1e-5)


def test_clipping_keeps_the_limits_of_the_boxes_and_drops_polygons_outside():
    polygon = np.array([[-5, -5], [30, -5], [30, 30], [-5, 30]], np.float32)
    clipped = clip_polygon(polygon, 20, 16)
    assert clipped[:, 0].min() == 0 and clipped[:, 0].max() == 19 and clipped[:, 1].max() == 15
    assert len(clip_polygon(np.array([[30, 30], [40, 30], [40, 40]], np.float32), 20, 20)) == 0


def test_several_parts_take_each_extreme_from_the_part_that_reaches_it():
    upper = np.array([[2, 0], [6, 4], [2, 4]], np.float32)
    lower = np.array([[10, 8], [14, 12], [10, 12]], np.float32)
    np.testing.assert_allclose(polygon_extreme_points([upper, lower]), [[2, 0], [2, 2], [12, 12], [14, 12]])


def test_segmentation_without_polygons_gives_none():
    assert polygons_from_segmentation({"counts": "abc", "size": [4, 4]}) == []  # RLE
    assert polygons_from_segmentation(None) == [] and polygons_from_segmentation([[1, 2, 3, 4]]) == []
    assert len(polygons_from_segmentation([[0, 0, 4, 0, 4, 4]])) == 1


def test_a_horizontal_flip_swaps_the_left_and_right_points_of_the_mirror_image():
    polygon = np.array([[10, 2], [3, 9], [11, 20], [18, 7]], np.float32)
    boxes = np.array([[3, 2, 18, 20]], np.float32)
    width = 32
    flip = compose_affine(affine_matrix((16, 16), 32, 32), horizontal_flip_matrix(width))
    points, from_polygon = warped_extreme_points([[polygon]], boxes, flip, 32)
    assert from_polygon.tolist() == [True]
    top, left, bottom, right = polygon_extreme_points([polygon])
    mirror = lambda point: [width - point[0], point[1]]  # noqa: E731
    np.testing.assert_allclose(points[0], [mirror(top), mirror(right), mirror(bottom), mirror(left)], atol=1e-5)


def test_objects_without_a_polygon_fall_back_to_their_box_edge_midpoints():
    boxes = np.array([[2, 4, 10, 20]], np.float32)
    np.testing.assert_allclose(box_edge_midpoints(boxes)[0], [[6, 4], [2, 12], [6, 20], [10, 12]])
    points, from_polygon = warped_extreme_points([[]], boxes, affine_matrix((16, 16), 32, 32), 32)
    assert from_polygon.tolist() == [False]
    np.testing.assert_allclose(points[0], box_edge_midpoints(boxes)[0])


def _write_dataset(folder):
    """One 32x32 image: a kite with a polygon, a box without one, and a crowd region (RLE)."""
    cv2.imwrite(str(folder / "a.png"), np.zeros((32, 32, 3), np.uint8))
    kite = [10, 2, 3, 9, 11, 20, 18, 7]
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [3, 2, 15, 18], "area": 100, "iscrowd": 0,
         "segmentation": [kite]},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [20, 20, 8, 8], "area": 64, "iscrowd": 0},
        {"id": 3, "image_id": 1, "category_id": 1, "bbox": [0, 24, 8, 8], "area": 64, "iscrowd": 1,
         "segmentation": {"counts": [0, 16], "size": [32, 32]}},
    ]
    data = {"images": [{"id": 1, "file_name": "a.png", "width": 32, "height": 32}],
            "categories": [{"id": 1, "name": "thing"}], "annotations": annotations}
    (folder / "ann.json").write_text(json.dumps(data))
    return folder / "ann.json"


def test_the_dataset_carries_extreme_points_and_their_origin_in_the_batch(tmp_path):
    dataset = CocoDataset(_write_dataset(tmp_path), tmp_path, 32, train=False, points=EXDET.point_source())
    sample = dataset[0]
    np.testing.assert_allclose(sample.points[0].numpy(), [[10, 2], [3, 9], [11, 20], [18, 7]])
    assert sample.points_from_annotation.tolist() == [True, False, False]
    assert sample.point_labelled.all()  # the edge midpoints stand in, and are learned, where there is no polygon
    np.testing.assert_allclose(sample.boxes_xyxy[0].numpy(), [3, 2, 18, 20])  # the box the points span
    batch = collate([sample, None], max_objects=4)
    assert batch.points.shape == (1, 4, 4, 2)
    assert batch.points_from_annotation.tolist() == [[True, False, False, False]]
    assert batch.point_labelled.tolist() == [[[True] * 4] * 3 + [[False] * 4]]
    assert collate([CocoDataset(tmp_path / "ann.json", tmp_path, 32, train=False)[0]], 4).points is None


# --- targets and loss -----------------------------------------------------------------------------------------


def _one_object_targets(crowd=None):
    boxes = torch.tensor([[[12.0, 8, 52, 60]]])
    points = torch.tensor([[[[30.0, 8], [12, 33], [41, 60], [52, 21]]]])
    return encode_targets_batched(boxes, torch.tensor([[1]]), torch.tensor([[True]]), 2, (16, 16), gaussian="round",
                                  step=ExtremeTargets(), points=points), points


def test_extreme_targets_put_a_peak_per_point_in_its_class_channel_with_sub_pixel_offsets():
    targets, points = _one_object_targets()
    assert targets.extreme_heatmap.shape == (1, 4, 2, 16, 16)
    peaks = (points[0, 0] / 4).floor().long()  # (4, 2) x, y in output pixels, clipped to the map below
    peaks[:, 1] = peaks[:, 1].clamp(max=15)
    for side in range(4):
        x, y = peaks[side].tolist()
        assert targets.extreme_heatmap[0, side, 1, y, x] == 1
        assert (targets.extreme_heatmap[0, side, 1] == 1).sum() == 1 and targets.extreme_heatmap[0, side, 0].max() == 0
        assert targets.extreme_index[0, 0, side] == y * 16 + x
    torch.testing.assert_close(targets.extreme_offset[0, 0], torch.tensor([[0.5, 0], [0, 0.25], [0.25, 0.0],
                                                                           [0, 0.25]]))
    assert targets.extreme_mask.tolist() == [[[1.0, 1, 1, 1]]]
    assert targets.heatmap[0, 1, 8, 8] == 1  # the box centre (32, 34) / 4, floored


def test_the_exdet_task_has_five_heatmap_heads_of_a_channel_per_class_and_four_offset_heads():
    assert isinstance(EXDET, ExtremePoints) and EXDET.point_source().count == 4 and not EXDET.decodes_in_graph
    assert EXTREME_SIDES == ("top", "left", "bottom", "right")
    layout = EXDET.head_layout(3)
    assert tuple(layout.channels) == EXDET_HEAD_NAMES  # in output order
    assert [layout.channels[name] for name in EXDET_HEAD_NAMES] == [3] * 5 + [2] * 4  # C = 3 classes; (dx, dy)
    assert layout.class_heads == EXDET_HEAD_NAMES[:5]


def test_the_nine_term_loss_sums_five_heatmap_terms_and_four_offset_terms():
    targets, _ = _one_object_targets()
    torch.manual_seed(0)
    outputs = {name: torch.randn(1, 2, 16, 16) for name in EXDET_HEAD_NAMES}  # 2 classes, or offset (dx, dy)
    outputs["offset_left"] = torch.zeros(1, 2, 16, 16)
    config = LossConfig(heatmap_weight=1.0, offset_weight=1.0)
    total, stats = build_criterion(EXDET, config)(outputs, targets)
    assert set(stats) == {"loss", *(f"{name}_loss" for name in EXDET_HEAD_NAMES)}
    expected_top = penalty_reduced_focal_loss(outputs["heatmap_top"], targets.extreme_heatmap[:, 0])
    torch.testing.assert_close(stats["heatmap_top_loss"], expected_top)
    torch.testing.assert_close(stats["heatmap_loss"], penalty_reduced_focal_loss(outputs["heatmap"], targets.heatmap))
    # zero predicted offset: the L1 is the mean of the target's two components, (0 + 0.25) / 2
    torch.testing.assert_close(stats["offset_left_loss"], torch.tensor(0.125), atol=1e-4, rtol=0)
    torch.testing.assert_close(total, sum(stats[f"{name}_loss"] for name in EXDET_HEAD_NAMES))
    weighted, _ = build_criterion(EXDET, LossConfig(heatmap_weight=2.0, offset_weight=0.5))(outputs, targets)
    heatmaps = sum(stats[f"{name}_loss"] for name in EXDET_HEAD_NAMES if name.startswith("heatmap"))
    offsets = sum(stats[f"{name}_loss"] for name in EXDET_HEAD_NAMES if name.startswith("offset"))
    torch.testing.assert_close(weighted, 2 * heatmaps + 0.5 * offsets)


def test_the_mse_heatmap_loss_applies_to_all_five_heatmaps():
    targets, _ = _one_object_targets()
    torch.manual_seed(0)
    outputs = {name: torch.randn(1, 2, 16, 16) for name in EXDET_HEAD_NAMES}
    _, stats = build_criterion(EXDET, LossConfig(heatmap_loss="mse"))(outputs, targets)
    for side, name in enumerate(("top", "left", "bottom", "right")):
        expected = torch.nn.MSELoss()(outputs[f"heatmap_{name}"].sigmoid(), targets.extreme_heatmap[:, side])
        torch.testing.assert_close(stats[f"heatmap_{name}_loss"], expected)
    torch.testing.assert_close(stats["heatmap_loss"], torch.nn.MSELoss()(outputs["heatmap"].sigmoid(),
                                                                         targets.heatmap))


def test_crowd_regions_are_ignored_in_every_extreme_heatmap():
    boxes = torch.tensor([[[12.0, 8, 52, 60], [0, 0, 64, 64]]])
    points = torch.tensor([[[[30.0, 8], [12, 33], [41, 60], [52, 21]], [[0.0] * 2] * 4]])
    targets = encode_targets_batched(boxes, torch.tensor([[1, 1]]), torch.tensor([[True, False]]), 2, (16, 16),
                                     gaussian="round", step=ExtremeTargets(), crowd=torch.tensor([[False, True]]),
                                     points=points)
    assert targets.extreme_ignore.shape == (1, 4, 2, 16, 16)
    assert targets.extreme_ignore[0, :, 1].sum() == 4 * (256 - 1)  # all but each map's own peak
    assert not targets.extreme_ignore[0, :, 0].any()


def test_the_exdet_encoder_needs_extreme_points():
    with pytest.raises(ValueError, match="extreme points"):
        encode_targets_batched(torch.zeros(1, 1, 4), torch.zeros(1, 1, dtype=torch.long), torch.ones(1, 1, dtype=bool),
                               2, (16, 16), gaussian="round", step=ExtremeTargets())


# --- grouping, octagons, flip -------------------------------------------------------------------------------

# class 1's object: top (10, 5), left (4, 12), bottom (12, 20), right (18, 11) in output pixels
OBJECT = ((10, 5), (4, 12), (12, 20), (18, 11))


def _maps(points=OBJECT, label=1, score=0.9, centre_score=0.8, shape=(2, 32, 32)):
    centre, extremes = torch.zeros(1, *shape), torch.zeros(1, 4, *shape)
    for side, (x, y) in enumerate(points):
        extremes[0, side, label, y, x] = score
    (_, top_y), (left_x, _), (_, bottom_y), (right_x, _) = points
    centre[0, label, int((top_y + bottom_y + 0.5) / 2), int((left_x + right_x + 0.5) / 2)] = centre_score
    return centre, extremes


def test_grouping_finds_a_valid_quadruple_with_the_reference_score():
    centre, extremes = _maps()
    groups = group_extremes(centre, extremes, k=40)
    assert groups["class"].tolist() == [1] and groups["image"].tolist() == [0]
    assert groups["x"].tolist() == [[10, 4, 12, 18]] and groups["y"].tolist() == [[5, 12, 20, 11]]
    torch.testing.assert_close(groups["score"], torch.tensor([(4 * 0.9 + 2 * 0.8) / 6]))
    found = decode_extremes(centre, extremes, None, k=40, num_detections=3)
    assert found.boxes.shape == (1, 3, 4) and found.points["extreme_points"].shape == (1, 3, 4, 2)
    torch.testing.assert_close(found.boxes[0, 0], torch.tensor([4.5, 5.5, 18.5, 20.5]))
    torch.testing.assert_close(found.scores[0, 0], torch.tensor((4 * 0.9 + 1.6) / 6))
    assert found.classes[0, 0].item() == 1 and found.classes.dtype == torch.int64
    torch.testing.assert_close(found.points["extreme_points"][0, 0],
                               torch.tensor([[10.5, 5.5], [4.5, 12.5], [12.5, 20.5], [18.5, 11.5]]))
    assert (found.scores[0, 1:] == -1).all()


@pytest.mark.parametrize("points", [
    ((10, 15), (4, 12), (12, 20), (18, 11)),  # top below left and right
    ((10, 5), (14, 12), (12, 20), (18, 11)),  # left right of top and bottom
    ((10, 5), (4, 12), (12, 9), (18, 11)),  # bottom above left and right
    ((10, 5), (4, 12), (12, 20), (8, 11)),  # right left of top and bottom
])
def test_grouping_rejects_geometrically_invalid_quadruples(points):
    centre, extremes = _maps(points)
    assert len(group_extremes(centre, extremes)["score"]) == 0


def test_grouping_rejects_a_weak_centre_a_weak_point_and_points_of_other_classes():
    centre, extremes = _maps(centre_score=0.09)
    assert len(group_extremes(centre, extremes)["score"]) == 0
    centre, extremes = _maps()
    extremes[0, 2, 1, 20, 12] = 0.09  # bottom below the threshold
    assert len(group_extremes(centre, extremes)["score"]) == 0
    centre, extremes = _maps()
    extremes[0, 3, 0, 11, 18], extremes[0, 3, 1, 11, 18] = 0.9, 0.0  # right point of class 0
    assert len(group_extremes(centre, extremes)["score"]) == 0


def test_grouping_combines_only_within_an_image_and_keeps_the_best_first():
    first_centre, first_extremes = _maps()
    second_centre, second_extremes = _maps(((20, 3), (15, 8), (21, 14), (28, 9)), label=0, score=0.5)
    centre = torch.cat([first_centre + second_centre, second_centre])  # image 0 both objects, image 1 the second
    extremes = torch.cat([first_extremes + second_extremes, second_extremes])
    found = decode_extremes(centre, extremes, None, k=40, num_detections=4)
    scores, classes = found.scores, found.classes
    assert classes[0, :2].tolist() == [1, 0] and scores[0, 0] > scores[0, 1] and scores[0, 2] == -1
    assert classes[1, 0] == 0 and scores[1, 1] == -1


@pytest.mark.parametrize(("classes", "power"), [(1, 8), (3, 8), (1, 40), (2, 40)])
def test_pruned_grouping_finds_exactly_the_groups_of_the_references_k4_expansion(classes, power):
    generator = torch.Generator().manual_seed(classes)
    # peaks on a low background, so that many combinations are valid and many are not; power 8 leaves a quarter
    # of the pixels above the threshold (the max-pool path of thresholded_peaks), power 40 a twentieth
    extremes = torch.rand(2, 4, classes, 24, 24, generator=generator) ** power
    centre = torch.rand(2, classes, 24, 24, generator=generator) ** 2
    groups = group_extremes(centre, extremes, k=12)
    ours = {(int(image), int(label), *(int(v) for pair in zip(x, y, strict=True) for v in pair)): float(score)
            for image, label, x, y, score in zip(groups["image"], groups["class"], groups["x"].tolist(),
                                                 groups["y"].tolist(), groups["score"], strict=True)}
    expected = {group[:10]: group[10] for group in reference_extreme_groups(centre, extremes, k=12)}
    assert len(expected) > 5  # the case exercises the grouping
    assert len(ours) == len(groups["score"])  # no group twice
    assert sorted(ours) == sorted(expected)
    for key, score in expected.items():
        assert ours[key] == pytest.approx(score, abs=1e-6)


@pytest.mark.parametrize("power", [2, 40])  # dense (max-pool) and sparse (neighbour) paths
def test_thresholded_peaks_are_the_top_peaks_above_the_threshold(power):
    heatmap = torch.rand(3, 4, 20, 24, generator=torch.Generator().manual_seed(power)) ** power
    row, score, label, y, x = thresholded_peaks(heatmap, 15, 0.1)
    scores, classes, pixel = top_peaks(heatmap, 15)
    expected = [(r, float(s), int(c), int(p) // 24, int(p) % 24) for r in range(3)
                for s, c, p in zip(scores[r], classes[r], pixel[r], strict=True) if s >= 0.1]
    assert len(expected) > 10
    assert list(zip(row.tolist(), score.tolist(), label.tolist(), y.tolist(), x.tolist(), strict=True)) == expected


def test_offsets_move_the_points_and_the_box_follows_them():
    centre, extremes = _maps()
    offsets = torch.zeros(1, 4, 2, 32, 32)
    offsets[0, 1, :, 12, 4] = torch.tensor([0.25, 0.75])  # the left point's (dx, dy)
    found = decode_extremes(centre, extremes, offsets, k=40, num_detections=1)
    torch.testing.assert_close(found.points["extreme_points"][0, 0, 1], torch.tensor([4.25, 12.75]))
    assert found.boxes[0, 0, 0] == 4.25  # x1 is the left point's x


def test_with_offsets_the_centre_is_looked_up_where_the_targets_put_it():
    # peaks left x 1, right x 8, top y 1, bottom y 10, each with offset 0.5: the points span x 1.5..8.5 and
    # y 1.5..10.5, so the box centre is (5, 6), its target peak pixel (5, 6); the reference's rule on the peak
    # pixels looks at (int((1 + 8 + 0.5) / 2), int((1 + 10 + 0.5) / 2)) = (4, 5)
    centre, extremes = _maps(((5, 1), (1, 7), (6, 10), (8, 5)))
    centre.zero_()
    centre[0, 1, 6, 5] = 0.8
    offsets = torch.full((1, 4, 2, 32, 32), 0.5)
    groups = group_extremes(centre, extremes, offsets=offsets)
    assert len(groups["score"]) == 1
    torch.testing.assert_close(groups["points"][0], torch.tensor([[5.5, 1.5], [1.5, 7.5], [6.5, 10.5], [8.5, 5.5]]))
    assert len(group_extremes(centre, extremes)["score"]) == 0
    centre[0, 1, 6, 5], centre[0, 1, 5, 4] = 0.0, 0.8
    assert len(group_extremes(centre, extremes)["score"]) == 1
    assert len(group_extremes(centre, extremes, offsets=offsets)["score"]) == 0


def test_the_octagon_extends_each_point_by_an_eighth_of_its_edge_either_way_within_the_box():
    points = np.array([[[10, 0], [0, 4], [2, 16], [16, 14]]], np.float32)  # box 0..16 x 0..16
    expected = [[12, 0], [8, 0], [0, 2], [0, 6], [0, 16], [4, 16], [16, 16], [16, 12]]
    np.testing.assert_allclose(extreme_octagons(points)[0], expected)


def test_flip_merging_averages_the_mirror_with_left_and_right_swapped():
    centre, extremes = _maps()
    mirror_centre, mirror_extremes = centre.flip(-1), extremes.flip(-1)[:, [0, 3, 2, 1]]  # what a mirror sees
    offsets = torch.zeros(2, 4, 2, 32, 32)
    merged_centre, merged, _ = merge_flip_extremes(torch.cat([centre, mirror_centre]),
                                                   torch.cat([extremes, mirror_extremes]), offsets)
    torch.testing.assert_close(merged, extremes)
    torch.testing.assert_close(merged_centre, centre)


def test_decoding_raw_outputs_and_mapping_back_moves_the_points_with_the_boxes():
    centre, extremes = _maps()
    logits = lambda p: torch.logit(p.clamp(1e-6, 1 - 1e-6))  # noqa: E731
    maps = {"heatmap": logits(centre)}
    for side, name in enumerate(("top", "left", "bottom", "right")):
        maps[f"heatmap_{name}"] = logits(extremes[:, side])
        maps[f"offset_{name}"] = torch.zeros(1, 2, 32, 32)
    found = EXDET.decode(maps, InferenceConfig(top_k=2, extreme_peaks=40), flip_test=False)
    points = found.points["extreme_points"]
    assert found.boxes.shape == (1, 2, 4) and points.shape == (1, 2, 4, 2) and found.classes[0, 0] == 1
    inverse = torch.tensor([[[2.0, 0, 1], [0, 2, 3]]])  # input pixels -> original: x 2x + 1, y 2y + 3
    mapped = to_image_frame(found, inverse, stride=4)
    torch.testing.assert_close(mapped.points["extreme_points"][0, 0, 0], points[0, 0, 0] * 8 + torch.tensor([1.0, 3.0]))
    torch.testing.assert_close(mapped.boxes[0, 0, :2], found.boxes[0, 0, :2] * 8 + torch.tensor([1.0, 3.0]))


# --- end to end --------------------------------------------------------------------------------------------


def test_overfits_one_batch_until_grouping_recovers_the_extreme_points():
    torch.manual_seed(0)
    images = torch.full((2, 64, 64, 3), 30, dtype=torch.uint8).numpy()
    # a kite in image 0, two triangles in image 1; box centres off the output pixels' edges, because the centre
    # heatmap of an overfit network is too sharp for a lookup that rounds across an edge
    polygons = [[np.array([[20, 6], [6, 30], [24, 40], [38, 22]])],
                [np.array([[44, 26], [30, 50], [60, 56]]), np.array([[8, 8], [8, 28], [28, 28]])]]
    classes = torch.tensor([[0, 0], [1, 0]])
    valid = torch.tensor([[True, False], [True, True]])
    points = torch.zeros(2, 2, 4, 2)
    boxes = torch.zeros(2, 2, 4)
    for image, image_polygons in enumerate(polygons):
        for slot, polygon in enumerate(image_polygons):
            cv2.fillPoly(images[image], [polygon.astype(np.int32)], (230, 230, 230))
            points[image, slot] = torch.from_numpy(polygon_extreme_points([polygon.astype(np.float32)]))
            boxes[image, slot] = torch.tensor([polygon[:, 0].min(), polygon[:, 1].min(), polygon[:, 0].max(),
                                               polygon[:, 1].max()], dtype=torch.float32)
    inputs = torch.from_numpy(images).permute(0, 3, 1, 2)
    targets = encode_targets_batched(boxes, classes, valid, 2, (16, 16), gaussian="round", step=ExtremeTargets(),
                                     points=points)
    model = build_model(ModelConfig(arch="resnet18", num_classes=2, task="exdet", box_head="center",
                                    neck_shortcuts=False, neck_channels=None))
    criterion = build_criterion(EXDET, LossConfig())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(150):
        loss, _ = criterion(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.inference_mode():
        decoded = EXDET.decode(model(inputs), InferenceConfig(top_k=10, extreme_peaks=40), flip_test=False)
    for image in range(2):
        for slot in valid[image].nonzero().squeeze(1).tolist():
            truth = points[image, slot] / 4  # output pixels
            kept = (decoded.scores[image] > 0.3) & (decoded.classes[image] == classes[image, slot])
            found = decoded.points["extreme_points"][image][kept]  # (N, 4, 2)
            assert len(found), f"image {image} object {slot} not found"
            distance = (found - truth).norm(dim=-1).amax(-1)  # worst point of each group
            assert distance.min() <= 2.0, distance


def _exdet_checkpoint(path):
    """A checkpoint of an exdet ResNet-18 whose heatmaps vary over the image around 0.5, so that points group
    (features made to vary as in `test_export.random_model`)."""
    torch.manual_seed(0)
    config = Config(model=ModelConfig(task="exdet", num_classes=2, box_head="center", neck_shortcuts=False),
                    data=DataConfig(input_size=64))
    model = build_model(config.model, config.data)
    with torch.no_grad():
        for name in EXDET_HEAD_NAMES:
            torch.nn.init.normal_(model.heads[name][-1].weight, std=0.5)
            torch.nn.init.zeros_(model.heads[name][-1].bias)
        for module in model.modules():
            if isinstance(module, torch.nn.ConvTranspose2d):
                torch.nn.init.normal_(module.weight, std=0.05)
    save_checkpoint(path, {"model": model.state_dict(), "optimizer": {}, "scheduler": {}, "scaler": {}, "epoch": 1,
                           "step": 1, "best_ap": 0.0, "config": config_to_dict(config), "class_names": ["a", "b"],
                           "category_ids": [1, 2]})
    return path


def test_an_exdet_checkpoint_exports_its_network_and_refuses_in_graph_decoding(tmp_path):
    checkpoint = _exdet_checkpoint(tmp_path / "best.pt")
    with pytest.raises(CenterNetError, match="--with-decode"):
        export_checkpoint(checkpoint, tmp_path / "decoded.onnx", with_decode=True)
    exported = export_checkpoint(checkpoint, tmp_path / "net.onnx")  # verified against PyTorch on export
    image = np.random.default_rng(0).integers(0, 255, (48, 80, 3), dtype=np.uint8)
    pytorch = Predictor.from_file(checkpoint, device="cpu", amp="off", score_threshold=0.0)
    onnx = load_predictor(exported, "onnxruntime", device="cpu", score_threshold=0.0)
    for found in (pytorch([image])[0], onnx([image])[0]):
        assert len(found) and found.extreme_points.shape == (len(found), 4, 2)
        assert found.octagons.shape == (len(found), 8, 2)
        np.testing.assert_allclose(found.octagons, extreme_octagons(found.extreme_points))
        boxes = found.boxes
        np.testing.assert_allclose(boxes[:, 0], found.extreme_points[:, 1, 0], atol=1e-4)  # x1 is the left point
        np.testing.assert_allclose(boxes[:, 3], found.extreme_points[:, 2, 1], atol=1e-4)  # y2 is the bottom point
    np.testing.assert_allclose(onnx([image])[0].scores[:5], pytorch([image])[0].scores[:5], atol=1e-4)


def test_training_counts_the_objects_without_a_polygon_each_epoch(tmp_path, capsys):
    from centernet.cli import main

    annotations = _write_dataset(tmp_path)  # one object with a polygon, one without, one crowd region
    assert main(["train", "--task", "exdet", "--train-ann", str(annotations), "--train-images", str(tmp_path),
                 "--out", str(tmp_path / "run"), "--input-size", "64", "--epochs", "2", "--batch-size", "1",
                 "--scale", "0", "--shift", "0", "--workers", "0", "--device", "cpu", "--warmup-iters", "1",
                 "--no-ema"]) == 0
    errors = capsys.readouterr().err
    for epoch in (1, 2):
        assert f"epoch {epoch}: 1 objects had no polygon" in errors
    records = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").read_text().splitlines()]
    assert [record["stand_in_points"] for record in records] == [1, 1]


def test_demo_draws_the_points_and_octagons_and_its_json_lines_carry_them():
    from centernet.apps.video import Frame, detection_record
    from centernet.structures import Detections
    from centernet.viz import draw_detections

    points = np.array([[[30, 10], [10, 30], [34, 50], [50, 26]]], np.float32)
    found = Detections(np.array([[10, 10, 50, 50]], np.float32), np.array([0.9], np.float32),
                       np.array([0]), ["a"], points, extreme_octagons(points))
    image = np.zeros((64, 64, 3), np.uint8)
    boxes_only = draw_detections(image, Detections(found.boxes, found.scores, found.classes, found.names))
    drawn = draw_detections(image, found, draw_extras=EXDET.draw)
    assert drawn[10, 30].any() and drawn[26, 50].any()  # the top and right points
    assert (drawn != boxes_only).any(axis=2).sum() > 40  # the octagon and the dots
    record = detection_record(Frame(0, None, "x.png", image), found)["detections"][0]
    assert record["class"] == "a" and record["extreme_points"] == points[0].tolist()
    assert record["octagons"] == extreme_octagons(points)[0].tolist() and len(record["octagons"]) == 8
