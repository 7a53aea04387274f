"""The CenterNet losses: penalty-reduced focal loss on heatmap logits and masked L1 on gathered pixels."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def penalty_reduced_focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0,
                               class_weights: torch.Tensor | None = None,
                               ignore: torch.Tensor | None = None) -> torch.Tensor:
    """CornerNet's focal loss with Gaussian penalty reduction, on logits.

    logits, target: (B, C, H, W); target peaks are exactly 1. With p = sigmoid(logits):
    L = -1/N * sum( y == 1: (1 - p)^alpha log p ; y < 1: (1 - y)^beta p^alpha log(1 - p) ),
    N = max(number of peaks, 1). Written with log-sigmoid, so it never clamps p (the reference's clamp
    to [1e-4, 1 - 1e-4] stops learning there) and stays finite for any logit, in fp32 and under autocast
    (computed in float32). `class_weights` (C,) scales each class channel; pixels of the bool mask `ignore`
    (B, C, H, W) count neither as positives nor as negatives, except peaks, which stay positive.
    """
    logits, target = logits.float(), target.float()
    log_p = F.logsigmoid(logits)
    log_not_p = F.logsigmoid(-logits)  # log(1 - p), exact where 1 - sigmoid(x) would round to 0
    positive = target == 1
    # powers as exp(alpha * log) so gradients stay finite for any alpha, also where p is exactly 0 or 1
    positive_term = (alpha * log_not_p).exp() * log_p
    negative_term = (1 - target).pow(beta) * (alpha * log_p).exp() * log_not_p
    loss = torch.where(positive, positive_term, negative_term)
    if ignore is not None:
        loss = loss.masked_fill(ignore & ~positive, 0.0)
    if class_weights is not None:
        loss = loss * class_weights.to(loss).view(1, -1, 1, 1)
    return -loss.sum() / positive.sum().clamp(min=1)


def gather_pixels(feature_map: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Pick pixels from feature_map (B, D, H, W) at flat index (B, M) = y * W + x -> (B, M, D)."""
    batch, channels = feature_map.shape[:2]
    flat = feature_map.reshape(batch, channels, -1)
    return flat.gather(2, index.unsqueeze(1).expand(-1, channels, -1)).transpose(1, 2)


def masked_l1_loss(pred: torch.Tensor, index: torch.Tensor, mask: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between pred (B, D, H, W) gathered at index (B, M) and target (B, M, D), over masked slots.

    Sum |gathered - target| * mask divided by (mask.sum() * D + 1e-4): zero when no slot is masked in.
    """
    gathered = gather_pixels(pred, index).float()
    weights = mask.float().unsqueeze(-1)
    loss = F.l1_loss(gathered * weights, target.float() * weights, reduction="sum")
    return loss / (weights.sum() * gathered.shape[-1] + 1e-4)
