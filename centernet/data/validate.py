"""Checking a COCO-format dataset before training, reporting every problem at once.

Problems are plain strings, each naming the file it concerns (the annotation file, or an image file).
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from centernet.errors import DataError

REQUIRED_KEYS = ("images", "annotations", "categories")
BORDER_TOLERANCE = 1.0  # pixels a box may extend past the image border (rounding in annotation tools)
MAX_LISTED_PROBLEMS = 50


def load_coco_json(ann_file: str | os.PathLike) -> dict[str, Any]:
    """Read a COCO annotation file with the json module, so that bad files give a DataError naming the file.

    Raises:
        DataError: missing file, invalid JSON, not an object, or a missing / non-list required key.
    """
    ann_file = os.fspath(ann_file)
    if not os.path.isfile(ann_file):
        raise DataError(f"annotation file not found: {ann_file}")
    try:
        with open(ann_file, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"unreadable or invalid JSON in {ann_file}: {error}") from error
    if not isinstance(data, dict):
        raise DataError(f"{ann_file}: expected a JSON object with keys {list(REQUIRED_KEYS)}")
    missing = [key for key in REQUIRED_KEYS if not isinstance(data.get(key), list)]
    if missing:
        raise DataError(f"{ann_file}: missing or non-list required keys {missing}")
    return data


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_images(data: dict[str, Any], ann_file: str, image_dir: str) -> tuple[dict[int, dict], list[str]]:
    """Image entries need an id, a file name and a positive size, and the file must exist."""
    images: dict[int, dict] = {}
    problems = []
    for index, image in enumerate(data["images"]):
        if not isinstance(image, dict) or "id" not in image or not isinstance(image.get("file_name"), str):
            problems.append(f"{ann_file}: images[{index}] needs an 'id' and a 'file_name'")
            continue
        if image["id"] in images:
            problems.append(f"{ann_file}: duplicate image id {image['id']} ({image['file_name']})")
        path = os.path.join(image_dir, image["file_name"])
        width, height = image.get("width"), image.get("height")
        if not (_is_number(width) and _is_number(height) and width > 0 and height > 0):
            problems.append(f"{path}: image {image['id']} needs a positive 'width' and 'height' in {ann_file}")
        if not os.path.isfile(path):
            problems.append(f"image not found: {path}")
        images[image["id"]] = image
    return images, problems


def _box_problem(bbox: Any, image: dict) -> str | None:
    """Why a COCO xywh box is invalid for its image, or None when it is fine."""
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(value) for value in bbox)):
        return f"bbox must be 4 finite numbers [x, y, width, height], got {bbox!r}"
    x, y, width, height = bbox
    if width <= 0 or height <= 0:
        return f"bbox {bbox} has non-positive width or height"
    image_width, image_height = image.get("width"), image.get("height")
    if not (_is_number(image_width) and _is_number(image_height)):
        return None  # the image entry itself is already reported
    if x >= image_width or y >= image_height or x + width <= 0 or y + height <= 0:
        return f"bbox {bbox} lies entirely outside its {image_width}x{image_height} image"
    tolerance = BORDER_TOLERANCE
    if x < -tolerance or y < -tolerance or x + width > image_width + tolerance or y + height > image_height + tolerance:
        return f"bbox {bbox} extends more than {tolerance:g} pixel outside its {image_width}x{image_height} image"
    return None


def _check_annotations(data: dict[str, Any], ann_file: str, images: dict[int, dict]) -> list[str]:
    """Annotations need a known image, a known category and a valid box."""
    category_ids = {category.get("id") for category in data["categories"] if isinstance(category, dict)}
    problems = []
    for index, annotation in enumerate(data["annotations"]):
        if not isinstance(annotation, dict):
            problems.append(f"{ann_file}: annotations[{index}] is not an object")
            continue
        name = f"annotation {annotation.get('id', f'#{index}')}"
        image = images.get(annotation.get("image_id"))
        if image is None:
            problems.append(f"{ann_file}: {name} points at unknown image id {annotation.get('image_id')!r}")
            continue
        where = f"{image['file_name']} ({ann_file})"
        if annotation.get("category_id") not in category_ids:
            problems.append(f"{where}: {name} has unknown category id {annotation.get('category_id')!r}")
        box_problem = _box_problem(annotation.get("bbox"), image)
        if box_problem is not None:
            problems.append(f"{where}: {name} {box_problem}")
    return problems


def _check_categories(data: dict[str, Any], ann_file: str) -> list[str]:
    problems = []
    seen = set()
    for index, category in enumerate(data["categories"]):
        if not isinstance(category, dict) or not isinstance(category.get("id"), int) or "name" not in category:
            problems.append(f"{ann_file}: categories[{index}] needs an integer 'id' and a 'name'")
        elif category["id"] in seen:
            problems.append(f"{ann_file}: duplicate category id {category['id']}")
        else:
            seen.add(category["id"])
    if not data["categories"]:
        problems.append(f"{ann_file}: no categories")
    return problems


def validate_coco(ann_file: str | os.PathLike, image_dir: str | os.PathLike) -> list[str]:
    """Every problem found in a COCO annotation file and its image folder; empty when the dataset is fine.

    Checks: readable JSON with "images", "annotations" and "categories"; image entries and files on disk;
    annotations with unknown image or category ids; boxes (COCO xywh, original pixels) with non-positive
    size, or lying outside the image by more than 1 pixel. Image contents are not decoded.
    """
    ann_file, image_dir = os.fspath(ann_file), os.fspath(image_dir)
    try:
        data = load_coco_json(ann_file)
    except DataError as error:
        return [str(error)]
    problems = _check_categories(data, ann_file)
    images, image_problems = _check_images(data, ann_file, image_dir)
    problems += image_problems
    problems += _check_annotations(data, ann_file, images)
    return problems


def check_coco(ann_file: str | os.PathLike, image_dir: str | os.PathLike) -> None:
    """Raise a DataError listing all problems of `validate_coco` (at most 50 lines, then a count)."""
    problems = validate_coco(ann_file, image_dir)
    if not problems:
        return
    lines = [f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {os.fspath(ann_file)}:"]
    lines += [f"  {problem}" for problem in problems[:MAX_LISTED_PROBLEMS]]
    if len(problems) > MAX_LISTED_PROBLEMS:
        lines.append(f"  ... and {len(problems) - MAX_LISTED_PROBLEMS} more")
    raise DataError("\n".join(lines))
