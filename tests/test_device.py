"""--amp and channels_last: which precision each mode gives on which processor, bf16 losses and train steps on the
CPU, evaluation in bf16 against float32, the fallback on CPUs without native bf16, and older configs."""

from __future__ import annotations

import itertools
import json
import subprocess

import numpy as np
import pytest
import torch

from centernet import catalog
from centernet.apps.options import config_from_options, run_options
from centernet.cli import get_parser, main
from centernet.config import (
    CONFIG_VERSION,
    Config,
    DataConfig,
    LossConfig,
    ModelConfig,
    TrainConfig,
    config_from_dict,
    config_to_dict,
)
from centernet.data.coco import CocoDataset
from centernet.device import NATIVE_BF16_VARIABLE, autocast_dtype, cpu_bf16_features, native_bf16, precision_line
from centernet.engine.evaluate import evaluate
from centernet.engine.train import build_state, train_step
from centernet.predictor import Predictor
from centernet.targets import TargetEncoder
from centernet.tasks import Task, build_criterion, build_model, task_for
from tests.conftest import ROOT

CPU = torch.device("cpu")
REQUIRED = ["train", "--train-ann", "a.json", "--train-images", "images", "--out", "runs/x"]


@pytest.fixture
def native(monkeypatch):
    """Force the native-bf16 answer: native(True) or native(False)."""
    return lambda answer: monkeypatch.setenv(NATIVE_BF16_VARIABLE, "1" if answer else "0")


# --- which precision ---------------------------------------------------------------------------------------------

def test_auto_is_bf16_on_a_cpu_with_native_bf16_and_float32_on_one_without(native):
    native(True)
    assert autocast_dtype(CPU, "auto") == torch.bfloat16 and autocast_dtype(CPU, "on") == torch.bfloat16
    native(False)
    assert autocast_dtype(CPU, "auto") is None  # emulated bf16 is slower than float32
    assert autocast_dtype(CPU, "on") == torch.bfloat16  # asked for explicitly
    assert autocast_dtype(CPU, "off") is None
    with pytest.raises(ValueError, match="--amp"):
        autocast_dtype(CPU, "yes")


def test_the_detection_reads_the_processor_and_the_variable_overrides_it(monkeypatch):
    monkeypatch.delenv(NATIVE_BF16_VARIABLE, raising=False)
    assert native_bf16() == bool(cpu_bf16_features())
    assert set(cpu_bf16_features()) <= {"avx512_bf16", "amx_bf16", "bf16"}
    monkeypatch.setenv(NATIVE_BF16_VARIABLE, "0")
    assert not native_bf16()
    assert "no native bf16" in precision_line(CPU, "auto", False) and "float32" in precision_line(CPU, "auto", False)
    monkeypatch.setenv(NATIVE_BF16_VARIABLE, "1")
    assert precision_line(CPU, "auto", True).startswith("precision: bf16 autocast (--amp auto; this CPU computes")
    assert precision_line(CPU, "auto", True).endswith(", channels_last")


# --- losses on bf16 outputs --------------------------------------------------------------------------------------

def _targets(task: Task):
    """Targets of two images at 64 px (16x16 heads, 3 classes): three objects, one crowd region, one padding slot."""
    boxes = torch.tensor([[[4.0, 6, 30, 40], [34, 10, 60, 28], [10, 40, 50, 62]],
                          [[20.0, 20, 44, 44], [0, 0, 0, 0], [2, 2, 12, 12]]])
    classes = torch.tensor([[0, 2, 1], [1, 0, 2]])
    valid = torch.tensor([[True, True, False], [True, False, True]])
    crowd = torch.tensor([[False, False, True], [False, False, False]])
    points = None
    if task.point_source() is not None:  # exdet's top, left, bottom, right: the edges' midpoints
        x1, y1, x2, y2 = boxes.unbind(-1)
        points = torch.stack([torch.stack([(x1 + x2) / 2, y1], -1), torch.stack([x1, (y1 + y2) / 2], -1),
                              torch.stack([(x1 + x2) / 2, y2], -1), torch.stack([x2, (y1 + y2) / 2], -1)], 2)
    return TargetEncoder(3, (16, 16), gaussian="elliptical", step=task.target_step())(boxes, classes, valid, crowd,
                                                                                      points)


CRITERIA = [(heatmap_loss, "detect", box_head, bins)
            for heatmap_loss, (box_head, bins) in itertools.product(catalog.HEATMAP_LOSSES,
                                                                     [("center", 0), ("ltrb", 0), ("ltrb", 6)])]
CRITERIA += [(heatmap_loss, "exdet", "center", 0) for heatmap_loss in catalog.HEATMAP_LOSSES]
# iou_aware needs a box at every pixel (--box-head ltrb); the other pairings are refused (tests/test_iou_aware.py)
CRITERIA = [row for row in CRITERIA if row[0] != "iou_aware" or row[2] == "ltrb"]


@pytest.mark.parametrize(("heatmap_loss", "task", "box_head", "bins"), CRITERIA,
                         ids=["-".join(map(str, case)) for case in CRITERIA])
@pytest.mark.parametrize("scale", [1.0, 80.0], ids=["ordinary", "saturated"])
def test_every_loss_is_finite_and_computed_in_float32_on_bf16_outputs(heatmap_loss, task, box_head, bins, scale):
    """Head outputs that arrive in bf16 (a criterion called under autocast, or on bf16 heads) give the float32 loss
    of the same values: finite, with finite gradients, also with logits saturated at +-80."""
    config = ModelConfig(arch="resnet18", num_classes=3, box_head=box_head, dfl_bins=bins, task=task)
    model = build_model(config).heads
    generator = torch.Generator().manual_seed(0)
    outputs = {name: (torch.randn(2, head[-1].out_channels, 16, 16, generator=generator)
                      * (scale if name.startswith("heatmap") else 1.0)).bfloat16().requires_grad_()
               for name, head in model.items()}
    criterion = build_criterion(task_for(config), LossConfig(heatmap_loss=heatmap_loss))
    targets = _targets(task_for(config))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, stats = criterion(outputs, targets)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert all(torch.isfinite(value.grad).all() and value.grad.abs().sum() > 0 for value in outputs.values())
    reference, _ = criterion({name: value.detach().float() for name, value in outputs.items()}, targets)
    torch.testing.assert_close(loss.detach(), reference, rtol=2e-3, atol=1e-4)


# --- the train step ----------------------------------------------------------------------------------------------

def _state(shapes, amp: str, channels_last: bool = True):
    dataset = CocoDataset(str(shapes / "annotations/train.json"), str(shapes / "train"), 64, train=True)
    config = Config(model=ModelConfig(num_classes=dataset.num_classes), data=DataConfig(input_size=64),
                    train=TrainConfig(amp=amp, channels_last=channels_last, device="cpu", batch_size=4))
    batch = dataset.collate_fn()([dataset[index] for index in range(4)])
    return build_state(config, dataset, rank=0, local_rank=0, world_size=1), batch


def test_a_cpu_train_step_runs_the_network_in_bf16_and_the_heads_last_layers_and_the_loss_in_float32(shapes):
    state, batch = _state(shapes, "on")
    assert state.amp_dtype == torch.bfloat16 and not state.scaler.is_enabled()  # no GradScaler for bf16
    seen: dict[str, torch.dtype] = {}

    def record(module, args, output) -> None:  # a forward hook: returns nothing, so the output stays as it is
        seen.update({"body": output.dtype} if isinstance(output, torch.Tensor) else
                    {name: value.dtype for name, value in output.items()})

    body = state.model.body.register_forward_hook(record)
    heads = state.model.heads.register_forward_hook(record)
    before = {name: value.detach().clone() for name, value in state.model.state_dict().items()}
    values = train_step(state, batch)
    body.remove(), heads.remove()
    assert seen == {"body": torch.bfloat16, "heatmap": torch.float32, "ltrb": torch.float32}
    assert values is not None and np.isfinite(values["loss"]) and state.step == 1
    after = state.model.state_dict()
    assert all(value.dtype == before[name].dtype for name, value in after.items())  # weights stay float32
    assert all(torch.isfinite(value).all() for value in after.values() if value.is_floating_point())
    assert not torch.equal(after["heads.heatmap.3.weight"], before["heads.heatmap.3.weight"])
    assert state.model.body.trunk[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_without_native_bf16_auto_trains_in_float32_as_before(shapes, native):
    native(False)
    state, batch = _state(shapes, "auto", channels_last=False)
    assert state.amp_dtype is None
    seen = []
    hook = state.model.body.register_forward_hook(lambda module, args, output: seen.append(output.dtype) and None)
    assert train_step(state, batch) is not None
    hook.remove()
    assert seen == [torch.float32]
    assert state.model.body.trunk[0].weight.is_contiguous()


def test_training_says_its_precision_in_one_line_and_in_every_metrics_record(shapes, tmp_path, capsys, native):
    native(True)
    assert main(["train", "--train-ann", str(shapes / "annotations/train.json"), "--train-images",
                 str(shapes / "train"), "--out", str(tmp_path / "run"), "--input-size", "64", "--epochs", "2",
                 "--batch-size", "8", "--workers", "0", "--device", "cpu"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("precision:")]
    assert len(lines) == 1 and lines[0].startswith("precision: bf16 autocast (--amp auto;"), lines
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(r["precision"] == "bf16" and r["channels_last"] is True for r in records)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    expected = head.stdout.strip() if head.returncode == 0 else None  # None outside a git checkout
    assert all(r["commit"] == expected or r["commit"].startswith(f"{expected}+") for r in records), records[0]


# --- evaluation in bf16 against float32 --------------------------------------------------------------------------

def test_evaluate_in_bf16_finds_what_float32_finds_on_a_trained_model(trained_shapes, shapes):
    """The same classes, boxes within 1 px for detections scoring >= 0.3 (matched by IoU), mAP within 0.01."""
    dataset = CocoDataset(str(shapes / "annotations/train.json"), str(shapes / "train"), 64, train=False)
    found = {}
    for amp in ("off", "on"):
        predictor = Predictor.from_file(trained_shapes / "best.pt", device="cpu", amp=amp)
        assert predictor.amp_dtype == (None if amp == "off" else torch.bfloat16)
        found[amp] = evaluate(predictor, dataset, batch_size=8, workers=0, progress=False)
        assert found[amp].metrics["AP"] > 0.15  # a model that finds the shapes
    assert abs(found["on"].metrics["AP"] - found["off"].metrics["AP"]) <= 0.01
    scores = {amp: [r["score"] for r in found[amp].results] for amp in found}
    assert scores["on"] != scores["off"]  # the network did run in bf16
    confident = {amp: [r for r in found[amp].results if r["score"] >= 0.3] for amp in found}
    assert len(confident["off"]) >= 8
    for detection in confident["off"]:
        twins = [r for r in found["on"].results if r["image_id"] == detection["image_id"]
                 and r["category_id"] == detection["category_id"] and _iou(r["bbox"], detection["bbox"]) > 0.5]
        assert twins, detection  # the same class at the same place
        assert np.abs(np.subtract(twins[0]["bbox"], detection["bbox"])).max() <= 1.0, (twins[0], detection)


def _iou(a: list[float], b: list[float]) -> float:
    """IoU of two COCO [x, y, w, h] boxes."""
    width = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return width * height / (a[2] * a[3] + b[2] * b[3] - width * height)


# --- options and older configs -----------------------------------------------------------------------------------

def test_amp_is_auto_by_default_on_alone_and_no_amp_is_a_deprecated_off(capsys):
    assert config_from_options(get_parser().parse_args(REQUIRED)).train.amp == "auto"
    assert config_from_options(get_parser().parse_args(REQUIRED)).train.channels_last is True
    assert config_from_options(get_parser().parse_args([*REQUIRED, "--amp"])).train.amp == "on"
    assert config_from_options(get_parser().parse_args([*REQUIRED, "--amp", "off"])).train.amp == "off"
    assert config_from_options(get_parser().parse_args([*REQUIRED, "--no-amp"])).train.amp == "off"
    assert "--no-amp is deprecated" in capsys.readouterr().err
    assert not config_from_options(get_parser().parse_args([*REQUIRED, "--no-channels-last"])).train.channels_last
    for command in (["evaluate", "--ann", "a.json", "--images", "i", "--out", "o.json"],
                    ["demo", "--input", "v.avi"]):
        args = get_parser().parse_args([*command, "--checkpoint", "best.pt"])
        assert run_options(args) == {"device": "auto", "amp": "auto", "channels_last": True}
        for given, expected in ((["--amp"], "on"), (["--amp", "off"], "off"), (["--no-amp"], "off")):
            parsed = get_parser().parse_args([*command, "--checkpoint", "best.pt", *given])
            assert run_options(parsed)["amp"] == expected
        assert not run_options(get_parser().parse_args([*command, "--checkpoint", "best.pt",
                                                         "--no-channels-last"]))["channels_last"]


@pytest.mark.parametrize(("saved", "expected"), [(False, "off"), (True, "on")])
def test_a_version_5_config_keeps_its_precision_and_layout(saved, expected):
    """Before version 6 --amp was a switch for CUDA only and channels_last was off by default: an older run
    resumes and predicts as it was configured, not with today's defaults."""
    values = config_to_dict(Config())
    values["version"] = 5
    values["train"].update(amp=saved, channels_last=False)
    config = config_from_dict(values)
    assert config.version == CONFIG_VERSION and config.train.amp == expected and config.train.channels_last is False
    assert json.loads(json.dumps(config_to_dict(config)))["train"]["amp"] == expected
