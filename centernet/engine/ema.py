"""An exponential moving average of the weights (YOLOX's ModelEMA), on torch's AveragedModel.

After u updates the average moves by (1 - d_u) towards the current weights, d_u = decay * (1 - exp(-u / ramp)):
the ramp keeps the first updates from being held back by the random initialisation. BatchNorm statistics are
averaged with the parameters (use_buffers).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def ema_decay(updates: int, decay: float, ramp: float) -> float:
    """The decay d_u of update number `updates` (counting from 1)."""
    return decay * (1 - math.exp(-updates / ramp))


def build_ema(model: nn.Module, decay: float, ramp: float) -> AveragedModel:
    """An AveragedModel of `model` (a copy; `.module` is the averaged network) updated by `update_parameters`."""

    def average(averaged: torch.Tensor, current: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
        # count: the updates before this one (AveragedModel copies the weights on the first)
        keep = ema_decay(int(count) + 1, decay, ramp)
        return averaged * keep + current.to(averaged.dtype) * (1 - keep)

    return AveragedModel(model, avg_fn=average, use_buffers=True)
