"""scripts/track_eval.py: tracks scored by TrackEval's HOTA, CLEAR and Identity metrics against MOTChallenge ground
truth, the naive baseline, and our tracker on the ground truth with boxes dropped."""

from __future__ import annotations

import json

import numpy as np
import pytest

from centernet.structures import Detections
from tests.conftest import load_script

track_eval = load_script("track_eval")


def detections(*boxes: tuple[float, float]) -> Detections:
    """20 x 20 boxes at top-left (x, y), class 0."""
    xyxy = np.array([[x, y, x + 20, y + 20] for x, y in boxes], np.float32).reshape(-1, 4)
    return Detections(xyxy, np.full(len(boxes), 0.9, np.float32), np.zeros(len(boxes), np.int64), ["a"] * len(boxes))


def test_the_naive_baseline_has_no_memory():
    frames = {0: detections((0, 0)), 1: detections((4, 0)), 2: detections(), 3: detections((12, 0))}
    ids = track_eval.naive_ids(frames)
    assert [ids[frame].tolist() for frame in range(4)] == [[1], [1], [], [2]]  # a missed frame: a new id


def test_the_naive_baseline_hands_an_id_to_one_detection_only():
    frames = {0: detections((0, 0)), 1: detections((2, 0), (4, 0))}  # both overlap the one box before them
    assert track_eval.naive_ids(frames)[1].tolist() == [1, 2]


def two_objects(frames: int = 4) -> dict:
    """Two objects of category 1, ids 1 and 2, 50 px apart, moving 2 px a frame towards each other."""
    return {t: (np.array([[2 * t, 0, 2 * t + 20, 20], [50 - 2 * t, 0, 70 - 2 * t, 20]], np.float32),
                np.array([1, 2]), np.array([1, 1])) for t in range(frames)}


def test_perfect_tracks_score_one():
    gt = two_objects()
    perfect = track_eval.score(gt, gt, 4)
    assert perfect["MOTA"] == 1.0 and perfect["IDF1"] == 1.0 and perfect["IDSW"] == 0 and perfect["HOTA"] == 1.0


def test_a_swap_counts_and_lowers_idf1_and_hota():
    gt = two_objects()
    swapped = {t: (boxes, ids[::-1] if t >= 2 else ids, classes) for t, (boxes, ids, classes) in gt.items()}
    metrics = track_eval.score(gt, swapped, 4)
    assert metrics["IDSW"] == 2 and metrics["IDF1"] == 0.5 and metrics["MOTA"] == 0.75 and metrics["HOTA"] < 1.0


def test_a_track_of_another_class_never_matches():
    gt = two_objects()
    relabelled = {t: (boxes, ids, classes + 1) for t, (boxes, ids, classes) in gt.items()}
    metrics = track_eval.score(gt, relabelled, 4)
    assert metrics["CLR_FN"] == 8 and metrics["CLR_FP"] == 8 and metrics["IDF1"] == 0.0


def test_a_missed_frame_is_a_miss_not_a_switch():
    gt = two_objects()
    empty = (np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64))
    metrics = track_eval.score(gt, {**gt, 2: empty}, 4)
    assert metrics["CLR_FN"] == 2 and metrics["IDSW"] == 0 and metrics["MOTA"] == 0.75


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    out = tmp_path_factory.mktemp("tracking")
    load_script("make_tracking_shapes").make_tracking_shapes(out, frames=60, seed=0)
    return out


def test_our_tracker_keeps_ids_on_the_ground_truth_with_boxes_dropped_and_jittered(sequence):
    gt = track_eval.read_gt(sequence / "gt/gt.txt")
    metrics = track_eval.score(gt, track_eval.dropped_ground_truth(gt, 60), 60)
    assert metrics["IDF1"] >= 0.9 and metrics["IDSW"] <= 2


def test_the_demos_json_lines_are_read_with_their_ids(tmp_path):
    lines = [{"frame": 0, "detections": [{"box": [0, 0, 20, 20], "score": 0.9, "class": "a", "class_index": 0,
                                          "track_id": 7}]},
             {"frame": 1, "detections": []}]
    (tmp_path / "tracked.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    frames = track_eval.read_tracked(tmp_path / "tracked.jsonl")
    assert frames[0].track_id.tolist() == [7] and len(frames[1]) == 0


def test_evaluate_maps_class_names_to_the_ground_truths_categories(sequence, tmp_path):
    """The demo's lines made from the ground truth itself (names from categories.json) score perfectly."""
    gt = track_eval.read_gt(sequence / "gt/gt.txt")
    name = {c["id"]: c["name"] for c in json.loads((sequence / "categories.json").read_text())}
    empty = ([], [], [])
    lines = [{"frame": t, "detections": [{"box": box.tolist(), "score": 0.9, "class": name[int(c)], "class_index": 0,
                                          "track_id": int(i)} for box, i, c in zip(*gt.get(t, empty), strict=True)]}
             for t in range(60)]
    (tmp_path / "tracked.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    rows = track_eval.evaluate(sequence / "gt/gt.txt", tmp_path / "tracked.jsonl")
    assert rows["ours"]["IDF1"] == pytest.approx(1.0) and rows["ours"]["MOTA"] == pytest.approx(1.0)
    assert rows["naive"]["IDSW"] >= rows["ours"]["IDSW"]


def test_our_tracker_run_offline_on_the_raw_detections_gives_the_demos_ids(sequence, tmp_path):
    """The raw lines (scores down to 0.1, no ids) tracked here score exactly as the demo's tracked lines, which our
    tracker made from the same detections inside the demo."""
    gt = track_eval.read_gt(sequence / "gt/gt.txt")
    name = {c["id"]: c["name"] for c in json.loads((sequence / "categories.json").read_text())}
    rng = np.random.default_rng(0)
    raw_lines, tracked_lines = [], []
    tracker = track_eval.Tracker(high=0.3, low=0.1)
    for t in range(60):
        boxes, _, categories = gt.get(t, (np.zeros((0, 4), np.float32), [], np.zeros(0, np.int64)))
        scores = rng.uniform(0.05, 1.0, len(boxes)).astype(np.float32)  # some below 0.3, some below 0.1
        order = np.argsort(-scores)
        found = Detections(boxes[order], scores[order], categories[order], [name[int(c)] for c in categories[order]])
        kept = found.select(found.scores >= 0.1)
        raw_lines.append({"frame": t, "detections": [
            {"box": b.tolist(), "score": float(s), "class": n, "class_index": int(c)}
            for b, s, n, c in zip(kept.boxes, kept.scores, kept.names, kept.classes, strict=True)]})
        out = tracker.update(kept, t)
        tracked_lines.append({"frame": t, "detections": [
            {"box": b.tolist(), "score": float(s), "class": n, "class_index": int(c), "track_id": int(i)}
            for b, s, n, c, i in zip(out.boxes, out.scores, out.names, out.classes, out.track_id, strict=True)]})
    for path, lines in (("raw.jsonl", raw_lines), ("tracked.jsonl", tracked_lines)):
        (tmp_path / path).write_text("".join(json.dumps(line) + "\n" for line in lines))
    rows = track_eval.evaluate(sequence / "gt/gt.txt", tmp_path / "tracked.jsonl", raw_path=tmp_path / "raw.jsonl")
    offline = {name: value for name, value in rows["ours_offline"].items() if name != "ms_per_frame"}
    assert offline == rows["ours"] and rows["ours_offline"]["ms_per_frame"] > 0
