"""Make a synthetic COCO keypoint dataset: articulated stick figures with named left and right joints, in clutter.

One category, "figure", with the COCO keypoint fields: its `keypoints` names the JOINTS (head, neck, the left and
right elbow, hand, hip, knee and foot: 13 joints, left and right twins named `left_*` / `right_*`) and `skeleton`
the LIMBS joining them (1-based joint indices, COCO's convention). A figure is drawn as thick limbs and a round
head; its hands and feet are marked so that left and right can be told apart in any pose: the left ones as filled
squares, the right ones as filled discs (a detector of people tells them apart by far subtler cues, but it has to
learn the same thing: which side is which). Poses vary (limb angles, a lean of the whole figure up to 35 degrees,
foreshortened limbs), figure heights run log-uniformly from 24 px to 80% of the shorter image side, 1-6 figures
per image, over the photo-like backgrounds and clutter of `make_hard_shapes.py`.

Annotations (`keypoints`: K triplets [x, y, v], COCO's convention):
- v = 2: the joint is inside the image and not covered by a figure drawn after its own (visible);
- v = 1: inside the image but covered by a later figure (labelled, not visible);
- v = 0: outside the image (not labelled, x = y = 0), so figures cut by the border have unlabelled joints.
Joint coordinates are pixel centres' coordinates in COCO's continuous frame (a joint drawn at pixel column 10
has x = 10.5). `num_keypoints` counts the labelled joints (v > 0); `bbox` and `segmentation` describe the visible
mask as in make_hard_shapes.py, and `area` is the area of the visible figure's silhouette (the convex hull of its
pixels): COCO's keypoint AP scales each joint's tolerance by the square root of `area`, which for a person is its
segmentation, the body between its limbs; a stick figure's thin limbs cover about a fifth of its box (the median on
the validation set), its hull about two thirds. A figure is annotated when at least 35% and
20 pixels of it are visible and at least one joint is labelled.

`--clean` makes the same kind of set without the clutter (the textured background stays), without faint figures
and without figures under 40 pixels: occlusion, border cuts and visibility flags as above. It is the set of the
15-epoch CPU runs in docs/results.md ("Keypoints on our stick figures"); stick figures among clutter of lines and
arcs are the harder set, for longer runs.

Layout written under OUT:
    OUT/train/000001.jpg ...    OUT/val/...
    OUT/annotations/train.json  OUT/annotations/val.json

Usage:
    python scripts/make_keypoint_shapes.py --out data/keypoints --train 600 --val 150 --seed 0
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

JOINTS = ("head", "neck", "left_elbow", "right_elbow", "left_hand", "right_hand", "left_hip", "right_hip",
          "left_knee", "right_knee", "left_foot", "right_foot", "pelvis")
LIMBS = (("head", "neck"), ("neck", "left_elbow"), ("left_elbow", "left_hand"), ("neck", "right_elbow"),
         ("right_elbow", "right_hand"), ("neck", "pelvis"), ("pelvis", "left_hip"), ("pelvis", "right_hip"),
         ("left_hip", "left_knee"), ("left_knee", "left_foot"), ("right_hip", "right_knee"),
         ("right_knee", "right_foot"))
CATEGORY = {"id": 1, "name": "figure", "supercategory": "figure", "keypoints": list(JOINTS),
            "skeleton": [[JOINTS.index(a) + 1, JOINTS.index(b) + 1] for a, b in LIMBS]}
HEIGHT_RANGE = (24.0, 0.8)  # pixels of the smallest figure; fraction of the shorter image side of the largest
CLEAN_HEIGHT_RANGE = (40.0, 0.8)  # --clean: no figure under 40 pixels
FIGURE_COUNT_RANGE = (1, 6)
MAX_LEAN_DEGREES = 35.0
MIN_VISIBLE_FRACTION = 0.35  # of a figure's pixels, below which it is not annotated
MIN_VISIBLE_PIXELS = 20


def _load_script(name: str):
    """scripts/NAME.py as a module (scripts/ is not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses in the script look their module up here
    spec.loader.exec_module(module)
    return module


_HARD = _load_script("make_hard_shapes")
_SHAPES = _load_script("make_shapes")


@dataclass
class Figure:
    """One drawn figure: its joints (K, 2) float (x, y) in pixels (possibly outside the image), the pixel count
    of the whole figure, and the (H, W) bool mask of its visible part."""

    joints: np.ndarray
    full_area: int
    mask: np.ndarray


def pose(rng: np.random.Generator, height: float) -> np.ndarray:
    """(K, 2) joint positions (x, y) of a figure `height` pixels tall, its pelvis at the origin, facing the viewer
    (its left side at larger x), limbs at random angles, the whole leaning by up to MAX_LEAN_DEGREES."""
    unit = height / 7.0  # the head is about one unit, the figure seven
    joints = {"pelvis": np.zeros(2)}

    def limb(start: str, name: str, angle_degrees: float, length: float) -> None:
        angle = np.radians(angle_degrees)
        joints[name] = joints[start] + length * unit * np.array([np.cos(angle), np.sin(angle)])

    limb("pelvis", "neck", -90 + rng.normal(0, 8), 2.6)
    limb("neck", "head", -90 + rng.normal(0, 12), 1.1)
    for side, sign in (("left", 1.0), ("right", -1.0)):  # angles mirrored: the left limbs go to larger x
        shoulder_angle = 90 - sign * rng.uniform(20, 160)
        limb("neck", f"{side}_elbow", shoulder_angle, rng.uniform(0.9, 1.3))
        limb(f"{side}_elbow", f"{side}_hand", shoulder_angle - sign * rng.uniform(-30, 120), rng.uniform(0.8, 1.2))
        limb("pelvis", f"{side}_hip", 90 - sign * 90 + rng.normal(0, 5), 0.45)
        hip_angle = 90 - sign * rng.uniform(5, 45)
        limb(f"{side}_hip", f"{side}_knee", hip_angle, rng.uniform(1.3, 1.7))
        limb(f"{side}_knee", f"{side}_foot", hip_angle + sign * rng.uniform(-10, 50), rng.uniform(1.3, 1.7))
    lean = np.radians(rng.uniform(-MAX_LEAN_DEGREES, MAX_LEAN_DEGREES))
    rotation = np.array([[np.cos(lean), -np.sin(lean)], [np.sin(lean), np.cos(lean)]])
    return np.stack([joints[name] for name in JOINTS]) @ rotation.T


def draw_figure(canvas: np.ndarray, joints: np.ndarray, height: float, colour: Sequence[float], value: float = 1.0
                ) -> None:
    """Draw a figure of `height` pixels with joints (K, 2) into `canvas` (a float image or a mask), in place:
    limbs as thick lines, the head as a disc, left hands and feet as squares, right ones as discs."""
    thickness = max(1, int(round(height / 28)))
    fill = colour if canvas.ndim == 3 else value
    points = {name: joints[index] for index, name in enumerate(JOINTS)}

    def at(name: str) -> tuple[int, int]:
        return tuple(int(round(v * 16)) for v in points[name])  # 4 fractional bits

    for start, end in LIMBS:
        cv2.line(canvas, at(start), at(end), fill, thickness, cv2.LINE_8, shift=4)
    cv2.circle(canvas, at("head"), int(round(height / 14 * 16)), fill, -1, cv2.LINE_8, shift=4)
    marker = max(2.0, height / 24)
    for side in ("left", "right"):
        for part in ("hand", "foot"):
            x, y = points[f"{side}_{part}"]
            if side == "left":
                corners = np.array([[x - marker, y - marker], [x + marker, y + marker]])
                cv2.rectangle(canvas, tuple(int(round(v * 16)) for v in corners[0]),
                              tuple(int(round(v * 16)) for v in corners[1]), fill, -1, cv2.LINE_8, shift=4)
            else:
                cv2.circle(canvas, at(f"{side}_{part}"), int(round(marker * 1.15 * 16)), fill, -1, cv2.LINE_8,
                           shift=4)


def figure_mask(joints: np.ndarray, height: float, width: int, image_height: int) -> tuple[np.ndarray, int]:
    """(H, W) bool mask of a figure clipped by the image, and the pixel count of the whole figure."""
    margin = height / 7
    origin = np.floor(joints.min(axis=0) - margin).astype(int)
    size = np.ceil(joints.max(axis=0) + margin).astype(int) - origin + 1
    local = np.zeros((size[1], size[0]), np.uint8)
    draw_figure(local, joints - origin, height, (0, 0, 0), 1)
    mask = np.zeros((image_height, width), bool)
    x0, y0 = max(origin[0], 0), max(origin[1], 0)
    x1, y1 = min(origin[0] + size[0], width), min(origin[1] + size[1], image_height)
    if x1 > x0 and y1 > y0:
        mask[y0:y1, x0:x1] = local[y0 - origin[1]:y1 - origin[1], x0 - origin[0]:x1 - origin[0]].astype(bool)
    return mask, int(local.sum())


def render_scene(rng: np.random.Generator, width: int, height: int, clean: bool = False
                 ) -> tuple[np.ndarray, list[Figure]]:
    """One (H, W, 3) uint8 RGB image and its figures in drawing order (each mask minus the later figures); `clean`:
    no clutter, no faint figures, none under 40 pixels."""
    image = _HARD.textured_background(rng, height, width)
    if not clean:
        _HARD.draw_clutter(rng, image)
    figures: list[Figure] = []
    shorter = min(width, height)
    smallest, largest = CLEAN_HEIGHT_RANGE if clean else HEIGHT_RANGE
    for _ in range(int(rng.integers(FIGURE_COUNT_RANGE[0], FIGURE_COUNT_RANGE[1] + 1))):
        figure_height = float(np.exp(rng.uniform(np.log(smallest), np.log(max(largest * shorter, smallest)))))
        pelvis = rng.uniform([-0.1 * width, 0.0], [1.1 * width, 1.1 * height])  # some figures cut by the border
        joints = pose(rng, figure_height) + pelvis
        mask, full_area = figure_mask(joints, figure_height, width, height)
        if not mask.any():
            continue
        rows, columns = np.nonzero(mask)
        colour = _HARD.object_colour(rng, image[rows, columns].mean(axis=0), faint=not clean and rng.random() < 0.1)
        draw_figure(image, joints, figure_height, colour.tolist())
        for earlier in figures:
            earlier.mask &= ~mask
        figures.append(Figure(joints, full_area, mask))
    if rng.random() < 0.5:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 0.9))
    image += rng.standard_normal(image.shape, dtype=np.float32) * rng.uniform(2, 8)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), figures


def joint_visibility(figure: Figure, later: Sequence[Figure], width: int, height: int) -> np.ndarray:
    """(K,) int COCO visibility of each joint: 0 outside the image, 1 under a later figure, 2 visible."""
    visibility = np.zeros(len(JOINTS), np.int64)
    for index, (x, y) in enumerate(figure.joints):
        column, row = int(np.floor(x)), int(np.floor(y))
        if not (0 <= column < width and 0 <= row < height):
            continue
        covered = any(other.mask[row, column] for other in later)
        visibility[index] = 1 if covered else 2
    return visibility


def silhouette_area(mask: np.ndarray) -> float:
    """The area of the convex hull of a (H, W) bool mask's pixels (their squares, not their centres), in pixels:
    a stick figure's silhouette, the body its limbs span."""
    rows, columns = np.nonzero(mask)
    corners = np.concatenate([np.stack([columns + dx, rows + dy], 1) for dx in (0, 1) for dy in (0, 1)])
    return max(float(cv2.contourArea(cv2.convexHull(corners.astype(np.float32)))), float(mask.sum()))


def keypoint_annotation(annotation_id: int, image_id: int, figure: Figure, visibility: np.ndarray) -> dict:
    """COCO annotation of a figure: make_shapes.py's box and polygons of its visible mask, the area of its visible
    silhouette (`silhouette_area`), and its joints."""
    annotation = _SHAPES.coco_annotation(annotation_id, image_id, CATEGORY["id"], figure.mask)
    annotation["area"] = round(silhouette_area(figure.mask), 2)
    triplets = []
    for (x, y), v in zip(figure.joints, visibility, strict=True):
        triplets += [round(float(x) + 0.5, 2), round(float(y) + 0.5, 2), int(v)] if v else [0.0, 0.0, 0]
    annotation.update(keypoints=triplets, num_keypoints=int(np.count_nonzero(visibility)))
    return annotation


def _write_split(out_dir: str, split: str, count: int, rng: np.random.Generator, clean: bool = False) -> str:
    os.makedirs(os.path.join(out_dir, split), exist_ok=True)
    images, annotations = [], []
    for image_id in range(1, count + 1):
        width, height = (int(side) for side in rng.integers(_HARD.IMAGE_SIDE_RANGE[0], _HARD.IMAGE_SIDE_RANGE[1] + 1,
                                                            size=2))
        image, figures = render_scene(rng, width, height, clean)
        file_name = f"{image_id:06d}.jpg"
        cv2.imwrite(os.path.join(out_dir, split, file_name), image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
        for index, figure in enumerate(figures):
            visible = np.count_nonzero(figure.mask)
            visibility = joint_visibility(figure, figures[index + 1:], width, height)
            too_hidden = visible < MIN_VISIBLE_PIXELS or visible < MIN_VISIBLE_FRACTION * figure.full_area
            if too_hidden or not visibility.any():
                continue
            annotations.append(keypoint_annotation(len(annotations) + 1, image_id, figure, visibility))
    return _SHAPES.write_annotations(out_dir, split, images, annotations, [CATEGORY])


def make_keypoint_shapes(out_dir: str | os.PathLike, num_train: int, num_val: int, seed: int = 0,
                         clean: bool = False) -> dict[str, str]:
    """Write the keypoint dataset under `out_dir` (`clean`: the set without clutter, see the module docstring);
    returns {"train": json path, "val": json path}. Each split has its own random stream, so the validation set
    does not change with `num_train`."""
    out_dir = os.fspath(out_dir)
    return {"train": _write_split(out_dir, "train", num_train, np.random.default_rng([seed, 0]), clean),
            "val": _write_split(out_dir, "val", num_val, np.random.default_rng([seed, 1]), clean)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--train", type=int, default=600, help="number of training images")
    parser.add_argument("--val", type=int, default=150, help="number of validation images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clean", action="store_true", help="no clutter, no faint figures, none under 40 pixels")
    args = parser.parse_args(argv)
    paths = make_keypoint_shapes(args.out, args.train, args.val, args.seed, args.clean)
    print(f"wrote {args.train} training and {args.val} validation images: {paths['train']}, {paths['val']}")


if __name__ == "__main__":
    main()
