"""The Python API (`centernet.Detector`, `centernet.train`) and the run directories of `centernet train`: a used
--out is refused, --resume RUN needs no other option, --config starts from a saved config."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import centernet
from centernet.cli import main


@pytest.fixture(scope="module")
def wide_image(shapes, tmp_path_factory) -> tuple[Path, Path]:
    """A non-square image (a training image of `shapes` padded on the right to 96 x 64: at input size 96 x 64 the
    letterbox keeps its scale and place, so the objects look as the detector learned them) and a COCO annotation
    file of it alone: (image path, annotation path)."""
    coco = json.loads((shapes / "annotations/train.json").read_text())
    info = coco["images"][6]
    image = cv2.imread(str(shapes / "train" / info["file_name"]))
    wide = np.concatenate([image, np.full((image.shape[0], 32, 3), 127, np.uint8)], axis=1)
    folder = tmp_path_factory.mktemp("wide")
    cv2.imwrite(str(folder / "wide.png"), wide)
    data = {"images": [{**info, "file_name": "wide.png", "width": wide.shape[1]}], "categories": coco["categories"],
            "annotations": [annotation for annotation in coco["annotations"] if annotation["image_id"] == info["id"]]}
    (folder / "wide.json").write_text(json.dumps(data))
    return folder / "wide.png", folder / "wide.json"


@pytest.fixture(scope="module")
def detector(trained_shapes):
    return centernet.Detector(trained_shapes / "best.pt", device="cpu", input_size=(96, 64))


def test_the_detector_finds_what_evaluate_writes_above_its_threshold(detector, trained_shapes, wide_image, tmp_path):
    image_path, annotations = wide_image
    result = detector(image_path)
    assert detector.score_threshold == centernet.api.DEFAULT_SCORE_THRESHOLD == 0.3
    assert len(result) and result.scores.max() >= 0.5 and (result.scores >= 0.3).all()
    assert detector.class_names == ["circle", "square", "triangle"]
    assert result.names == [detector.class_names[label] for label in result.classes]
    assert main(["evaluate", "--checkpoint", str(trained_shapes / "best.pt"), "--ann", str(annotations),
                 "--images", str(image_path.parent), "--out", str(tmp_path / "found.json"), "--device", "cpu",
                 "--score-threshold", "0.3", "--input-size", "96", "64"]) == 0
    found = json.loads((tmp_path / "found.json").read_text())
    assert len(found) == len(result)
    names = {category["id"]: category["name"] for category in
             json.loads(annotations.read_text())["categories"]}
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (record["bbox"] for record in found)])
    np.testing.assert_allclose(result.boxes, boxes, atol=1.0)
    np.testing.assert_allclose(result.scores, [record["score"] for record in found], atol=1e-4)
    assert result.names == [names[record["category_id"]] for record in found]
    assert result.boxes[:, 2].max() <= 96 and result.image.shape == (64, 96, 3)


def test_every_kind_of_input_gives_the_same_detections(detector, wide_image):
    image_path, _ = wide_image
    expected = detector(image_path)
    bgr = cv2.imread(str(image_path))
    for other in (detector(bgr, bgr=True), detector(bgr[:, :, ::-1].copy()), detector(Image.open(image_path)),
                  detector(str(image_path))):
        np.testing.assert_allclose(other.boxes, expected.boxes, atol=1e-4)
        assert other.names == expected.names
    swapped = detector(bgr)  # a BGR array taken as RGB: other colours, other scores
    assert not np.array_equal(swapped.scores, expected.scores)
    several = detector([image_path, bgr[:, :, ::-1].copy()])
    assert isinstance(several, list) and len(several) == 2
    for other in several:
        np.testing.assert_allclose(other.boxes, expected.boxes, atol=1e-4)


def test_plot_and_save_draw_the_detections_on_a_copy_of_the_image(detector, wide_image, tmp_path):
    result = detector(wide_image[0])
    drawn = result.plot()
    assert drawn.shape == result.image.shape and drawn.dtype == np.uint8
    assert (drawn != result.image).any() and result.plot() is not result.image
    saved = result.save(tmp_path / "out" / "annotated.png")
    np.testing.assert_array_equal(cv2.imread(str(saved))[:, :, ::-1], drawn)
    assert result.keypoints is None and result.extreme_points is None  # the detect task has no extra fields
    with pytest.raises(AttributeError):
        result.nothing_of_the_kind  # noqa: B018


def test_an_unreadable_image_is_one_clear_error(detector, tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(centernet.api.CenterNetError, match="broken.jpg: not an image"):
        detector(tmp_path / "broken.jpg")
    with pytest.raises(centernet.api.CenterNetError, match="uint8"):
        detector(np.zeros((8, 8, 3), np.float32))


# --- training from Python and run directories ---------------------------------------------------------------------

def train_options(shapes: Path, out: Path) -> list[str]:
    return ["train", "--train-ann", str(shapes / "annotations/train.json"), "--train-images", str(shapes / "train"),
            "--out", str(out), "--input-size", "64", "--epochs", "1", "--batch-size", "8", "--workers", "0",
            "--device", "cpu", "--warmup-iters", "1"]


def test_train_from_python_takes_the_clis_options(shapes, tmp_path):
    metrics = centernet.train(train_ann=shapes / "annotations/train.json", train_images=shapes / "train",
                              val_ann=shapes / "annotations/val.json", val_images=shapes / "val", out=tmp_path / "run",
                              input_size=64, epochs=1, batch_size=8, workers=0, device="cpu", ema=False,
                              warmup_iters=1)
    assert "AP" in metrics and (tmp_path / "run/last.pt").is_file()
    assert json.loads((tmp_path / "run/config.json").read_text())["train"]["ema"] is False
    with pytest.raises(centernet.api.CenterNetError, match="not centernet train's"):
        centernet.train(out=tmp_path / "other", no_such_option=3)


def hashes(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_training_into_a_used_run_directory_is_refused_and_changes_nothing(ema_run, shapes, capsys):
    before = hashes(ema_run)
    assert main(train_options(shapes, ema_run)) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == [f"centernet train: error: {ema_run} holds a run already (its files stay as they are): "
                      f"continue it with --resume {ema_run}, or train into another --out"]
    assert hashes(ema_run) == before


def test_resume_with_the_run_alone_continues_it_and_can_extend_it(ema_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(ema_run, run)
    assert main(["train", "--resume", str(run / "last.pt"), "--epochs", "2", "--workers", "0"]) == 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in records] == [1, 2]
    assert "--resume: 2 epochs where the run had 1; the cosine schedule is re-stretched" in capsys.readouterr().err
    saved = json.loads((run / "config.json").read_text())
    assert saved["train"]["epochs"] == 2 and saved["train"]["ema_ramp"] == 2.0  # the run's recipe, not the defaults
    assert main(["train", "--resume", str(run), "--epochs", "2", "--lr", "0.5"]) == 2  # a different recipe
    assert "--lr: now 0.5, saved 0.001" in capsys.readouterr().err


def test_resume_without_a_last_checkpoint_is_an_error_not_a_fresh_start(shapes, tmp_path, capsys):
    assert main([*train_options(shapes, tmp_path / "new"), "--resume"]) == 2
    assert f"{tmp_path / 'new' / 'last.pt'}: no checkpoint to resume" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    assert main(["train", "--epochs", "1"]) == 2
    assert "needs --out RUN_DIR" in capsys.readouterr().err


def test_a_saved_config_is_the_starting_point_of_a_new_run(ema_run, tmp_path):
    assert main(["train", "--config", str(ema_run / "config.json"), "--out", str(tmp_path / "again"),
                 "--epochs", "1", "--workers", "0", "--batch-size", "8"]) == 0
    old, new = (json.loads((folder / "config.json").read_text()) for folder in (ema_run, tmp_path / "again"))
    assert new["train"]["out"] == str(tmp_path / "again") and new["train"]["batch_size"] == 8
    for section in ("model", "data", "loss", "inference"):
        assert {key: value for key, value in new[section].items() if key != "workers"} == {
            key: value for key, value in old[section].items() if key != "workers"}, section
    assert {key: value for key, value in new["train"].items() if key not in {"out", "batch_size"}} == {
        key: value for key, value in old["train"].items() if key not in {"out", "batch_size"}}


def test_the_readmes_python_snippet_runs_as_written(trained_shapes, shapes, tmp_path, monkeypatch, capsys):
    from tests.conftest import ROOT

    snippet = (ROOT / "README.md").read_text().split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "runs/mine").mkdir(parents=True)
    shutil.copy(trained_shapes / "best.pt", tmp_path / "runs/mine/best.pt")
    image = sorted((shapes / "train").iterdir())[6]
    cv2.imwrite(str(tmp_path / "photo.jpg"), cv2.imread(str(image)))
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, "README.md", "exec"), {})  # noqa: S102
    assert cv2.imread(str(tmp_path / "annotated.jpg")).shape == (64, 64, 3)
    assert "[" in capsys.readouterr().out  # it printed the names, scores and boxes


def test_the_readmes_first_screen_shows_before_it_tells():
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    first_screen = readme[:readme.index("## What is different")]
    for item in ("](docs/hard_detections.png)", "](docs/ablation/map_vs_seconds.png)",
                 "| | centernet (this) | original CenterNet | mmdetection's CenterNet | TTFNet |",
                 "bash experiments/quickstart.sh", "bash scripts/run_tests.sh", "from centernet import Detector"):
        assert item in first_screen, item
    for page in ("training", "tasks", "deployment", "results", "performance", "development"):
        assert f"](docs/{page}.md)" in readme and (ROOT / "docs" / f"{page}.md").is_file(), page


def test_the_version_is_written_once_and_printed(capsys):
    from tests.conftest import ROOT

    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"centernet {centernet.__version__}"
    assert "version = attr: centernet.__version__" in (ROOT / "setup.cfg").read_text()
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_each_epoch_leaves_one_line_with_its_losses_lr_seconds_eta_and_ap():
    from centernet.engine.evaluate import Evaluation
    from centernet.engine.logger import epoch_line, format_duration

    assert [format_duration(seconds) for seconds in (12.4, 247, 11_100)] == ["12 s", "4 min 07 s", "3 h 05 min"]
    losses = {"loss": 2.5, "heatmap_loss": 1.25, "box_loss": 0.25}
    assert epoch_line(3, 15, losses, 3.2e-3, 18.64, 247, None) == (
        "epoch 3/15: loss 2.500 (heatmap 1.250, box 0.250), lr 3.20e-03, 18.6 s, ETA 4 min 07 s")
    evaluated = Evaluation({"AP": 0.05, "AP50": None}, {}, [], losses={"loss": 2.75})
    assert epoch_line(5, 15, losses, 1e-3, 18.0, 180, evaluated).endswith("; AP 0.0500, AP50 -, val loss 2.7500")
