"""COCO evaluation: honest metrics (undefined is not 0), untouched results, a known detection in original pixels;
multi-scale tests merged by class-wise NMS, by hand and through the CLI."""

import contextlib
import copy
import dataclasses
import io
import json

import cv2
import numpy as np
import pytest
import torch
from pycocotools.coco import COCO

from centernet.cli import main
from centernet.config import Config, DataConfig, ModelConfig
from centernet.data.coco import CocoDataset
from centernet.data.images import read_image_rgb
from centernet.engine.evaluate import coco_metrics, evaluate, format_metric
from centernet.predictor import Predictor
from centernet.structures import box_xywh_to_xyxy

CATEGORIES = [{"id": 4, "name": "four"}, {"id": 9, "name": "nine"}, {"id": 12, "name": "twelve"}]
CLASS_NAMES, CATEGORY_IDS = ["four", "nine", "twelve"], [4, 9, 12]
# medium objects only (32^2 < area < 96^2); category 12 has no ground truth at all
GROUND_TRUTH = [
    {"id": 1, "image_id": 1, "category_id": 4, "bbox": [10.0, 10.0, 40.0, 40.0], "area": 1600.0, "iscrowd": 0},
    {"id": 2, "image_id": 1, "category_id": 9, "bbox": [60.0, 50.0, 50.0, 45.0], "area": 2250.0, "iscrowd": 0},
    {"id": 3, "image_id": 2, "category_id": 9, "bbox": [5.0, 20.0, 60.0, 40.0], "area": 2400.0, "iscrowd": 0},
]


def ground_truth_index() -> COCO:
    coco = COCO()
    coco.dataset = {"images": [{"id": 1, "width": 160, "height": 120}, {"id": 2, "width": 160, "height": 120}],
                    "annotations": copy.deepcopy(GROUND_TRUTH), "categories": CATEGORIES}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def perfect_results() -> list[dict]:
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": list(a["bbox"]), "score": 0.9}
            for a in GROUND_TRUTH]


def test_perfect_detections_score_ap_one_and_undefined_areas_are_none():
    metrics, per_class = coco_metrics(ground_truth_index(), perfect_results(), CLASS_NAMES, CATEGORY_IDS)
    assert metrics["AP"] == pytest.approx(1.0) and metrics["AP50"] == pytest.approx(1.0)
    assert metrics["APm"] == pytest.approx(1.0)
    assert metrics["APs"] is None and metrics["APl"] is None  # no small or large objects: undefined, not 0
    assert per_class == pytest.approx({"four": 1.0, "nine": 1.0})  # "twelve" has no ground truth: left out


def test_a_wrong_box_scores_below_one():
    results = perfect_results()
    results[2]["bbox"] = [35.0, 20.0, 60.0, 40.0]  # IoU 0.33 with its object: a miss at every threshold >= .5
    metrics, per_class = coco_metrics(ground_truth_index(), results, CLASS_NAMES, CATEGORY_IDS)
    assert per_class["four"] == pytest.approx(1.0) and per_class["nine"] == pytest.approx(0.5, abs=0.01)
    assert metrics["AP"] < 0.8


def test_scoring_leaves_the_results_with_exactly_the_coco_result_fields():
    results = perfect_results()
    coco_metrics(ground_truth_index(), results, CLASS_NAMES, CATEGORY_IDS)
    assert results == perfect_results()  # pycocotools' loadRes adds area, id, iscrowd... to the dicts it gets


def test_no_detections_score_zero_where_there_is_ground_truth_and_none_elsewhere():
    metrics, per_class = coco_metrics(ground_truth_index(), [], CLASS_NAMES, CATEGORY_IDS)
    assert metrics["AP"] == 0.0 and metrics["APm"] == 0.0
    assert metrics["APs"] is None and metrics["APl"] is None
    assert per_class == {"four": 0.0, "nine": 0.0}


def test_format_metric_prints_a_dash_for_undefined():
    assert format_metric(None, 100, 5, 1) == "    -" and format_metric(0.1234, 100, 5, 1) == " 12.3"


def one_peak_heads(batch: int, pixel: tuple[int, int], size: tuple[float, float],
                   offset: tuple[float, float]) -> dict[str, torch.Tensor]:
    """center-head outputs on a 16 x 16 map with one class-1 peak (logit 5, -10 elsewhere) at pixel (x, y), its
    size (w, h) and offset (dx, dy) there."""
    x, y = pixel
    heatmap = torch.full((batch, 2, 16, 16), -10.0)
    heatmap[:, 1, y, x] = 5.0
    sizes, offsets = torch.zeros(batch, 2, 16, 16), torch.zeros(batch, 2, 16, 16)
    sizes[:, :, y, x], offsets[:, :, y, x] = torch.tensor(size), torch.tensor(offset)
    return {"heatmap": heatmap, "size": sizes, "offset": offsets}


class OnePeak(torch.nn.Module):
    """Fixed heads on a 16 x 16 map: one class-1 peak at pixel (x 5, y 6), size (4, 2), offset (0.5, 0.25)."""

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return one_peak_heads(images.shape[0], (5, 6), (4.0, 2.0), (0.5, 0.25))


def one_object_set(tmp_path, width: int, height: int, bbox: list[float]) -> tuple[CocoDataset, Config]:
    """A black width x height image (id 5) holding one object of category 9 (the second of the categories 4 and
    9) at `bbox` (COCO x, y, w, h), as a validation set at 64 px input, and a center-head config for it."""
    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.png"), np.zeros((height, width, 3), np.uint8))
    annotation = {"id": 1, "image_id": 5, "category_id": 9, "bbox": bbox, "area": bbox[2] * bbox[3], "iscrowd": 0}
    (tmp_path / "ann.json").write_text(json.dumps({
        "images": [{"id": 5, "file_name": "a.png", "width": width, "height": height}], "annotations": [annotation],
        "categories": [{"id": 4, "name": "four"}, {"id": 9, "name": "nine"}]}))
    dataset = CocoDataset(tmp_path / "ann.json", tmp_path / "images", 64, train=False)
    return dataset, Config(model=ModelConfig(num_classes=2, box_head="center"), data=DataConfig(input_size=64))


def test_evaluate_reports_a_known_detection_in_original_pixels(tmp_path):
    """A 96 x 64 image letterboxed into 64 x 64 (scale 2/3, 10.67 rows of padding on top): the box (3.5, 5.25,
    7.5, 7.25) in output pixels is (14, 21, 30, 29) in input pixels and (21, 15.5, 45, 27.5) in the image."""
    dataset, config = one_object_set(tmp_path, width=96, height=64, bbox=[21.0, 15.5, 24.0, 12.0])
    predictor = Predictor(OnePeak(), config, dataset.class_names, torch.device("cpu"), category_ids=[4, 9])
    result = evaluate(predictor, dataset, batch_size=1, progress=False)
    assert len(result.results) == 1, "the one peak above the score threshold must be detected"
    detection = result.results[0]
    assert set(detection) == {"image_id", "category_id", "bbox", "score"}
    assert detection["image_id"] == 5 and detection["category_id"] == 9
    np.testing.assert_allclose(detection["bbox"], [21.0, 15.5, 24.0, 12.0], atol=0.01)
    assert detection["score"] == pytest.approx(1 / (1 + np.exp(-5.0)), abs=1e-5)
    assert result.metrics["AP"] == pytest.approx(1.0)


class PeakPastTheRightEdge(torch.nn.Module):
    """Fixed heads on a 16 x 16 map: one class-1 peak at pixel (x 14, y 8), size (5, 4), offset (0.5, 0): the box
    (12, 6, 17, 10) in output pixels, one pixel past the map's right edge."""

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return one_peak_heads(images.shape[0], (14, 8), (5.0, 4.0), (0.5, 0.0))


def test_evaluate_clips_a_box_past_the_right_edge_of_a_wide_image_at_its_width_not_its_height(tmp_path):
    """A 120 x 60 image letterboxed into 64 x 64 (scale 8/15, 16 rows of padding on top): an output pixel is 7.5
    image pixels, so the box (12, 6, 17, 10) in output pixels is (90, 15, 127.5, 45) in the image, clipped at the
    width, 120, to (90, 15, 120, 45). Clipped at the height, 60, it would be (60, 15, 60, 45): no width, AP 0."""
    dataset, config = one_object_set(tmp_path, width=120, height=60, bbox=[90.0, 15.0, 30.0, 30.0])
    predictor = Predictor(PeakPastTheRightEdge(), config, dataset.class_names, torch.device("cpu"),
                          category_ids=[4, 9])
    result = evaluate(predictor, dataset, batch_size=1, progress=False)
    assert len(result.results) == 1, "the one peak above the score threshold must be detected"
    np.testing.assert_allclose(result.results[0]["bbox"], [90.0, 15.0, 30.0, 30.0], atol=0.01)  # x2 = 120
    assert result.metrics["AP"] == pytest.approx(1.0)


class ScaledOnePeak(torch.nn.Module):
    """Center-head outputs for a 64 x 64 image at any square input side S (the letterbox is a zoom by S / 64): a
    class-1 peak on the box (16, 16, 48, 40) whose logit grows with S (1, 2, 3 at S = 32, 64, 96), and a class-0
    peak of score 0.5 on the same box, found at every scale."""

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        batch, _, height, width = images.shape
        zoom = width / 64
        centre = torch.tensor([32.0, 28.0]) * zoom / 4  # output pixels
        x, y = centre.floor().long().tolist()
        heatmap = torch.full((batch, 2, height // 4, width // 4), -10.0)
        heatmap[:, 1, y, x], heatmap[:, 0, y, x] = width / 32, 0.0
        size, offset = torch.zeros(batch, 2, height // 4, width // 4), torch.zeros(batch, 2, height // 4, width // 4)
        size[:, :, y, x] = torch.tensor([32.0, 24.0]) * zoom / 4
        offset[:, :, y, x] = centre - centre.floor()
        return {"heatmap": heatmap, "size": size, "offset": offset}


def test_a_multi_scale_evaluation_merges_the_scales_with_class_wise_nms(tmp_path):
    dataset, config = one_object_set(tmp_path, width=64, height=64, bbox=[16.0, 16.0, 32.0, 24.0])
    for scales, kept in (((1.0,), 2), ((0.5, 1.0, 1.5), 2), ((0.5, 1.0, 1.5, 1.0), 2)):
        inference = dataclasses.replace(config.inference, test_scales=scales)
        predictor = Predictor(ScaledOnePeak(), config, dataset.class_names, torch.device("cpu"), inference,
                              category_ids=[4, 9])
        result = evaluate(predictor, dataset, batch_size=1, progress=False)
        # every scale finds both boxes; NMS keeps one per class: the class-1 box of the best scale
        assert len(result.results) == kept, scales
        best = max(result.results, key=lambda detection: detection["score"])
        assert best["category_id"] == 9 and best["score"] == pytest.approx(1 / (1 + np.exp(-2 * max(scales))), abs=1e-5)
        for detection in result.results:
            np.testing.assert_allclose(detection["bbox"], [16.0, 16.0, 32.0, 24.0], atol=0.01)
        assert result.metrics["AP"] == pytest.approx(1.0)
    assert predictor.input_sizes() == [(32, 32), (64, 64), (96, 96), (64, 64)]
    raw = [predictor.predict_batch(predictor.preprocess([np.zeros((64, 64, 3), np.uint8)], size))[0]
           for size in predictor.input_sizes()]
    assert sum(len(found) for found in raw) == 8  # what NMS merged: 4 scales x 2 classes


def test_evaluate_with_scales_and_flip_through_the_cli_writes_the_predictors_detections(ema_run, shapes, tmp_path,
                                                                                         capsys):
    out, metrics = tmp_path / "detections.json", tmp_path / "metrics.json"
    assert main(["evaluate", "--checkpoint", str(ema_run / "best.pt"), "--ann", str(shapes / "annotations/val.json"),
                 "--images", str(shapes / "val"), "--out", str(out), "--metrics", str(metrics), "--device", "cpu",
                 "--workers", "0", "--test-scales", "0.5", "1", "1.5", "--nms-iou", "0.6", "--flip-test"]) == 0
    assert "evaluate: input 64x64, scales 0.5 1 1.5 (32x32 64x64 96x96), NMS IoU 0.6, flip test" in (
        capsys.readouterr().out)
    results = json.loads(out.read_text())
    assert results and {"AP", "AP50", "per_class_ap"} <= set(json.loads(metrics.read_text()))
    coco = COCO(str(shapes / "annotations/val.json"))
    assert {r["image_id"] for r in results} <= set(coco.imgs) and {r["category_id"] for r in results} <= {1, 3, 7}
    # the one inference path: the Predictor on the same images, at the same scales, merged the same way
    predictor = Predictor.from_file(ema_run / "best.pt", device="cpu", test_scales=(0.5, 1.0, 1.5), nms_iou=0.6,
                                    flip_test=True)
    for image_id, info in coco.imgs.items():
        found = predictor([read_image_rgb(shapes / "val" / info["file_name"])])[0]
        ours = sorted((r for r in results if r["image_id"] == image_id), key=lambda r: -r["score"])
        assert len(ours) == len(found) <= predictor.inference.top_k
        # the best ten (further down, near-equal scores of a barely trained model may trade places between batches)
        np.testing.assert_allclose([r["score"] for r in ours[:10]], found.scores[:10], atol=1e-4)
        best = box_xywh_to_xyxy(np.array([r["bbox"] for r in ours[:1]]))
        np.testing.assert_allclose(best, found.boxes[:1], atol=0.02)
