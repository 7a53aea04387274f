"""The ResNet CenterNet: shapes, the reference parameter count, initialisation, and overfitting one batch."""

import dataclasses
import math

import pytest
import torch
from torchvision.ops import box_iou

from centernet.config import Config, LossConfig, ModelConfig
from centernet.decode import decode
from centernet.targets import encode_targets_batched
from centernet.tasks import build_criterion, build_model, task_for


def reference(arch: str, num_classes: int, **changes) -> ModelConfig:
    """The reference CenterNet's network of `arch`: the center box head (size and offset), the up path without
    shortcuts and with the reference's channels for the body (None: 256 256 256 for the plain ResNets), but for
    the `changes`."""
    return dataclasses.replace(ModelConfig(arch=arch, num_classes=num_classes, box_head="center",
                                           neck_shortcuts=False, neck_channels=None, head_norm="none",
                                           head_conv=64 if arch.startswith("resnet") else None), **changes)


def test_resnet18_has_the_reference_parameter_count():
    model = build_model(reference("resnet18", 80))
    assert sum(p.numel() for p in model.parameters()) == 15_820_372


@pytest.mark.parametrize("arch", ["resnet18", "resnet34", "resnet50", "resnet101"])
def test_heads_are_at_stride_four(arch):
    model = build_model(reference(arch, 3)).eval()
    with torch.inference_mode():
        outputs = model(torch.zeros(1, 3, 64, 96))
    assert outputs["heatmap"].shape == (1, 3, 16, 24)
    assert outputs["size"].shape == (1, 2, 16, 24) and outputs["offset"].shape == (1, 2, 16, 24)


def test_heatmap_bias_starts_at_the_focal_prior():
    model = build_model(reference("resnet18", 4))
    torch.testing.assert_close(model.heads.heatmap[-1].bias, torch.full((4,), -math.log(9)))
    assert model.heads.size[-1].bias.abs().sum() == 0 and model.heads.offset[-1].bias.abs().sum() == 0


def test_the_heatmap_prior_sets_the_starting_probability_of_every_heatmap_pixel():
    model = build_model(reference("resnet18", 2, heatmap_prior=0.01)).eval()
    torch.testing.assert_close(model.heads.heatmap[-1].bias, torch.full((2,), -math.log(99)))
    with torch.inference_mode():
        heatmap = model(torch.rand(1, 3, 64, 64))["heatmap"].sigmoid()
    assert abs(heatmap.mean().item() - 0.01) < 0.002  # the hidden layer's contribution starts near 0
    with pytest.raises(ValueError, match="prior"):
        build_model(reference("resnet18", 2, heatmap_prior=1.0))


def test_unknown_arch_and_bad_class_count_are_clear_errors():
    with pytest.raises(ValueError, match="unknown arch"):
        build_model(reference("resnet7", 3))
    with pytest.raises(ValueError, match="num_classes"):
        build_model(reference("resnet18", 0))


def test_overfits_one_batch_on_cpu_until_decoding_recovers_the_boxes():
    torch.manual_seed(0)
    images = torch.rand(2, 3, 64, 64) * 0.2 * 255  # RGB in [0, 255], as the model takes it
    boxes = torch.tensor([[[4.0, 8, 28, 36], [36, 28, 60, 56]], [[12, 12, 52, 44], [0, 0, 0, 0]]])
    classes = torch.tensor([[0, 1], [1, 0]])
    valid = torch.tensor([[True, True], [True, False]])
    for image, image_boxes, image_valid in zip(images, boxes.long(), valid, strict=True):
        for (x1, y1, x2, y2), keep in zip(image_boxes.tolist(), image_valid, strict=True):
            if keep:
                image[:, y1:y2, x1:x2] = 0.9 * 255  # something to see
    targets = encode_targets_batched(boxes, classes, valid, 2, (16, 16), gaussian="round", step=None)
    config = reference("resnet18", 2)
    model = build_model(config)
    criterion = build_criterion(task_for(config), LossConfig())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(200):
        loss, _ = criterion(model(images), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.inference_mode():
        outputs = model(images)
    detections = decode(outputs["heatmap"].sigmoid(), outputs["size"], outputs["offset"], k=5)
    for i in range(2):
        truth = boxes[i][valid[i]] / 4
        found_boxes = detections.boxes[i, : len(truth)]
        assert (detections.scores[i, : len(truth)] > 0.3).all()
        iou = box_iou(truth, found_boxes)
        best = iou.max(dim=1)
        assert (best.values > 0.7).all(), iou
        assert (detections.classes[i, best.indices] == classes[i][valid[i]]).all()


def test_neck_shortcuts_add_ttfnets_convs_and_nothing_else():
    plain = build_model(reference("resnet18", 3))
    shortcut = build_model(reference("resnet18", 3, neck_shortcuts=True))
    # strides 16, 8, 4: 1, 2 and 3 3x3 convs from 256, 128 and 64 channels to the neck's 256
    conv = [(256, 256), (128, 256), (256, 256), (64, 256), (256, 256), (256, 256)]
    extra = sum(out_channels * in_channels * 9 + out_channels for in_channels, out_channels in conv)
    assert sum(p.numel() for p in shortcut.parameters()) - sum(p.numel() for p in plain.parameters()) == extra
    missing = shortcut.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(key.startswith("body.shortcuts.") for key in missing)
    images = torch.randint(0, 256, (1, 3, 64, 96), dtype=torch.uint8)
    plain.eval(), shortcut.eval()
    with torch.no_grad():
        for module in shortcut.body.shortcuts.modules():
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.zeros_(module.weight), torch.nn.init.zeros_(module.bias)
        torch.testing.assert_close(shortcut(images)["heatmap"], plain(images)["heatmap"])  # zero shortcuts: no change
        torch.nn.init.constant_(shortcut.body.shortcuts[2][-1].bias, 1.0)  # the stride-4 one
        assert not torch.allclose(shortcut(images)["heatmap"], plain(images)["heatmap"])


def test_dla_ignores_the_resnet_up_path_options_so_the_defaults_build_it():
    plain = build_model(reference("dla34_plain", 3))
    with_options = build_model(ModelConfig(arch="dla34_plain", num_classes=3))
    assert Config().model.neck_shortcuts  # on by default, for the ResNet bodies
    assert [p.shape for p in with_options.body.parameters()] == [p.shape for p in plain.body.parameters()]


def test_the_neck_channels_set_the_resnet_up_path():
    thin = build_model(reference("resnet18", 3, neck_channels=(256, 128, 64)))
    assert [m.out_channels for m in thin.body.neck if isinstance(m, torch.nn.ConvTranspose2d)] == [256, 128, 64]
    assert thin(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))["heatmap"].shape == (1, 3, 16, 16)
    with pytest.raises(ValueError, match="three positive"):
        build_model(reference("resnet18", 3, neck_channels=(256, 128)))


@pytest.mark.parametrize(("norm", "layer"), [("batch", torch.nn.BatchNorm2d), ("group", torch.nn.GroupNorm)])
def test_normalised_heads_put_a_norm_after_each_hidden_conv_and_keep_the_prior(norm, layer):
    plain = build_model(ModelConfig(num_classes=3, head_norm="none"))
    normed = build_model(ModelConfig(num_classes=3, head_norm=norm))
    for name, head in normed.heads.items():
        assert [type(module) for module in head] == [torch.nn.Conv2d, layer, torch.nn.ReLU, torch.nn.Conv2d], name
        assert head[0].bias is None  # the norm's shift replaces it
    if norm == "group":
        assert normed.heads["heatmap"][1].num_groups == 32
    torch.testing.assert_close(normed.heads["heatmap"][-1].bias, plain.heads["heatmap"][-1].bias)
    # the same body: only the heads' parameters differ
    extra = sum(p.numel() for p in normed.parameters()) - sum(p.numel() for p in plain.parameters())
    hidden = normed.heads["heatmap"][0].out_channels
    assert hidden == 128  # the plain ResNets' default
    assert extra == sum(2 * hidden - hidden for _ in normed.heads)  # + weight and shift of the norm, - conv's bias
    normed.eval()
    outputs = normed(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    assert {name: tuple(value.shape) for name, value in outputs.items()} == {
        name: tuple(value.shape) for name, value in plain.eval()(torch.zeros(1, 3, 64, 64, dtype=torch.uint8)).items()}
