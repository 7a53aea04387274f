"""DLA-34 body: the Deep Layer Aggregation trunk and the reference's DLA-up + IDA-up path to stride 4.

Yu et al., "Deep Layer Aggregation" (2018); CenterNet's "DLASeg" with down ratio 4 and last level 5.
The trunk's module names follow the original DLA so its published ImageNet state dict loads unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from centernet.model.dcn import ModulatedDeformConv2d, init_bilinear_upsample_
from centernet.model.weights import load_backbone_weights

DLA34_LEVELS = (1, 1, 1, 2, 2, 1)  # BasicBlocks per aggregation tree depth, levels 0..5
DLA34_CHANNELS = (16, 32, 64, 128, 256, 512)  # level i has stride 2**i
FIRST_LEVEL = 2  # stride 4, the output stride
LAST_LEVEL = 5  # the final aggregation merges levels FIRST_LEVEL .. LAST_LEVEL - 1


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN with a residual: (B, in, H, W) -> (B, out, H/stride, W/stride).

    `residual` defaults to the input, so it must be given when the shape changes.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, features: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        residual = features if residual is None else residual
        out = torch.relu(self.bn1(self.conv1(features)))
        return torch.relu(self.bn2(self.conv2(out)) + residual)


class Root(nn.Module):
    """Aggregation node: concatenate the children along channels, 1x1 conv + BN + ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, *children: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(torch.cat(children, dim=1))))


class Tree(nn.Module):
    """Hierarchical deep aggregation of depth `levels`: (B, in, H, W) -> (B, out, H/stride, W/stride).

    Depth 1: two BasicBlocks in series, merged by a Root with any children handed down. Depth > 1: two
    subtrees in series; the first one's output becomes a child of the second one's root. `level_root`
    also hands the (downsampled) input to the root, the paper's aggregation across stages.
    `root_channels` is the width of the concatenation the deepest root sees (0: two blocks' worth).
    """

    def __init__(self, levels: int, in_channels: int, out_channels: int, stride: int = 1,
                 level_root: bool = False, root_channels: int = 0) -> None:
        super().__init__()
        root_channels = root_channels or 2 * out_channels
        if level_root:
            root_channels += in_channels
        self.tree1: nn.Module
        self.tree2: nn.Module
        if levels == 1:
            self.tree1 = BasicBlock(in_channels, out_channels, stride)
            self.tree2 = BasicBlock(out_channels, out_channels)
            self.root = Root(root_channels, out_channels)
        else:
            self.tree1 = Tree(levels - 1, in_channels, out_channels, stride)
            self.tree2 = Tree(levels - 1, out_channels, out_channels, root_channels=root_channels + out_channels)
        self.levels = levels
        self.level_root = level_root
        self.downsample = nn.MaxPool2d(stride, stride=stride) if stride > 1 else nn.Identity()
        # A deeper tree's first subtree makes its own residual, so this projection then goes unused; the
        # original DLA still has it, and we keep it for its ImageNet weights and parameter count.
        self.project = (nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False),
                                      nn.BatchNorm2d(out_channels))
                        if in_channels != out_channels else nn.Identity())
        if levels > 1:
            # never used in forward: frozen, so DistributedDataParallel does not wait for its gradients
            self.project.requires_grad_(False)

    def forward(self, features: torch.Tensor, children: list[torch.Tensor] | None = None) -> torch.Tensor:
        children = [] if children is None else children
        bottom = self.downsample(features)
        if self.level_root:
            children.append(bottom)
        if self.levels == 1:
            first = self.tree1(features, self.project(bottom))
            return self.root(self.tree2(first), first, *children)
        first = self.tree1(features)
        children.append(first)
        return self.tree2(first, children=children)


class DLATrunk(nn.Module):
    """Images (B, 3, H, W) -> six features, level i with channels[i] at stride 2**i (no classifier)."""

    def __init__(self, levels: Sequence[int] = DLA34_LEVELS, channels: Sequence[int] = DLA34_CHANNELS) -> None:
        super().__init__()
        self.channels = tuple(channels)
        self.base_layer = nn.Sequential(*_conv_bn_relu(3, channels[0], 7))
        self.level0 = nn.Sequential(*self._conv_level(channels[0], channels[0], levels[0], stride=1))
        self.level1 = nn.Sequential(*self._conv_level(channels[0], channels[1], levels[1], stride=2))
        self.level2 = Tree(levels[2], channels[1], channels[2], stride=2, level_root=False)
        self.level3 = Tree(levels[3], channels[2], channels[3], stride=2, level_root=True)
        self.level4 = Tree(levels[4], channels[3], channels[4], stride=2, level_root=True)
        self.level5 = Tree(levels[5], channels[4], channels[5], stride=2, level_root=True)

    @staticmethod
    def _conv_level(in_channels: int, out_channels: int, convs: int, stride: int) -> list[nn.Module]:
        layers: list[nn.Module] = []
        for index in range(convs):
            layers += _conv_bn_relu(in_channels if index == 0 else out_channels, out_channels, 3,
                                    stride=stride if index == 0 else 1)
        return layers

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        features = self.base_layer(images)
        outputs = []
        for level in (self.level0, self.level1, self.level2, self.level3, self.level4, self.level5):
            features = level(features)
            outputs.append(features)
        return outputs


def aggregation_conv(in_channels: int, out_channels: int, deformable: bool) -> nn.Sequential:
    """3x3 conv (modulated deformable with bias, or plain without) + BN + ReLU, keeping the resolution."""
    conv: nn.Module
    if deformable:
        conv = ModulatedDeformConv2d(in_channels, out_channels, 3, padding=1)
    else:
        conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def bilinear_upsampler(channels: int, factor: int) -> nn.ConvTranspose2d:
    """Depthwise transposed conv that upsamples by `factor`, initialised to bilinear interpolation."""
    upsample = nn.ConvTranspose2d(channels, channels, 2 * factor, stride=factor, padding=factor // 2,
                                  groups=channels, bias=False)
    init_bilinear_upsample_(upsample)
    return upsample


class IterativeAggregationUp(nn.Module):
    """Iterative deep aggregation upwards (the reference's IDAUp), fine to coarse into the finest map.

    in_channels[i], up_factors[i]: channels of input i and its resolution relative to input 0.
    forward(features) returns a list as long: merged[0] = features[0] and
    merged[i] = node_i(upsample_i(project_i(features[i])) + merged[i - 1]), all with out_channels at
    input 0's resolution (so features[0] must have out_channels).
    """

    def __init__(self, out_channels: int, in_channels: Sequence[int], up_factors: Sequence[int],
                 deformable: bool) -> None:
        super().__init__()
        self.projections = nn.ModuleList(
            aggregation_conv(channels, out_channels, deformable) for channels in in_channels[1:])
        self.upsamplers = nn.ModuleList(bilinear_upsampler(out_channels, factor) for factor in up_factors[1:])
        self.nodes = nn.ModuleList(
            aggregation_conv(out_channels, out_channels, deformable) for _ in in_channels[1:])

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        merged = [features[0]]
        for feature, project, upsample, node in zip(features[1:], self.projections, self.upsamplers, self.nodes,
                                                     strict=True):
            merged.append(node(upsample(project(feature)) + merged[-1]))
        return merged


class DeepAggregationUp(nn.Module):
    """DLA-up (the reference's DLAUp): merge the coarser levels into each finer one, coarse to fine.

    channels: channels of the input levels, finest first, each level at half the previous resolution.
    forward(levels) returns a list as long: output i has channels[i] at level i's resolution and aggregates
    levels i .. n-1; the last output is the coarsest level unchanged.
    """

    def __init__(self, channels: Sequence[int], deformable: bool) -> None:
        super().__init__()
        in_channels = list(channels)
        strides = [2 ** index for index in range(len(channels))]
        steps = []
        for start in range(len(channels) - 2, -1, -1):
            steps.append(IterativeAggregationUp(channels[start], in_channels[start:],
                                                [stride // strides[start] for stride in strides[start:]],
                                                deformable))
            # After this step every level from `start` on lives at level `start`'s width and resolution.
            in_channels[start + 1:] = [channels[start]] * (len(channels) - start - 1)
            strides[start + 1:] = [strides[start]] * (len(channels) - start - 1)
        self.steps = nn.ModuleList(steps)

    def forward(self, levels: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        features = list(levels)
        outputs = [features[-1]]
        for index, step in enumerate(self.steps):
            start = len(features) - index - 2
            features[start:] = step(features[start:])
            outputs.insert(0, features[-1])
        return outputs


class DLABody(nn.Module):
    """DLA-34 with DLA-up and a final IDA-up: images (B, 3, H, W) -> features (B, 64, H/4, W/4).

    H and W must be divisible by 32. `deformable` picks modulated deformable (the reference) or plain 3x3
    convs in the up path. `weights` is a local DLA-34 ImageNet state-dict file for the trunk (no
    torchvision weights exist); None leaves the random initialisation.
    """

    def __init__(self, deformable: bool = True, weights: str | None = None) -> None:
        super().__init__()
        self.trunk = DLATrunk()
        load_backbone_weights(self.trunk, weights, torchvision_enum=None)
        channels = DLA34_CHANNELS[FIRST_LEVEL:]
        self.aggregation_up = DeepAggregationUp(channels, deformable)
        final_levels = LAST_LEVEL - FIRST_LEVEL
        self.final_aggregation = IterativeAggregationUp(
            channels[0], channels[:final_levels], [2 ** index for index in range(final_levels)], deformable)
        self.out_channels = channels[0]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        aggregated = self.aggregation_up(self.trunk(images)[FIRST_LEVEL:])
        return self.final_aggregation(aggregated[:LAST_LEVEL - FIRST_LEVEL])[-1]
