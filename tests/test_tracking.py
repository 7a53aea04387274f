"""Tracking by detection (`centernet.tracking`): hand-made detection sequences give the ids a person would give."""

from __future__ import annotations

import numpy as np

from centernet.structures import Detections
from centernet.tracking import Tracker, box_iou, mot_lines


def frame(*objects: tuple[float, float, float, int]) -> Detections:
    """Detections of 20 x 20 boxes at top-left (x, y), with their score and class."""
    boxes = np.array([[x, y, x + 20, y + 20] for x, y, _, _ in objects], np.float32).reshape(-1, 4)
    scores = np.array([score for _, _, score, _ in objects], np.float32)
    classes = np.array([label for _, _, _, label in objects], np.int64)
    return Detections(boxes, scores, classes, [str(label) for label in classes])


def ids_by_x(tracked: Detections) -> dict[int, int]:
    return {int(box[0]): int(track_id) for box, track_id in zip(tracked.boxes, tracked.track_id, strict=True)}


def test_two_objects_crossing_keep_their_ids():
    tracker = Tracker()
    seen = []
    for t in range(11):  # A moves right, B left, a little lower: they overlap in the middle frames
        tracked = tracker.update(frame((10 * t, 0, 0.9, 0), (100 - 10 * t, 8, 0.9, 0)))
        order = np.argsort(tracked.boxes[:, 1])  # A is the upper one
        seen.append(tracked.track_id[order].tolist())
    assert seen == [[1, 2]] * 11


def test_an_object_missed_for_five_frames_comes_back_with_its_id():
    tracker = Tracker(max_missed=5)
    for t in range(5):
        assert tracker.update(frame((10 * t, 0, 0.9, 0))).track_id.tolist() == [1]
    for _ in range(5):  # occluded: no detection; the track coasts on its velocity
        assert len(tracker.update(frame())) == 0
    assert tracker.update(frame((100, 0, 0.9, 0))).track_id.tolist() == [1]
    assert [(s.track_id, s.first_frame, s.last_frame, s.frames, s.frames_seen) for s in tracker.summary()] == [
        (1, 0, 10, 11, 6)]


def test_an_object_leaving_ends_its_track_and_a_new_one_gets_a_new_id():
    tracker = Tracker(max_missed=2)
    for _ in range(3):
        tracker.update(frame((0, 0, 0.9, 0)))
    for _ in range(3):
        tracker.update(frame())  # gone for longer than max_missed
    assert tracker.update(frame((0, 0, 0.9, 0))).track_id.tolist() == [2]  # in the same place: a new object
    assert [summary.track_id for summary in tracker.summary()] == [1, 2]


def test_low_scores_keep_a_track_alive_without_being_reported_and_classes_never_mix():
    tracker = Tracker(high=0.5, low=0.1, max_missed=1)
    tracker.update(frame((0, 0, 0.9, 0)))
    for t in range(1, 4):  # blurred: it scores 0.2, below what is reported, for three frames
        assert len(tracker.update(frame((2 * t, 0, 0.2, 0)))) == 0
    assert tracker.update(frame((8, 0, 0.9, 0))).track_id.tolist() == [1]
    assert tracker.update(frame((8, 0, 0.9, 1))).track_id.tolist() == [2]  # another class on the same spot
    dropped = Tracker(high=0.5, low=0.3, max_missed=1)
    dropped.update(frame((0, 0, 0.9, 0)))
    for t in range(1, 4):  # below `low`: nothing keeps the track
        dropped.update(frame((2 * t, 0, 0.2, 0)))
    assert dropped.update(frame((8, 0, 0.9, 0))).track_id.tolist() == [2]


def test_mot_lines_are_motchallenge_text():
    tracked = Tracker().update(frame((10, 20, 0.9, 0)), frame=4)
    assert mot_lines(4, tracked) == ["5,1,10.00,20.00,20.00,20.00,0.9000,-1,-1,-1"]
    np.testing.assert_allclose(box_iou(np.array([[0, 0, 10, 10.0]]), np.array([[5, 0, 15, 10.0], [20, 20, 30, 30]])),
                               [[1 / 3, 0.0]])


# --- the demo and the Python API ----------------------------------------------------------------------------------

from tests.test_demo import (  # noqa: E402  (the demo's fixtures: an overfit checkpoint and a clip of two movers)
    FRAME_COUNT,
    THRESHOLD,
    checkpoint,  # noqa: F401
    input_video,  # noqa: F401
    read_json_lines,
    run_demo,
)


def test_the_demo_tracks_with_ids_in_its_json_lines_mot_file_and_summary(checkpoint, input_video, tmp_path,  # noqa: F811
                                                                         capsys):
    import json

    lines, mot, tracks = tmp_path / "tracked.jsonl", tmp_path / "tracks.txt", tmp_path / "tracks.json"
    assert run_demo(checkpoint, input_video, "--track", "--json", str(lines), "--mot-out", str(mot),
                    "--tracks-out", str(tracks), "--output", str(tmp_path / "tracked.avi")) == 0
    records = read_json_lines(lines)
    found = [detection for record in records for detection in record["detections"]]
    assert found and all(isinstance(detection["track_id"], int) for detection in found)
    ids = {detection["track_id"] for detection in found}
    assert len(ids) < len(found) / 2  # tracks last (the overfit detector also finds spurious boxes)
    mot_rows = [row.split(",") for row in mot.read_text().splitlines()]
    assert len(mot_rows) == len(found) and {int(row[1]) for row in mot_rows} == ids
    assert {int(row[0]) for row in mot_rows} <= set(range(1, FRAME_COUNT + 1))
    summary = json.loads(tracks.read_text())
    assert {track["track_id"] for track in summary} == ids and all(track["seconds"] > 0 for track in summary)
    report = capsys.readouterr().out
    assert "tracking: " in report and "ms per frame" in report and "track " in report and "tracks: " in report
    assert run_demo(checkpoint, input_video, "--json", str(tmp_path / "plain.jsonl")) == 0
    plain = read_json_lines(tmp_path / "plain.jsonl")
    assert all("track_id" not in detection for record in plain for detection in record["detections"])
    assert "tracking" not in capsys.readouterr().out
    assert run_demo(checkpoint, input_video, "--mot-out", str(mot)) == 2  # without --track


def test_the_detector_tracks_a_video_frame_by_frame(checkpoint, input_video):  # noqa: F811
    from centernet import Detector

    detector = Detector(checkpoint, device="cpu", score_threshold=float(THRESHOLD))
    results = list(detector.track(input_video))
    assert [result.frame for result in results] == list(range(FRAME_COUNT))
    assert all(result.track_id is not None and len(result.track_id) == len(result) for result in results)
    assert sum(len(result) for result in results) > 0
    assert results[-1].plot().shape == results[-1].image.shape
    assert len(detector.tracker.summary()) >= 1
