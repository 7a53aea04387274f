"""Deformable backbones: shapes, parameter counts, the DCNv2 layer, training steps, autocast, conversion."""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from centernet.config import ModelConfig
from centernet.model.build import CenterNet
from centernet.model.dcn import ModulatedDeformConv2d, bilinear_kernel, init_bilinear_upsample_
from centernet.tasks import build_model

ARCHS = ["resnet18_dcn", "resnet50_dcn", "resnet101_dcn", "dla34", "dla34_plain"]
# With 80 classes, whole model. The reference's numbers: ResNet-18-DCN, ResNet-101-DCN, DLA-34 (DCN).
# resnet50_dcn is the reference's resnet_dcn structure at depth 50 (no published count); dla34_plain is
# checked against dla34 below.
PARAMETER_COUNTS = {"resnet18_dcn": 14_437_349, "resnet50_dcn": 30_681_061, "resnet101_dcn": 49_673_189,
                    "dla34": 19_675_892}
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "convert_reference_checkpoint.py"


def reference(arch: str, num_classes: int) -> ModelConfig:
    """The reference's ctdet network: the center box head, no neck shortcuts, the reference's up path."""
    return ModelConfig(arch=arch, num_classes=num_classes, box_head="center", neck_shortcuts=False, neck_channels=None,
                       head_norm="none", head_conv=64 if arch.startswith("resnet") else None)


@pytest.fixture(autouse=True, scope="module")
def one_thread_and_cleanup():
    """Run these tests on one thread, then restore the count and free the shared models.

    On a few shared cores, OpenMP's spinning barriers make two threads up to 20x slower than one for tensors
    this small whenever another process competes for the cores.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    shared_model.cache_clear()


@functools.cache
def shared_model(arch: str) -> CenterNet:
    """One model per arch for the read-only tests (building the large ones takes seconds)."""
    return build_model(reference(arch, 80)).eval()


def parameter_count(module: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


@pytest.mark.parametrize("arch", ARCHS)
def test_heads_at_stride_4(arch: str) -> None:
    with torch.inference_mode():
        outputs = shared_model(arch)(torch.randn(2, 3, 64, 96))
    assert outputs["heatmap"].shape == (2, 80, 16, 24)
    assert outputs["size"].shape == outputs["offset"].shape == (2, 2, 16, 24)


@pytest.mark.parametrize("arch", ARCHS)
def test_full_resolution_shapes_on_meta_device(arch: str) -> None:
    # The meta device tracks shapes without computing, so 512x512 costs nothing.
    with torch.device("meta"):
        model = build_model(reference(arch, 80))
        outputs = model(torch.empty(1, 3, 512, 512))
    assert outputs["heatmap"].shape == (1, 80, 128, 128)


@pytest.mark.parametrize("arch", sorted(PARAMETER_COUNTS))
def test_parameter_counts_match_reference(arch: str) -> None:
    assert parameter_count(shared_model(arch)) == PARAMETER_COUNTS[arch]


def test_plain_dla_differs_only_by_deformable_parts() -> None:
    deformable = [module for module in shared_model("dla34").modules() if isinstance(module, ModulatedDeformConv2d)]
    offset_and_bias = sum(parameter_count(module.offset_and_mask) + module.bias.numel() for module in deformable)
    assert len(deformable) == 2 * (1 + 2 + 3 + 2)  # projection + node per input merged, three DLA-up steps + final
    assert parameter_count(shared_model("dla34_plain")) == PARAMETER_COUNTS["dla34"] - offset_and_bias


@pytest.mark.parametrize(("stride", "dilation"), [(1, 1), (2, 1), (1, 2)])
def test_deformable_layer_at_init_is_half_the_plain_conv_plus_bias(stride: int, dilation: int) -> None:
    torch.manual_seed(0)
    layer = ModulatedDeformConv2d(5, 7, 3, stride=stride, padding=dilation, dilation=dilation)
    torch.nn.init.normal_(layer.bias)
    features = torch.randn(2, 5, 11, 13)
    plain = F.conv2d(features, layer.weight, None, stride=stride, padding=dilation, dilation=dilation)
    expected = 0.5 * plain + layer.bias[None, :, None, None]
    torch.testing.assert_close(layer(features), expected, rtol=1e-5, atol=1e-5)


def dcnv2_reference(features: torch.Tensor, offset_and_mask: torch.Tensor, weight: torch.Tensor,
                    bias: torch.Tensor) -> torch.Tensor:
    """The original DCNv2 layer (stride 1, padding 1), written out with grid_sample.

    It splits its 27 channels into thirds o1, o2, mask and re-joins o1, o2 as the offsets; kernel position
    k = 3i + j samples at (y - 1 + i + offsets[2k], x - 1 + j + offsets[2k + 1]), bilinear, zero outside.
    """
    first, second, mask_logits = offset_and_mask.chunk(3, dim=1)
    offsets, mask = torch.cat([first, second], dim=1), mask_logits.sigmoid()
    _, _, height, width = features.shape
    rows, columns = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    samples = []
    for position in range(9):
        row = rows - 1 + position // 3 + offsets[:, 2 * position]
        column = columns - 1 + position % 3 + offsets[:, 2 * position + 1]
        grid = torch.stack([2 * column / (width - 1) - 1, 2 * row / (height - 1) - 1], dim=-1)
        sampled = F.grid_sample(features, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        samples.append(sampled * mask[:, position, None])
    return torch.einsum("bckhw,ock->bohw", torch.stack(samples, dim=2), weight.flatten(2)) + bias[:, None, None]


def test_deformable_layer_matches_dcnv2_channel_layout() -> None:
    torch.manual_seed(0)
    layer = ModulatedDeformConv2d(3, 4, 3)
    torch.nn.init.normal_(layer.offset_and_mask.weight, std=0.5)  # offsets of a pixel or two, both signs
    torch.nn.init.normal_(layer.bias)
    features = torch.randn(2, 3, 7, 9)
    with torch.no_grad():
        expected = dcnv2_reference(features, layer.offset_and_mask(features), layer.weight, layer.bias)
        torch.testing.assert_close(layer(features), expected, rtol=1e-4, atol=1e-4)


def test_offsets_and_mask_receive_gradients() -> None:
    torch.manual_seed(0)
    layer = ModulatedDeformConv2d(4, 6, 3)
    layer(torch.randn(2, 4, 9, 9)).square().sum().backward()
    gradient = layer.offset_and_mask.weight.grad
    assert gradient is not None
    assert gradient[:18].abs().sum() > 0  # offsets
    assert gradient[18:].abs().sum() > 0  # mask logits
    assert layer.offset_and_mask.bias.grad.abs().sum() > 0


def test_bilinear_upsampler_init() -> None:
    torch.testing.assert_close(bilinear_kernel(4)[0], torch.tensor([0.0625, 0.1875, 0.1875, 0.0625]))
    dense = torch.nn.ConvTranspose2d(3, 3, 4, stride=2, padding=1, bias=False)
    init_bilinear_upsample_(dense)
    constant = torch.ones(1, 3, 5, 5)
    # Interior pixels of an upsampled constant stay that constant, and channels do not mix.
    torch.testing.assert_close(dense(constant)[..., 1:-1, 1:-1], torch.ones(1, 3, 8, 8))


@pytest.mark.parametrize("arch", ARCHS)
def test_sgd_steps_stay_finite(arch: str) -> None:
    torch.manual_seed(0)
    model = build_model(reference(arch, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images = torch.randn(2, 3, 32, 32)  # the smallest input: stride 32 leaves 1x1, BN sees two values
    heatmap_target = (torch.rand(2, 3, 8, 8) > 0.9).float()
    for _ in range(3):
        outputs = model(images)
        loss = (F.binary_cross_entropy_with_logits(outputs["heatmap"], heatmap_target)
                + outputs["size"].abs().mean() + outputs["offset"].abs().mean())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert torch.isfinite(loss)
    assert all(torch.isfinite(parameter).all() for parameter in model.parameters())


def test_deformable_layer_runs_in_float32_under_cpu_autocast() -> None:
    layer = ModulatedDeformConv2d(4, 6, 3)
    features = torch.randn(1, 4, 8, 8).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = layer(features)
    assert output.dtype == torch.float32
    torch.testing.assert_close(output, layer(features.float()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("arch", ["resnet18_dcn", "dla34"])
def test_cuda_autocast_forward_backward(arch: str) -> None:
    device = torch.device("cuda")
    model = build_model(reference(arch, 80)).to(device)
    with torch.autocast("cuda", dtype=torch.float16):
        outputs = model(torch.randn(2, 3, 128, 128, device=device))
        loss = sum(output.float().square().mean() for output in outputs.values())
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


# --- converter -------------------------------------------------------------------------------------------

def load_converter():
    spec = importlib.util.spec_from_file_location("convert_reference_checkpoint", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_name(name: str, arch: str) -> str:
    """Our name -> the original CenterNet's, written independently of the converter's rules."""
    lists = {"projections": "proj", "nodes": "node"}
    name = name.replace(".offset_and_mask.", ".conv_offset_mask.")
    name = re.sub(r"\.(projections|nodes)\.(\d+)\.0\.", lambda m: f".{lists[m[1]]}_{int(m[2]) + 1}.conv.", name)
    name = re.sub(r"\.(projections|nodes)\.(\d+)\.1\.", lambda m: f".{lists[m[1]]}_{int(m[2]) + 1}.actf.0.", name)
    name = re.sub(r"\.upsamplers\.(\d+)\.", lambda m: f".up_{int(m[1]) + 1}.", name)
    for ours, original in [("heads.heatmap.", "hm."), ("heads.size.", "wh."), ("heads.offset.", "reg."),
                           ("body.aggregation_up.steps.", "dla_up.ida_"), ("body.final_aggregation.", "ida_up."),
                           ("body.neck.", "deconv_layers.")]:
        name = name.replace(ours, original)
    if arch.startswith("dla"):
        return name.replace("body.trunk.", "base.")
    trunk = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}
    return re.sub(r"^body\.trunk\.(\d)\.", lambda m: trunk[m[1]] + ".", name)


def test_converter_knows_original_names() -> None:
    to_ours = load_converter().reference_to_ours
    assert to_ours("module.layer1.0.conv1.weight") == "body.trunk.4.0.conv1.weight"
    assert to_ours("deconv_layers.0.conv_offset_mask.bias") == "body.neck.0.offset_and_mask.bias"
    assert to_ours("dla_up.ida_2.node_3.actf.0.running_var") == "body.aggregation_up.steps.2.nodes.2.1.running_var"
    assert to_ours("ida_up.up_2.weight") == "body.final_aggregation.upsamplers.1.weight"
    assert to_ours("base.level3.tree2.root.conv.weight") == "body.trunk.level3.tree2.root.conv.weight"
    assert to_ours("base.fc.weight") is None


@pytest.mark.parametrize("arch", ["resnet18_dcn", "dla34"])
def test_converter_round_trip(arch: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    ours = build_model(reference(arch, 4)).state_dict()
    # Old checkpoints predate BatchNorm's num_batches_tracked; DLA's keep the unused ImageNet classifier.
    original = {reference_name(name, arch): tensor.clone() for name, tensor in ours.items()
                if not name.endswith("num_batches_tracked")}
    if arch == "dla34":
        original["base.fc.weight"] = torch.zeros(1000, 512, 1, 1)
    torch.save({"epoch": 140, "state_dict": original}, tmp_path / "original.pth")

    assert load_converter().main([str(tmp_path / "original.pth"), str(tmp_path / "ours.pt"), "--arch", arch]) == 0
    model = build_model(reference(arch, 4))
    model.load_state_dict(torch.load(tmp_path / "ours.pt", weights_only=True))
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, ours[name], rtol=0, atol=0)


def test_converter_rejects_the_wrong_arch() -> None:
    original = {reference_name(name, "dla34"): tensor for name, tensor in shared_model("dla34").state_dict().items()}
    with pytest.raises(ValueError, match="does not fit resnet18_dcn"):
        load_converter().convert_state_dict(original, "resnet18_dcn")
