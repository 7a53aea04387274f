"""Make a synthetic tracking benchmark: a video of shapes moving, crossing, occluding each other, leaving and
entering, under a panning camera, with its MOTChallenge ground truth.

The world is a textured background (make_shapes.py's) twice as wide as the frame; the camera pans across it at a
constant speed. Each object is a circle, square or triangle of make_shapes.py's categories, 30 to 90 pixels across,
of one colour, moving at a constant velocity (a few pixels a frame, with a little jitter) from the frame it appears
to the frame it leaves the world or the sequence ends; some are there from the start, the others enter from the
world's edges later, so objects leave and enter the view, and their paths cross. Objects are drawn in a fixed order,
so a later one hides an earlier one where they overlap.

Ground truth (MOTChallenge's gt.txt, one line per object and frame it is in view): frame (1-based), id, left, top,
width, height of its full box in the frame's pixels (cut by the frame), 1 (to evaluate), its category id, and its
visibility (the fraction of its pixels inside the frame and not hidden). An object is in view in a frame where at
least 10% of its pixels are visible.

Layout written under OUT:
    OUT/video.avi          MJPG, the frames
    OUT/gt/gt.txt          MOTChallenge ground truth
    OUT/seqinfo.ini        MOTChallenge sequence info (name, frame rate, length, size)
    OUT/categories.json    the categories (make_shapes.py's ids and names)

Usage:
    python scripts/make_tracking_shapes.py --out data/tracking --frames 300 --seed 0
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

FRAME_SIZE = (320, 256)  # width, height: multiples of 32, so the detector runs at the frame's own size
WORLD_WIDTH_FACTOR = 2  # the world is this many frames wide; the camera pans across it once
SIDE_RANGE = (30, 90)  # pixels across
SPEED_RANGE = (1.0, 4.0)  # pixels per frame
START_OBJECTS = 5  # in the world at frame 0
ENTERING_OBJECTS = 10  # enter from the world's left or right edge at random frames
MIN_VISIBLE_FRACTION = 0.1
FPS = 25.0


def _load(name: str):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_SHAPES = _load("make_shapes")


@dataclass
class Mover:
    """One object: its id, category index, side, colour, upside-down flag, start frame, start centre (world
    pixels) and velocity (pixels a frame)."""

    track_id: int
    category: int
    side: int
    colour: np.ndarray
    upside_down: bool
    start_frame: int
    start: np.ndarray
    velocity: np.ndarray

    def centre(self, frame: int, jitter: np.ndarray) -> np.ndarray:
        return self.start + self.velocity * (frame - self.start_frame) + jitter


def movers(rng: np.random.Generator, frames: int, world: tuple[int, int]) -> list[Mover]:
    """The objects of a sequence: START_OBJECTS anywhere at frame 0, ENTERING_OBJECTS entering from the world's
    left or right edge later, heading inwards."""
    width, height = world
    result = []
    for index in range(START_OBJECTS + ENTERING_OBJECTS):
        side = int(rng.integers(*SIDE_RANGE))
        speed = rng.uniform(*SPEED_RANGE)
        angle = rng.uniform(-0.6, 0.6)
        if index < START_OBJECTS:
            start_frame = 0
            start = rng.uniform([side, side], [width - side, height - side])
            direction = rng.choice([-1.0, 1.0])
        else:
            start_frame = int(rng.integers(1, max(2, frames - 20)))
            from_left = bool(rng.random() < 0.5)
            start = np.array([-side / 2 if from_left else width + side / 2, rng.uniform(side, height - side)])
            direction = 1.0 if from_left else -1.0
        velocity = speed * np.array([direction * np.cos(angle), np.sin(angle)])
        result.append(Mover(index + 1, int(rng.integers(len(_SHAPES.CATEGORIES))), side,
                            rng.uniform(30, 225, size=3), bool(rng.random() < 0.3), start_frame, start, velocity))
    return result


def object_mask(mover: Mover, centre: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """(H, W) bool mask of a mover drawn with its centre at `centre` (frame pixels), cut by the frame."""
    width, height = frame_size
    margin = mover.side
    canvas = int(max(width, height) + 2 * margin)
    local = _SHAPES.shape_mask(_SHAPES.CATEGORIES[mover.category]["name"],
                               (int(round(centre[0])) + margin, int(round(centre[1])) + margin), mover.side, canvas,
                               mover.upside_down)
    return local[margin:margin + height, margin:margin + width]


def full_pixels(mover: Mover) -> int:
    """The pixel count of the whole shape, uncut and unhidden."""
    name = _SHAPES.CATEGORIES[mover.category]["name"]
    return int(_SHAPES.shape_mask(name, (mover.side, mover.side), mover.side, 2 * mover.side + 1,
                                  mover.upside_down).sum())


def render(rng: np.random.Generator, frames: int, frame_size: tuple[int, int] = FRAME_SIZE):
    """Yield (frame index, (H, W, 3) uint8 RGB image, ground-truth rows [(id, category id, box xywh, visibility)])."""
    width, height = frame_size
    world = (width * WORLD_WIDTH_FACTOR, height)
    background = _SHAPES.textured_background(rng, world[0])[:height]  # a square texture, cut to the world
    objects = movers(rng, frames, world)
    jitter = {mover.track_id: np.zeros(2) for mover in objects}
    for frame in range(frames):
        camera_x = (world[0] - width) * frame / max(frames - 1, 1)
        image = background[:, int(round(camera_x)):int(round(camera_x)) + width].copy()
        drawn = []
        for mover in objects:
            if frame < mover.start_frame:
                continue
            jitter[mover.track_id] = 0.8 * jitter[mover.track_id] + rng.normal(0, 0.3, size=2)
            centre = mover.centre(frame, jitter[mover.track_id]) - np.array([camera_x, 0.0])
            mask = object_mask(mover, centre, frame_size)
            image[mask] = mover.colour
            for earlier in drawn:  # a later object hides the earlier ones
                earlier[1][mask] = False
            drawn.append((mover, mask, full_pixels(mover)))
        image += rng.normal(0, 6, size=image.shape).astype(np.float32)
        rows = []
        for mover, mask, whole in drawn:
            visible = float(mask.sum()) / max(whole, 1)
            if visible < MIN_VISIBLE_FRACTION or not mask.any():
                continue
            rows.append((mover.track_id, _SHAPES.CATEGORIES[mover.category]["id"], _full_box(mover, frame, jitter,
                                                                                          camera_x, frame_size),
                         round(visible, 3)))
        yield frame, np.clip(np.rint(image), 0, 255).astype(np.uint8), rows


def _full_box(mover: Mover, frame: int, jitter: dict, camera_x: float, frame_size: tuple[int, int]) -> list[float]:
    """The mover's whole box (x, y, width, height) in the frame's pixels, cut by the frame."""
    centre = mover.centre(frame, jitter[mover.track_id]) - np.array([camera_x, 0.0])
    half = mover.side / 2
    x1, y1 = max(centre[0] - half, 0.0), max(centre[1] - half, 0.0)
    x2, y2 = min(centre[0] + half, frame_size[0]), min(centre[1] + half, frame_size[1])
    return [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]


def make_tracking_shapes(out_dir: str | os.PathLike, frames: int = 300, seed: int = 0) -> Path:
    """Write the sequence under `out_dir` (see the module docstring); returns the video's path."""
    out = Path(out_dir)
    (out / "gt").mkdir(parents=True, exist_ok=True)
    width, height = FRAME_SIZE
    writer = cv2.VideoWriter(str(out / "video.avi"), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (width, height))
    lines = []
    try:
        for frame, image, rows in render(np.random.default_rng(seed), frames):
            writer.write(image[:, :, ::-1])
            lines += [f"{frame + 1},{track_id},{x},{y},{w},{h},1,{category},{visible}"
                      for track_id, category, (x, y, w, h), visible in rows]
    finally:
        writer.release()
    (out / "gt/gt.txt").write_text("".join(line + "\n" for line in lines))
    (out / "seqinfo.ini").write_text(f"[Sequence]\nname=shapes\nimDir=img1\nframeRate={FPS:g}\nseqLength={frames}\n"
                                     f"imWidth={width}\nimHeight={height}\nimExt=.jpg\n")
    (out / "categories.json").write_text(json.dumps(list(_SHAPES.CATEGORIES)))
    return out / "video.avi"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    video = make_tracking_shapes(args.out, args.frames, args.seed)
    print(f"wrote {args.frames} frames: {video}, {Path(args.out) / 'gt/gt.txt'}")


if __name__ == "__main__":
    main()
