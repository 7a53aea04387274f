"""Drawing detections and heatmaps on images (RGB uint8 in, RGB uint8 out)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import cv2
import numpy as np

from centernet.structures import Detections


def class_color(label: int) -> tuple[int, int, int]:
    """A stable, distinct RGB colour per class index (golden-ratio hue steps)."""
    hue = int((label * 0.618033988749895 % 1.0) * 180)
    hsv = np.uint8([[[hue, 220, 255]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


# (canvas, detections, index, colour, thickness) -> None: a task's drawing of one detection's fields (`Task.draw`)
DrawExtras = Callable[[np.ndarray, Detections, int, tuple[int, int, int], int], None]


def draw_detections(image_rgb: np.ndarray, detections: Detections, score_threshold: float = 0.0,
                    draw_extras: DrawExtras | None = None) -> np.ndarray:
    """A copy of `image_rgb` (H, W, 3) uint8 with boxes (in this image's pixels), class names and scores, and what
    `draw_extras` (the task's `draw`: exdet's octagons and extreme points) adds to each detection."""
    canvas = np.ascontiguousarray(image_rgb).copy()
    thickness = max(1, round(min(canvas.shape[:2]) / 300))
    scale = max(0.35, min(canvas.shape[:2]) / 1000)
    for index, (box, score, label, name) in enumerate(zip(detections.boxes, detections.scores, detections.classes,
                                                          detections.names, strict=True)):
        if score < score_threshold:
            continue
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        color = class_color(int(label))
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
        if draw_extras is not None:
            draw_extras(canvas, detections, index, color, thickness)
        track = "" if detections.track_id is None else f" #{detections.track_id[index]}"
        text = f"{name}{track} {score:.2f}"
        (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        top = max(y1 - height - baseline, 0)
        cv2.rectangle(canvas, (x1, top), (x1 + width, top + height + baseline), color, -1)
        cv2.putText(canvas, text, (x1, top + height), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas


def draw_trails(canvas: np.ndarray, trails: Iterable[tuple[int, int, Sequence[tuple[float, float]]]]) -> None:
    """Each tracked object's recent box centres (track id, class index, centres oldest first) as a line in its
    class's colour, on `canvas` (H, W, 3) uint8, in place."""
    thickness = max(1, round(min(canvas.shape[:2]) / 300))
    for _, label, centres in trails:
        if len(centres) > 1:
            points = np.round(np.asarray(centres, np.float32)).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(canvas, [points], False, class_color(int(label)), thickness, cv2.LINE_AA)


def overlay_heatmap(image_rgb: np.ndarray, heatmap: np.ndarray, strength: float = 0.5) -> np.ndarray:
    """Blend a (h, w) heatmap in [0, 1] (resized to the image) over `image_rgb` as a colour map."""
    resized = cv2.resize(np.clip(heatmap, 0, 1).astype(np.float32), (image_rgb.shape[1], image_rgb.shape[0]))
    colored = cv2.applyColorMap((resized * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    return cv2.addWeighted(np.ascontiguousarray(image_rgb), 1 - strength, colored, strength, 0)


def frame_strip(frames_rgb: Sequence[np.ndarray], height: int = 240, gap: int = 4) -> np.ndarray:
    """Frames (H_i, W_i, 3) uint8 RGB scaled to `height` (aspect kept) side by side, `gap` white pixels apart.

    Returns (height, W, 3) uint8 RGB, for a README figure or a TensorBoard image of a demo run.
    """
    if len(frames_rgb) == 0:
        raise ValueError("frame_strip needs at least one frame")
    separator = np.full((height, gap, 3), 255, dtype=np.uint8)
    parts = []
    for frame in frames_rgb:
        width = max(1, round(frame.shape[1] * height / frame.shape[0]))
        shrinking = frame.shape[0] > height
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        parts.extend([separator, cv2.resize(np.ascontiguousarray(frame), (width, height), interpolation=interpolation)])
    return np.concatenate(parts[1:], axis=1)
