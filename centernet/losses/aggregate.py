"""The ExdetLoss pattern, generalised: named head terms with weights, returning (total, stats)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from centernet.losses.focal import heatmap_iou_aware_focal_loss, heatmap_quality_focal_loss, heatmap_sigmoid_focal_loss
from centernet.losses.penalty_reduced import DenseKernels, penalty_reduced_focal_loss
from centernet.losses.regression import heatmap_mse_loss
from centernet.structures import Targets

HeadOutputs = Mapping[str, torch.Tensor]
Term = Callable[[HeadOutputs, Targets], torch.Tensor]
# Targets -> (Gaussian target (B, C, H, W), ignore mask (B, C, H, W) bool or None) of one heatmap head
HeatmapTarget = Callable[[Targets], tuple[torch.Tensor, torch.Tensor | None]]
# (head outputs, targets) -> (B, 1 or C, H, W) quality in [0, 1] of each pixel's prediction, for "iou_aware"
HeatmapQuality = Callable[[HeadOutputs, Targets], torch.Tensor]


# --heatmap-loss name (`centernet.catalog.HEATMAP_LOSSES`) -> dense criterion (logits, target, class_weights=None,
# ignore=None) -> scalar
HEATMAP_CRITERIA: dict[str, Callable[..., torch.Tensor]] = {
    "penalty_reduced": penalty_reduced_focal_loss,
    "quality_focal": heatmap_quality_focal_loss,
    "sigmoid_focal": heatmap_sigmoid_focal_loss,
    "mse": heatmap_mse_loss,
    "iou_aware": heatmap_iou_aware_focal_loss,
}
QUALITY_CRITERIA = ("iou_aware",)  # the criteria that take a `quality` map (the task's `heatmap_quality`)


def heatmap_criterion(name: str, compiled: bool = False) -> Callable[..., torch.Tensor]:
    """The dense criterion of a --heatmap-loss name; `compiled` runs the penalty-reduced loss through torch.compile
    (compiled on first use, eager if compilation fails); the other criteria ignore it."""
    if name not in HEATMAP_CRITERIA:
        raise ValueError(f"unknown heatmap loss {name!r}; choose from {', '.join(HEATMAP_CRITERIA)}")
    criterion = HEATMAP_CRITERIA[name]
    if compiled and criterion is penalty_reduced_focal_loss:
        return functools.partial(penalty_reduced_focal_loss, kernels=DenseKernels(compiled=True))
    return criterion


class HeatmapTerm:
    """A heatmap head's term: a dense criterion on (the head's logits, its Gaussian target), optionally
    class-weighted; `target` picks the target and ignore mask of the head from the `Targets`; `quality` (for the
    criteria of QUALITY_CRITERIA) the quality of each pixel's prediction."""

    def __init__(self, criterion: Callable[..., torch.Tensor], head: str, target: HeatmapTarget,
                 class_weights: torch.Tensor | None = None, quality: HeatmapQuality | None = None) -> None:
        self.criterion, self.head, self.target, self.class_weights = criterion, head, target, class_weights
        self.quality = quality

    def __call__(self, outputs: HeadOutputs, targets: Targets) -> torch.Tensor:
        target, ignore = self.target(targets)
        extra = {} if self.quality is None else {"quality": self.quality(outputs, targets)}
        return self.criterion(outputs[self.head], target, class_weights=self.class_weights, ignore=ignore, **extra)


def centre_heatmap(targets: Targets) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The centre heatmap's target and ignore mask, which every task has."""
    return targets.heatmap, targets.ignore


class DetectionLoss(nn.Module):
    """Sum of weighted named terms, averaged over stacks (several outputs for intermediate supervision).

    `forward(outputs, targets)` takes one head-output mapping or a sequence of them (one per stack) and
    returns (total, stats): stats has "loss" and "<name>_loss" per term, detached 0-d tensors.
    """

    def __init__(self, terms: Mapping[str, tuple[Term, float]]) -> None:
        super().__init__()
        self.terms = dict(terms)

    def forward(self, outputs: HeadOutputs | Sequence[HeadOutputs],
                targets: Targets) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        stacks = [outputs] if isinstance(outputs, Mapping) else list(outputs)
        parts = {name: sum(term(stack, targets) for stack in stacks) / len(stacks)
                 for name, (term, _) in self.terms.items()}
        total = sum(weight * parts[name] for name, (_, weight) in self.terms.items())
        stats = {"loss": total.detach(), **{f"{name}_loss": part.detach() for name, part in parts.items()}}
        return total, stats
