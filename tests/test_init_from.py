"""--init-from: a trained detector (ours, or an original CenterNet checkpoint converted with --classes) starts a run
on a data set with other classes: matching weights load, heatmap rows of shared class names move to their new
places, new classes start from the prior, the fates are reported; a different architecture is a one-line error."""

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from centernet.checkpoint import load_checkpoint, save_checkpoint
from centernet.cli import main
from centernet.config import Config, DataConfig, ModelConfig, TrainConfig, config_to_dict, reference_neck_channels
from centernet.data.coco import CocoDataset
from centernet.engine.evaluate import evaluate
from centernet.engine.init_from import class_fates, initialise_from
from centernet.engine.train import build_state, load_datasets
from centernet.errors import CheckpointError
from centernet.model.heads import CenterNetHeads
from centernet.predictor import Predictor
from centernet.tasks import build_model
from tests.conftest import load_script
from tests.test_backbones import reference_name

PRIOR_BIAS = -math.log((1 - 0.1) / 0.1)  # -2.19
# the heatmap head's output layer: conv, BatchNorm, ReLU, conv by default; conv, ReLU, conv in the reference's layout
HEATMAP_WEIGHT, HEATMAP_BIAS = "heads.heatmap.3.weight", "heads.heatmap.3.bias"
REFERENCE_HEATMAP_WEIGHT, REFERENCE_HEATMAP_BIAS = "heads.heatmap.2.weight", "heads.heatmap.2.bias"
# the new task: square (kept, in capitals), triangle replaced by a new class, circle (kept) moved to the end
NEW_CATEGORIES = [{"id": 3, "name": "SQUARE"}, {"id": 5, "name": "wedge"}, {"id": 50, "name": "Circle"}]
OLD_TO_NEW_IDS = {3: 3, 7: 5, 1: 50}  # old index: circle 0, square 1, triangle 2 -> new: SQUARE 0, wedge 1, Circle 2


@pytest.fixture(scope="module")
def new_task(shapes, tmp_path_factory) -> Path:
    """The shapes training images with the new task's categories (the triangles become wedges, a new class)."""
    annotations = json.loads((shapes / "annotations/train.json").read_text())
    annotations["categories"] = NEW_CATEGORIES
    for annotation in annotations["annotations"]:
        annotation["category_id"] = OLD_TO_NEW_IDS[annotation["category_id"]]
    path = tmp_path_factory.mktemp("new_task") / "train.json"
    path.write_text(json.dumps(annotations))
    return path


def fine_tune_state(shapes: Path, ann: Path, out: Path, init_from: Path, **model_options):
    """The train state (and training set) of a run on `ann` that starts from `init_from`, before any step."""
    data = DataConfig(train_ann=str(ann), train_images=str(shapes / "train"), input_size=64, workers=0)
    config = Config(model=ModelConfig(**model_options), data=data,
                    train=TrainConfig(out=str(out), batch_size=4, device="cpu", init_from=str(init_from)))
    train_set, _ = load_datasets(config)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, num_classes=train_set.num_classes))
    return build_state(config, train_set, 0, 0, 1), train_set


def test_class_fates_match_names_case_insensitively():
    assert class_fates(["SQUARE", "wedge", "Circle"], ["circle", "square", "triangle"]) == [1, None, 0]
    assert class_fates(["a"], ["A", "a"]) == [0]  # the first of two equal names


def test_fine_tuning_carries_the_shared_classes_and_starts_the_new_one_from_the_prior(trained_shapes, shapes,
                                                                                     new_task, tmp_path, capsys):
    old_metrics = json.loads((trained_shapes / "metrics.jsonl").read_text().splitlines()[-1])
    old_ap = old_metrics["per_class_ap"]
    assert old_ap["circle"] > 0.1 and old_ap["square"] > 0.05, f"the detector to fine-tune is untrained: {old_ap}"
    state, train_set = fine_tune_state(shapes, new_task, tmp_path, trained_shapes / "best.pt")
    printed = capsys.readouterr().out
    # the weights: what Predictor.from_file would run (best.pt holds the averaged ones), rows moved by class name
    old = load_checkpoint(trained_shapes / "best.pt")["model"]
    new = state.inference_model.state_dict()
    for name, tensor in new.items():
        if name not in (HEATMAP_WEIGHT, HEATMAP_BIAS):
            torch.testing.assert_close(tensor, old[name], rtol=0, atol=0, msg=name)
    for name in (HEATMAP_WEIGHT, HEATMAP_BIAS):
        torch.testing.assert_close(new[name][[0, 2]], old[name][[1, 0]], rtol=0, atol=0)
    assert float(new[HEATMAP_BIAS][1]) == pytest.approx(PRIOR_BIAS, abs=1e-4)  # wedge: the prior
    total = len(new)
    assert (f"loaded {total - 2} tensors, remapped 2 (heatmap rows of 2 of 3 classes carried over), initialised 0 "
            f"tensors and 1 new class from the prior; 0 checkpoint tensors unused") in printed
    assert "SQUARE  carried over from old index 1 (square)" in printed
    assert "wedge   new: heatmap from the prior" in printed
    assert "Circle  carried over from old index 0 (circle)" in printed
    assert state.epoch == 0 and state.step == 0 and not state.optimizer.state  # fresh, unlike --resume
    # evaluated right after loading (epoch 0, no step): the carried classes detect as before, the new one does not
    predictor = Predictor(state.inference_model, state.config, train_set.class_names, state.device,
                          category_ids=train_set.category_ids)
    result = evaluate(predictor, CocoDataset(new_task, shapes / "train", 64, train=False), batch_size=4,
                      progress=False)
    ap = result.per_class_ap
    assert ap["Circle"] > 0.5 * old_ap["circle"] and ap["SQUARE"] > 0.5 * old_ap["square"], (ap, old_ap)
    assert ap["Circle"] > 0.1 and ap["SQUARE"] > 0.05
    # the new class has only the prior's bias and untrained weights: chance hits, far below the carried classes
    assert ap["wedge"] < 0.25 * min(ap["Circle"], ap["SQUARE"]), ap


def test_init_from_through_the_cli_reports_each_class_and_trains(trained_shapes, shapes, new_task, tmp_path, capsys):
    out = tmp_path / "fine_tuned"
    assert main(["train", "--train-ann", str(new_task), "--train-images", str(shapes / "train"), "--out", str(out),
                 "--init-from", str(trained_shapes / "best.pt"), "--input-size", "64", "--epochs", "1",
                 "--batch-size", "4", "--workers", "0", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert f"init-from {trained_shapes / 'best.pt'}: loaded" in printed
    assert "wedge   new: heatmap from the prior" in printed
    saved = load_checkpoint(out / "last.pt")
    assert saved["epoch"] == 1 and saved["class_names"] == ["SQUARE", "wedge", "Circle"]
    assert json.loads((out / "config.json").read_text())["train"]["init_from"] == str(trained_shapes / "best.pt")


def test_another_architecture_or_box_head_is_a_one_line_error(trained_shapes, shapes, new_task, tmp_path, capsys):
    common = ["train", "--train-ann", str(new_task), "--train-images", str(shapes / "train"), "--input-size", "64",
              "--epochs", "1", "--batch-size", "4", "--workers", "0", "--device", "cpu",
              "--init-from", str(trained_shapes / "best.pt")]
    for options, named in ((["--box-head", "center"], "box_head 'ltrb', this run's 'center'"),
                           (["--arch", "resnet34"], "arch 'resnet18', this run's 'resnet34'"),
                           (["--no-neck-shortcuts"], "neck_shortcuts True, this run's False")):
        assert main([*common, "--out", str(tmp_path / "x"), *options]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and "architecture differs" in error and named in error, error
    with pytest.raises(CheckpointError, match="not a centernet checkpoint.*needs converting first"):
        torch.save({"weights": torch.zeros(1)}, tmp_path / "plain.pt")
        fine_tune_state(shapes, new_task, tmp_path, tmp_path / "plain.pt")


def test_a_resumed_run_does_not_reload_the_init_checkpoint(trained_shapes, shapes, new_task, tmp_path):
    state, train_set = fine_tune_state(shapes, new_task, tmp_path, trained_shapes / "best.pt")
    resumed = build_state(state.config, train_set, 0, 0, 1, resuming=True)  # restore() loads last.pt's instead
    old = load_checkpoint(trained_shapes / "best.pt")["model"]["body.trunk.0.weight"]
    assert torch.equal(state.bare_model.state_dict()["body.trunk.0.weight"], old)
    assert not torch.equal(resumed.bare_model.state_dict()["body.trunk.0.weight"], old)


def test_a_converted_original_checkpoint_loads_the_same_way(shapes, tmp_path, capsys):
    """A synthetic checkpoint in the original CenterNet's key layout (4 classes named by a COCO file), converted
    with --classes: every tensor but the heatmap's output loads, its rows move by class name, and the first
    convolution reads RGB (the original reads BGR)."""
    converter = load_script("convert_reference_checkpoint")
    torch.manual_seed(0)
    # the reference's layout: center head, no shortcuts, the reference's up path
    original_model = build_model(ModelConfig(arch="resnet18", num_classes=4, box_head="center", neck_shortcuts=False,
                                             neck_channels=None, head_norm="none", head_conv=64))
    original = {reference_name(name, "resnet18"): tensor.clone() for name, tensor in original_model.state_dict().items()
                if not name.endswith("num_batches_tracked")}
    torch.save({"epoch": 70, "state_dict": original}, tmp_path / "ctdet_original.pth")
    classes = tmp_path / "classes.json"
    classes.write_text(json.dumps({"categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "Circle"},
                                                  {"id": 3, "name": "car"}, {"id": 4, "name": "square"}]}))
    assert converter.main([str(tmp_path / "ctdet_original.pth"), str(tmp_path / "converted.pt"), "--arch",
                           "resnet18", "--classes", str(classes)]) == 0
    converted = load_checkpoint(tmp_path / "converted.pt")
    assert converted["class_names"] == ["person", "Circle", "car", "square"] and converted["epoch"] == 70
    assert Predictor.from_file(tmp_path / "converted.pt", device="cpu").config.data.mean == (0.470, 0.447, 0.408)
    capsys.readouterr()
    state, _ = fine_tune_state(shapes, shapes / "annotations/train.json", tmp_path / "run",
                               tmp_path / "converted.pt", box_head="center", neck_shortcuts=False,
                               neck_channels=reference_neck_channels("resnet18"), head_norm="none", head_conv=64)
    new, old = state.bare_model.state_dict(), original_model.state_dict()
    torch.testing.assert_close(new["body.trunk.0.weight"], old["body.trunk.0.weight"].flip(1))  # BGR -> RGB
    for name in (REFERENCE_HEATMAP_WEIGHT, REFERENCE_HEATMAP_BIAS):  # circle <- Circle, square <- square, triangle
        torch.testing.assert_close(new[name][[0, 1]], old[name][[1, 3]], rtol=0, atol=0)
    assert float(new[REFERENCE_HEATMAP_BIAS][2]) == pytest.approx(PRIOR_BIAS, abs=1e-4)
    printed = capsys.readouterr().out
    assert f"loaded {len(new) - 2} tensors, remapped 2" in printed
    assert "triangle  new: heatmap from the prior" in printed
    assert "circle    carried over from old index 1 (Circle)" in printed


# the shapes' classes in the trained detector's order; the new task's: SQUARE <- square (1), wedge new, Circle <- 0
OLD_CLASS_NAMES = ["circle", "square", "triangle"]
NEW_CLASS_NAMES = [category["name"] for category in NEW_CATEGORIES]


def random_heads_checkpoint(path: Path, config: ModelConfig, class_names: list[str],
                            heads_only: bool = False) -> dict[str, torch.Tensor]:
    """A checkpoint of a fresh network of `config` whose heads' last layers (weights and biases, in every stack) are
    random, so that each class row differs from the prior and from every other row; returns its weights (all of
    them). `heads_only` saves the heads' tensors only (a small file for a large body)."""
    model = build_model(config)
    with torch.no_grad():
        for heads in (module for module in model.modules() if isinstance(module, CenterNetHeads)):
            for head in heads.values():
                torch.nn.init.normal_(head[-1].weight), torch.nn.init.normal_(head[-1].bias)
    saved = {name: value for name, value in model.state_dict().items() if not heads_only or "heads." in name}
    save_checkpoint(path, {"model": saved, "epoch": 1, "step": 1, "config": config_to_dict(Config(
        model=config)), "class_names": class_names, "category_ids": list(range(1, len(class_names) + 1))})
    return model.state_dict()


def assert_class_rows_moved_and_the_rest_loaded(new: dict[str, torch.Tensor], old: dict[str, torch.Tensor],
                                                class_rows: set[str]) -> None:
    """In each tensor of `class_rows` (a class-indexed head's last weight or bias) SQUARE's row is old square's,
    Circle's old circle's, and wedge's its fresh one (the bias: the prior), not triangle's; every other tensor is the
    checkpoint's."""
    assert class_rows <= new.keys()
    for name, tensor in new.items():
        if name not in class_rows:
            torch.testing.assert_close(tensor, old[name], rtol=0, atol=0, msg=name)
            continue
        torch.testing.assert_close(tensor[[0, 2]], old[name][[1, 0]], rtol=0, atol=0, msg=name)
        assert not torch.equal(tensor[1], old[name][2]), name
        if name.endswith(".bias"):
            assert float(tensor[1]) == pytest.approx(PRIOR_BIAS, abs=1e-4), name


def test_fine_tuning_an_exdet_model_moves_the_rows_of_its_centre_and_all_four_extreme_point_heatmaps(tmp_path):
    torch.manual_seed(0)
    config = ModelConfig(task="exdet", num_classes=3)
    old = random_heads_checkpoint(tmp_path / "exdet.pt", config, OLD_CLASS_NAMES)
    model = build_model(config)
    report = initialise_from(model, tmp_path / "exdet.pt", NEW_CLASS_NAMES, config)
    class_rows = {f"heads.{head}.3.{kind}" for kind in ("weight", "bias")
                  for head in ("heatmap", "heatmap_top", "heatmap_left", "heatmap_bottom", "heatmap_right")}
    new = model.state_dict()
    assert_class_rows_moved_and_the_rest_loaded(new, old, class_rows)
    assert (report.loaded, report.remapped, report.initialised, report.unused) == (len(new) - 10, 10, 0, 0)
    assert report.fates == [1, None, 0]


def test_fine_tuning_a_hourglass_moves_the_heatmap_rows_of_every_stack(tmp_path):
    config = ModelConfig(arch="hourglass104", num_classes=3)  # two stacks, each with its heads (about 2 s to build)
    torch.manual_seed(0)
    # the heads only: the body's 188M parameters would make a 760 MB file; both bodies come from one seed instead
    old = random_heads_checkpoint(tmp_path / "hourglass.pt", config, OLD_CLASS_NAMES, heads_only=True)
    torch.manual_seed(0)
    model = build_model(config)
    report = initialise_from(model, tmp_path / "hourglass.pt", NEW_CLASS_NAMES, config)
    class_rows = {f"{stack}.heatmap.3.{kind}" for stack in ("stack_heads.0", "heads") for kind in ("weight", "bias")}
    new = model.state_dict()
    assert_class_rows_moved_and_the_rest_loaded(new, old, class_rows)
    heads = sum("heads." in name for name in new)
    assert (report.loaded, report.remapped, report.initialised, report.unused) == (heads - 4, 4, len(new) - heads, 0)
