"""Write a short synthetic video of shapes (a camera panning over one large shapes scene) for the demo."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np


def _render_scene():
    """scripts/make_shapes.py's `render_scene` (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("make_shapes", Path(__file__).with_name("make_shapes.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_shapes"] = module
    spec.loader.exec_module(module)
    return module.render_scene


def make_shapes_video(path: str, frames: int = 60, width: int = 192, height: int = 128, fps: float = 15.0,
                      seed: int = 0) -> None:
    """Pan a width x height window diagonally across a 2.5x larger scene.

    Shapes are sized relative to the frame height as make_shapes sizes them relative to its square images, so
    a letterboxed frame shows them at the scale the quickstart model was trained on.
    """
    scene_size = int(2.5 * max(width, height))
    scale = height / scene_size
    scene, _ = _render_scene()(np.random.default_rng(seed), scene_size, object_range=(40, 60),
                               size_range=(0.12 * scale * 1.3, 0.45 * scale * 1.3))
    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if path.endswith(".mp4") else "MJPG"))
    writer = cv2.VideoWriter(path, fourcc, fps, (width, height))
    if not writer.isOpened():
        raise SystemExit(f"cannot write video {path}")
    try:
        for index in range(frames):
            progress = index / max(frames - 1, 1)
            left = int(progress * (scene_size - width))
            top = int(progress * (scene_size - height))
            writer.write(np.ascontiguousarray(scene[top:top + height, left:left + width, ::-1]))
    finally:
        writer.release()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="video file (.avi: MJPG, .mp4: mp4v)")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--width", type=int, default=192)
    parser.add_argument("--height", type=int, default=128)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    make_shapes_video(args.out, args.frames, args.width, args.height, args.fps, args.seed)
    print(f"wrote {args.frames} frames to {args.out}")


if __name__ == "__main__":
    main()
