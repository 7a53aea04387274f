"""Regression losses on gathered pixels: the masked L1 of the size and offset heads."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from centernet.tensors import gather_pixels


def masked_l1_loss(pred: torch.Tensor, index: torch.Tensor, mask: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between pred (B, D, H, W) gathered at index (B, M) and target (B, M, D), over masked slots.

    Sum |gathered - target| * mask divided by (mask.sum() * D + 1e-4): zero when no slot is masked in.
    """
    gathered = gather_pixels(pred, index).float()
    weights = mask.float().unsqueeze(-1)
    loss = F.l1_loss(gathered * weights, target.float() * weights, reduction="sum")
    return loss / (weights.sum() * gathered.shape[-1] + 1e-4)
