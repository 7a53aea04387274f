"""scripts/yolo_to_coco.py: YOLO txt labels of a hand-made case become the COCO boxes, polygons and classes they
mean, and bad labels are one line naming the file and line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from centernet.data.validate import check_coco
from centernet.errors import DataError
from tests.conftest import load_script

yolo = load_script("yolo_to_coco")


@pytest.fixture
def dataset(tmp_path):
    images, labels = tmp_path / "mine/images/train", tmp_path / "mine/labels/train"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    Image.fromarray(np.zeros((50, 100, 3), np.uint8)).save(images / "a.jpg")  # 100 wide, 50 high
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(images / "b.png")  # no label file: background only
    # a box centred at (25, 20) px, 20 x 10 px; a triangle polygon of class 1
    (labels / "a.txt").write_text("0 0.25 0.4 0.2 0.2\n\n1 0.5 0.2 0.7 0.8 0.6 0.4\n")
    (tmp_path / "mine/data.yaml").write_text("path: mine\ntrain: images/train\nnames:\n  0: cat\n  1: dog\nnc: 2\n")
    return tmp_path / "mine"


def test_boxes_and_polygons_become_coco_pixels_and_classes(dataset, tmp_path):
    names = yolo.read_names(dataset / "data.yaml")
    assert names == ["cat", "dog"]
    yolo.main(["--images", str(dataset / "images/train"), "--names", str(dataset / "data.yaml"), "--out",
               str(tmp_path / "train.json")])
    coco = json.loads((tmp_path / "train.json").read_text())
    assert [(image["file_name"], image["width"], image["height"]) for image in coco["images"]] == [
        ("a.jpg", 100, 50), ("b.png", 40, 40)]
    box, triangle = coco["annotations"]
    assert (box["category_id"], box["bbox"], box["area"]) == (1, [15.0, 15.0, 20.0, 10.0], 200.0)
    assert triangle["category_id"] == 2 and triangle["segmentation"] == [[50.0, 10.0, 70.0, 40.0, 60.0, 20.0]]
    assert triangle["bbox"] == [50.0, 10.0, 20.0, 30.0]
    assert [category["name"] for category in coco["categories"]] == ["cat", "dog"]
    check_coco(tmp_path / "train.json", dataset / "images/train")  # what centernet train checks first


def test_the_names_come_as_text_files_and_yaml_lists(tmp_path):
    (tmp_path / "classes.txt").write_text("cat\ndog\n\n")
    (tmp_path / "flow.yaml").write_text("names: ['cat', dog]\n")
    (tmp_path / "block.yml").write_text("names:\n  - cat\n  - dog\nval: x\n")
    for name in ("classes.txt", "flow.yaml", "block.yml"):
        assert yolo.read_names(tmp_path / name) == ["cat", "dog"], name


@pytest.mark.parametrize(("line", "problem"), [("2 0.5 0.5 0.1 0.1", "class '2' is not an index of the 2 names"),
                                               ("0 0.5 0.5 0.1", "expected `class x y w h`"),
                                               ("0 0.5 1.5 0.1 0.1", "coordinate 1.5 is outside [0, 1]"),
                                               ("0 0.5 abc 0.1 0.1", "'abc' is not a number")])
def test_a_bad_label_line_is_an_error_naming_its_file_and_line(dataset, line, problem):
    (dataset / "labels/train/a.txt").write_text(f"0 0.5 0.5 0.1 0.1\n{line}\n")
    with pytest.raises(DataError, match=r"a\.txt:2: ") as error:
        yolo.yolo_to_coco(dataset / "images/train", ["cat", "dog"])
    assert problem in str(error.value)
