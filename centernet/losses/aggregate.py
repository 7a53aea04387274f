"""The ExdetLoss pattern, generalised: named head terms with weights, returning (total, stats)."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from centernet.catalog import HEATMAP_LOSSES
from centernet.config import STRIDE, LossConfig
from centernet.losses.penalty_reduced import DenseKernels, penalty_reduced_focal_loss
from centernet.losses.regression import ltrb_dfl_loss, ltrb_giou_loss, masked_l1_loss
from centernet.structures import Targets

HeadOutputs = Mapping[str, torch.Tensor]
Term = Callable[[HeadOutputs, Targets], torch.Tensor]


def _criterion(path: str) -> Callable[..., torch.Tensor]:
    module, function = path.rsplit(".", 1)
    return getattr(importlib.import_module(f"centernet.losses.{module}"), function)


# --heatmap-loss name -> dense criterion (logits, target, class_weights=None, ignore=None) -> scalar, resolved from
# the catalog, which names the function
HEATMAP_CRITERIA: dict[str, Callable[..., torch.Tensor]] = {name: _criterion(path)
                                                             for name, path in HEATMAP_LOSSES.items()}


class HeatmapTerm:
    """The heatmap head's term: a dense criterion on (logits, Gaussian target), optionally class-weighted."""

    def __init__(self, criterion: Callable[..., torch.Tensor], class_weights: torch.Tensor | None = None) -> None:
        self.criterion = criterion
        self.class_weights = class_weights

    def __call__(self, outputs: HeadOutputs, targets: Targets) -> torch.Tensor:
        return self.criterion(outputs["heatmap"], targets.heatmap, class_weights=self.class_weights,
                              ignore=targets.ignore)


def size_term(outputs: HeadOutputs, targets: Targets) -> torch.Tensor:
    """Masked L1 on box (w, h) in output pixels."""
    return masked_l1_loss(outputs["size"], targets.index, targets.mask, targets.size)


def box_term(dfl_bins: int) -> Term:
    """The ltrb head's GIoU term."""
    return lambda outputs, targets: ltrb_giou_loss(outputs["ltrb"], targets.box_index, targets.box_target,
                                                   targets.box_weight, STRIDE, dfl_bins)


def dfl_term(dfl_bins: int) -> Term:
    """The ltrb head's Distribution Focal Loss term."""
    return lambda outputs, targets: ltrb_dfl_loss(outputs["ltrb"], targets.box_index, targets.box_target,
                                                  targets.box_weight, STRIDE, dfl_bins)


def offset_term(outputs: HeadOutputs, targets: Targets) -> torch.Tensor:
    """Masked L1 on the sub-pixel centre offset."""
    return masked_l1_loss(outputs["offset"], targets.index, targets.mask, targets.offset)


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


def build_criterion(config: LossConfig, class_weights: torch.Tensor | None = None, compile_heatmap: bool = False,
                    box_head: str = "center", dfl_bins: int = 0) -> DetectionLoss:
    """The criterion from the config: the heatmap term, then the box head's terms, each with its weight.

    center head: size and offset (masked L1); ltrb head: box (GIoU) and, with dfl_bins > 0, dfl.
    `compile_heatmap` runs the penalty-reduced loss through torch.compile (compiled on first use, eager if
    compilation fails); the other heatmap criteria ignore it.
    """
    if config.heatmap_loss not in HEATMAP_CRITERIA:
        raise ValueError(f"unknown heatmap loss {config.heatmap_loss!r}; choose from {', '.join(HEATMAP_CRITERIA)}")
    heatmap_criterion = HEATMAP_CRITERIA[config.heatmap_loss]
    if compile_heatmap and heatmap_criterion is penalty_reduced_focal_loss:
        heatmap_criterion = functools.partial(penalty_reduced_focal_loss, kernels=DenseKernels(compiled=True))
    terms: dict[str, tuple[Term, float]] = {"heatmap": (HeatmapTerm(heatmap_criterion, class_weights),
                                                        config.heatmap_weight)}
    if box_head == "center":
        terms.update(size=(size_term, config.size_weight), offset=(offset_term, config.offset_weight))
    else:
        terms["box"] = (box_term(dfl_bins), config.box_weight)
        if dfl_bins:
            terms["dfl"] = (dfl_term(dfl_bins), config.dfl_weight)
    return DetectionLoss(terms)
