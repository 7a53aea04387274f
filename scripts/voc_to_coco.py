"""Convert Pascal VOC XML annotations to one COCO-format JSON file.

A VOC root holds Annotations/*.xml, JPEGImages/*.jpg and ImageSets/Main/{split}.txt. The 20 classes get
category ids 1..20 in the standard VOC order. Several roots can be merged (e.g. VOC2007 + VOC2012
trainval); image ids are numbered 1..N in list order.

Box convention: VOC boxes are 1-based inclusive pixel indices (xmin..xmax). Pixel index i (1-based) covers
[i - 1, i) in COCO's 0-based pixel-edge frame, so x = xmin - 1, width = xmax - xmin + 1 (same for y).

Objects marked `difficult` become iscrowd=1 annotations: not training targets, and ignore regions for
COCOeval, like VOC's own evaluation ignores them. `--drop-difficult` leaves them out instead.

`file_name` is relative to the image root: by default ROOT/JPEGImages for one root, or the roots' common
parent for several (then file names read VOC2007/JPEGImages/000005.jpg).

Usage:
    python scripts/voc_to_coco.py --voc-root VOCdevkit/VOC2007 --split test --out voc2007_test.json
"""

from __future__ import annotations

import argparse
import json
import os
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from typing import Any

from centernet.errors import DataError

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
CATEGORY_IDS = {name: index + 1 for index, name in enumerate(VOC_CLASSES)}


def read_split(voc_root: str, split: str) -> list[str]:
    """Image stems listed in ROOT/ImageSets/Main/{split}.txt."""
    path = os.path.join(voc_root, "ImageSets", "Main", f"{split}.txt")
    if not os.path.isfile(path):
        raise DataError(f"split file not found: {path}")
    with open(path, encoding="utf-8") as handle:
        return [line.split()[0] for line in handle if line.strip()]


def _number(element: ElementTree.Element, tag: str, xml_path: str) -> float:
    text = element.findtext(tag)
    try:
        return float(text)
    except (TypeError, ValueError) as error:
        raise DataError(f"missing or non-numeric <{tag}> in {xml_path}") from error


def parse_voc_xml(xml_path: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One VOC annotation file -> (image fields, object dicts with name, difficult and COCO bbox xywh)."""
    try:
        root = ElementTree.parse(xml_path).getroot()
    except (OSError, ElementTree.ParseError) as error:
        raise DataError(f"unreadable VOC annotation {xml_path}: {error}") from error
    size = root.find("size")
    if size is None:
        raise DataError(f"missing <size> in {xml_path}")
    image = {"width": int(_number(size, "width", xml_path)), "height": int(_number(size, "height", xml_path)),
             "file_name": root.findtext("filename")}
    objects = []
    for element in root.iter("object"):
        name = (element.findtext("name") or "").strip()
        if name not in CATEGORY_IDS:
            raise DataError(f"unknown VOC class {name!r} in {xml_path}")
        box = element.find("bndbox")
        if box is None:
            raise DataError(f"object without <bndbox> in {xml_path}")
        xmin, ymin, xmax, ymax = (_number(box, tag, xml_path) for tag in ("xmin", "ymin", "xmax", "ymax"))
        objects.append({
            "name": name,
            "difficult": (element.findtext("difficult") or "0").strip() == "1",
            "bbox": [xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1],
        })
    return image, objects


def voc_to_coco(
    voc_roots: Sequence[str | os.PathLike], split: str, image_root: str | os.PathLike | None = None,
    drop_difficult: bool = False,
) -> dict[str, Any]:
    """The COCO dict (images, annotations, categories) for `split` of each VOC root; see the module doc."""
    roots = [os.fspath(root) for root in voc_roots]
    if image_root is None:
        image_root = os.path.join(roots[0], "JPEGImages") if len(roots) == 1 else os.path.commonpath(roots)
    images, annotations = [], []
    for voc_root in roots:
        for stem in read_split(voc_root, split):
            image, objects = parse_voc_xml(os.path.join(voc_root, "Annotations", f"{stem}.xml"))
            image_id = len(images) + 1
            image_path = os.path.join(voc_root, "JPEGImages", image["file_name"] or f"{stem}.jpg")
            images.append({"id": image_id, "file_name": os.path.relpath(image_path, image_root).replace(os.sep, "/"),
                           "width": image["width"], "height": image["height"]})
            for voc_object in objects:
                if voc_object["difficult"] and drop_difficult:
                    continue
                width, height = voc_object["bbox"][2:]
                annotations.append({
                    "id": len(annotations) + 1, "image_id": image_id,
                    "category_id": CATEGORY_IDS[voc_object["name"]], "bbox": voc_object["bbox"],
                    "area": width * height, "iscrowd": int(voc_object["difficult"]),
                })
    categories = [{"id": CATEGORY_IDS[name], "name": name, "supercategory": "none"} for name in VOC_CLASSES]
    return {"images": images, "annotations": annotations, "categories": categories}


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voc-root", nargs="+", required=True, help="one or more VOC roots (e.g. VOC2007 VOC2012)")
    parser.add_argument("--split", required=True, help="ImageSets/Main split name: train, val, trainval, test")
    parser.add_argument("--out", required=True, help="output COCO json file")
    parser.add_argument("--image-root", default=None, help="folder that file_name is relative to")
    parser.add_argument("--drop-difficult", action="store_true", help="drop difficult objects (default: iscrowd=1)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    try:
        coco = voc_to_coco(args.voc_root, args.split, args.image_root, args.drop_difficult)
    except DataError as error:
        raise SystemExit(f"error: {error}") from None
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(coco, handle)
    print(f"wrote {len(coco['images'])} images, {len(coco['annotations'])} objects: {args.out}")


if __name__ == "__main__":
    main()
