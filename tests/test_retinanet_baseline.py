"""scripts/retinanet_baseline.py: the anchor-based baseline is built as documented, maps its boxes back to the
original image, keeps its budget, and writes a run directory the table and plot scripts read."""

import json

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d

from centernet.config import DataConfig, InferenceConfig
from centernet.structures import Batch
from tests.conftest import load_script


@pytest.fixture(scope="module")
def baseline():
    return load_script("retinanet_baseline")


def test_retinanet_is_trainable_everywhere_with_batchnorm_and_keeps_our_input_size(baseline):
    model = baseline.build_retinanet(3, DataConfig(input_size=(320, 256)), InferenceConfig())
    assert all(parameter.requires_grad for parameter in model.parameters())
    assert not any(isinstance(module, FrozenBatchNorm2d) for module in model.modules())
    assert any(isinstance(module, nn.BatchNorm2d) for module in model.backbone.body.modules())
    assert model.transform.min_size == (256,) and model.transform.max_size == 320
    assert model.score_thresh == 0.01 and model.detections_per_img == 100
    assert baseline.anchor_sizes_for((320, 256)) == (10, 20, 41, 82, 164)
    assert model.head.classification_head.num_classes == 3
    model.eval()
    with torch.no_grad():
        images = [torch.rand(3, 256, 320)]
        assert model.transform(images)[0].tensors.shape == (1, 3, 256, 320)  # not resized to 800
        outputs = model(images)
    assert outputs[0]["boxes"].shape[1] == 4 and len(outputs[0]["boxes"]) <= 100


def test_targets_leave_out_padding_and_crowd_regions(baseline):
    boxes = torch.tensor([[[1.0, 2.0, 5.0, 6.0], [0.0, 0.0, 9.0, 9.0], [0.0, 0.0, 0.0, 0.0]]])
    batch = Batch(images=torch.zeros(1, 3, 32, 32, dtype=torch.uint8), boxes_xyxy=boxes,
                  classes=torch.tensor([[2, 1, 0]]), valid=torch.tensor([[True, False, False]]),
                  crowd=torch.tensor([[False, True, False]]), image_ids=torch.tensor([7]),
                  inverse_affine=torch.zeros(1, 2, 3), colour_order=torch.zeros(1, 3, dtype=torch.int64),
                  colour_factors=torch.ones(1, 3), lighting_alpha=torch.zeros(1, 3))
    (target,) = baseline.retinanet_targets(batch)
    torch.testing.assert_close(target["boxes"], boxes[0, :1])
    assert target["labels"].tolist() == [2]


def test_detections_go_back_to_original_pixels_and_are_clipped(baseline):
    inverse = np.array([[2.0, 0.0, -10.0], [0.0, 2.0, 4.0]], np.float32)  # input pixels -> original pixels
    output = {"boxes": torch.tensor([[10.0, 5.0, 20.0, 15.0], [0.0, 0.0, 100.0, 100.0]]),
              "scores": torch.tensor([0.9, 0.2]), "labels": torch.tensor([1, 0])}
    detections = baseline.to_detections(output, inverse, width=150, height=120, class_names=["cat", "dog"])
    np.testing.assert_allclose(detections.boxes, [[10, 14, 30, 34], [0, 4, 150, 120]])
    np.testing.assert_allclose(detections.scores, [0.9, 0.2])
    assert detections.classes.tolist() == [1, 0] and detections.classes.dtype == np.int64
    assert detections.names == ["dog", "cat"]


@pytest.mark.parametrize(("done", "seconds", "expected"), [
    ([], 100.0, 15),  # nothing measured yet: the ceiling
    ([30.0], 100.0, 3),  # 3.3 epochs fit
    ([30.0, 40.0], 100.0, 3),  # 100 / 35 = 2.9
    ([30.0, 40.0, 50.0], 100.0, 3),  # over budget: stop where we are
    ([1.0], 100.0, 15),  # the ceiling holds
    ([200.0], 100.0, 1),  # at least one epoch
    ([30.0], None, 15),  # no budget: --epochs
])
def test_the_seconds_budget_sets_the_number_of_epochs(baseline, done, seconds, expected):
    assert baseline.planned_epochs(done, seconds, 15) == expected


def test_options_it_cannot_honour_are_refused(baseline, tmp_path):
    for flag in ("--gpu-decode", "--compile"):
        with pytest.raises(SystemExit, match="does not support"):
            baseline.config_from_arguments(baseline.get_parser().parse_args(["--out", str(tmp_path), flag]))
    with pytest.raises(SystemExit, match="multiple of 32"):
        baseline.config_from_arguments(baseline.get_parser().parse_args(["--out", str(tmp_path), "--input-size",
                                                                         "100"]))


def test_a_short_run_writes_metrics_the_study_scripts_read(baseline, shapes, tmp_path, capsys):
    out = tmp_path / "run"
    assert baseline.main(["--train-ann", str(shapes / "annotations/train.json"), "--train-images",
                          str(shapes / "train"), "--val-ann", str(shapes / "annotations/val.json"), "--val-images",
                          str(shapes / "val"), "--out", str(out), "--input-size", "64", "--epochs", "2",
                          "--batch-size", "8", "--workers", "0", "--device", "cpu", "--eval-interval", "1"]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in records] == [1, 2]
    for record in records:
        assert record["epoch_seconds"] > 0 and 0 <= record["AP"] <= 1 and record["per_class_auroc"] == {}
        assert set(record["per_class_ap"]) <= {"circle", "square", "triangle"}
    assert json.loads((out / "config.json").read_text())["model"]["name"] == "retinanet"
    assert list(out.glob("events.out.tfevents.*"))
    printed = capsys.readouterr().out
    assert json.loads(printed.splitlines()[-1]).keys() >= {"AP", "AP50"}
    assert "precision: " in printed.splitlines()[0]  # --amp and --channels-last apply to RetinaNet as to centernet


def test_a_stopped_run_resumes_from_last_pt_to_the_weights_of_an_uninterrupted_one(baseline, shapes, tmp_path,
                                                                                   monkeypatch):
    """Two epochs in one go, and two epochs stopped after the first (last.pt written) then resumed with --resume:
    the same weights, EMA and step, and one metrics.jsonl line per epoch."""
    def arguments(out):
        return ["--train-ann", str(shapes / "annotations/train.json"), "--train-images", str(shapes / "train"),
                "--out", str(out), "--input-size", "64", "--epochs", "2", "--batch-size", "8", "--workers", "0",
                "--device", "cpu", "--amp", "off"]  # in bf16 at 64 px, P7's weight gradient can come out non-finite

    assert baseline.main(arguments(tmp_path / "whole")) == 0
    save = baseline.save_progress

    def stop_after_saving(*args):
        save(*args)
        raise KeyboardInterrupt

    monkeypatch.setattr(baseline, "save_progress", stop_after_saving)
    with pytest.raises(KeyboardInterrupt):
        baseline.main(arguments(tmp_path / "stopped"))
    monkeypatch.setattr(baseline, "save_progress", save)
    assert baseline.main([*arguments(tmp_path / "stopped"), "--resume"]) == 0
    whole, resumed = (torch.load(tmp_path / name / "last.pt", weights_only=True) for name in ("whole", "stopped"))
    assert resumed["step"] == whole["step"] > 0 and len(resumed["epoch_seconds"]) == 2
    for weights in ("model", "ema_model"):
        for name, value in whole[weights].items():
            torch.testing.assert_close(resumed[weights][name], value, rtol=0, atol=0, msg=f"{weights}.{name}")
    records = [json.loads(line) for line in (tmp_path / "stopped" / "metrics.jsonl").read_text().splitlines()]
    assert [record["epoch"] for record in records] == [1, 2]
    with pytest.raises(SystemExit, match="--lr"):
        baseline.main([*arguments(tmp_path / "stopped"), "--resume", "--lr", "0.1"])


def test_the_head_runs_in_float32_under_autocast_and_the_backbone_in_bf16(baseline):
    model = baseline.build_retinanet(3, DataConfig(input_size=64), InferenceConfig()).eval()
    seen = {}
    model.backbone.register_forward_hook(lambda module, args, output: seen.update(fpn=output["0"].dtype) and None)
    model.head.register_forward_hook(lambda module, args, output: seen.update(
        logits=output["cls_logits"].dtype, deltas=output["bbox_regression"].dtype) and None)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        model([torch.rand(3, 64, 64)])
    assert seen == {"fpn": torch.bfloat16, "logits": torch.float32, "deltas": torch.float32}
