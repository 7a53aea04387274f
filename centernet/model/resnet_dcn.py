"""ResNet-DCN body: a torchvision ResNet trunk and the reference's deformable up path to stride 4."""

from __future__ import annotations

from torch import nn

from centernet.model.dcn import ModulatedDeformConv2d, init_bilinear_upsample_
from centernet.model.resnet import (
    RESNET_CHANNELS,
    RESNET_STAGE_CHANNELS,
    TrunkAndNeck,
    neck_shortcuts,
    resnet_trunk,
)

DCN_NECK_CHANNELS = (256, 128, 64)


def deformable_upsample_neck(in_channels: int, channels: tuple[int, ...] = DCN_NECK_CHANNELS) -> nn.Sequential:
    """Per stage: 3x3 modulated deformable conv + BN + ReLU, then 4x4 stride-2 transposed conv + BN + ReLU.

    Flat, six modules a stage, in the reference's order, so its `deconv_layers.N` is our `neck.N`.
    (B, in_channels, H, W) -> (B, channels[-1], H * 2**len(channels), W * 2**len(channels)).
    """
    layers: list[nn.Module] = []
    for out_channels in channels:
        upsample = nn.ConvTranspose2d(out_channels, out_channels, 4, stride=2, padding=1, bias=False)
        init_bilinear_upsample_(upsample)
        layers += [
            ModulatedDeformConv2d(in_channels, out_channels, 3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            upsample,
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        ]
        in_channels = out_channels
    return nn.Sequential(*layers)


class ResNetDCNBody(TrunkAndNeck):
    """Images (B, 3, H, W) -> features (B, 64, H/4, W/4); `resnet_name` is "resnet18", "resnet50", ...

    `weights` (a state-dict file or "imagenet") goes to the trunk; the neck is always freshly initialised.
    """

    def __init__(self, resnet_name: str, weights: str | None = None, shortcuts: bool = False,
                 channels: tuple[int, ...] = DCN_NECK_CHANNELS) -> None:
        super().__init__(resnet_trunk(resnet_name, weights),
                         deformable_upsample_neck(RESNET_CHANNELS[resnet_name], channels), channels,
                         neck_shortcuts(RESNET_STAGE_CHANNELS[resnet_name], channels) if shortcuts else None)
