"""Plain ResNet body: a torchvision ResNet trunk and the reference's neck up to stride 4."""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from centernet.model.weights import load_backbone_weights

RESNET_CHANNELS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048}
RESNET_WEIGHTS = {
    "resnet18": "ResNet18_Weights",
    "resnet34": "ResNet34_Weights",
    "resnet50": "ResNet50_Weights",
    "resnet101": "ResNet101_Weights",
}


def resnet_trunk(resnet_name: str, weights: str | None = None) -> nn.Sequential:
    """The torchvision ResNet up to layer4 (stride 32), randomly initialised unless `weights` is given."""
    resnet = getattr(torchvision.models, resnet_name)(weights=None)
    load_backbone_weights(resnet, weights, RESNET_WEIGHTS[resnet_name])
    return nn.Sequential(
        resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool,
        resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4,
    )


def upsample_neck(in_channels: int, channels: tuple[int, ...] = (256, 256, 256)) -> nn.Sequential:
    """Three 4x4 stride-2 transposed convs (each + BN + ReLU): stride 32 -> stride 4."""
    layers: list[nn.Module] = []
    for out_channels in channels:
        layers += [
            nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        ]
        in_channels = out_channels
    return nn.Sequential(*layers)


class ResNetBody(nn.Module):
    """Images (B, 3, H, W) -> features (B, 256, H/4, W/4)."""

    def __init__(self, resnet_name: str, weights: str | None = None) -> None:
        super().__init__()
        self.trunk = resnet_trunk(resnet_name, weights)
        self.neck = upsample_neck(RESNET_CHANNELS[resnet_name])
        self.out_channels = 256

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.neck(self.trunk(images))
