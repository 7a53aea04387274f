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
from centernet.structures import EXTREME_SIDES, Targets

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
    """A heatmap head's term: a dense criterion on (logits, Gaussian target), optionally class-weighted.

    side None: the "heatmap" head against `Targets.heatmap`; else one of the exdet task's extreme points (its
    index in `EXTREME_SIDES`): the "heatmap_<side>" head against that extreme's heatmap and ignore mask.
    """

    def __init__(self, criterion: Callable[..., torch.Tensor], class_weights: torch.Tensor | None = None,
                 side: int | None = None) -> None:
        self.criterion = criterion
        self.class_weights = class_weights
        self.side = side

    def __call__(self, outputs: HeadOutputs, targets: Targets) -> torch.Tensor:
        if self.side is None:
            return self.criterion(outputs["heatmap"], targets.heatmap, class_weights=self.class_weights,
                                  ignore=targets.ignore)
        ignore = None if targets.extreme_ignore is None else targets.extreme_ignore[:, self.side]
        return self.criterion(outputs[f"heatmap_{EXTREME_SIDES[self.side]}"], targets.extreme_heatmap[:, self.side],
                              class_weights=self.class_weights, ignore=ignore)


def extreme_offset_term(side: int) -> Term:
    """Masked L1 on one extreme point's sub-pixel offset (exdet), `side` its index in `EXTREME_SIDES`."""
    return lambda outputs, targets: masked_l1_loss(outputs[f"offset_{EXTREME_SIDES[side]}"],
                                                   targets.extreme_index[..., side], targets.extreme_mask[..., side],
                                                   targets.extreme_offset[..., side, :])


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
                    box_head: str = "center", dfl_bins: int = 0, task: str = "detect") -> DetectionLoss:
    """The criterion from the config: the heatmap term, then the box head's terms, each with its weight.

    center head: size and offset (masked L1); ltrb head: box (GIoU) and, with dfl_bins > 0, dfl. Task exdet
    (the reference's ExdetLoss; box_head and dfl_bins do not apply): the centre heatmap, heatmap_top, _left,
    _bottom, _right through the heatmap criterion at the heatmap weight, offset_top, ... (masked L1) at the
    offset weight (the reference's hm_weight 1 and off_weight 1 are our defaults).
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
    if task == "exdet":
        for side, name in enumerate(EXTREME_SIDES):
            terms[f"heatmap_{name}"] = (HeatmapTerm(heatmap_criterion, class_weights, side), config.heatmap_weight)
        for side, name in enumerate(EXTREME_SIDES):
            terms[f"offset_{name}"] = (extreme_offset_term(side), config.offset_weight)
    elif box_head == "center":
        terms.update(size=(size_term, config.size_weight), offset=(offset_term, config.offset_weight))
    else:
        terms["box"] = (box_term(dfl_bins), config.box_weight)
        if dfl_bins:
            terms["dfl"] = (dfl_term(dfl_bins), config.dfl_weight)
    return DetectionLoss(terms)
