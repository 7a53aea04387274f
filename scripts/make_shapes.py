"""Make a small synthetic COCO-format detection dataset of filled shapes on a textured background.

Three classes with deliberately non-contiguous category ids (circle 1, square 3, triangle 7), so that the
id -> index mapping is exercised. Each image holds 1-5 shapes of 12%-45% of the image side in random
colours that contrast with the background; overlaps are kept mild so every shape stays recognisable.
Boxes are the tight boxes of the drawn shape masks, in COCO xywh with the pixel-edge convention
(a shape covering pixel columns 3..7 has x = 3, width = 5); `segmentation` holds COCO polygons of the same
masks in the same convention (their extreme coordinates are the box edges).

Layout written under OUT:
    OUT/train/000001.jpg ...    OUT/val/...
    OUT/annotations/train.json  OUT/annotations/val.json

Usage:
    python scripts/make_shapes.py --out data/shapes --train 2000 --val 200 [--long-tail]
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

CATEGORIES = ({"id": 1, "name": "circle"}, {"id": 3, "name": "square"}, {"id": 7, "name": "triangle"})
BALANCED_WEIGHTS = (1 / 3, 1 / 3, 1 / 3)
LONG_TAIL_WEIGHTS = (0.70, 0.25, 0.05)  # circle common, triangle rare: for the class-balancing experiment
MAX_OVERLAP = 0.3  # max intersection / smaller box area between two shapes, so none is mostly hidden
MIN_COLOUR_DISTANCE = 90.0  # RGB distance between a shape and the background under it
PLACEMENT_TRIES = 30


@dataclass
class ShapeInstance:
    """One drawn shape: its category id, tight COCO box [x, y, width, height] and (H, W) bool mask."""

    category_id: int
    box_xywh: list[float]
    mask: np.ndarray


def tight_box_xywh(mask: np.ndarray) -> list[float]:
    """The tight COCO box [x, y, width, height] of the True pixels of an (H, W) bool mask (pixel edges)."""
    rows = np.flatnonzero(mask.any(axis=1))
    columns = np.flatnonzero(mask.any(axis=0))
    x1, x2, y1, y2 = columns[0], columns[-1], rows[0], rows[-1]
    return [float(x1), float(y1), float(x2 - x1 + 1), float(y2 - y1 + 1)]


def mask_polygons(mask: np.ndarray) -> list[list[float]]:
    """COCO polygons [[x1, y1, x2, y2, ...], ...] of the outer boundaries of an (H, W) bool mask (pixel edges).

    The contours are traced on the (H + 1, W + 1) grid of pixel corners that touch the mask, so a polygon runs
    along the outer edges of its border pixels: a mask covering columns 3..7 gives x from 3 to 8, so the
    polygons' extremes are the tight box's edges; a lone pixel gives a unit square, never a degenerate polygon;
    pycocotools rasterises the polygons back to the mask plus a little at diagonal edges. Holes are not
    represented (COCO polygons cannot hold them).
    """
    pixels = mask.astype(np.uint8)
    corners = np.zeros((pixels.shape[0] + 1, pixels.shape[1] + 1), np.uint8)
    for row_shift in (0, 1):
        for column_shift in (0, 1):  # a corner touches the pixels above-left, above, left and itself
            corners[row_shift:row_shift + pixels.shape[0], column_shift:column_shift + pixels.shape[1]] |= pixels
    contours, _ = cv2.findContours(corners, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [contour.reshape(-1).astype(float).tolist() for contour in contours]


def shape_mask(name: str, center_xy: tuple[int, int], side: int, image_size: int, upside_down: bool) -> np.ndarray:
    """(image_size, image_size) bool mask of a filled circle, square or triangle of extent `side`."""
    mask = np.zeros((image_size, image_size), dtype=np.uint8)
    center_x, center_y = center_xy
    half = side // 2
    if name == "circle":
        cv2.circle(mask, (center_x, center_y), half, 1, thickness=-1, lineType=cv2.LINE_8)
    elif name == "square":
        cv2.rectangle(mask, (center_x - half, center_y - half), (center_x + half, center_y + half), 1, -1)
    elif name == "triangle":
        apex_y, base_y = (center_y - half, center_y + half) if not upside_down else (center_y + half, center_y - half)
        points = np.array([[center_x, apex_y], [center_x - half, base_y], [center_x + half, base_y]], np.int32)
        cv2.fillPoly(mask, [points], 1, lineType=cv2.LINE_8)
    else:
        raise ValueError(f"unknown shape {name!r}")
    return mask.astype(bool)


def textured_background(rng: np.random.Generator, image_size: int) -> np.ndarray:
    """(S, S, 3) float32 RGB in [0, 255]: a colour gradient plus smooth low-frequency blotches."""
    start, end = rng.uniform(20, 235, size=(2, 3))
    direction = rng.uniform(0, 2 * np.pi)
    coordinates = np.linspace(0, 1, image_size, dtype=np.float32)
    ramp = np.cos(direction) * coordinates[None, :] + np.sin(direction) * coordinates[:, None]
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    background = start + (end - start) * ramp[:, :, None]
    blotches = rng.normal(0, 25, size=(6, 6, 3)).astype(np.float32)
    background += cv2.resize(blotches, (image_size, image_size), interpolation=cv2.INTER_CUBIC)
    return background.astype(np.float32)


def _overlaps_too_much(box: list[float], others: list[list[float]]) -> bool:
    x, y, width, height = box
    for other_x, other_y, other_width, other_height in others:
        overlap_width = min(x + width, other_x + other_width) - max(x, other_x)
        overlap_height = min(y + height, other_y + other_height) - max(y, other_y)
        smaller = min(width * height, other_width * other_height)
        if overlap_width > 0 and overlap_height > 0 and overlap_width * overlap_height > MAX_OVERLAP * smaller:
            return True
    return False


def _contrasting_colour(rng: np.random.Generator, background_rgb: np.ndarray) -> np.ndarray:
    for _ in range(PLACEMENT_TRIES):
        colour = rng.uniform(0, 255, size=3)
        if np.linalg.norm(colour - background_rgb) >= MIN_COLOUR_DISTANCE:
            return colour
    return 255.0 - background_rgb  # the complement is always far enough


def _place_shape(
    rng: np.random.Generator, image_size: int, category_index: int, placed: list[ShapeInstance],
    size_range: tuple[float, float],
) -> ShapeInstance | None:
    """A randomly sized and placed shape mask that overlaps the placed ones only mildly, or None."""
    for _ in range(PLACEMENT_TRIES):
        side = int(rng.uniform(*size_range) * image_size)
        half = side // 2
        center = (int(rng.integers(half, image_size - half)), int(rng.integers(half, image_size - half)))
        mask = shape_mask(CATEGORIES[category_index]["name"], center, side, image_size, bool(rng.random() < 0.3))
        box = tight_box_xywh(mask)
        if not _overlaps_too_much(box, [instance.box_xywh for instance in placed]):
            return ShapeInstance(CATEGORIES[category_index]["id"], box, mask)
    return None


def render_scene(
    rng: np.random.Generator,
    image_size: int = 128,
    class_weights: Sequence[float] = BALANCED_WEIGHTS,
    object_range: tuple[int, int] = (1, 5),
    size_range: tuple[float, float] = (0.12, 0.45),
) -> tuple[np.ndarray, list[ShapeInstance]]:
    """One (S, S, 3) uint8 RGB image and its shapes (in drawing order; later ones may overlap earlier ones)."""
    image = textured_background(rng, image_size)
    instances: list[ShapeInstance] = []
    for _ in range(int(rng.integers(object_range[0], object_range[1] + 1))):
        category_index = int(rng.choice(len(CATEGORIES), p=np.asarray(class_weights) / np.sum(class_weights)))
        instance = _place_shape(rng, image_size, category_index, instances, size_range)
        if instance is None:
            continue
        under = image[instance.mask].mean(axis=0)
        image[instance.mask] = _contrasting_colour(rng, under) + rng.normal(0, 6, size=3)
        instances.append(instance)
    image += rng.normal(0, 8, size=image.shape).astype(np.float32)  # sensor-like noise over everything
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), instances


def _write_split(
    out_dir: str, split: str, count: int, rng: np.random.Generator, image_size: int,
    class_weights: Sequence[float], image_format: str,
) -> str:
    """Render `count` images into OUT/split/ and write OUT/annotations/split.json; returns the json path."""
    os.makedirs(os.path.join(out_dir, split), exist_ok=True)
    images, annotations = [], []
    for image_id in range(1, count + 1):
        image, instances = render_scene(rng, image_size, class_weights)
        file_name = f"{image_id:06d}.{image_format}"
        cv2.imwrite(os.path.join(out_dir, split, file_name), image[:, :, ::-1],
                    [cv2.IMWRITE_JPEG_QUALITY, 95] if image_format == "jpg" else [])
        images.append({"id": image_id, "file_name": file_name, "width": image_size, "height": image_size})
        annotations += [coco_annotation(len(annotations) + index + 1, image_id, instance.category_id, instance.mask)
                        for index, instance in enumerate(instances)]
    return write_annotations(out_dir, split, images, annotations, CATEGORIES)


def coco_annotation(annotation_id: int, image_id: int, category_id: int, mask: np.ndarray) -> dict:
    """The COCO annotation of an object's (H, W) bool mask: tight box, pixel area and polygons."""
    return {
        "id": annotation_id,  # COCOeval needs positive annotation ids
        "image_id": image_id,
        "category_id": category_id,
        "bbox": tight_box_xywh(mask),
        "area": float(mask.sum()),
        "iscrowd": 0,
        "segmentation": mask_polygons(mask),
    }


def write_annotations(out_dir: str, split: str, images: list[dict], annotations: list[dict],
                      categories: Sequence[dict]) -> str:
    """Write OUT/annotations/split.json; returns its path."""
    ann_path = os.path.join(out_dir, "annotations", f"{split}.json")
    os.makedirs(os.path.dirname(ann_path), exist_ok=True)
    with open(ann_path, "w", encoding="utf-8") as handle:
        json.dump({"images": images, "annotations": annotations, "categories": list(categories)}, handle)
    return ann_path


def make_shapes(
    out_dir: str | os.PathLike,
    num_train: int,
    num_val: int,
    image_size: int = 128,
    seed: int = 0,
    long_tail: bool = False,
    image_format: str = "jpg",
) -> dict[str, str]:
    """Write the shapes dataset under `out_dir`; returns {"train": json path, "val": json path}.

    `long_tail` skews the training class frequencies to 70% / 25% / 5%; validation stays balanced so that
    every class's AP is measured on enough objects. Each split has its own random stream, so the validation
    set does not change with `num_train`. `image_format` is "jpg" or "png" (lossless).
    """
    out_dir = os.fspath(out_dir)
    if image_format not in ("jpg", "png"):
        raise ValueError(f"image_format must be 'jpg' or 'png', got {image_format!r}")
    train_weights = LONG_TAIL_WEIGHTS if long_tail else BALANCED_WEIGHTS
    return {
        "train": _write_split(out_dir, "train", num_train, np.random.default_rng([seed, 0]), image_size,
                              train_weights, image_format),
        "val": _write_split(out_dir, "val", num_val, np.random.default_rng([seed, 1]), image_size,
                            BALANCED_WEIGHTS, image_format),
    }


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--train", type=int, default=2000, help="number of training images")
    parser.add_argument("--val", type=int, default=200, help="number of validation images")
    parser.add_argument("--image-size", type=int, default=128, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--long-tail", action="store_true", help="imbalanced training classes (70/25/5%%)")
    parser.add_argument("--format", choices=("jpg", "png"), default="jpg", help="image file format")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    paths = make_shapes(args.out, args.train, args.val, args.image_size, args.seed, args.long_tail, args.format)
    print(f"wrote {args.train} training and {args.val} validation images: {paths['train']}, {paths['val']}")


if __name__ == "__main__":
    main()
