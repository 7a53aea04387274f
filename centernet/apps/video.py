"""Frame sources (video file, camera, image, folder of images) and outputs (annotated video or images, JSON
lines, a window, an example strip) for the demo.

Frames are (H, W, 3) uint8 RGB everywhere; OpenCV's BGR stays inside this module. Every check on the user's
input and output paths happens when a source is opened or `check_outputs` runs, before any frame is processed,
and fails as a one-line CenterNetError naming the path.

A video that stops decoding early: OpenCV's FFmpeg reader already skips damaged packets inside a stream, so
when `read` fails before the frame count the container announces, the rest cannot be decoded (typically a
truncated file). We warn with the frame index and stop reading there ("warn and stop"); the outputs written
so far are finalised as usual. An image of a folder that fails to decode mid-run is warned about and skipped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from centernet.data.images import read_image_rgb
from centernet.errors import CenterNetError, DataError
from centernet.structures import Detections
from centernet.viz import DrawExtras, draw_detections, draw_trails, frame_strip

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_FOURCCS = {".mp4": "mp4v", ".avi": "MJPG"}  # output suffix -> codec every OpenCV build can write
DEFAULT_FPS = 30.0  # for cameras and videos that do not report a frame rate


def warn(message: str) -> None:
    """A warning on stderr that does not break the progress bar."""
    tqdm.write(f"warning: {message}", file=sys.stderr)


@dataclass
class Frame:
    """One decoded input frame.

    index: position in the input (frame number of a video, position of an image in its sorted folder).
    timestamp: seconds since the start of the video (index / fps, or the container's timestamp when the
        frame rate is unknown; wall time for cameras); None for still images.
    source: the video path as given, "camera N", or the image's file name.
    image_rgb: (H, W, 3) uint8 RGB.
    """

    index: int
    timestamp: float | None
    source: str
    image_rgb: np.ndarray


class VideoSource:
    """Frames of a video file or a camera, decoded one at a time. The first frame is read on opening, so an
    empty or undecodable video fails before any work; `frame_size` is (width, height)."""

    def __init__(self, capture: cv2.VideoCapture, name: str, camera: bool) -> None:
        self.capture, self.name, self.camera = capture, name, camera
        reported_fps = capture.get(cv2.CAP_PROP_FPS)
        self.fps_known = math.isfinite(reported_fps) and reported_fps > 0
        self.fps = reported_fps if self.fps_known else DEFAULT_FPS
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.total = count if count > 0 and not camera else None
        ok, first_bgr = capture.read()
        if not ok:
            capture.release()
            raise CenterNetError(f"no frame can be decoded from {name} (empty video, or a codec this OpenCV lacks)")
        self._first_bgr: np.ndarray | None = first_bgr
        self.frame_size = (first_bgr.shape[1], first_bgr.shape[0])

    def __iter__(self) -> Iterator[Frame]:
        bgr, self._first_bgr = self._first_bgr, None
        index, start = 0, time.monotonic()
        while bgr is not None:
            yield Frame(index, self._timestamp(index, start), self.name, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1
            ok, bgr = self.capture.read()
            if not ok:
                self._report_end(index)
                bgr = None

    def _timestamp(self, index: int, start: float) -> float:
        if self.camera:
            return time.monotonic() - start
        if self.fps_known:
            return index / self.fps
        return self.capture.get(cv2.CAP_PROP_POS_MSEC) / 1000  # of the frame just read

    def _report_end(self, index: int) -> None:
        if self.camera:
            warn(f"{self.name} stopped delivering frames after {index} frames")
        elif self.total is not None and index < self.total:
            warn(f"frame {index} of {self.name} cannot be decoded (the video announces {self.total} frames); "
                 f"stopping there")

    def close(self) -> None:
        self.capture.release()


class ImageSource:
    """Still images in file-name order. The first is decoded on opening (a bad single image fails early)."""

    camera = False
    fps = None

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        self.total = len(self.paths)
        self._first: np.ndarray | None = read_image_rgb(self.paths[0])  # DataError naming the file
        self.frame_size = (self._first.shape[1], self._first.shape[0])

    def __iter__(self) -> Iterator[Frame]:
        first, self._first = self._first, None  # decoded on opening; not kept for the whole run
        for index, path in enumerate(self.paths):
            try:
                image = first if index == 0 else read_image_rgb(path)
            except DataError as error:
                warn(f"{error}; skipped")
                continue
            yield Frame(index, None, path.name, image)

    def close(self) -> None:
        pass


def list_images(folder: Path) -> list[Path]:
    """The image files of `folder`, sorted; each must have a readable image header."""
    paths = sorted(path for path in folder.iterdir() if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise CenterNetError(f"no images ({' '.join(IMAGE_SUFFIXES)}) in {folder}")
    unreadable = [path for path in paths if not cv2.haveImageReader(str(path))]
    if unreadable:
        raise CenterNetError(f"{len(unreadable)} of {len(paths)} images in {folder} are unreadable, "
                             f"e.g. {unreadable[0]}")
    return paths


def open_video(path: Path | int) -> VideoSource:
    """A video file, or a camera for an integer index."""
    # FFmpeg's own log lines ("moov atom not found", ...) would precede our one-line error; setting
    # OPENCV_FFMPEG_LOGLEVEL in the environment brings them back.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    camera = isinstance(path, int)
    name = f"camera {path}" if camera else str(path)
    previous_level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # its warnings would, too
    try:
        capture = cv2.VideoCapture(path if camera else str(path))
    finally:
        cv2.utils.logging.setLogLevel(previous_level)
    if not capture.isOpened():
        reason = "no such camera, or no access to it" if camera else "not a video, or a format OpenCV cannot read"
        raise CenterNetError(f"cannot open {name}: {reason}")
    return VideoSource(capture, name, camera)


def open_source(spec: str) -> VideoSource | ImageSource:
    """The source named by `--input`: a camera index (0, 1, ...), a folder of images, an image, or a video."""
    path = Path(spec)
    if spec.isdigit() and not path.exists():
        return open_video(int(spec))
    if not path.exists():
        raise CenterNetError(f"input not found: {path}")
    if path.is_dir():
        return ImageSource(list_images(path))
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource([path])
    return open_video(path)


def check_writable(path: Path, what: str) -> None:
    """Fail now rather than after the work when the file `path` cannot be created."""
    folder = path.parent
    if not folder.is_dir():
        raise CenterNetError(f"cannot write {what} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CenterNetError(f"cannot write {what} {path}: no permission to write in {folder}")
    if path.is_dir():
        raise CenterNetError(f"cannot write {what} {path}: it is a folder")


def video_fourcc(path: Path) -> str:
    fourcc = VIDEO_FOURCCS.get(path.suffix.lower())
    if fourcc is None:
        known = ", ".join(f"{suffix} ({code})" for suffix, code in VIDEO_FOURCCS.items())
        raise CenterNetError(f"unknown video suffix of output {path}: use {known}")
    return fourcc


def check_image_folder(folder: Path, input_paths: Sequence[Path]) -> None:
    """The folder for annotated images: creatable (or writable), and not where the inputs are."""
    if folder.suffix.lower() in IMAGE_SUFFIXES and not folder.is_dir():
        raise CenterNetError(f"for image input, --output is a folder (the images keep their names), not {folder}")
    if folder.exists() and not folder.is_dir():
        raise CenterNetError(f"cannot write images into {folder}: it is a file")
    writable_folder = folder if folder.is_dir() else folder.parent
    if not writable_folder.is_dir():
        raise CenterNetError(f"cannot create output folder {folder}: folder {writable_folder} does not exist")
    if not os.access(writable_folder, os.W_OK | os.X_OK):
        raise CenterNetError(f"cannot write into {folder}: no permission to write in {writable_folder}")
    if any(path.parent.resolve() == folder.resolve() for path in input_paths):
        raise CenterNetError(f"output folder {folder} holds the input images, which would be overwritten")


def check_outputs(output: str | None, json_path: str | None, strip_path: str | None,
                  source: VideoSource | ImageSource) -> None:
    """Every output path checked (suffix, folder, permission) without creating anything."""
    if output and isinstance(source, VideoSource):
        video_fourcc(Path(output))
        check_writable(Path(output), "output video")
    elif output:
        check_image_folder(Path(output), source.paths)
    if json_path:
        check_writable(Path(json_path), "JSON lines file")
    if strip_path:
        if Path(strip_path).suffix.lower() not in IMAGE_SUFFIXES:
            raise CenterNetError(f"strip image {strip_path} needs an image suffix such as .png")
        check_writable(Path(strip_path), "strip image")


def write_image(path: Path, image_rgb: np.ndarray) -> None:
    """Encode by suffix and write; imencode + tofile instead of imwrite, which fails on non-ASCII paths on Windows."""
    ok, encoded = cv2.imencode(path.suffix, cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    try:
        if not ok:
            raise OSError("encoding failed")
        encoded.tofile(path)
    except OSError as error:
        raise CenterNetError(f"cannot write {path}: {error}") from None


class VideoSink:
    """Annotated frames -> a video file with the input's frame size (width, height) and frame rate."""

    def __init__(self, path: Path, fps: float, frame_size: tuple[int, int]) -> None:
        fourcc = video_fourcc(path)
        check_writable(path, "output video")
        self.path, self.frame_size = path, frame_size
        self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, frame_size)
        if not self.writer.isOpened():
            raise CenterNetError(f"cannot write {path}: this OpenCV build has no {fourcc} encoder")

    def write(self, frame: Frame, image_rgb: np.ndarray) -> None:
        if (image_rgb.shape[1], image_rgb.shape[0]) != self.frame_size:
            # A stream that changes size mid-way: the writer would silently drop frames of another size.
            image_rgb = cv2.resize(image_rgb, self.frame_size, interpolation=cv2.INTER_AREA)
        self.writer.write(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        self.writer.release()


class ImageFolderSink:
    """Annotated images -> `folder` (created), under the input file names."""

    def __init__(self, folder: Path, input_paths: Sequence[Path]) -> None:
        check_image_folder(folder, input_paths)
        folder.mkdir(exist_ok=True)
        self.folder = folder

    def write(self, frame: Frame, image_rgb: np.ndarray) -> None:
        write_image(self.folder / frame.source, image_rgb)

    def close(self) -> None:
        pass


def open_sink(output: str | None, source: VideoSource | ImageSource) -> VideoSink | ImageFolderSink | None:
    if not output:
        return None
    if isinstance(source, VideoSource):
        return VideoSink(Path(output), source.fps, source.frame_size)
    return ImageFolderSink(Path(output), source.paths)


class Display:
    """A window showing the annotated frames; q or Esc ends the run."""

    window = "centernet demo"

    def __init__(self) -> None:
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            # Checked first: some GUI backends abort the whole process when they find no display.
            raise CenterNetError("--show needs a display but DISPLAY is not set; run without --show")
        try:
            cv2.namedWindow(self.window, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise CenterNetError("--show needs OpenCV with GUI support (opencv-python-headless has none): "
                                 "pip install opencv-python, or run without --show") from None

    def show(self, image_rgb: np.ndarray) -> bool:
        """Show one frame; False when the user asked to stop."""
        cv2.imshow(self.window, cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
        return cv2.waitKey(1) & 0xFF not in (ord("q"), 27)

    def close(self) -> None:
        with contextlib.suppress(cv2.error):
            cv2.destroyWindow(self.window)


def _rounded(values: np.ndarray) -> list | int:
    """Nested lists of floats rounded to 4 decimals (integers stay integers), for JSON."""
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        return values.tolist()
    return np.round(values.astype(np.float64), 4).tolist()


# the fields of `Detections` every detection has; the rest are a task's (None where it has none)
COMMON_FIELDS = ("boxes", "scores", "classes", "names")


def detection_record(frame: Frame, detections: Detections) -> dict:
    """One JSON line: boxes are [x1, y1, x2, y2] in the frame's pixels; each detection also carries its task's
    fields of `Detections` by name, in the same pixels (exdet: "extreme_points" [[x, y] top, left, bottom, right]
    and "octagons" [[x, y] x 8]; keypoints: "keypoints" [[x, y, score] x K]; with --track: "track_id")."""
    extras = {f.name: getattr(detections, f.name) for f in dataclasses.fields(detections)
              if f.name not in COMMON_FIELDS and getattr(detections, f.name) is not None}
    records = [{"box": [round(float(value), 4) for value in box], "score": round(float(score), 6),
                "class": name, "class_index": int(label),
                **{field: _rounded(values[index]) for field, values in extras.items()}}
               for index, (box, score, label, name) in enumerate(zip(detections.boxes, detections.scores,
                                                                     detections.classes, detections.names,
                                                                     strict=True))]
    return {
        "frame": frame.index,
        "timestamp": None if frame.timestamp is None else round(frame.timestamp, 6),
        "source": frame.source,
        "detections": records,
    }


class FrameOutputs:
    """Where each processed frame goes: the annotated video or images, JSON lines, the window, and the
    annotated frames at `strip_indices`, kept for the example strip."""

    def __init__(self, sink: VideoSink | ImageFolderSink | None, json_path: str | None, display: Display | None,
                 strip_indices: set[int], draw_extras: DrawExtras | None = None,
                 trails: Callable[[], Iterable] | None = None) -> None:
        self.sink, self.display, self.strip_indices, self.draw_extras = sink, display, strip_indices, draw_extras
        self.trails = trails  # the tracker's trails of the frame last tracked (`Tracker.trails`), with --track
        self.strip_frames: list[np.ndarray] = []
        self.json_file = open(json_path, "w") if json_path else None  # noqa: SIM115 (closed by close())

    def write(self, frame: Frame, detections: Detections) -> bool:
        """Draw, write and record one frame; False when the user closed the window.

        The JSON line comes last, so that after Ctrl-C it lists exactly the frames the video holds.
        """
        keep_going = True
        keep_for_strip = frame.index in self.strip_indices
        if self.sink is not None or self.display is not None or keep_for_strip:  # else nothing to draw on
            drawn = draw_detections(frame.image_rgb, detections, draw_extras=self.draw_extras)
            if self.trails is not None:
                draw_trails(drawn, self.trails())
            if self.sink is not None:
                self.sink.write(frame, drawn)
            if keep_for_strip:
                self.strip_frames.append(drawn)
            if self.display is not None:
                keep_going = self.display.show(drawn)
        if self.json_file is not None:
            self.json_file.write(json.dumps(detection_record(frame, detections)) + "\n")
        return keep_going

    def close(self) -> None:
        """Finalise the files (also after Ctrl-C): the video stays readable with the frames written so far."""
        try:
            if self.sink is not None:
                self.sink.close()
        finally:
            if self.json_file is not None:
                self.json_file.close()


def write_strip(frames_rgb: Sequence[np.ndarray], strip_path: str | None, tensorboard_dir: str | None) -> None:
    """The kept annotated frames side by side, to an image file and/or a TensorBoard run (as demo/strip)."""
    if not (strip_path or tensorboard_dir):
        return
    if not frames_rgb:
        warn("no frame was processed, so no strip was written")
        return
    strip = frame_strip(frames_rgb)
    if strip_path:
        write_image(Path(strip_path), strip)
    if tensorboard_dir:
        from torch.utils.tensorboard import SummaryWriter  # imported only when asked: it loads TensorBoard

        with SummaryWriter(tensorboard_dir) as writer:
            writer.add_image("demo/strip", strip, dataformats="HWC")
