"""The focal-loss family on logits: RetinaNet sigmoid focal, softmax focal, class-balanced focal (Cui et al.),
GFL's quality and distribution focal losses, and dense heatmap criteria for CenterNet.

Every loss is written in log-sigmoid / log-softmax form and never clamps a probability, so logits of any size
(+-80 and beyond) give finite values and gradients. Inputs are cast to float32 first: half-precision logits
from an autocast region are computed at full precision. A "mean" over an empty batch is 0, not NaN, so that
batches without positives still train.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Reduction = Literal["none", "mean", "sum"]
Alpha = float | Sequence[float] | torch.Tensor | None


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """Apply "none" | "mean" | "sum" to a loss of any shape; the mean of an empty loss is 0."""
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.sum() / max(loss.numel(), 1)
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def _binary_cross_entropy(log_p: torch.Tensor, log_not_p: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-(t log p + (1 - t) log(1 - p)) from log p and log(1 - p), all of one shape."""
    # Not F.binary_cross_entropy_with_logits: its log(1 + tiny) rounds losses below ~1e-7 to 0, which would
    # zero the confident end of every focal loss here.
    return -(targets * log_p + (1 - targets) * log_not_p)


def _sigmoid_focal_elementwise(logits: torch.Tensor, targets: torch.Tensor, alpha: float,
                               gamma: float) -> torch.Tensor:
    """Per-element -alpha_t (1 - p_t)^gamma log p_t with p_t = p t + (1 - p)(1 - t); any shape, float32."""
    targets = targets.float()
    log_p, log_not_p = F.logsigmoid(logits.float()), F.logsigmoid(-logits.float())
    cross_entropy = _binary_cross_entropy(log_p, log_not_p, targets)
    # 1 - p_t = t sigmoid(-x) + (1 - t) sigmoid(x), added in log space: the log stays finite where 1 - p_t
    # underflows, so exp(gamma * log) has a finite gradient even for gamma < 1. log(0) = -inf for hard
    # targets only drops that term from logaddexp.
    log_one_minus_p_t = torch.logaddexp(torch.log(targets) + log_not_p, torch.log1p(-targets) + log_p)
    loss = cross_entropy * torch.exp(gamma * log_one_minus_p_t)
    if alpha >= 0:
        loss = loss * (alpha * targets + (1 - alpha) * (1 - targets))
    return loss


def sigmoid_focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0,
                       reduction: Reduction = "none") -> torch.Tensor:
    """RetinaNet focal loss: -alpha_t (1 - p_t)^gamma log p_t, p = sigmoid(logits); alpha < 0 disables alpha_t.

    logits, targets: any equal shapes; targets in [0, 1], soft ones with p_t = p t + (1 - p)(1 - t) and
    alpha_t = alpha t + (1 - alpha)(1 - t) exactly as torchvision.ops.sigmoid_focal_loss, whose values this
    matches. Returns the input shape ("none") or a scalar ("mean" over all elements, "sum"). Targets are
    labels: one of exactly 0 or 1 that requires grad gets a NaN gradient (log 0 in the modulator); detach it.
    """
    return _reduce(_sigmoid_focal_elementwise(logits, targets, alpha, gamma), reduction)


def _class_alpha(alpha: float | Sequence[float] | torch.Tensor, num_classes: int,
                 device: torch.device) -> torch.Tensor:
    """Per-class weights (C,) float32: a scalar a means [a, 1 - a, 1 - a, ...]; a sequence is taken as is."""
    if isinstance(alpha, Real):
        weights = torch.full((num_classes,), 1.0 - float(alpha), device=device)
        weights[0] = float(alpha)
        return weights
    weights = torch.as_tensor(alpha, dtype=torch.float32, device=device)
    if weights.shape != (num_classes,):
        raise ValueError(f"alpha must be a scalar or have one value per class ({num_classes}), "
                         f"got shape {tuple(weights.shape)}")
    return weights


def softmax_focal_loss(logits: torch.Tensor, labels: torch.Tensor, alpha: Alpha = None, gamma: float = 2.0,
                       reduction: Reduction = "mean", ignore_index: int = -100) -> torch.Tensor:
    """Multi-class focal loss: -alpha_y (1 - p_y)^gamma log p_y with p = softmax(logits).

    logits: (N, C); labels: (N,) int64 in [0, C) or ignore_index. alpha: None (no weighting), a scalar a
    meaning [a, 1 - a, ...] (down-weights class 0, the background), or one weight per class. Returns (N,)
    with 0 at ignored samples ("none"), or a scalar: "sum", or "mean" over the non-ignored samples (a plain
    count, not weighted by alpha as F.cross_entropy's weight would be). gamma = 0, alpha = None is
    F.cross_entropy.
    """
    log_probabilities = F.log_softmax(logits.float(), dim=1)
    valid = labels != ignore_index
    safe_labels = labels.masked_fill(~valid, 0)
    log_p_y = log_probabilities.gather(1, safe_labels.unsqueeze(1)).squeeze(1)
    is_label = F.one_hot(safe_labels, logits.shape[1]).bool()
    # log(1 - p_y) as a log-sum-exp over the other classes: exact even where p_y rounds to 1 in float32.
    log_one_minus_p_y = log_probabilities.masked_fill(is_label, float("-inf")).logsumexp(dim=1)
    loss = -torch.exp(gamma * log_one_minus_p_y) * log_p_y
    if alpha is not None:
        loss = loss * _class_alpha(alpha, logits.shape[1], logits.device)[safe_labels]
    loss = loss.masked_fill(~valid, 0.0)
    if reduction == "mean":
        return loss.sum() / valid.sum().clamp(min=1)
    return _reduce(loss, reduction)


def class_balanced_weights(samples_per_class: Sequence[int] | torch.Tensor, beta: float = 0.9999) -> torch.Tensor:
    """Class-balanced weights (C,) float32 (Cui et al.): w_c = (1 - beta) / (1 - beta^n_c), scaled to sum to C.

    beta in [0, 1); beta = 0 gives all ones. A class with no samples gets the weight of a class with one
    sample, (1 - beta) / (1 - beta) = 1 before scaling: the largest weight any count gets, instead of the
    formula's division by zero.
    """
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    counts = torch.as_tensor(samples_per_class, dtype=torch.float64)
    if counts.ndim != 1 or counts.numel() == 0 or bool((counts < 0).any()):
        raise ValueError(f"samples_per_class must be a non-empty list of counts >= 0, got {samples_per_class}")
    effective_number = 1.0 - torch.pow(beta, counts.clamp(min=1))
    weights = (1.0 - beta) / effective_number
    return (weights * (counts.numel() / weights.sum())).float()


def _class_weighted_focal_loss(logits: torch.Tensor, labels: torch.Tensor, class_weights: torch.Tensor,
                               gamma: float, loss_type: str, reduction: Reduction) -> torch.Tensor:
    """Focal loss per sample (N,) of logits (N, C) and labels (N,), times class_weights (C,) at its label."""
    if class_weights.shape != (logits.shape[1],):
        raise ValueError(f"need one class weight per class ({logits.shape[1]}), got {tuple(class_weights.shape)}")
    if loss_type == "softmax":
        return softmax_focal_loss(logits, labels, alpha=class_weights, gamma=gamma, reduction=reduction)
    if loss_type != "sigmoid":
        raise ValueError(f"loss_type must be 'sigmoid' or 'softmax', got {loss_type!r}")
    targets = F.one_hot(labels, logits.shape[1])
    per_sample = _sigmoid_focal_elementwise(logits, targets, alpha=-1.0, gamma=gamma).sum(dim=1)
    return _reduce(per_sample * class_weights.to(per_sample)[labels], reduction)


def class_balanced_focal_loss(logits: torch.Tensor, labels: torch.Tensor,
                              samples_per_class: Sequence[int] | torch.Tensor, beta: float = 0.9999,
                              gamma: float = 2.0, loss_type: Literal["sigmoid", "softmax"] = "sigmoid",
                              reduction: Reduction = "mean") -> torch.Tensor:
    """Class-balanced focal loss (Cui et al.): w[label] * focal loss of the sample, w = class_balanced_weights.

    logits: (N, C); labels: (N,) int64 in [0, C); samples_per_class: C counts. "sigmoid": focal loss without
    alpha on one-hot targets, summed over classes; "softmax": softmax_focal_loss with alpha = w. Returns (N,)
    ("none") or a scalar ("mean" over N, "sum").
    """
    class_weights = class_balanced_weights(samples_per_class, beta).to(logits.device)
    return _class_weighted_focal_loss(logits, labels, class_weights, gamma, loss_type, reduction)


def _quality_focal_elementwise(logits: torch.Tensor, soft_targets: torch.Tensor, beta: float) -> torch.Tensor:
    """Per-element BCE(x, y) |y - sigmoid(x)|^beta; any shape, float32."""
    soft_targets = soft_targets.float()
    log_p, log_not_p = F.logsigmoid(logits.float()), F.logsigmoid(-logits.float())
    cross_entropy = _binary_cross_entropy(log_p, log_not_p, soft_targets)
    # y - sigmoid(x) written as y sigmoid(-x) - (1 - y) sigmoid(x): no cancellation when y is 0 or 1.
    distance = soft_targets * log_not_p.exp() - (1 - soft_targets) * log_p.exp()
    return cross_entropy * distance.abs().pow(beta)


def quality_focal_loss(logits: torch.Tensor, labels: torch.Tensor, scores: torch.Tensor, beta: float = 2.0,
                       reduction: Reduction = "mean") -> torch.Tensor:
    """GFL's Quality Focal Loss: -|y - s|^beta ((1 - y) log(1 - s) + y log s), s = sigmoid(logits).

    logits: (N, C); labels: (N,) int64 in [0, C], C meaning background; scores: (N,) in [0, 1], the quality
    (IoU) target y at (i, labels[i]); y is 0 everywhere else. Returns (N,) summed over classes ("none"), or
    a scalar ("mean" over N, "sum").
    """
    num_classes = logits.shape[1]
    # The background label lands in the extra one-hot column that the slice drops: its row is all zeros.
    soft_targets = F.one_hot(labels, num_classes + 1)[:, :num_classes] * scores.float().unsqueeze(1)
    return _reduce(_quality_focal_elementwise(logits, soft_targets, beta).sum(dim=1), reduction)


def distribution_focal_loss(logits: torch.Tensor, target: torch.Tensor, reduction: Reduction = "mean") -> torch.Tensor:
    """GFL's Distribution Focal Loss: -((y_r - y) log S_l + (y - y_l) log S_r), S = softmax(logits).

    logits: (N, n + 1) over the bins 0..n; target: (N,) float in [0, n], y_l = floor(y), y_r = y_l + 1.
    Returns (N,) ("none") or a scalar ("mean" over N, "sum"). An integer target is cross entropy on its bin.
    """
    log_probabilities = F.log_softmax(logits.float(), dim=1)
    target = target.float()
    # Capping y_l at n - 1 puts y = n on bin n with weight 1 and bin n - 1 with weight 0: the same loss as
    # the formula, without a bin n + 1 to index.
    left = target.floor().clamp(max=logits.shape[1] - 2).long()
    weight_right = target - left
    weight_left = (left + 1) - target
    log_left = log_probabilities.gather(1, left.unsqueeze(1)).squeeze(1)
    log_right = log_probabilities.gather(1, (left + 1).unsqueeze(1)).squeeze(1)
    return _reduce(-(weight_left * log_left + weight_right * log_right), reduction)


def _sum_over_peaks(loss: torch.Tensor, target: torch.Tensor, class_weights: torch.Tensor | None,
                    ignore: torch.Tensor | None) -> torch.Tensor:
    """Sum a per-pixel loss (B, C, H, W) / max(peaks, 1), each class channel scaled by class_weights (C,),
    pixels of the bool mask `ignore` (B, C, H, W) left out unless they are peaks."""
    if class_weights is not None:
        loss = loss * class_weights.to(loss).view(1, -1, 1, 1)
    if ignore is not None:
        loss = loss.masked_fill(ignore & (target != 1), 0.0)
    return loss.sum() / (target == 1).sum().clamp(min=1)


def heatmap_quality_focal_loss(logits: torch.Tensor, target: torch.Tensor, class_weights: torch.Tensor | None = None,
                               ignore: torch.Tensor | None = None) -> torch.Tensor:
    """Quality focal loss (beta = 2) on a CenterNet heatmap, the Gaussian value as each pixel's soft target.

    logits, target: (B, C, H, W), target in [0, 1] with peaks exactly 1; class_weights: (C,) or None;
    ignore: (B, C, H, W) bool or None, pixels that count for nothing (peaks excepted).
    L = sum(w_c BCE(x, y) |y - sigmoid(x)|^2) / max(number of peaks, 1), a scalar.
    """
    return _sum_over_peaks(_quality_focal_elementwise(logits, target, beta=2.0), target, class_weights, ignore)


def heatmap_iou_aware_focal_loss(logits: torch.Tensor, target: torch.Tensor, class_weights: torch.Tensor | None = None,
                                 ignore: torch.Tensor | None = None, quality: torch.Tensor | None = None
                                 ) -> torch.Tensor:
    """Quality focal loss (beta = 2) on a CenterNet heatmap, each pixel's soft target its Gaussian value times its
    box quality (VarifocalNet / GFL: a peak's target is the IoU of the box predicted there, so the score ranks boxes).

    logits, target: (B, C, H, W), target in [0, 1] with peaks exactly 1; quality: (B, 1 or C, H, W) in [0, 1], no
    gradient (None: 1, the plain quality focal loss); class_weights: (C,) or None; ignore: (B, C, H, W) bool or
    None, pixels that count for nothing (peaks excepted).
    L = sum(w_c BCE(x, y q) |y q - sigmoid(x)|^2) / max(number of peaks, 1), a scalar.
    """
    soft = target if quality is None else target.float() * quality.detach().float()
    return _sum_over_peaks(_quality_focal_elementwise(logits, soft, beta=2.0), target, class_weights, ignore)


def heatmap_sigmoid_focal_loss(logits: torch.Tensor, target: torch.Tensor, class_weights: torch.Tensor | None = None,
                               ignore: torch.Tensor | None = None) -> torch.Tensor:
    """RetinaNet focal loss (alpha 0.25, gamma 2) on a CenterNet heatmap: peaks positive, every other pixel negative.

    logits, target: (B, C, H, W), target in [0, 1] with peaks exactly 1; class_weights: (C,) or None;
    ignore: (B, C, H, W) bool or None, pixels that count for nothing (peaks excepted).
    L = sum(w_c FL(x, [y == 1])) / max(number of peaks, 1), a scalar.
    """
    peaks = (target == 1).float()
    loss = _sigmoid_focal_elementwise(logits, peaks, alpha=0.25, gamma=2.0)
    return _sum_over_peaks(loss, target, class_weights, ignore)


class SigmoidFocalLoss(nn.Module):
    """Module form of sigmoid_focal_loss: forward(logits, targets) with the stored alpha, gamma, reduction."""

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0, reduction: Reduction = "none") -> None:
        super().__init__()
        self.alpha, self.gamma, self.reduction = alpha, gamma, reduction

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return sigmoid_focal_loss(logits, targets, self.alpha, self.gamma, self.reduction)


class SoftmaxFocalLoss(nn.Module):
    """Module form of softmax_focal_loss: forward(logits (N, C), labels (N,)); a per-class alpha is a buffer."""

    alpha: float | torch.Tensor | None

    def __init__(self, alpha: Alpha = None, gamma: float = 2.0, reduction: Reduction = "mean",
                 ignore_index: int = -100) -> None:
        super().__init__()
        if alpha is None or isinstance(alpha, Real):
            self.alpha = alpha
        else:
            # Not persistent: it is a hyper-parameter rebuilt from the config, not learned state.
            self.register_buffer("alpha", torch.as_tensor(alpha, dtype=torch.float32), persistent=False)
        self.gamma, self.reduction, self.ignore_index = gamma, reduction, ignore_index

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return softmax_focal_loss(logits, labels, self.alpha, self.gamma, self.reduction, self.ignore_index)


class ClassBalancedFocalLoss(nn.Module):
    """Module form of class_balanced_focal_loss: the class weights (C,) are computed once, as a buffer."""

    class_weights: torch.Tensor

    def __init__(self, samples_per_class: Sequence[int] | torch.Tensor, beta: float = 0.9999, gamma: float = 2.0,
                 loss_type: Literal["sigmoid", "softmax"] = "sigmoid", reduction: Reduction = "mean") -> None:
        super().__init__()
        if loss_type not in ("sigmoid", "softmax"):
            raise ValueError(f"loss_type must be 'sigmoid' or 'softmax', got {loss_type!r}")
        # Not persistent: derived from the counts and beta, which the config holds.
        self.register_buffer("class_weights", class_balanced_weights(samples_per_class, beta), persistent=False)
        self.beta, self.gamma, self.loss_type, self.reduction = beta, gamma, loss_type, reduction

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return _class_weighted_focal_loss(logits, labels, self.class_weights, self.gamma, self.loss_type,
                                          self.reduction)


class QualityFocalLoss(nn.Module):
    """Module form of quality_focal_loss: forward(logits (N, C), labels (N,), scores (N,))."""

    def __init__(self, beta: float = 2.0, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.beta, self.reduction = beta, reduction

    def forward(self, logits: torch.Tensor, labels: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return quality_focal_loss(logits, labels, scores, self.beta, self.reduction)


class DistributionFocalLoss(nn.Module):
    """Module form of distribution_focal_loss: forward(logits (N, n + 1), target (N,))."""

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return distribution_focal_loss(logits, target, self.reduction)
