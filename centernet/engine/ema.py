"""An exponential moving average of the weights, as YOLOX's ModelEMA.

The average starts as a copy of the model; update number u moves it by (1 - d_u) towards the current weights,
d_u = decay * (1 - exp(-u / ramp)): the ramp keeps the first updates from being held back by the random
initialisation. Floating-point buffers (BatchNorm statistics) are averaged with the parameters, integer ones
(BatchNorm's batch count) copied.

torch.optim.swa_utils.AveragedModel does the same with an `avg_fn`, but allocates new tensors per parameter and
update: on this project's 2-core CPU an update of a ResNet-18 took 880 ms that way, against 8 ms for the
in-place `lerp_` below, which would have made a 64 px training step several times slower.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def ema_decay(updates: int, decay: float, ramp: float) -> float:
    """The decay d_u of update number `updates` (counting from 1)."""
    return decay * (1 - math.exp(-updates / ramp))


class ModelEMA:
    """`module`: the averaged copy of a model (eval mode); `updates`: how many updates it has had."""

    def __init__(self, model: nn.Module, decay: float, ramp: float) -> None:
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay, self.ramp, self.updates = decay, ramp, 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards `model`'s current weights and buffers (same architecture)."""
        self.updates += 1
        weight = 1 - ema_decay(self.updates, self.decay, self.ramp)
        for averaged, current in zip(self.module.state_dict().values(), model.state_dict().values(), strict=True):
            if averaged.is_floating_point():
                averaged.lerp_(current.detach(), weight)
            else:
                averaged.copy_(current)
