"""The Python API: `Detector` (a checkpoint or an ONNX export -> `Result`s) and `train` (the CLI's training, from
Python).

    from centernet import Detector
    detector = Detector("runs/mine/best.pt")        # also an exported .onnx; device="auto"
    result = detector("photo.jpg")                   # a path, an RGB array (bgr=True for cv2's), a PIL image
    result.boxes, result.scores, result.classes, result.names
    result.plot()                                    # an annotated copy of the image, RGB uint8
    result.save("annotated.jpg")

A `Result` holds one image's detections in that image's own pixels, best first, scoring at least the detector's
`score_threshold` (DEFAULT_SCORE_THRESHOLD, the demo's): the same detections `centernet evaluate` writes above that
threshold. The task's fields ride along: `result.keypoints` (N, K, 3) for --task keypoints, `result.extreme_points`
and `result.octagons` for --task exdet.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from centernet.errors import CenterNetError
from centernet.structures import Detections

DEFAULT_SCORE_THRESHOLD = 0.3  # the demo's: what is worth drawing (evaluate keeps everything down to 0.01)
IMAGE_BATCH = 8  # images per network call for a list input
TRACK_LOW_SCORE = 0.1  # `Detector.track`: detections from this score keep tracks alive (ByteTrack's second stage)


@dataclasses.dataclass
class Result:
    """One image's detections (`Detections`: boxes (N, 4) x1, y1, x2, y2 in the image's pixels, scores (N,),
    classes (N,), names, and the task's fields) and the image, (H, W, 3) uint8 RGB."""

    detections: Detections
    image: np.ndarray
    draw_extras: Any = None  # the task's drawing of its fields (`Task.draw`)
    frame: int | None = None  # `Detector.track`: the frame's index in its source
    trails: list | None = None  # `Detector.track`: (track id, class index, recent box centres) of the tracks in view

    @property
    def boxes(self) -> np.ndarray:
        return self.detections.boxes

    @property
    def scores(self) -> np.ndarray:
        return self.detections.scores

    @property
    def classes(self) -> np.ndarray:
        return self.detections.classes

    @property
    def names(self) -> list[str]:
        return self.detections.names

    def __getattr__(self, name: str) -> Any:
        """The task's fields of the detections (keypoints, extreme_points, octagons), None where it has none."""
        if name in {field.name for field in dataclasses.fields(Detections)}:
            return getattr(self.detections, name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __len__(self) -> int:
        return len(self.detections)

    def plot(self) -> np.ndarray:
        """An annotated copy of the image: boxes, class names and scores, and the task's fields; (H, W, 3) uint8 RGB."""
        from centernet.viz import draw_detections, draw_trails

        drawn = draw_detections(self.image, self.detections, draw_extras=self.draw_extras)
        if self.trails:
            draw_trails(drawn, self.trails)
        return drawn

    def save(self, path: str | os.PathLike) -> Path:
        """Write `plot()` to `path` (any format OpenCV writes: .jpg, .png, ...); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), self.plot()[:, :, ::-1]):
            raise CenterNetError(f"{path}: OpenCV cannot write an image there (unknown extension or folder)")
        return path


def read_image(source: Any, bgr: bool = False) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a path, a (H, W, 3) or (H, W) uint8 array (RGB, or BGR with `bgr`), or a PIL image."""
    if isinstance(source, (str, os.PathLike)):
        image = cv2.imread(os.fspath(source), cv2.IMREAD_COLOR)
        if image is None:
            raise CenterNetError(f"{source}: not an image OpenCV can read (missing, unreadable or corrupt)")
        return np.ascontiguousarray(image[:, :, ::-1])
    if hasattr(source, "convert") and hasattr(source, "size"):  # a PIL image
        return np.asarray(source.convert("RGB"), dtype=np.uint8)
    image = np.asarray(source)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise CenterNetError(f"an image array is (H, W, 3) uint8 RGB (or (H, W) grey), got {image.shape} "
                             f"{image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    image = image[:, :, :3]
    return np.ascontiguousarray(image[:, :, ::-1] if bgr else image)


class Detector:
    """A trained detector: `Detector(path)` loads a checkpoint (best.pt / last.pt) or an ONNX export (.onnx, run by
    onnxruntime), `detector(image)` gives a `Result`, `detector([images])` a list of them.

    device: "auto" (CUDA when there is one), "cpu", "cuda", "cuda:N"; score_threshold: detections scoring below it
    are dropped (default DEFAULT_SCORE_THRESHOLD); input_size: (width, height) of the network input, multiples of
    32, each image letterboxed into it (default: the checkpoint's); `inference` keywords replace the checkpoint's
    InferenceConfig fields (top_k, flip_test, test_scales, ...).
    """

    def __init__(self, weights: str | os.PathLike, device: str = "auto",
                 score_threshold: float = DEFAULT_SCORE_THRESHOLD, input_size: int | Sequence[int] | None = None,
                 **inference: Any) -> None:
        from centernet.backends import load_predictor

        backend = "onnxruntime" if Path(weights).suffix.lower() == ".onnx" else "pytorch"
        self.threshold = score_threshold
        # the network's detections reach down to what tracking needs; __call__ keeps those of the threshold
        self.predictor = load_predictor(weights, backend, device=device,
                                        score_threshold=min(score_threshold, TRACK_LOW_SCORE), **inference)
        if input_size is not None:
            self.predictor.set_input_size(input_size)

    @property
    def class_names(self) -> list[str]:
        """The classes, in the order of the class indices of `Result.classes`."""
        return list(self.predictor.class_names)

    @property
    def score_threshold(self) -> float:
        return self.threshold

    def _above(self, detections: Detections) -> Detections:
        return detections.select(detections.scores >= self.threshold)

    def __call__(self, source: Any, bgr: bool = False) -> Result | list[Result]:
        """Detections in one image (a path, an array, a PIL image: see `read_image`), or in each of a list."""
        if isinstance(source, Sequence) and not isinstance(source, str):
            images = [read_image(item, bgr) for item in source]
            found = [detections for start in range(0, len(images), IMAGE_BATCH)
                     for detections in self.predictor(images[start:start + IMAGE_BATCH])]
            return [Result(self._above(detections), image, self.predictor.task.draw) for detections, image in
                    zip(found, images, strict=True)]
        image = read_image(source, bgr)
        return Result(self._above(self.predictor([image])[0]), image, self.predictor.task.draw)

    def track(self, source: str | os.PathLike, max_missed: int = 30) -> Iterator[Result]:
        """The frames of a video file, a camera index ("0"), an image folder or an image (as `centernet demo
        --input`), one `Result` each, in order, its detections with their track ids (`Result.track_id`, ByteTrack-
        style: `centernet.tracking`); a track survives `max_missed` frames without a detection. The tracker of
        the run is `self.tracker` (its `summary()` counts and times the tracks)."""
        from centernet.apps.video import open_source
        from centernet.tracking import Tracker

        self.tracker = Tracker(high=self.threshold, low=min(self.threshold, TRACK_LOW_SCORE), max_missed=max_missed)
        frames = open_source(os.fspath(source))
        try:
            for frame in frames:
                tracked = self.tracker.update(self.predictor([frame.image_rgb])[0], frame.index)
                yield Result(tracked, frame.image_rgb, self.predictor.task.draw, frame.index,
                             list(self.tracker.trails()))
        finally:
            frames.close()


def train(**options: Any) -> dict[str, Any]:
    """Train as `centernet train` would with these options, named as its fields (`train_ann="a.json", out="runs/x",
    epochs=15, input_size=256, amp="off", ema=False`, ...); returns the last evaluation's metrics."""
    from centernet.apps.train import config_for_train
    from centernet.cli import get_parser
    from centernet.engine.train import train as run

    argv = ["train"]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            argv.append(flag if value else "--no-" + name.replace("_", "-"))
        elif isinstance(value, (list, tuple)):
            argv += [flag, *(str(item) for item in value)]
        elif value is not None:
            argv += [flag, str(value)]
    try:
        args = get_parser().parse_args(argv)
    except SystemExit:  # argparse has printed what is wrong
        raise CenterNetError(f"centernet.train: these options are not centernet train's: {options}") from None
    return run(config_for_train(args))
