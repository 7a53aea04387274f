"""Bad input gives a clear message naming the file and the problem, exit code 2, never a traceback."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from centernet.cli import main
from tests.test_train import train_args


@pytest.fixture()
def broken(shapes, tmp_path) -> Path:
    """A private copy of the shapes data that a test may damage."""
    copy = tmp_path / "data"
    shutil.copytree(shapes, copy)
    return copy


def edit_annotations(root: Path, edit) -> None:
    path = root / "annotations/train.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def run_failing(args, capsys) -> str:
    assert main(args) == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error
    return error


def test_every_annotation_problem_is_reported_at_once(broken, tmp_path, capsys):
    def damage(data):
        data["annotations"][0]["bbox"][2] = 0  # non-positive width
        data["annotations"][1]["bbox"] = [500.0, 500.0, 10.0, 10.0]  # outside a 64 px image
        data["annotations"][2]["category_id"] = 99  # unknown category
    edit_annotations(broken, damage)
    (broken / "train" / json.loads((broken / "annotations/train.json").read_text())["images"][3]["file_name"]).unlink()
    error = run_failing(train_args(broken, tmp_path / "run"), capsys)
    assert "train.json" in error
    for needle in ("non-positive", "outside", "99", "not found"):
        assert needle in error, (needle, error)


def test_unreadable_json_names_the_file(broken, tmp_path, capsys):
    (broken / "annotations/train.json").write_text("{not json")
    error = run_failing(train_args(broken, tmp_path / "run"), capsys)
    assert "train.json" in error and "json" in error.lower()


def test_a_corrupt_image_is_skipped_and_counted_or_fails_with_strict(broken, tmp_path, capsys):
    name = json.loads((broken / "annotations/train.json").read_text())["images"][0]["file_name"]
    (broken / "train" / name).write_bytes(b"\xff\xd8 definitely not a jpeg")
    assert main(train_args(broken, tmp_path / "lenient", epochs=1)) == 0
    assert "1 corrupt images skipped" in capsys.readouterr().err
    error = run_failing(train_args(broken, tmp_path / "strict", "--strict", epochs=1), capsys)
    assert name in error and "corrupt" in error


def evaluate_args(checkpoint: Path, shapes: Path, tmp_path: Path) -> list[str]:
    return ["evaluate", "--checkpoint", str(checkpoint), "--ann", str(shapes / "annotations/val.json"),
            "--images", str(shapes / "val"), "--out", str(tmp_path / "out.json"), "--workers", "0", "--device", "cpu"]


class Payload:
    """Something that is not plain data: loading it would mean unpickling arbitrary code."""


@pytest.mark.parametrize("kind", ["missing", "garbage", "pickled code", "not a checkpoint"])
def test_bad_checkpoints_give_one_line(kind, shapes, tmp_path, capsys):
    path = tmp_path / "model.pt"
    if kind == "garbage":
        path.write_bytes(b"\x00\x01 random bytes")
    elif kind == "pickled code":
        torch.save({"model": Payload(), "config": {}, "class_names": [], "category_ids": []}, path)
    elif kind == "not a checkpoint":
        torch.save({"weights": torch.zeros(3)}, path)
    error = run_failing(evaluate_args(path, shapes, tmp_path), capsys)
    assert str(path) in error and len(error.strip().splitlines()) == 1
    expected = {"missing": "not found", "garbage": "cannot read", "pickled code": "run code",
                "not a checkpoint": "not a centernet checkpoint"}[kind]
    assert expected in error


def test_weights_of_another_architecture_are_a_clear_error(shapes, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_args(shapes, out, epochs=1)) == 0
    state = torch.load(out / "last.pt", weights_only=True)
    state["config"]["model"]["arch"] = "resnet34"
    torch.save(state, out / "mismatch.pt")
    capsys.readouterr()
    error = run_failing(evaluate_args(out / "mismatch.pt", shapes, tmp_path), capsys)
    assert "resnet34" in error and "mismatch.pt" in error
