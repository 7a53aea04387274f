"""The one builder that reads the model config: an architecture from `centernet.catalog` -> body, plus the heads."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from centernet.catalog import ARCHITECTURES, Architecture
from centernet.config import IMAGENET_MEAN, IMAGENET_STD, DataConfig, ModelConfig, reference_neck_channels
from centernet.model.dla import DLABody
from centernet.model.heads import CenterNetHeads, HeadLayout
from centernet.model.hourglass import HourglassBody
from centernet.model.resnet import ResNetBody
from centernet.model.resnet_dcn import ResNetDCNBody


class CenterNet(nn.Module):
    """Normalisation, a body (images -> stride-4 features) and the heads; forward returns the head tensors only.

    images: (B, 3, H, W) RGB in [0, 255], uint8 or float, H and W divisible by 32. They are normalised here,
    (images / 255 - mean) / std per channel, so that training, the Predictor and exported graphs cannot differ.
    Returns the heads' outputs by name (`CenterNetHeads`; "heatmap": (B, C, H/4, W/4) logits, and the task's).

    Stacked bodies (Hourglass-104) return a list of feature maps, one per stack, and get one set of heads per
    stack (`stack_heads`, then `heads` for the last): forward returns the list of each stack's head dicts, the last
    stack last, in training (intermediate supervision, averaged by the loss) and in eval mode alike (the decoder
    reads the last, `last_stack`; the validation loss averages them all).
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, body: nn.Module, heads: CenterNetHeads, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, stack_heads: Sequence[CenterNetHeads] = ()) -> None:
        super().__init__()
        self.body = body
        self.heads = heads
        # the earlier stacks' heads (the same layout, their own weights); empty for single-stack bodies
        self.stack_heads = nn.ModuleList(stack_heads)
        if len(self.stack_heads) != getattr(body, "num_stacks", 1) - 1:
            raise ValueError(f"a body of {getattr(body, 'num_stacks', 1)} stacks needs one set of heads per stack")
        # not persistent: they come from the config, so state dicts stay those of the bare network
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [0, 255] -> float32 (x / 255 - mean) / std."""
        return (images.float() / 255.0 - self.mean) / self.std

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor] | list[dict[str, torch.Tensor]]:
        features = self.body(self.normalize(images))
        if not isinstance(features, list):
            return self.heads(features)
        return [heads(stack) for heads, stack in zip([*self.stack_heads, self.heads], features, strict=True)]


HeadMaps = dict[str, torch.Tensor]


def stacks(outputs: HeadMaps | list[HeadMaps]) -> list[HeadMaps]:
    """`CenterNet.forward`'s outputs as a list of head dicts, one per stack, the last stack last."""
    return outputs if isinstance(outputs, list) else [outputs]


def last_stack(outputs: HeadMaps | list[HeadMaps]) -> HeadMaps:
    """The head dict of the last stack of `CenterNet.forward`'s outputs (the only one of a single-stack body)."""
    return stacks(outputs)[-1]


# Architecture.body -> constructor of the body from (Architecture, weights, neck shortcuts, neck channels); DLA and
# Hourglass aggregate their stages in their own up paths, so they take neither
BODIES: dict[str, Callable[[Architecture, str | None, bool, tuple[int, ...]], nn.Module]] = {
    "resnet": lambda spec, weights, shortcuts, channels: ResNetBody(spec.variant, weights, shortcuts, channels),
    "resnet_dcn": lambda spec, weights, shortcuts, channels: ResNetDCNBody(spec.variant, weights, shortcuts, channels),
    "dla": lambda spec, weights, shortcuts, channels: DLABody(deformable=spec.variant == "deformable", weights=weights),
    "hourglass": lambda spec, weights, shortcuts, channels: HourglassBody(),
}


def build_model(config: ModelConfig, data: DataConfig, layout: HeadLayout) -> CenterNet:
    """The network of a model config: the body of `config.arch` (`centernet.catalog.ARCHITECTURES`; its ImageNet
    weights `backbone_weights`; a ResNet body's up path shaped by `neck_shortcuts` and `neck_channels`, which DLA
    and Hourglass ignore) and the heads of a task's `layout` (`centernet.tasks`), `head_conv` hidden channels each
    (None: the arch's default), heatmap logits starting at `heatmap_prior`, one set per stack of a stacked body
    (Hourglass-104, which has no ImageNet weights). The data's mean and std (RGB, [0, 1] scale) normalise the input
    inside the model. `num_classes` excludes background."""
    if config.arch not in ARCHITECTURES:
        raise ValueError(f"unknown arch {config.arch!r}; choose from {', '.join(sorted(ARCHITECTURES))}")
    if config.num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {config.num_classes}")
    neck_channels = config.neck_channels
    if neck_channels is not None and (len(neck_channels) != 3 or min(neck_channels) < 1):
        raise ValueError(f"neck channels: three positive numbers, one per x2 stage, got {list(neck_channels)}")
    spec = ARCHITECTURES[config.arch]
    if config.backbone_weights and spec.body == "hourglass":
        raise ValueError(f"{config.arch} has no ImageNet weights; leave --backbone-weights unset")
    if neck_channels is None:
        neck_channels = reference_neck_channels(config.arch)
    body = BODIES[spec.body](spec, config.backbone_weights, config.neck_shortcuts, tuple(neck_channels))
    heads = [CenterNetHeads(body.out_channels, config.head_conv or spec.head_conv, layout, config.head_norm,
                            config.heatmap_prior)
             for _ in range(getattr(body, "num_stacks", 1))]
    return CenterNet(body, heads[-1], data.mean, data.std, stack_heads=heads[:-1])
