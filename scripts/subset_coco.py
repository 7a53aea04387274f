"""Write a COCO annotation file restricted to some classes and (optionally) a range of its images: a "task" of a
data set, e.g. for the fine-tuning experiment (experiments/finetune.sh), where an "old" and a "new" task share one
class and no image.

    python scripts/subset_coco.py data/hard/annotations/train.json old_train.json \
        --classes ellipse rectangle triangle --images 0:450

Classes are named as in the file's categories (case-insensitive) and keep their category ids, so that
`centernet train --init-from` matches them by name across tasks. `--images START:END` keeps the images at those
positions in id order (Python slice syntax; default: all). Annotations of other classes are left out: their
objects become background, as in any data set that does not label them. The images themselves are not copied;
the output refers to the same image folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path


def subset_coco(dataset: dict, class_names: Sequence[str], images: slice = slice(None)) -> dict:
    """`dataset` (a COCO annotation dict) with only the categories named `class_names` and the images `images`
    (a slice over the images sorted by id), and the annotations of both. Raises ValueError naming unknown classes."""
    wanted = {name.casefold() for name in class_names}
    categories = [category for category in dataset["categories"] if str(category["name"]).casefold() in wanted]
    unknown = wanted - {str(category["name"]).casefold() for category in categories}
    if unknown:
        known = ", ".join(str(category["name"]) for category in dataset["categories"])
        raise ValueError(f"unknown classes {sorted(unknown)}; the file has {known}")
    kept_images = sorted(dataset["images"], key=lambda image: image["id"])[images]
    image_ids = {image["id"] for image in kept_images}
    category_ids = {category["id"] for category in categories}
    annotations = [annotation for annotation in dataset["annotations"]
                   if annotation["image_id"] in image_ids and annotation["category_id"] in category_ids]
    return {**dataset, "images": kept_images, "annotations": annotations, "categories": categories}


def parse_slice(text: str) -> slice:
    """"START:END" (either may be empty) -> slice(START, END)."""
    start, _, end = text.partition(":")
    return slice(int(start) if start else None, int(end) if end else None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="COCO annotation file")
    parser.add_argument("output", help="where to write the subset")
    parser.add_argument("--classes", nargs="+", required=True, help="class names to keep")
    parser.add_argument("--images", default=":", help="START:END positions of the images (sorted by id) to keep")
    args = parser.parse_args(argv)
    try:
        subset = subset_coco(json.loads(Path(args.input).read_text()), args.classes, parse_slice(args.images))
    except ValueError as error:
        print(f"{args.input}: {error}", file=sys.stderr)
        return 1
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(subset))
    names = ", ".join(str(category["name"]) for category in subset["categories"])
    print(f"wrote {args.output}: {len(subset['images'])} images, {len(subset['annotations'])} objects of {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
