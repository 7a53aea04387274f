"""Plain ResNet body: a torchvision ResNet trunk and the reference's neck up to stride 4."""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from centernet.model.weights import load_backbone_weights

RESNET_CHANNELS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048}
# channels of the stages at strides 4, 8, 16 (layer1..layer3), where neck shortcuts start
RESNET_STAGE_CHANNELS = {"resnet18": (64, 128, 256), "resnet34": (64, 128, 256), "resnet50": (256, 512, 1024),
                         "resnet101": (256, 512, 1024)}
SHORTCUT_CONVS = (1, 2, 3)  # TTFNet: 3x3 convs on the shortcuts from strides 16, 8, 4
TRUNK_STAGES = (4, 5, 6)  # positions of layer1..layer3 in `resnet_trunk`'s Sequential
NECK_INIT_STD = 0.001  # the reference's initialisation of its up path's transposed convs
RESNET_WEIGHTS = {
    "resnet18": "ResNet18_Weights",
    "resnet34": "ResNet34_Weights",
    "resnet50": "ResNet50_Weights",
    "resnet101": "ResNet101_Weights",
}


def resnet_trunk(resnet_name: str, weights: str | None = None) -> nn.Sequential:
    """The torchvision ResNet up to layer4 (stride 32): `weights` when given, else initialised as the reference's.

    From scratch, the convolutions get PyTorch's default initialisation (uniform in +-1/sqrt(fan_in)), as the
    reference's own ResNet has, not torchvision's He-normal (fan_out), which is about 2.4x larger. Every conv is
    followed by BatchNorm, so the scale leaves the forward pass alone, but Adam's steps have a fixed size, so
    smaller weights learn relatively faster; measured on the harder shapes set (README, Results), the reference's
    initialisation learns more per epoch.
    """
    resnet = getattr(torchvision.models, resnet_name)(weights=None)
    if weights is None:
        for module in resnet.modules():
            if isinstance(module, nn.Conv2d):
                module.reset_parameters()
    load_backbone_weights(resnet, weights, RESNET_WEIGHTS[resnet_name])
    return nn.Sequential(
        resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool,
        resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4,
    )


def upsample_neck(in_channels: int, channels: tuple[int, ...] = (256, 256, 256)) -> nn.Sequential:
    """Three 4x4 stride-2 transposed convs (each + BN + ReLU): stride 32 -> stride 4.

    The transposed convs start from N(0, 0.001), the reference's initialisation (PyTorch's default would be about
    9x larger; see `resnet_trunk` for why the scale matters under Adam).
    """
    layers: list[nn.Module] = []
    for out_channels in channels:
        upsample = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False)
        nn.init.normal_(upsample.weight, std=NECK_INIT_STD)
        layers += [upsample, nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
        in_channels = out_channels
    return nn.Sequential(*layers)


def neck_shortcuts(stage_channels: tuple[int, ...], neck_channels: tuple[int, ...]) -> nn.ModuleList:
    """TTFNet's U-Net-style shortcuts: for the up path's stages at strides 16, 8, 4, SHORTCUT_CONVS 3x3 convs
    (ReLU between them, none after the last) from the trunk's stage of that stride to the up path's channels."""
    shortcuts = nn.ModuleList()
    for in_channels, out_channels, convs in zip(stage_channels[::-1], neck_channels, SHORTCUT_CONVS, strict=True):
        layers: list[nn.Module] = []
        for index in range(convs):
            layers.append(nn.Conv2d(in_channels if index == 0 else out_channels, out_channels, 3, padding=1))
            if index < convs - 1:
                layers.append(nn.ReLU(inplace=True))
        shortcuts.append(nn.Sequential(*layers))
    return shortcuts


class TrunkAndNeck(nn.Module):
    """A ResNet trunk and an up path of three x2 stages, optionally with shortcuts from the trunk's stages.

    images (B, 3, H, W) -> features (B, out_channels, H/4, W/4). `neck` is flat, its modules split evenly into
    the three stages; a shortcut's output is added after its stage.
    """

    def __init__(self, trunk: nn.Sequential, neck: nn.Sequential, neck_channels: tuple[int, ...],
                 shortcuts: nn.ModuleList | None) -> None:
        super().__init__()
        self.trunk, self.neck = trunk, neck
        self.out_channels = neck_channels[-1]
        if shortcuts is not None:
            self.shortcuts = shortcuts

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if not hasattr(self, "shortcuts"):
            return self.neck(self.trunk(images))
        stages, features = [], images
        for position, module in enumerate(self.trunk):
            features = module(features)
            if position in TRUNK_STAGES:
                stages.append(features)
        per_stage = len(self.neck) // len(self.shortcuts)
        for index, shortcut in enumerate(self.shortcuts):
            features = self.neck[index * per_stage:(index + 1) * per_stage](features)
            features = features + shortcut(stages[-1 - index])  # strides 16, 8, 4
        return features


class ResNetBody(TrunkAndNeck):
    """Images (B, 3, H, W) -> features (B, channels[-1], H/4, W/4): three 4x4 transposed convs, as the reference
    (whose plain ResNet has 256 channels in each; TTFNet's up path has 256, 128, 64)."""

    def __init__(self, resnet_name: str, weights: str | None = None, shortcuts: bool = False,
                 channels: tuple[int, ...] = (256, 256, 256)) -> None:
        super().__init__(resnet_trunk(resnet_name, weights), upsample_neck(RESNET_CHANNELS[resnet_name], channels),
                         channels, neck_shortcuts(RESNET_STAGE_CHANNELS[resnet_name], channels) if shortcuts else None)
