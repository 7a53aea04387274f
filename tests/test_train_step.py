"""The train step and its schedule: learning rate by loader position, linear scaling, warm-up, step and cosine
schedules, gradient clipping, the non-finite-loss skip, objects past --max-objects, resume options, colour
augmentation on the device side of the step, and the --gpu-decode fallback without CUDA."""

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from centernet.cli import main
from centernet.config import AugmentConfig, Config, DataConfig, TrainConfig
from centernet.data import augment_colour
from centernet.engine import train as train_module
from centernet.engine.train import (
    build_state,
    iterations_per_epoch,
    load_datasets,
    lr_factor,
    make_loader,
    network_inputs,
    scaled_lr,
    train_one_epoch,
    train_step,
)
from centernet.errors import CenterNetError
from centernet.predictor import Predictor


def test_lr_is_scaled_linearly_from_the_reference_batch_to_the_global_batch():
    assert scaled_lr(TrainConfig(lr=1e-3, batch_size=16, reference_batch=32), world_size=1) == pytest.approx(5e-4)
    assert scaled_lr(TrainConfig(lr=1e-3, batch_size=16, reference_batch=32), world_size=4) == pytest.approx(2e-3)


def test_warmup_rises_linearly_to_the_full_rate():
    config = TrainConfig(warmup_iters=10, schedule="step", lr_steps=())
    assert [lr_factor(i, config, 100) for i in (0, 4, 9, 50)] == pytest.approx([0.1, 0.5, 1.0, 1.0])


def test_step_schedule_divides_by_ten_at_each_boundary_epoch():
    config = TrainConfig(schedule="step", lr_steps=(2, 3), warmup_iters=0)
    assert [lr_factor(i, config, 10) for i in (0, 19, 20, 29, 30, 99)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])


def test_cosine_schedule_falls_from_one_to_zero_over_the_run():
    config = TrainConfig(schedule="cosine", epochs=4, warmup_iters=0)
    assert [lr_factor(i, config, 10) for i in (0, 20, 40, 80)] == pytest.approx([1.0, 0.5, 0.0, 0.0], abs=1e-12)
    assert lr_factor(10, config, 10) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))


def test_iterations_per_epoch_drop_the_remainder_per_rank():
    assert iterations_per_epoch(100, 16, 1) == 6 and iterations_per_epoch(100, 16, 2) == 3
    assert iterations_per_epoch(5, 16, 1) == 1


def small_state(shapes: Path, tmp_path: Path, colour: bool = False, **train_options):
    """A ResNet-18 train state on the 16-image shapes fixture, batch 4, input 64, CPU, without copy-paste (the
    batch-level augmentation has its own tests); `colour`: with the reference's colour augmentation (off by
    default)."""
    train = TrainConfig(out=str(tmp_path), batch_size=4, lr=1e-3, device="cpu", **train_options)
    augment = AugmentConfig(copy_paste=0.0, **({"color_jitter": 0.4, "pca_lighting": 0.1} if colour else {}))
    data = DataConfig(train_ann=str(shapes / "annotations/train.json"), train_images=str(shapes / "train"),
                      input_size=64, workers=0, augment=augment)
    config = Config(data=data, train=train)
    train_set, _ = load_datasets(config)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, num_classes=train_set.num_classes))
    return build_state(config, train_set, 0, 0, 1), train_set


def first_batch(state, train_set):
    return next(iter(make_loader(train_set, state.config, 0, 1, 0)))


def parameters(state) -> list[torch.Tensor]:
    return [p.detach().clone() for p in state.model.parameters()]


def test_the_learning_rate_follows_the_loader_position_even_when_steps_are_skipped(shapes, tmp_path):
    state, train_set = small_state(shapes, tmp_path, warmup_iters=100)
    criterion, seen_lrs, calls = state.criterion, [], []

    def nan_on_the_second_call(outputs, targets):
        calls.append(1)
        seen_lrs.append(state.optimizer.param_groups[0]["lr"])
        total, stats = criterion(outputs, targets)
        if len(calls) == 2:
            return total * float("nan"), {**stats, "loss": total.detach() * float("nan")}
        return total, stats

    state.criterion = nan_on_the_second_call
    state.epoch = 1  # the second epoch: positions continue from 1 * iters_per_epoch
    train_one_epoch(state, make_loader(train_set, state.config, 1, 1, 0), train_set, None)
    expected = [state.base_lr * lr_factor(state.iters_per_epoch + i, state.config.train, state.iters_per_epoch)
                for i in range(state.iters_per_epoch)]
    assert seen_lrs == pytest.approx(expected)
    assert state.step == state.iters_per_epoch - 1  # one step was skipped


def test_a_non_finite_loss_skips_the_step_and_leaves_the_weights_alone(shapes, tmp_path):
    state, train_set = small_state(shapes, tmp_path)
    criterion = state.criterion
    state.criterion = lambda outputs, targets: _with_loss(criterion(outputs, targets), float("inf"))
    before = parameters(state)
    assert train_step(state, first_batch(state, train_set)) is None
    assert state.bad_steps_in_a_row == 1 and state.step == 0
    assert all(torch.equal(a, b) for a, b in zip(before, parameters(state), strict=True))


def _with_loss(result, factor: float):
    total, stats = result
    return total * factor, {**stats, "loss": stats["loss"] * factor}


def test_non_finite_losses_in_a_row_stop_the_run_with_a_message(shapes, tmp_path, monkeypatch):
    monkeypatch.setattr(train_module, "MAX_BAD_STEPS_IN_A_ROW", 3)
    state, train_set = small_state(shapes, tmp_path)
    criterion = state.criterion
    state.criterion = lambda outputs, targets: _with_loss(criterion(outputs, targets), float("nan"))
    with pytest.raises(CenterNetError, match="3 non-finite losses in a row"):
        train_one_epoch(state, make_loader(train_set, state.config, 0, 1, 0), train_set, None)


def test_gradient_clipping_bounds_the_gradient_the_optimizer_steps_with(shapes, tmp_path):
    norms = {}
    for clip in (None, 1e-3):
        torch.manual_seed(0)
        state, train_set = small_state(shapes, tmp_path / str(clip), optimizer="sgd", grad_clip=clip)
        assert train_step(state, first_batch(state, train_set)) is not None
        norms[clip] = float(torch.cat([p.grad.double().flatten() for p in state.model.parameters()]).norm())
    assert norms[1e-3] == pytest.approx(1e-3, rel=1e-4)
    assert norms[None] > 10 * 1e-3


def train_args(shapes: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--train-ann", str(shapes / "annotations/train.json"), "--train-images", str(shapes / "train"),
            "--out", str(out), "--input-size", "64", "--batch-size", "4", "--lr", "1e-3", "--workers", "0",
            "--device", "cpu", *extra]


def test_images_with_more_objects_than_max_objects_are_reported_once_and_counted(shapes, tmp_path, capsys):
    data = json.loads((shapes / "annotations/train.json").read_text())
    counts = {image["id"]: 0 for image in data["images"]}
    for annotation in data["annotations"]:
        counts[annotation["image_id"]] += 1
    crowded = {image_id: count for image_id, count in counts.items() if count > 2}
    assert crowded, "the fixture needs images with more than 2 objects"
    assert main(train_args(shapes, tmp_path / "run", "--epochs", "2", "--max-objects", "2", "--no-scale",
                           "--no-shift")) == 0
    output = capsys.readouterr()
    warnings = [line for line in output.err.splitlines() if "more than --max-objects 2" in line]
    assert len(warnings) == len(crowded)  # once per image, not once per epoch
    for image_id, count in crowded.items():
        assert any(f"(image id {image_id}) has {count} objects" in line for line in warnings)
    left_out = sum(count - 2 for count in crowded.values())
    for epoch in (1, 2):
        assert f"epoch {epoch}: {left_out} objects in {len(crowded)} images left out" in output.out


def test_resume_with_other_options_is_a_one_line_error_naming_them(shapes, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_args(shapes, out, "--epochs", "1")) == 0
    capsys.readouterr()
    assert main(train_args(shapes, out, "--epochs", "2", "--resume", "--lr", "2e-3", "--flip-probability", "0")) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--resume" in error
    assert "--lr: now 0.002, saved 0.001" in error and "--flip-probability: now 0.0, saved 0.5" in error
    # what may change on resume: epochs, workers, intervals
    assert main(train_args(shapes, out, "--epochs", "2", "--resume", "--log-interval", "3")) == 0


def test_the_train_step_augments_colour_on_the_device_once_and_feeds_the_model_float_images(shapes, tmp_path):
    """The workers' images are uint8 and unaugmented; the train step applies each sample's colour parameters, after
    the transfer and before the model (which normalises), and the model gets float images in [0, 255]."""
    state, train_set = small_state(shapes, tmp_path, colour=True)
    batch = first_batch(state, train_set)
    assert batch.images.dtype == torch.uint8 and not (batch.colour_factors == 1).all()
    seen = []
    state.model.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].clone()))
    assert train_step(state, batch) is not None
    expected = augment_colour(batch.images, batch.colour_order, batch.colour_factors, batch.lighting_alpha)
    assert len(seen) == 1 and seen[0].dtype == torch.float32 and torch.equal(seen[0], expected)
    assert not torch.equal(seen[0], batch.images.float())
    off = dataclasses.replace(state.config.data, augment=dataclasses.replace(state.config.data.augment,
                                                                             color_jitter=0.0, pca_lighting=0.0))
    assert network_inputs(batch, dataclasses.replace(state.config, data=off)) is batch.images  # nothing to do


def test_gpu_decode_without_cuda_falls_back_to_the_workers_with_one_line(shapes, tmp_path, capsys):
    assert main(train_args(shapes, tmp_path / "run", "--epochs", "1", "--gpu-decode")) == 0
    output = capsys.readouterr()
    lines = [line for line in (output.out + output.err).splitlines() if "--gpu-decode" in line]
    assert lines == ["warning: --gpu-decode: training on cpu, not CUDA; the data loader workers decode the images"]
    config = Config(data=DataConfig(train_ann=str(shapes / "annotations/train.json"),
                                    train_images=str(shapes / "train"), input_size=64, gpu_decode=True),
                    train=TrainConfig(device="cpu"))
    train_set, _ = load_datasets(config)
    assert not train_set.decode_on_device and train_set[0].encoded_jpeg is None
    assert capsys.readouterr().err.count("--gpu-decode") == 1


def test_a_rectangular_input_trains_with_heads_and_targets_of_its_shape(shapes, tmp_path, capsys):
    """--input-size 96 64: samples (3, 64, 96), heads and targets (16, 24), a finite step that changes the weights,
    and a run whose validation, config and checkpoint keep that size."""
    data = DataConfig(train_ann=str(shapes / "annotations/train.json"), train_images=str(shapes / "train"),
                      input_size=(96, 64), workers=0)
    config = Config(data=data, train=TrainConfig(out=str(tmp_path / "direct"), batch_size=4, lr=1e-3, device="cpu"))
    train_set, _ = load_datasets(config)
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, num_classes=train_set.num_classes))
    state = build_state(config, train_set, 0, 0, 1)
    batch = first_batch(state, train_set)
    assert batch.images.shape == (4, 3, 64, 96)
    targets = state.encoder(batch.boxes_xyxy, batch.classes, batch.valid, batch.crowd)
    assert state.model(batch.images)["heatmap"].shape == targets.heatmap.shape == (4, 3, 16, 24)
    before = parameters(state)
    values = train_step(state, batch)
    assert values is not None and math.isfinite(values["loss"])
    assert any(not torch.equal(old, new) for old, new in zip(before, parameters(state), strict=True))

    out = tmp_path / "cli"
    assert main(["train", "--train-ann", str(shapes / "annotations/train.json"), "--train-images",
                 str(shapes / "train"), "--val-ann", str(shapes / "annotations/val.json"), "--val-images",
                 str(shapes / "val"), "--out", str(out), "--input-size", "96", "64", "--epochs", "1",
                 "--batch-size", "4", "--workers", "0", "--device", "cpu"]) == 0
    assert json.loads((out / "config.json").read_text())["data"]["input_size"] == [96, 64]
    assert Predictor.from_file(out / "best.pt", device="cpu").config.data.input_size == (96, 64)
    assert main(["train", "--train-ann", "a.json", "--train-images", "i", "--out", str(tmp_path / "bad"),
                 "--input-size", "96", "70"]) == 2
    assert "each side must be a positive multiple of 32" in capsys.readouterr().err
