"""Tracking by detection: a ByteTrack-style two-stage association that gives each detection a track id which lasts
while its object is in view and survives short misses.

Per frame (`Tracker.update`), with the detections of one image in its pixels:
1. Every live track predicts its box: its last box moved by its velocity (the mean of its last steps' motion).
2. The detections scoring at least `high` (the written ones, e.g. the demo's --score-threshold) are matched to
   the tracks of their class, those in view and those lost for up to `max_missed` frames, by IoU with the
   predicted boxes (one-to-one, the assignment of largest total IoU, `scipy.optimize.linear_sum_assignment`), a
   pair only where the IoU reaches `match_iou`.
3. The detections between `low` and `high` (ByteTrack's second stage: occluded, blurred objects score low) are
   matched the same way to the tracks in view that stage 2 left, a pair only where the IoU reaches `low_match_iou`.
4. An unmatched detection of at least `high` starts a track; a track missing for more than `max_missed` frames
   ends.
Ids are unique over the run (one counter), and a track keeps its class: detections only join tracks of their class.
Only the detections of at least `high` are reported (with their ids); the low ones only keep tracks alive.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from centernet.structures import Detections

TRAIL_LENGTH = 30  # box centres kept per track, for drawing its trail
VELOCITY_STEPS = 3  # a track's velocity: the mean motion of its box over this many matched steps


@dataclass
class Track:
    """One object followed through the frames: id, class, its last box (x1, y1, x2, y2), velocity (4,) per frame,
    first and last frame seen, frames missed since, and the trail of its box centres."""

    track_id: int
    label: int
    box: np.ndarray
    first_frame: int
    last_frame: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))
    missed: int = 0
    hits: int = 1
    trail: deque = field(default_factory=lambda: deque(maxlen=TRAIL_LENGTH))
    motion: deque = field(default_factory=lambda: deque(maxlen=VELOCITY_STEPS))

    def predicted(self) -> np.ndarray:
        """The box expected in the next frame: the last one moved by the velocity, once per frame since."""
        return self.box + self.velocity * (self.missed + 1)

    def matched(self, box: np.ndarray, frame: int) -> None:
        steps = frame - self.last_frame
        self.motion.append((box - self.box) / max(steps, 1))
        self.velocity = np.mean(self.motion, axis=0).astype(np.float32)
        self.box, self.last_frame, self.missed = box.astype(np.float32), frame, 0
        self.hits += 1
        self.trail.append(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2))


@dataclass(frozen=True)
class TrackSummary:
    """One track over the run, for counting and timing: its id, class, first and last frame, and frames seen."""

    track_id: int
    label: int
    first_frame: int
    last_frame: int
    frames_seen: int

    @property
    def frames(self) -> int:
        """Frames from the first to the last detection, both counted."""
        return self.last_frame - self.first_frame + 1


def box_iou(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """(N, M) IoU of boxes (N, 4) and (M, 4), x1, y1, x2, y2."""
    top_left = np.maximum(first[:, None, :2], second[None, :, :2])
    bottom_right = np.minimum(first[:, None, 2:], second[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(-1)
    area = lambda boxes: np.clip(boxes[:, 2:] - boxes[:, :2], 0, None).prod(-1)  # noqa: E731
    union = area(first)[:, None] + area(second)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def match(tracks: list[Track], boxes: np.ndarray, labels: np.ndarray, minimum_iou: float
          ) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """One-to-one pairs (track index, detection index) of largest total IoU between the tracks' predicted boxes
    and the detections of the same class, each pair of IoU >= `minimum_iou`; then the unmatched track and
    detection indices."""
    if not tracks or not len(boxes):
        return [], list(range(len(tracks))), list(range(len(boxes)))
    iou = box_iou(np.stack([track.predicted() for track in tracks]), boxes)
    iou[np.array([track.label for track in tracks])[:, None] != labels[None, :]] = 0.0  # never across classes
    rows, columns = linear_sum_assignment(-iou)
    pairs = [(int(row), int(column)) for row, column in zip(rows, columns, strict=True)
             if iou[row, column] >= minimum_iou]
    matched_tracks, matched_detections = {row for row, _ in pairs}, {column for _, column in pairs}
    return (pairs, [row for row in range(len(tracks)) if row not in matched_tracks],
            [column for column in range(len(boxes)) if column not in matched_detections])


class Tracker:
    """ByteTrack-style tracking (module docstring). `high`: the score from which detections are reported and start
    tracks; `low`: the score from which they keep tracks alive; `max_missed`: frames a track survives without a
    detection; `match_iou` and `low_match_iou`: the IoU a pair needs in the first and the second stage."""

    def __init__(self, high: float = 0.3, low: float = 0.1, max_missed: int = 30, match_iou: float = 0.2,
                 low_match_iou: float = 0.5) -> None:
        if not 0 <= low <= high:
            raise ValueError(f"the low score ({low}) must lie between 0 and the high one ({high})")
        self.high, self.low, self.max_missed = high, low, max_missed
        self.match_iou, self.low_match_iou = match_iou, low_match_iou
        self.tracks: list[Track] = []
        self.ended: list[Track] = []
        self.next_id = 1
        self.frame = -1

    def update(self, detections: Detections, frame: int | None = None) -> Detections:
        """The frame's detections scoring at least `high`, each with its track id (`Detections.track_id`, (N,)
        int64); `detections` must hold those down to `low`. `frame` defaults to the one after the last."""
        self.frame = self.frame + 1 if frame is None else frame
        strong = detections.scores >= self.high
        weak = ~strong & (detections.scores >= self.low)
        ids = np.zeros(len(detections), np.int64)
        live = [track for track in self.tracks]
        pairs, unmatched_tracks, unmatched_strong = match(live, detections.boxes[strong], detections.classes[strong],
                                                          self.match_iou)
        strong_index, weak_index = np.flatnonzero(strong), np.flatnonzero(weak)
        for row, column in pairs:
            live[row].matched(detections.boxes[strong_index[column]], self.frame)
            ids[strong_index[column]] = live[row].track_id
        in_view = [live[row] for row in unmatched_tracks if live[row].missed == 0]
        pairs, _, _ = match(in_view, detections.boxes[weak], detections.classes[weak], self.low_match_iou)
        for row, column in pairs:
            in_view[row].matched(detections.boxes[weak_index[column]], self.frame)
        for column in unmatched_strong:
            index = strong_index[column]
            track = Track(self.next_id, int(detections.classes[index]), detections.boxes[index].astype(np.float32),
                          self.frame, self.frame)
            track.trail.append(((track.box[0] + track.box[2]) / 2, (track.box[1] + track.box[3]) / 2))
            self.tracks.append(track)
            ids[index] = track.track_id
            self.next_id += 1
        for track in self.tracks:
            if track.last_frame != self.frame:
                track.missed += 1
        self.ended += [track for track in self.tracks if track.missed > self.max_missed]
        self.tracks = [track for track in self.tracks if track.missed <= self.max_missed]
        return dataclasses.replace(detections.select(strong), track_id=ids[strong])

    def trails(self) -> Iterator[tuple[int, int, list[tuple[float, float]]]]:
        """(track id, class, box centres oldest first) of each track seen in the last frame, for drawing."""
        for track in self.tracks:
            if track.missed == 0:
                yield track.track_id, track.label, list(track.trail)

    def summary(self) -> list[TrackSummary]:
        """Every track of the run so far, by id."""
        return sorted((TrackSummary(track.track_id, track.label, track.first_frame, track.last_frame, track.hits)
                       for track in [*self.ended, *self.tracks]), key=lambda summary: summary.track_id)


def mot_lines(frame: int, detections: Detections) -> list[str]:
    """MOTChallenge text lines of one frame's tracked detections: frame (1-based), id, left, top, width, height,
    score, and -1, -1, -1 (no 3D position)."""
    lines = []
    for (x1, y1, x2, y2), score, track_id in zip(detections.boxes, detections.scores, detections.track_id,
                                                  strict=True):
        lines.append(f"{frame + 1},{int(track_id)},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{score:.4f},-1,-1,-1")
    return lines
