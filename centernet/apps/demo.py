"""`centernet demo`: detect objects in a video file, a camera stream, an image or a folder of images.

Frames are read, letterboxed (uint8 until the device), run through the Predictor's network and decoder
`--batch-size` at a time under inference mode, then drawn and written. The input has the frame's aspect ratio
unless `--input-size` says otherwise (`config.frame_input_size`: a 16:9 video runs at 512x288, not letterboxed
into 512x512), so no compute goes to padding. Each stage is timed for the report printed at the end. Everything
that can fail on the user's input (the input, the output paths and codec, the checkpoint, `--show` without a
display) fails before the first frame is processed, as a one-line error.

torch, the Predictor and the I/O module are imported inside the functions that use them: `centernet --help`
imports this module to build its parser, and torch alone takes seconds to import.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from centernet.apps.options import (
    add_config_options,
    add_predictor_options,
    overrides_from_options,
    predictor_setting,
    run_options,
)
from centernet.config import InferenceConfig, frame_input_size
from centernet.errors import CenterNetError

if TYPE_CHECKING:
    import numpy as np

    from centernet.apps.video import FrameOutputs, ImageSource, VideoSource
    from centernet.predictor import Predictor
    from centernet.structures import Detections
    from centernet.tracking import Tracker

STAGES = ("read/decode", "preprocess", "network", "postprocess", "draw/write")
TRACK_STAGE = "track"  # with --track, between postprocess and draw/write
TRACK_LOW_SCORE = 0.1  # ByteTrack's: detections from this score keep tracks alive (not drawn or written)
STRIP_FRAMES = 4  # annotated frames in the example strip (--strip, --tensorboard)


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True,
                        help="a video file, an image, a folder of images, or a camera index (0, 1, ...)")
    parser.add_argument("--output", help="annotated video (.mp4: mp4v, .avi: MJPG) for video or camera input; "
                                         "a folder for image input (the images keep their names)")
    parser.add_argument("--json", help="write one JSON line of detections per frame to this file")
    parser.add_argument("--show", action="store_true", help="show annotated frames in a window (q or Esc stops)")
    parser.add_argument("--strip", help=f"write {STRIP_FRAMES} annotated frames side by side to this image (.png)")
    parser.add_argument("--tensorboard", metavar="RUN_DIR", help="add that strip to RUN_DIR's TensorBoard (demo/strip)")
    tracking = parser.add_argument_group("tracking (ByteTrack-style, centernet.tracking)")
    tracking.add_argument("--track", action="store_true",
                          help="give each detection a track id that lasts while its object is in view; the video "
                               "draws ids and trails, the JSON lines carry track_id")
    tracking.add_argument("--track-missed", type=int, default=30, metavar="FRAMES",
                          help="frames a track survives without a detection (occlusion, misses; default: 30)")
    tracking.add_argument("--mot-out", metavar="FILE", help="with --track: write the tracks as MOTChallenge text")
    tracking.add_argument("--tracks-out", metavar="FILE", help="with --track: write a JSON summary of each track "
                                                               "(class, first and last frame, frames seen, seconds)")
    # 1 frame per call gives a camera the lowest latency; 0.3 keeps what is worth drawing
    add_predictor_options(parser, batch_size=4, score_threshold=0.3)
    add_config_options(parser, only=("data.input_size",), overrides=True, group="data", help_suffix={
        "data.input_size": "; default: the first frame's aspect ratio, the longer side the checkpoint's (512x288 "
                           "for 16:9 video at 512)"})


@dataclass
class StageTimes:
    """Wall-clock seconds spent in each stage of the loop, summed over the run (the track stage only with
    --track)."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    def add_stage(self, stage: str, before: str) -> None:
        """Time `stage` too, reported before the stage `before`."""
        names = list(self.seconds)
        names.insert(names.index(before), stage)
        self.seconds = {name: self.seconds.get(name, 0.0) for name in names}

    @contextlib.contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - start


def strip_indices(total: int | None, fps: float | None, count: int = STRIP_FRAMES) -> set[int]:
    """Frame indices for the strip: spread over the whole input when its length is known, else one a second."""
    if total:
        count = min(count, total)
        return {round(i * (total - 1) / max(count - 1, 1)) for i in range(count)}
    step = max(1, round(fps or 1))
    return {i * step for i in range(count)}


def detect_batch(predictor: Predictor, images_rgb: Sequence[np.ndarray], times: StageTimes) -> list[Detections]:
    """`Predictor.predict_scales` for a batch of (H, W, 3) uint8 RGB frames, its three steps timed apart (at each
    test scale; merging the scales counts as postprocessing)."""
    def letterboxed():
        for input_size in predictor.input_sizes():
            with times.measure("preprocess"):
                batch = predictor.preprocess(images_rgb, input_size)
            yield batch

    return predictor.predict_scales(letterboxed(), times.measure)[0]


def process(source: VideoSource | ImageSource, predictor: Predictor, outputs: FrameOutputs, batch_size: int,
            times: StageTimes, progress: tqdm, tracker: Tracker | None = None, mot_lines: list[str] | None = None
            ) -> None:
    """Read, detect, (track,) draw and write every frame of `source`, `batch_size` frames at a time; with a
    `tracker`, each frame's detections get their track ids before it is drawn, and `mot_lines` collects them."""
    from centernet.tracking import mot_lines as frame_mot_lines

    frames = iter(source)
    while True:
        with times.measure("read/decode"):
            batch = list(itertools.islice(frames, batch_size))
        if not batch:
            return
        detections = detect_batch(predictor, [frame.image_rgb for frame in batch], times)
        keep_going = True
        for frame, found in zip(batch, detections, strict=True):
            if tracker is not None:
                with times.measure(TRACK_STAGE):
                    found = tracker.update(found, frame.index)
                if mot_lines is not None:
                    mot_lines += frame_mot_lines(frame.index, found)
            with times.measure("draw/write"):
                keep_going = outputs.write(frame, found) and keep_going
        progress.update(len(batch))
        if not keep_going:
            return


def format_report(frame_count: int, wall_seconds: float, times: StageTimes, setting: str) -> str:
    """Two lines: frames and frames per second (end to end and network only), then the split of wall time (with
    --track, the association's milliseconds per frame too)."""
    wall_seconds = max(wall_seconds, 1e-9)
    network_seconds = max(times.seconds["network"], 1e-9)
    header = (f"demo: {frame_count} frames in {wall_seconds:.2f} s: {frame_count / wall_seconds:.1f} FPS end to "
              f"end, {frame_count / network_seconds:.1f} FPS network only ({setting})")
    other = max(wall_seconds - sum(times.seconds.values()), 0.0)
    split = [*times.seconds.items(), ("other", other)]
    report = header + "\ntime split: " + ", ".join(
        f"{stage} {seconds:.2f} s ({100 * seconds / wall_seconds:.0f}%)" for stage, seconds in split)
    if TRACK_STAGE in times.seconds:
        report += f"\ntracking: {1000 * times.seconds[TRACK_STAGE] / max(frame_count, 1):.2f} ms per frame"
    return report


def run_loop(source: VideoSource | ImageSource, predictor: Predictor, outputs: FrameOutputs,
             args: argparse.Namespace, tracker: Tracker | None = None, mot_lines: list[str] | None = None) -> None:
    """`process` with a progress bar (live frames per second) and the report, also after Ctrl-C.

    Ctrl-C is how a camera stream ends, so there it ends the run normally; elsewhere it propagates (exit 130)
    after the caller has finalised the outputs.
    """
    times = StageTimes()
    if tracker is not None:
        times.add_stage(TRACK_STAGE, before="draw/write")
    progress = tqdm(total=source.total, unit="frame", desc="demo", dynamic_ncols=True)
    start = time.perf_counter()
    try:
        process(source, predictor, outputs, args.batch_size, times, progress, tracker, mot_lines)
    except KeyboardInterrupt:
        if not source.camera:
            tqdm.write(f"interrupted after {progress.n} frames; the outputs keep them", file=sys.stderr)
            raise
    finally:
        progress.close()
        setting = f"batch {args.batch_size}, {predictor_setting(predictor)}, {predictor.device}"
        print(format_report(progress.n, time.perf_counter() - start, times, setting))


def check_arguments(args: argparse.Namespace) -> None:
    if args.batch_size < 1:
        raise CenterNetError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.score_threshold is not None and not 0.0 <= args.score_threshold <= 1.0:
        raise CenterNetError(f"--score-threshold must be in [0, 1], got {args.score_threshold}")
    if (args.mot_out or args.tracks_out) and not args.track:
        raise CenterNetError("--mot-out and --tracks-out write tracks: add --track")
    if args.track_missed < 0:
        raise CenterNetError(f"--track-missed must be at least 0, got {args.track_missed}")


def choose_input_size(predictor: Predictor, input_size: list[int] | None, frame_size: tuple[int, int]) -> None:
    """`--input-size` when given; else the frame's aspect ratio at the checkpoint's longer input side, where the
    network takes any size (an ONNX export keeps the size it was exported at)."""
    if input_size:
        predictor.set_input_size(input_size)
    elif not predictor.fixed_input_size:
        predictor.set_input_size(frame_input_size(*frame_size, predictor.input_size))


def run_demo(args: argparse.Namespace) -> int:
    from centernet.apps import video
    from centernet.backends import load_predictor

    check_arguments(args)
    with contextlib.ExitStack() as stack:
        source = video.open_source(args.input)
        stack.callback(source.close)
        video.check_outputs(args.output, args.json, args.strip, source)
        for path, what in ((args.mot_out, "--mot-out"), (args.tracks_out, "--tracks-out")):
            if path:
                video.check_writable(Path(path), what)
        display = video.Display() if args.show else None
        if display is not None:
            stack.callback(display.close)
        overrides = overrides_from_options(args, InferenceConfig)
        tracker = None
        if args.track:  # the tracker reports what scores at least the threshold, and sees down to TRACK_LOW_SCORE
            from centernet.tracking import Tracker

            tracker = Tracker(high=args.score_threshold, low=min(TRACK_LOW_SCORE, args.score_threshold),
                              max_missed=args.track_missed)
            overrides["score_threshold"] = tracker.low
        predictor = load_predictor(args.checkpoint, args.backend, **run_options(args), **overrides)
        choose_input_size(predictor, getattr(args, "data.input_size"), source.frame_size)
        wants_strip = bool(args.strip or args.tensorboard)
        outputs = video.FrameOutputs(video.open_sink(args.output, source), args.json, display,
                                     strip_indices(source.total, source.fps) if wants_strip else set(),
                                     predictor.task.draw, tracker.trails if tracker is not None else None)
        stack.callback(outputs.close)
        mot_lines: list[str] = []
        try:
            run_loop(source, predictor, outputs, args, tracker, mot_lines if args.mot_out else None)
        finally:
            if tracker is not None:
                write_tracks(tracker, predictor.class_names, source.fps, mot_lines, args)
    video.write_strip(outputs.strip_frames, args.strip, args.tensorboard)
    return 0


def write_tracks(tracker: Tracker, class_names: Sequence[str], fps: float | None, mot_lines: list[str],
                 args: argparse.Namespace) -> None:
    """The tracks of the run: their count per class (printed), the MOTChallenge file (--mot-out) and the per-track
    summary (--tracks-out: id, class, first and last frame, frames seen, and seconds where the frame rate is
    known)."""
    import json
    from collections import Counter

    summary = tracker.summary()
    counts = Counter(class_names[track.label] for track in summary)
    print(f"tracks: {len(summary)} ({', '.join(f'{name} {count}' for name, count in sorted(counts.items()))})")
    if args.mot_out:
        Path(args.mot_out).write_text("".join(line + "\n" for line in mot_lines))
    if args.tracks_out:
        records = [{"track_id": track.track_id, "class": class_names[track.label], "first_frame": track.first_frame,
                    "last_frame": track.last_frame, "frames_seen": track.frames_seen,
                    "seconds": round(track.frames / fps, 3) if fps else None} for track in summary]
        Path(args.tracks_out).write_text(json.dumps(records, indent=1) + "\n")
