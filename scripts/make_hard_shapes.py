"""Make a harder synthetic COCO-format detection dataset: small, occluded and truncated shapes in clutter.

Five classes of filled shapes with non-contiguous category ids (ellipse 1, rectangle 3, triangle 7, star 12,
cross 20), randomly rotated and stretched only as far as each class stays recognisable. Backgrounds imitate
photos: procedural textures (multi-octave noise, gratings, checkerboards, gradients, blurred blobs) blended
over random regions, under clutter that belongs to no class (lines, arcs, rings, speckles, thin outlines of
shapes), so that a detector has to learn shapes rather than "anything that contrasts". Image width and height
are drawn independently from 160-420 px; each image holds 2-10 objects whose extent runs from 8 px to 60% of
the shorter side, log-uniformly (mostly small and medium), in colours that contrast with what is under them,
some of them only faintly. Many objects are drawn over earlier ones, hiding up to 60% of them (counting what
lies outside the image as hidden), and some objects are cut by the image border.

Annotations describe what is visible of each object: `bbox` is the tight box of its visible mask in COCO xywh
with the pixel-edge convention (a mask covering columns 3..7 has x = 3, width = 5), `area` the mask's pixel
count and `segmentation` its COCO polygons in the same convention (make_shapes.py's `mask_polygons`: the
polygons' extreme coordinates are the box edges, which an extreme-point task relies on; a hole left by an
object drawn inside another is not represented, as COCO polygons cannot hold one). An object with less than
35% of its area or fewer than 20 pixels visible (in practice: mostly outside the image) stays in the image
but is not annotated.

With --long-tail the training class frequencies decay geometrically from the first class to the last, to
1/--tail-ratio (default 100: the counts measured on 600 images stay above 50:1). Validation stays balanced, and
identical to the balanced set's of the same seed: the rarest class needs as many validation instances as the
others for its AP to be measured with the same precision (a long-tailed validation split would hold a handful
of them, and their AP would be noise), and one validation set lets the balanced and long-tailed runs be compared.

Layout written under OUT:
    OUT/train/000001.jpg ...    OUT/val/...
    OUT/annotations/train.json  OUT/annotations/val.json

Usage:
    python scripts/make_hard_shapes.py --out data/hard --train 600 --val 150 --seed 0 [--long-tail [--tail-ratio R]]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

CATEGORIES = (
    {"id": 1, "name": "ellipse", "supercategory": "shape"},
    {"id": 3, "name": "rectangle", "supercategory": "shape"},
    {"id": 7, "name": "triangle", "supercategory": "shape"},
    {"id": 12, "name": "star", "supercategory": "shape"},
    {"id": 20, "name": "cross", "supercategory": "shape"},
)
IMAGE_SIDE_RANGE = (160, 420)  # pixels; width and height are drawn independently
OBJECT_COUNT_RANGE = (2, 10)  # objects drawn per image, before the unannotatable ones are dropped
MIN_EXTENT = 8.0  # pixels, the smallest object extent (unrotated longer side)
MAX_EXTENT_FRACTION = 0.6  # of the shorter image side, the largest object extent
OCCLUDING_PROBABILITY = 0.45  # objects centred on a visible pixel of an earlier object (if any)
BORDER_PROBABILITY = 0.25  # objects placed across the image border
MAX_HIDDEN_FRACTION = 0.6  # of an object's area that the objects drawn after it may cover together
MIN_VISIBLE_FRACTION = 0.35  # of an object's area, below which it is not annotated
MIN_VISIBLE_PIXELS = 20
MIN_COLOUR_DISTANCE = 70.0  # RGB distance between an object and the mean of what is under it
FAINT_PROBABILITY = 0.15  # objects drawn deliberately low-contrast
FAINT_DISTANCE_RANGE = (25.0, 45.0)
LONG_TAIL_RATIO = 100.0  # default most / least frequent training class with long_tail: measured counts stay above 50:1
PLACEMENT_TRIES = 30


def _load_make_shapes():
    """scripts/make_shapes.py, whose box and polygon conventions this set shares (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("make_shapes", Path(__file__).with_name("make_shapes.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_shapes"] = module  # dataclasses in the script look their module up here
    spec.loader.exec_module(module)
    return module


_MAKE_SHAPES = _load_make_shapes()


@dataclass
class HardInstance:
    """One drawn object: category id, pixel count of the whole shape (including any part outside the image)
    and (H, W) bool mask of its visible part (clipped by the image, minus the objects drawn after it)."""

    category_id: int
    full_area: int
    mask: np.ndarray


def shape_polygon(name: str, extent: float, rng: np.random.Generator) -> np.ndarray:
    """(N, 2) float vertices (x, y) of a class shape of `extent` pixels centred on the origin, randomly rotated.

    The aspect jitter stays where the class remains recognisable: ellipses stretch up to 2:1 and rectangles up
    to 2.5:1; triangles (apex shifted sideways), five-pointed stars and crosses (arm width 25-40%) only mildly.
    """
    half = extent / 2
    if name == "ellipse":
        angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        unit = np.stack([np.cos(angles), np.sin(angles) / rng.uniform(1.0, 2.0)], axis=1)
    elif name == "rectangle":
        unit = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * [1.0, 1 / rng.uniform(1.0, 2.5)]
    elif name == "triangle":
        unit = np.array([[rng.uniform(-0.3, 0.3), -1], [1, 1], [-1, 1]]) * [1.0, rng.uniform(0.75, 1.0)]
    elif name == "star":
        angles = np.linspace(0, 2 * np.pi, 10, endpoint=False) - np.pi / 2
        radii = np.where(np.arange(10) % 2 == 0, 1.0, rng.uniform(0.38, 0.5))
        unit = np.stack([np.cos(angles), np.sin(angles) * rng.uniform(0.85, 1.0)], axis=1) * radii[:, None]
    elif name == "cross":
        arm, tall = rng.uniform(0.25, 0.4), rng.uniform(0.75, 1.0)  # half arm width, half height of the cross
        unit = np.array([[arm, -tall], [arm, -arm], [1, -arm], [1, arm], [arm, arm], [arm, tall], [-arm, tall],
                         [-arm, arm], [-1, arm], [-1, -arm], [-arm, -arm], [-arm, -tall]])
    else:
        raise ValueError(f"unknown shape {name!r}")
    angle = rng.uniform(0, 2 * np.pi)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return unit * half @ rotation.T


def rasterise(polygon_xy: np.ndarray, width: int, height: int) -> tuple[np.ndarray, int]:
    """(H, W) bool mask of a filled polygon (N, 2) of (x, y) pixel coordinates, clipped by the image, and the
    pixel count of the whole polygon, including its part outside the image.

    The whole polygon is drawn on its own canvas, so the count does not change when it moves by whole pixels.
    The masks, not the polygons, define the annotations, so cv2's rounding (it includes the outline) is harmless.
    """
    origin = np.floor(polygon_xy.min(axis=0)).astype(int) - 1
    size = np.ceil(polygon_xy.max(axis=0)).astype(int) + 2 - origin
    local = np.zeros((size[1], size[0]), np.uint8)
    points = np.rint((polygon_xy - origin) * 16).astype(np.int32)  # 4 fractional bits for sub-pixel vertices
    cv2.fillPoly(local, [points], 1, lineType=cv2.LINE_8, shift=4)
    mask = np.zeros((height, width), bool)
    x0, y0 = max(origin[0], 0), max(origin[1], 0)
    x1, y1 = min(origin[0] + size[0], width), min(origin[1] + size[1], height)
    if x1 > x0 and y1 > y0:
        mask[y0:y1, x0:x1] = local[y0 - origin[1]:y1 - origin[1], x0 - origin[0]:x1 - origin[0]]
    return mask, int(local.sum())


def _two_colours(rng: np.random.Generator, weight: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 blend between a random colour (weight 0) and a moderately different one (weight 1)."""
    first = rng.uniform(0, 255, size=3)
    second = np.clip(first + rng.normal(size=3) * rng.uniform(15, 70), 0, 255)
    return (first + (second - first) * weight[:, :, None]).astype(np.float32)


def _rotated_coordinates(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) float32 pixel coordinates along and across a random direction."""
    angle = rng.uniform(0, np.pi)
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    return (columns * np.cos(angle) + rows * np.sin(angle), rows * np.cos(angle) - columns * np.sin(angle))


def smooth_noise(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(H, W, 3) float32 multi-octave value noise around a random colour: cells of 1/2 to 1/32 of the image."""
    image = np.empty((height, width, 3), np.float32)
    image[:] = rng.uniform(40, 215, size=3)
    for octave in range(5):
        cells = 2 ** (octave + 1) + 1
        grid = rng.normal(0, 40 / 1.6 ** octave, size=(cells, cells, 3)).astype(np.float32)
        image += cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    return image


def grating(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(H, W, 3) float32 smooth or hard-edged stripes with a period of 4-40 px at a random angle."""
    along, _ = _rotated_coordinates(rng, height, width)
    wave = np.sin(2 * np.pi * along / rng.uniform(4, 40) + rng.uniform(0, 2 * np.pi))
    if rng.random() < 0.5:
        wave = np.sign(wave)
    return _two_colours(rng, (wave + 1) / 2)


def checkerboard(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(H, W, 3) float32 checkerboard with 4-40 px cells at a random angle."""
    along, across = _rotated_coordinates(rng, height, width)
    cell = rng.uniform(4, 40)
    return _two_colours(rng, (np.floor(along / cell) + np.floor(across / cell)) % 2)


def gradient(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(H, W, 3) float32 linear colour ramp in a random direction."""
    along, _ = _rotated_coordinates(rng, height, width)
    return _two_colours(rng, (along - along.min()) / max(float(np.ptp(along)), 1e-6))


def blurred_blobs(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(H, W, 3) float32 random ellipses of random colours, blurred until their edges are soft."""
    image = np.empty((height, width, 3), np.float32)
    image[:] = rng.uniform(0, 255, size=3)
    for _ in range(int(rng.integers(4, 16))):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        axes = tuple(int(axis) for axis in rng.uniform(0.05, 0.35, size=2) * min(height, width))
        cv2.ellipse(image, centre, axes, rng.uniform(0, 180), 0, 360, rng.uniform(0, 255, size=3).tolist(), -1)
    return cv2.GaussianBlur(image, (0, 0), rng.uniform(4, 12))


TEXTURES = (smooth_noise, grating, checkerboard, gradient, blurred_blobs)


def textured_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(H, W, 3) float32 RGB: a random texture with one or two others blended in over smooth random regions."""
    image = TEXTURES[rng.integers(len(TEXTURES))](rng, height, width)
    for _ in range(int(rng.integers(1, 3))):
        layer = TEXTURES[rng.integers(len(TEXTURES))](rng, height, width)
        regions = cv2.resize(rng.normal(size=(4, 4)).astype(np.float32), (width, height),
                             interpolation=cv2.INTER_CUBIC)
        alpha = 1 / (1 + np.exp(-regions * rng.uniform(2, 8)))  # the factor sets how sharp region borders are
        image = alpha[:, :, None] * layer + (1 - alpha[:, :, None]) * image
    return image


def _random_point(rng: np.random.Generator, width: int, height: int) -> tuple[int, int]:
    return int(rng.integers(0, width)), int(rng.integers(0, height))


def draw_clutter(rng: np.random.Generator, image: np.ndarray) -> None:
    """Draw clutter that is no object class into an (H, W, 3) float32 image, in place: lines, arcs and rings,
    thin outlines of class shapes (a detector must tell filled from hollow) and speckles below object size."""
    height, width = image.shape[:2]
    scale = height * width / 300**2  # counts grow with the image area
    for _ in range(rng.poisson(6 * scale)):
        start = np.array(_random_point(rng, width, height))
        end = start + rng.normal(size=2) * rng.uniform(0.1, 0.5) * min(height, width)
        cv2.line(image, tuple(start.tolist()), tuple(int(value) for value in end), rng.uniform(0, 255, size=3).tolist(),
                 int(rng.integers(1, 4)))
    for _ in range(rng.poisson(4 * scale)):
        axes = tuple(int(axis) for axis in rng.uniform(8, 0.3 * min(height, width), size=2))
        start_angle, span = rng.uniform(0, 360), (360 if rng.random() < 0.35 else rng.uniform(60, 300))
        cv2.ellipse(image, _random_point(rng, width, height), axes, rng.uniform(0, 180), start_angle,
                    start_angle + span, rng.uniform(0, 255, size=3).tolist(), int(rng.integers(1, 3)))
    for _ in range(rng.poisson(1.5 * scale)):
        name = CATEGORIES[rng.integers(len(CATEGORIES))]["name"]
        outline = shape_polygon(name, rng.uniform(16, 0.4 * min(height, width)), rng)
        outline += _random_point(rng, width, height)
        cv2.polylines(image, [np.rint(outline * 16).astype(np.int32)], True, rng.uniform(0, 255, size=3).tolist(),
                      int(rng.integers(1, 3)), shift=4)
    for _ in range(rng.poisson(40 * scale)):
        cv2.circle(image, _random_point(rng, width, height), int(rng.integers(1, 3)),
                   rng.uniform(0, 255, size=3).tolist(), -1)


def object_centre(
    rng: np.random.Generator, extent: float, earlier: Sequence[HardInstance], width: int, height: int
) -> np.ndarray:
    """Centre (x, y) of a new object: sometimes on a visible pixel of an earlier object (so that it hides part
    of it), sometimes across the image border, otherwise with the whole extent inside the image."""
    choice = rng.random()
    if choice < OCCLUDING_PROBABILITY and earlier:
        rows, columns = np.nonzero(earlier[rng.integers(len(earlier))].mask)
        if len(rows):
            pick = rng.integers(len(rows))
            return np.array([columns[pick], rows[pick]]) + rng.uniform(0, 1, size=2)
    centre = rng.uniform(extent / 2, [width - extent / 2, height - extent / 2])
    if choice > 1 - BORDER_PROBABILITY:
        axis, far_side = int(rng.integers(2)), bool(rng.random() < 0.5)
        inset = rng.uniform(-0.1, 0.4) * extent  # negative: the centre lies outside the image
        centre[axis] = (width, height)[axis] - inset if far_side else inset
    return centre


def _hides_too_much(mask: np.ndarray, window: tuple[slice, slice], earlier: Sequence[HardInstance]) -> bool:
    """Whether a new (H, W) mask, all within `window`, would leave an earlier object that it overlaps with less
    than 1 - MAX_HIDDEN_FRACTION of its area visible (counting what is outside the image as hidden)."""
    for other in earlier:
        hidden = np.count_nonzero(mask[window] & other.mask[window])
        if hidden and np.count_nonzero(other.mask) - hidden < (1 - MAX_HIDDEN_FRACTION) * other.full_area:
            return True
    return False


def place_object(
    rng: np.random.Generator, name: str, earlier: Sequence[HardInstance], width: int, height: int
) -> tuple[np.ndarray, int] | None:
    """Mask (clipped by the image) and whole-shape pixel count of a randomly sized (log-uniform extent) and
    placed `name` shape that leaves every earlier object it overlaps with at least 1 - MAX_HIDDEN_FRACTION of
    its area visible, or None when no placement was found."""
    for _ in range(PLACEMENT_TRIES):
        extent = float(np.exp(rng.uniform(np.log(MIN_EXTENT), np.log(MAX_EXTENT_FRACTION * min(width, height)))))
        centre = object_centre(rng, extent, earlier, width, height)
        mask, full_area = rasterise(shape_polygon(name, extent, rng) + centre, width, height)
        rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if len(rows) == 0:
            continue
        window = (slice(rows[0], rows[-1] + 1), slice(columns[0], columns[-1] + 1))
        if not _hides_too_much(mask, window, earlier):
            return mask, full_area
    return None


def object_colour(rng: np.random.Generator, under_rgb: np.ndarray, faint: bool) -> np.ndarray:
    """An RGB colour at least MIN_COLOUR_DISTANCE from `under_rgb`, or, when `faint`, only 25-45 from it."""
    low, high = FAINT_DISTANCE_RANGE if faint else (MIN_COLOUR_DISTANCE, np.inf)
    for _ in range(PLACEMENT_TRIES):
        if faint:
            step = rng.normal(size=3)
            colour = under_rgb + step / np.linalg.norm(step) * rng.uniform(low, high)
        else:
            colour = rng.uniform(0, 255, size=3)
        distance = np.linalg.norm(colour - under_rgb)
        if low <= distance <= high and colour.min() >= 0 and colour.max() <= 255:
            return colour
    toward_corner = np.where(under_rgb < 127.5, 255.0, 0.0) - under_rgb  # the farthest corner is >= 221 away
    return under_rgb + toward_corner * (low / np.linalg.norm(toward_corner) if faint else 1.0)


def paint_object(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray) -> None:
    """Fill `mask` of an (H, W, 3) float32 image in place with a contrasting colour under linear shading."""
    rows, columns = np.nonzero(mask)
    colour = object_colour(rng, image[rows, columns].mean(axis=0), faint=bool(rng.random() < FAINT_PROBABILITY))
    angle = rng.uniform(0, 2 * np.pi)
    ramp = columns * np.cos(angle) + rows * np.sin(angle)
    ramp = (ramp - ramp.mean()) / max(float(np.ptp(ramp)) / 2, 1.0)  # about -1 to 1 across the object
    image[rows, columns] = colour + rng.uniform(0, 20) * ramp[:, None]


def visible_instances(instances: Sequence[HardInstance]) -> list[HardInstance]:
    """The objects worth annotating: at least MIN_VISIBLE_FRACTION of the shape and MIN_VISIBLE_PIXELS visible."""
    kept = []
    for instance in instances:
        visible = np.count_nonzero(instance.mask)
        if visible >= MIN_VISIBLE_PIXELS and visible >= MIN_VISIBLE_FRACTION * instance.full_area:
            kept.append(instance)
    return kept


def render_scene(
    rng: np.random.Generator, width: int, height: int, class_probabilities: np.ndarray
) -> tuple[np.ndarray, list[HardInstance]]:
    """One (H, W, 3) uint8 RGB image and its annotatable objects in drawing order, with their visible masks.

    `class_probabilities` are the probabilities of the CATEGORIES in order.
    """
    image = textured_background(rng, height, width)
    draw_clutter(rng, image)
    instances: list[HardInstance] = []
    for _ in range(int(rng.integers(OBJECT_COUNT_RANGE[0], OBJECT_COUNT_RANGE[1] + 1))):
        category = CATEGORIES[int(rng.choice(len(CATEGORIES), p=class_probabilities))]
        placed = place_object(rng, category["name"], instances, width, height)
        if placed is None:
            continue
        mask, full_area = placed
        paint_object(rng, image, mask)
        for earlier in instances:
            earlier.mask &= ~mask
        instances.append(HardInstance(category["id"], full_area, mask))
    if rng.random() < 0.5:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 0.9))  # a slightly soft lens
    image += rng.standard_normal(image.shape, dtype=np.float32) * rng.uniform(2, 8)  # sensor noise
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), visible_instances(instances)


def class_frequencies(long_tail: bool, tail_ratio: float = LONG_TAIL_RATIO) -> np.ndarray:
    """Probabilities of the CATEGORIES in order: equal, or decaying geometrically to 1/tail_ratio of the first."""
    if not long_tail:
        return np.full(len(CATEGORIES), 1 / len(CATEGORIES))
    if tail_ratio < 1:
        raise ValueError(f"the tail ratio is the most over the least frequent class, at least 1; got {tail_ratio}")
    weights = tail_ratio ** -(np.arange(len(CATEGORIES)) / (len(CATEGORIES) - 1))
    return weights / weights.sum()


def _write_split(
    out_dir: str, split: str, count: int, rng: np.random.Generator, class_probabilities: np.ndarray
) -> str:
    """Render `count` images into OUT/split/ and write OUT/annotations/split.json; returns the json path."""
    os.makedirs(os.path.join(out_dir, split), exist_ok=True)
    images, annotations = [], []
    for image_id in range(1, count + 1):
        width, height = (int(side) for side in rng.integers(IMAGE_SIDE_RANGE[0], IMAGE_SIDE_RANGE[1] + 1, size=2))
        image, instances = render_scene(rng, width, height, class_probabilities)
        file_name = f"{image_id:06d}.jpg"
        cv2.imwrite(os.path.join(out_dir, split, file_name), image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
        annotations += [_MAKE_SHAPES.coco_annotation(len(annotations) + index + 1, image_id, instance.category_id,
                                                     instance.mask) for index, instance in enumerate(instances)]
    return _MAKE_SHAPES.write_annotations(out_dir, split, images, annotations, CATEGORIES)


def make_hard_shapes(
    out_dir: str | os.PathLike, num_train: int, num_val: int, seed: int = 0, long_tail: bool = False,
    tail_ratio: float = LONG_TAIL_RATIO,
) -> dict[str, str]:
    """Write the hard shapes dataset under `out_dir`; returns {"train": json path, "val": json path}.

    Each split has its own random stream, so the validation set changes neither with `num_train` nor with
    `long_tail` (which skews only the training classes, `tail_ratio`:1 from the first to the last).
    """
    out_dir = os.fspath(out_dir)
    train_frequencies = class_frequencies(long_tail, tail_ratio)
    return {
        "train": _write_split(out_dir, "train", num_train, np.random.default_rng([seed, 0]), train_frequencies),
        "val": _write_split(out_dir, "val", num_val, np.random.default_rng([seed, 1]), class_frequencies(False)),
    }


def count_by_class(ann_path: str | os.PathLike) -> dict[str, int]:
    """Number of annotated objects per class name in a COCO annotation file, in category order."""
    with open(ann_path, encoding="utf-8") as handle:
        data = json.load(handle)
    counts = Counter(annotation["category_id"] for annotation in data["annotations"])
    return {category["name"]: counts[category["id"]] for category in data["categories"]}


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--train", type=int, default=600, help="number of training images")
    parser.add_argument("--val", type=int, default=150, help="number of validation images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--long-tail", action="store_true",
                        help="training class frequencies decaying geometrically (--tail-ratio in all); validation "
                             "stays balanced")
    parser.add_argument("--tail-ratio", type=float, default=LONG_TAIL_RATIO,
                        help=f"with --long-tail: the most over the least frequent class (default {LONG_TAIL_RATIO:g})")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    paths = make_hard_shapes(args.out, args.train, args.val, args.seed, args.long_tail, args.tail_ratio)
    print(f"wrote {args.train} training and {args.val} validation images: {paths['train']}, {paths['val']}")
    counts = count_by_class(paths["train"])
    print("training objects per class: " + ", ".join(f"{name} {count}" for name, count in counts.items()))


if __name__ == "__main__":
    main()
