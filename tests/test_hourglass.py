"""Hourglass-104 with intermediate supervision: the reference's parameter counts, one head set per stack in training
and in evaluation alike (inference reads the last), padding to the hourglass's multiple, and the loss averaged over
stacks, in validation too."""

import pytest
import torch

from centernet.config import Config, DataConfig, LossConfig, ModelConfig
from centernet.data.coco import CocoDataset
from centernet.engine.evaluate import evaluate
from centernet.model.build import CenterNet, last_stack
from centernet.model.heads import CenterNetHeads
from centernet.model.hourglass import HourglassBody
from centernet.predictor import Predictor
from centernet.targets import encode_targets_batched
from centernet.tasks import build_criterion, build_model, task_for

CENTER_BOXES = task_for(ModelConfig(box_head="center"))  # the reference's ctdet heads: heatmap, size and offset
EXTREME_POINTS = task_for(ModelConfig(task="exdet"))

# the reference's large_hourglass with 80 classes (REFERENCE.md): ctdet heads (hm, wh, reg) and exdet heads
REFERENCE_CTDET = 191_284_008
REFERENCE_EXDET = 198_531_504


@pytest.mark.parametrize(("task", "expected"), [("detect", REFERENCE_CTDET), ("exdet", REFERENCE_EXDET)])
def test_hourglass104_has_the_reference_parameter_count(task, expected):
    with torch.device("meta"):  # no memory, no time
        model = build_model(ModelConfig(arch="hourglass104", num_classes=80, box_head="center", task=task,
                                        head_norm="none"))
    count = sum(p.numel() for p in model.parameters())
    assert abs(count - expected) <= 0.02 * expected
    assert count == expected  # the layout is the reference's exactly
    assert len(model.stack_heads) == 1 and model.body.num_stacks == 2


def _small_hourglass(num_classes=2, task=CENTER_BOXES) -> CenterNet:
    """A two-stack hourglass of two levels and 16 channels: the real layout, small enough to run."""
    body = HourglassBody(num_stacks=2, dims=(16, 16, 24), modules=(1, 1, 1))
    heads = [CenterNetHeads(256, 8, task.head_layout(num_classes)) for _ in range(2)]
    return CenterNet(body, heads[-1], stack_heads=heads[:1])


def test_training_and_evaluation_both_return_one_head_set_per_stack_and_inference_reads_the_last():
    torch.manual_seed(0)
    model = _small_hourglass()
    images = torch.randint(0, 256, (1, 3, 64, 96), dtype=torch.uint8)
    model.train()
    stacks = model(images)
    assert isinstance(stacks, list) and len(stacks) == 2
    assert stacks[0]["heatmap"].shape == stacks[1]["heatmap"].shape == (1, 2, 16, 24)
    assert not torch.allclose(stacks[0]["heatmap"], stacks[1]["heatmap"])  # each stack has its own heads
    model.eval()
    with torch.no_grad():
        evaluated = model(images)
        features = model.body(model.normalize(images))
    assert isinstance(evaluated, list) and len(evaluated) == 2  # one type in both modes
    last = last_stack(evaluated)
    assert last["size"].shape == (1, 2, 16, 24)
    torch.testing.assert_close(last["heatmap"], model.heads(features[-1])["heatmap"])


def test_inputs_are_padded_to_the_hourglass_multiple_and_the_features_cropped_back():
    body = HourglassBody(num_stacks=1, dims=(8, 8, 8), modules=(1, 1, 1)).eval()
    assert body.multiple == 16
    with torch.no_grad():
        features = body(torch.randn(1, 3, 40, 24))  # neither side a multiple of 16
    assert features[-1].shape == (1, 256, 10, 6)


def test_hourglass_takes_no_imagenet_weights_and_ignores_the_resnet_up_path_options():
    with pytest.raises(ValueError, match="no ImageNet weights"):
        build_model(ModelConfig(arch="hourglass104", num_classes=80, backbone_weights="imagenet"))
    with torch.device("meta"):
        plain = build_model(ModelConfig(arch="hourglass104", num_classes=3, neck_shortcuts=False, neck_channels=None))
        with_options = build_model(ModelConfig(arch="hourglass104", num_classes=3, neck_shortcuts=True,
                                               neck_channels=(256, 128, 64)))
    assert [p.shape for p in with_options.parameters()] == [p.shape for p in plain.parameters()]


def test_the_loss_of_several_stacks_is_the_mean_of_each_stacks_loss():
    torch.manual_seed(0)
    boxes = torch.tensor([[[8.0, 8, 40, 48]]])
    targets = encode_targets_batched(boxes, torch.tensor([[1]]), torch.tensor([[True]]), 2, (16, 16),
                                     gaussian="round", step=None)
    stacks = [{name: torch.randn(1, channels, 16, 16) for name, channels in (("heatmap", 2), ("size", 2),
                                                                             ("offset", 2))} for _ in range(2)]
    criterion = build_criterion(CENTER_BOXES, LossConfig())
    total, stats = criterion(stacks, targets)
    first, first_stats = criterion(stacks[0], targets)
    second, second_stats = criterion(stacks[1], targets)
    torch.testing.assert_close(total, (first + second) / 2)
    for name in ("heatmap_loss", "size_loss", "offset_loss"):
        torch.testing.assert_close(stats[name], (first_stats[name] + second_stats[name]) / 2)
    assert not torch.allclose(first, second)  # so that the mean is not trivially either


def test_the_exdet_loss_averages_its_nine_terms_over_stacks():
    torch.manual_seed(0)
    model = _small_hourglass(task=EXTREME_POINTS).train()
    points = torch.tensor([[[[24.0, 8], [8, 28], [28, 48], [40, 20]]]])
    targets = encode_targets_batched(torch.tensor([[[8.0, 8, 40, 48]]]), torch.tensor([[1]]),
                                     torch.tensor([[True]]), 2, (16, 16), gaussian="round",
                                     step=EXTREME_POINTS.target_step(), points=points)
    stacks = model(torch.randint(0, 256, (1, 3, 64, 64), dtype=torch.uint8))
    criterion = build_criterion(EXTREME_POINTS, LossConfig())
    total, stats = criterion(stacks, targets)
    per_stack = [criterion(stack, targets)[0] for stack in stacks]
    torch.testing.assert_close(total, sum(per_stack) / 2)
    assert len(stats) == 10
    total.backward()  # both stacks' heads get gradients
    assert model.stack_heads[0]["heatmap_top"][-1].weight.grad.abs().sum() > 0


def test_the_validation_loss_of_a_hourglass_averages_every_stack_as_training_does(shapes):
    torch.manual_seed(0)
    model = _small_hourglass(num_classes=3).eval()
    with torch.no_grad():
        model.stack_heads[0]["heatmap"][-1].bias += 1.0  # the first stack's heatmap far from the last's
    config = Config(model=ModelConfig(arch="hourglass104", num_classes=3, box_head="center"),
                    data=DataConfig(input_size=64))
    dataset = CocoDataset(shapes / "annotations/val.json", shapes / "val", 64, train=False)
    criterion = build_criterion(CENTER_BOXES, LossConfig())
    predictor = Predictor(model, config, dataset.class_names, torch.device("cpu"), amp="off", channels_last=False)
    losses = evaluate(predictor, dataset, batch_size=len(dataset), criterion=criterion, progress=False).losses
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=len(dataset), collate_fn=dataset.collate_fn())))
    targets = encode_targets_batched(batch.boxes_xyxy, batch.classes, batch.valid, 3, (16, 16),
                                     gaussian=config.loss.gaussian, step=None, crowd=batch.crowd,
                                     min_radius=config.loss.gaussian_min_radius)
    with torch.no_grad():
        stacks = model(batch.images)
        each = [float(criterion(stack, targets)[1]["loss"]) for stack in stacks]
    assert each[0] > 1.2 * each[1]  # the stacks differ, so their mean is neither one's
    assert losses["loss"] == pytest.approx(sum(each) / 2, rel=1e-4)
