"""Score tracks against MOTChallenge ground truth with TrackEval's metrics (HOTA, DetA, AssA, MOTA, IDF1,
identity switches, misses and false positives): our tracker's (the ids in `centernet demo --track --json`'s lines),
a naive baseline's on the same detections (each frame's boxes matched greedily by IoU to the previous frame's, no
memory, no motion), and our tracker's on the ground truth itself with 10% of its boxes dropped and 2 px of jitter
(the tracker alone, without a detector's errors). With `--raw` (the JSON lines of `centernet demo --json
--score-threshold 0.1` without --track: every detection the trackers may see) two more rows on those same
detections: our tracker run here (`ours_offline`, the demo's ids again) and Roboflow's ByteTrack (`trackers`
package, `bytetrack_trackers`, where it is installed) at our thresholds, with each one's milliseconds per frame.

Classes are kept apart: a track and a ground-truth object of different categories never match (similarity 0), as
each class evaluated on its own and the counts summed. TrackEval (MIT) declares opencv-python and matplotlib as
requirements that its metrics never import, and opencv-python beside our opencv-python-headless breaks `cv2`:
install it with `python -m pip install --no-deps trackeval==1.3.0 tabulate` (scripts/run_tests.sh does).

Usage:
    python scripts/track_eval.py --gt data/tracking/gt/gt.txt --json runs/tracking/tracked.jsonl \
        --out docs/tracking/metrics.json
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.util
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from trackeval.metrics import CLEAR, HOTA, Identity

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's centernet, also when run from elsewhere
from centernet.structures import Detections  # noqa: E402
from centernet.tracking import Tracker, box_iou  # noqa: E402

NAIVE_IOU = 0.3  # the naive baseline's match threshold between consecutive frames
METRICS = ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW", "MOTP", "CLR_FN", "CLR_FP", "GT_IDs")

NO_DETECTIONS = Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), [])
Track = tuple[np.ndarray, np.ndarray, np.ndarray]  # boxes x1 y1 x2 y2 (N, 4), ids (N,), category ids (N,)


def read_gt(path: str | Path) -> dict[int, Track]:
    """frame (0-based) -> the objects to evaluate of a MOTChallenge gt.txt."""
    rows: dict[int, list] = {}
    for line in Path(path).read_text().splitlines():
        frame, track_id, x, y, w, h, consider, category = (float(value) for value in line.split(",")[:8])
        if consider:
            rows.setdefault(int(frame) - 1, []).append((x, y, x + w, y + h, track_id, category))
    return {frame: (np.array(r, np.float32)[:, :4], np.array(r)[:, 4].astype(np.int64),
                    np.array(r)[:, 5].astype(np.int64)) for frame, r in rows.items()}


def read_tracked(path: str | Path) -> dict[int, Detections]:
    """frame -> the tracked detections of `centernet demo --track --json` lines."""
    frames = {}
    for line in Path(path).read_text().splitlines():
        record = json.loads(line)
        found = record["detections"]
        frames[record["frame"]] = Detections(
            np.array([d["box"] for d in found], np.float32).reshape(-1, 4),
            np.array([d["score"] for d in found], np.float32), np.array([d["class_index"] for d in found], np.int64),
            [d["class"] for d in found], track_id=np.array([d.get("track_id", 0) for d in found], np.int64))
    return frames


def naive_ids(frames: dict[int, Detections]) -> dict[int, np.ndarray]:
    """The naive baseline: each detection takes the id of the previous frame's detection of its class it overlaps
    most (IoU >= NAIVE_IOU, greedily, best pairs first), else a new id."""
    ids, previous, next_id = {}, None, 1
    for frame in sorted(frames):
        found = frames[frame]
        current = np.zeros(len(found), np.int64)
        if previous is not None and len(found) and len(previous[0]):
            iou = box_iou(found.boxes, previous[0].boxes)
            iou[found.classes[:, None] != previous[0].classes[None, :]] = 0
            taken = set()
            for row, column in zip(*np.unravel_index(np.argsort(-iou, axis=None), iou.shape), strict=True):
                if iou[row, column] < NAIVE_IOU:
                    break
                if current[row] == 0 and column not in taken:
                    current[row] = previous[1][column]
                    taken.add(column)
        for row in np.flatnonzero(current == 0):
            current[row], next_id = next_id, next_id + 1
        ids[frame], previous = current, (found, current)
    return ids


def _dense_ids(frames: list[Track]) -> tuple[list[np.ndarray], int]:
    """(category, id) pairs renumbered 0..n-1, as TrackEval's metrics take them."""
    pairs = (zip(categories.tolist(), ids.tolist(), strict=True) for _, ids, categories in frames)
    index = {pair: i for i, pair in enumerate(dict.fromkeys(pair for frame in pairs for pair in frame))}
    return [np.array([index[p] for p in zip(c.tolist(), i.tolist(), strict=True)], np.int64)
            for _, i, c in frames], len(index)


def score(gt: dict[int, Track], tracked: dict[int, Track], frames: int) -> dict[str, float]:
    """TrackEval's HOTA (averaged over its IoU thresholds 0.05-0.95), CLEAR (MOTA, MOTP, IDSW, misses, false
    positives at IoU >= 0.5) and Identity (IDF1 at IoU >= 0.5) of one sequence of `frames` frames."""
    empty = (np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64))
    truth = [gt.get(frame, empty) for frame in range(frames)]
    found = [tracked.get(frame, empty) for frame in range(frames)]
    gt_ids, num_gt_ids = _dense_ids(truth)
    tracker_ids, num_tracker_ids = _dense_ids(found)
    similarity = []
    for (truth_boxes, _, truth_classes), (boxes, _, classes) in zip(truth, found, strict=True):
        iou = box_iou(truth_boxes, boxes) if len(truth_boxes) and len(boxes) else np.zeros((len(truth_boxes),
                                                                                              len(boxes)))
        similarity.append(np.where(truth_classes[:, None] == classes[None, :], iou, 0.0))
    data = {"num_timesteps": frames, "num_gt_ids": num_gt_ids, "num_tracker_ids": num_tracker_ids,
            "num_gt_dets": sum(len(ids) for ids in gt_ids), "num_tracker_dets": sum(len(ids) for ids in tracker_ids),
            "gt_ids": gt_ids, "tracker_ids": tracker_ids, "similarity_scores": similarity, "seq": "benchmark"}
    metrics = {}
    for metric in (HOTA(), CLEAR({"THRESHOLD": 0.5, "PRINT_CONFIG": False}),
                   Identity({"THRESHOLD": 0.5, "PRINT_CONFIG": False})):
        metrics.update({name: float(np.mean(value)) for name, value in metric.eval_sequence(data).items()})
    metrics["GT_IDs"] = float(num_gt_ids)
    return {name: metrics[name] for name in METRICS}


def dropped_ground_truth(gt: dict[int, Track], frames: int, seed: int = 0, drop: float = 0.1,
                         jitter: float = 2.0) -> dict[int, Track]:
    """Our tracker's ids on the ground truth's boxes with `drop` of them dropped at random and `jitter` pixels of
    noise on every coordinate (score 0.9, the true class)."""
    rng = np.random.default_rng(seed)
    tracker = Tracker(high=0.5, low=0.1)
    tracked = {}
    for frame in range(frames):
        boxes, _, categories = gt.get(frame, (np.zeros((0, 4), np.float32), None, np.zeros(0, np.int64)))
        kept = rng.random(len(boxes)) >= drop
        noisy = (boxes[kept] + rng.normal(0, jitter, size=boxes[kept].shape)).astype(np.float32)
        found = tracker.update(Detections(noisy, np.full(len(noisy), 0.9, np.float32), categories[kept],
                                          [str(c) for c in categories[kept]]), frame)
        tracked[frame] = (found.boxes, found.track_id, found.classes)
    return tracked


def offline_ours(raw: dict[int, Detections], frames: int, high: float, low: float = 0.1, max_missed: int = 30
                 ) -> tuple[dict[int, Detections], float]:
    """Our tracker on the raw detections (scores >= `low`), as the demo runs it: (frame -> tracked detections,
    milliseconds per frame of its updates)."""
    tracker, tracked, seconds = Tracker(high=high, low=low, max_missed=max_missed), {}, 0.0
    for frame in range(frames):
        found = raw.get(frame, NO_DETECTIONS)
        start = time.perf_counter()
        tracked[frame] = tracker.update(found, frame)
        seconds += time.perf_counter() - start
    return tracked, 1000 * seconds / max(frames, 1)


def library_bytetrack(raw: dict[int, Detections], frames: int, high: float, frame_rate: float, max_missed: int = 30
                      ) -> tuple[dict[int, Detections], float]:
    """Roboflow's ByteTrack (`trackers.ByteTrackTracker`, Apache-2.0) on the raw detections, one tracker per class
    (it matches boxes of any class; ids are per class here, as ours), at our thresholds (reported and starting
    tracks from `high`, `max_missed` frames of memory, a track confirmed at once), the detections it reports
    scoring at least `high`: (frame -> tracked detections, milliseconds per frame)."""
    import supervision as sv
    from trackers import ByteTrackTracker

    classes = sorted({int(c) for found in raw.values() for c in found.classes})
    trackers = {c: ByteTrackTracker(lost_track_buffer=max_missed, frame_rate=frame_rate,
                                    track_activation_threshold=high, high_conf_det_threshold=high,
                                    minimum_consecutive_frames=1) for c in classes}
    tracked, seconds = {}, 0.0
    for frame in range(frames):
        found = raw.get(frame, NO_DETECTIONS)
        rows, ids = [], []
        for label, tracker in trackers.items():
            mine = np.flatnonzero(found.classes == label)
            detections = sv.Detections(xyxy=found.boxes[mine].astype(np.float64).reshape(-1, 4),
                                       confidence=found.scores[mine], class_id=found.classes[mine],
                                       data={"row": mine})
            start = time.perf_counter()
            out = tracker.update(detections)
            seconds += time.perf_counter() - start
            if not len(out):
                continue
            keep = (out.tracker_id >= 0) & (out.confidence >= high)
            rows.append(out.data["row"][keep])
            ids.append(out.tracker_id[keep].astype(np.int64) * len(classes) + label)  # unique over the classes
        rows_all = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        tracked[frame] = dataclasses.replace(found.select(rows_all),
                                             track_id=np.concatenate(ids) if ids else np.zeros(0, np.int64))
    return tracked, 1000 * seconds / max(frames, 1)


def evaluate(gt_path: str | Path, json_path: str | Path, categories_path: str | Path | None = None,
             frames: int | None = None, raw_path: str | Path | None = None, high: float = 0.3,
             frame_rate: float = 25.0) -> dict[str, dict[str, float]]:
    """The rows of a sequence: ours (the demo's ids), naive, ours on the dropped ground truth; with `raw_path`
    also ours_offline and bytetrack_trackers (where `trackers` is installed) on the raw detections, with
    `ms_per_frame`. `categories_path` (default: categories.json beside gt/) maps the detections' class names to the
    ground truth's category ids; `high` is the demo's --score-threshold."""
    gt, detections = read_gt(gt_path), read_tracked(json_path)
    categories_path = categories_path or Path(gt_path).parents[1] / "categories.json"
    category_id = {c["name"]: c["id"] for c in json.loads(Path(categories_path).read_text())}
    frames = frames or max(max(gt, default=0), max(detections, default=0)) + 1
    naive = naive_ids(detections)

    def scored(tracked: dict[int, Detections], ids: dict[int, np.ndarray] | None = None) -> dict[str, float]:
        return score(gt, {f: (d.boxes, d.track_id if ids is None else ids[f],
                              np.array([category_id.get(name, -1) for name in d.names], np.int64))
                          for f, d in tracked.items()}, frames)

    rows = {"ours": scored(detections), "naive": scored(detections, naive),
            "ours_on_dropped_gt": score(gt, dropped_ground_truth(gt, frames), frames)}
    if raw_path is not None:
        raw = read_tracked(raw_path)
        trackers = {"ours_offline": offline_ours}
        if importlib.util.find_spec("trackers") is not None:
            trackers["bytetrack_trackers"] = functools.partial(library_bytetrack, frame_rate=frame_rate)
        for name, run in trackers.items():
            tracked, milliseconds = run(raw, frames, high=high)
            rows[name] = {**scored(tracked), "ms_per_frame": milliseconds}
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gt", required=True, help="MOTChallenge gt.txt")
    parser.add_argument("--json", required=True, help="the JSON lines of `centernet demo --track --json`")
    parser.add_argument("--categories", help="categories.json (default: beside the gt folder)")
    parser.add_argument("--raw", help="the JSON lines of `centernet demo --json --score-threshold 0.1` without "
                                      "--track: the rows of trackers run here on every detection")
    parser.add_argument("--score-threshold", type=float, default=0.3, help="the demo's --score-threshold")
    parser.add_argument("--frame-rate", type=float, default=25.0, help="frames per second of the video")
    parser.add_argument("--out", help="write the metrics here (json)")
    args = parser.parse_args(argv)
    rows = evaluate(args.gt, args.json, args.categories, raw_path=args.raw, high=args.score_threshold,
                    frame_rate=args.frame_rate)
    names = (*METRICS, "ms_per_frame")
    print(f"{'tracker':<20}" + "".join(f"{name:>13}" for name in names))
    for row, metrics in rows.items():
        print(f"{row:<20}" + "".join(f"{metrics[name]:>13.4f}" if name in metrics else f"{'-':>13}" for name in names))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
