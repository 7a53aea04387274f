"""scripts/make_tracking_shapes.py: a tracking benchmark whose ground truth a tracker can trust."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.conftest import load_script


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    out = tmp_path_factory.mktemp("tracking")
    load_script("make_tracking_shapes").make_tracking_shapes(out, frames=60, seed=0)
    rows = np.loadtxt(out / "gt/gt.txt", delimiter=",").reshape(-1, 9)
    return out, rows


def test_the_video_and_its_motchallenge_ground_truth_agree(sequence):
    out, rows = sequence
    capture = cv2.VideoCapture(str(out / "video.avi"))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, first = capture.read()
    capture.release()
    assert ok and first.shape == (256, 320, 3) and count == 60
    assert "seqLength=60" in (out / "seqinfo.ini").read_text()
    frames, ids = rows[:, 0].astype(int), rows[:, 1].astype(int)
    assert frames.min() >= 1 and frames.max() <= 60
    assert len(set(zip(frames, ids, strict=True))) == len(rows)  # one row per object and frame
    x, y, width, height = rows[:, 2], rows[:, 3], rows[:, 4], rows[:, 5]
    assert (x >= 0).all() and (y >= 0).all() and (x + width <= 320 + 1e-6).all() and (y + height <= 256 + 1e-6).all()
    assert ((rows[:, 8] >= 0.1) & (rows[:, 8] <= 1.0)).all()
    assert set(rows[:, 7].astype(int)) <= {1, 3, 7}  # make_shapes.py's category ids


def test_objects_enter_leave_and_hide_each_other(sequence):
    _, rows = sequence
    frames, ids = rows[:, 0].astype(int), rows[:, 1].astype(int)
    spans = {track: (frames[ids == track].min(), frames[ids == track].max()) for track in set(ids)}
    assert any(first > 1 for first, _ in spans.values())  # some enter after the start
    assert any(last < 60 for _, last in spans.values())  # some leave before the end
    assert (rows[:, 8] < 0.9).any()  # partly hidden or cut by the frame
    assert len(spans) >= 6
