"""Convert YOLO txt labels (and their class names) to one COCO-format JSON file.

YOLO keeps one text file per image, with the image's stem, in a labels folder (by default the images folder with
its last `images` component replaced by `labels`, as ultralytics lays them out). Each line is one object:
`class x_centre y_centre width height`, the class a 0-based index and the box normalised to [0, 1] by the image's
width and height; a segmentation line is `class x1 y1 x2 y2 ...` (a normalised polygon, at least 3 points), which
becomes the annotation's polygon and the box around it. An image without a label file has no objects.

Class names: `--names` is a text file of one name per line, or a data.yaml whose `names:` is a list (`[a, b]`, or
`- a` lines) or a mapping (`0: a` lines); category ids are 1..N in that order.

Frames: a normalised coordinate u of an image W pixels wide is the COCO coordinate u * W (COCO's continuous
pixel-edge frame, the one YOLO normalises). Boxes are clipped to the image; a coordinate more than 1% outside
[0, 1], an unknown class index or a malformed line is an error naming the file and line, as are unreadable images.

Usage:
    python scripts/yolo_to_coco.py --images data/mine/images/train --names data/mine/data.yaml --out train.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from centernet.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
TOLERANCE = 0.01  # normalised coordinates this far outside [0, 1] are clipped; farther is an error


def read_names(path: str | os.PathLike) -> list[str]:
    """Class names from a text file (one per line) or a data.yaml's `names:` (a flow list, `- name` lines or
    `index: name` lines)."""
    text = Path(path).read_text(encoding="utf-8")
    if Path(path).suffix.lower() not in (".yaml", ".yml"):
        return [line.strip() for line in text.splitlines() if line.strip()]
    match = re.search(r"^names:[ \t]*(.*)$", text, flags=re.M)
    if match is None:
        raise DataError(f"{path}: no `names:` entry")
    inline = match.group(1).strip()
    if inline.startswith("["):
        return [name.strip().strip("'\"") for name in inline.strip("[]").split(",") if name.strip()]
    names: dict[int, str] = {}
    for line in text[match.end():].splitlines():
        if line and not line[0].isspace():
            break  # the next top-level key
        item = line.strip()
        if item.startswith("- "):
            names[len(names)] = item[2:].strip().strip("'\"")
        elif re.match(r"^\d+\s*:", item):
            index, name = item.split(":", 1)
            names[int(index)] = name.strip().strip("'\"")
    if not names or sorted(names) != list(range(len(names))):
        raise DataError(f"{path}: `names:` is not a list of names or a mapping 0..N-1 -> name")
    return [names[index] for index in range(len(names))]


def default_labels_folder(images: Path) -> Path:
    """YOLO's convention: the last `images` component of the path becomes `labels`."""
    parts = list(images.parts)
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] == "images":
            parts[index] = "labels"
            return Path(*parts)
    return images.parent / "labels"


def _coordinate(value: str, label_file: Path, line_number: int) -> float:
    try:
        number = float(value)
    except ValueError:
        raise DataError(f"{label_file}:{line_number}: {value!r} is not a number") from None
    if not -TOLERANCE <= number <= 1 + TOLERANCE:
        raise DataError(f"{label_file}:{line_number}: coordinate {number} is outside [0, 1] (YOLO labels are "
                        "normalised by the image size)")
    return min(max(number, 0.0), 1.0)


def parse_label_line(line: str, label_file: Path, line_number: int, num_classes: int, width: int,
                     height: int) -> dict[str, Any]:
    """One label line -> {"category_id" (1-based), "bbox" [x, y, w, h] in pixels, "segmentation" or none}."""
    fields = line.split()
    if len(fields) != 5 and (len(fields) < 7 or len(fields) % 2 == 0):
        raise DataError(f"{label_file}:{line_number}: expected `class x y w h` or `class x1 y1 x2 y2 x3 y3 ...`, got "
                        f"{len(fields)} values")
    if not fields[0].isdigit() or int(fields[0]) >= num_classes:
        raise DataError(f"{label_file}:{line_number}: class {fields[0]!r} is not an index of the {num_classes} names")
    values = [_coordinate(value, label_file, line_number) for value in fields[1:]]
    record: dict[str, Any] = {"category_id": int(fields[0]) + 1}
    if len(fields) == 5:
        x_centre, y_centre, box_width, box_height = values
        x1, y1 = max(x_centre - box_width / 2, 0.0) * width, max(y_centre - box_height / 2, 0.0) * height
        x2, y2 = min(x_centre + box_width / 2, 1.0) * width, min(y_centre + box_height / 2, 1.0) * height
    else:
        xs, ys = [x * width for x in values[0::2]], [y * height for y in values[1::2]]
        record["segmentation"] = [[round(value, 2) for point in zip(xs, ys, strict=True) for value in point]]
        x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
    record["bbox"] = [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]
    return record


def yolo_to_coco(images: str | os.PathLike, names: Sequence[str], labels: str | os.PathLike | None = None,
                 image_root: str | os.PathLike | None = None) -> dict[str, Any]:
    """The COCO dict of every image under `images` (sorted by path; `file_name` relative to `image_root`, by default
    `images`) with the objects of its label file in `labels` (default: `default_labels_folder`)."""
    images, names = Path(images), list(names)
    if not images.is_dir():
        raise DataError(f"images folder not found: {images}")
    labels = Path(labels) if labels is not None else default_labels_folder(images)
    root = Path(image_root) if image_root is not None else images
    coco: dict[str, Any] = {"images": [], "annotations": [],
                            "categories": [{"id": index + 1, "name": name, "supercategory": "none"}
                                           for index, name in enumerate(names)]}
    paths = sorted(path for path in images.rglob("*") if path.suffix.lower() in IMAGE_SUFFIXES)
    for path in paths:
        try:
            with Image.open(path) as image:
                width, height = image.size  # the header only
        except (OSError, UnidentifiedImageError) as error:
            raise DataError(f"{path}: unreadable image ({error})") from None
        image_id = len(coco["images"]) + 1
        coco["images"].append({"id": image_id, "file_name": path.relative_to(root).as_posix(), "width": width,
                               "height": height})
        label_file = (labels / path.relative_to(images)).with_suffix(".txt")
        if not label_file.is_file():
            continue
        for line_number, line in enumerate(label_file.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            record = parse_label_line(line, label_file, line_number, len(names), width, height)
            box_width, box_height = record["bbox"][2:]
            if box_width <= 0 or box_height <= 0:
                raise DataError(f"{label_file}:{line_number}: the object has no area inside the image")
            coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": image_id, **record,
                                        "area": round(box_width * box_height, 2), "iscrowd": 0})
    if not paths:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {images}")
    return coco


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", required=True, help="folder of the images (searched recursively)")
    parser.add_argument("--labels", help="folder of the YOLO label files (default: the images folder with its "
                                         "`images` component replaced by `labels`)")
    parser.add_argument("--names", required=True, help="class names: a text file (one per line) or a data.yaml")
    parser.add_argument("--out", required=True, help="output COCO json file")
    parser.add_argument("--image-root", help="folder that file_name is relative to (default: --images)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    try:
        coco = yolo_to_coco(args.images, read_names(args.names), args.labels, args.image_root)
    except (DataError, OSError) as error:
        raise SystemExit(f"error: {error}") from None
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(coco, handle)
    print(f"wrote {len(coco['images'])} images, {len(coco['annotations'])} objects, {len(coco['categories'])} "
          f"classes: {args.out}")


if __name__ == "__main__":
    main()
