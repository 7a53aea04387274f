"""--init-from: start a run from a trained detector's weights, on a data set whose classes may differ.

What the run loads from the checkpoint (ours, best.pt or last.pt, or an original CenterNet checkpoint converted by
scripts/convert_reference_checkpoint.py with --classes): its inference weights (the averaged ones where it has them,
as `Predictor.from_file` reads it), every tensor whose name and shape match the new model's; of the final 1x1 conv
of every head with one channel per class (the task's `HeadLayout.class_heads`: the centre heatmap, exdet's four
extreme-point heatmaps, in every stack of a stacked body), the weight rows and bias entries of the classes whose
names appear in both label sets (compared case-insensitively), moved to their new positions. Everything else keeps
its fresh initialisation: the rows of new classes start from the usual prior (bias -2.19). Optimizer state and epoch
start fresh; that is what --resume is for. The architecture (arch, box head, its bins, neck shortcuts, head
channels) must be the one the checkpoint was trained with, else a one-line error names the difference.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from tqdm import tqdm

from centernet.catalog import ARCHITECTURES
from centernet.checkpoint import checkpoint_config, load_checkpoint
from centernet.config import ModelConfig
from centernet.errors import CheckpointError
from centernet.model.heads import CenterNetHeads
from centernet.tasks import task_for

ARCHITECTURE_FIELDS = ("arch", "box_head", "dfl_bins", "neck_shortcuts", "neck_channels", "head_conv")


@dataclass
class InitReport:
    """What `initialise_from` did. fates: per new class index, the old index it was carried over from, or None
    (a new class, from the prior); counts are of state-dict tensors."""

    path: str
    class_names: list[str]
    old_class_names: list[str]
    fates: list[int | None]
    loaded: int
    remapped: int
    initialised: int
    unused: int

    def summary(self) -> str:
        carried = sum(fate is not None for fate in self.fates)
        new = len(self.fates) - carried
        return (f"init-from {self.path}: loaded {self.loaded} tensors, remapped {self.remapped} (heatmap rows of "
                f"{carried} of {len(self.fates)} classes carried over), initialised {self.initialised} tensors and "
                f"{new} new {'class' if new == 1 else 'classes'} from the prior; {self.unused} checkpoint tensors "
                "unused")

    def class_table(self) -> str:
        width = max(len(name) for name in ["class", *self.class_names])
        rows = [f"  {'class':<{width}}  fate"]
        for name, fate in zip(self.class_names, self.fates, strict=True):
            how = "new: heatmap from the prior" if fate is None else (
                f"carried over from old index {fate} ({self.old_class_names[fate]})")
            rows.append(f"  {name:<{width}}  {how}")
        return "\n".join(rows)


def class_fates(class_names: Sequence[str], old_class_names: Sequence[str]) -> list[int | None]:
    """For each new class, the index of the old class of the same name (case-insensitive), or None."""
    old_index: dict[str, int] = {}
    for index, name in enumerate(old_class_names):
        old_index.setdefault(name.casefold(), index)
    return [old_index.get(name.casefold()) for name in class_names]


def _architecture(config: ModelConfig) -> dict[str, object]:
    values = {name: getattr(config, name) for name in ARCHITECTURE_FIELDS}
    if values["head_conv"] is None and config.arch in ARCHITECTURES:
        values["head_conv"] = ARCHITECTURES[config.arch].head_conv  # unset means the arch's default
    return values


def check_architecture(saved: ModelConfig, ours: ModelConfig, path: str | os.PathLike) -> None:
    """A one-line CheckpointError naming each architecture field where the checkpoint differs from this run."""
    theirs, mine = _architecture(saved), _architecture(ours)
    differences = [f"{name} {theirs[name]!r}, this run's {mine[name]!r}" for name in ARCHITECTURE_FIELDS
                   if theirs[name] != mine[name]]
    if differences:
        raise CheckpointError(f"--init-from {path}: the checkpoint's architecture differs: " + "; ".join(differences))


def _carry_rows(fresh: torch.Tensor, old: torch.Tensor, fates: list[int | None]) -> torch.Tensor:
    """`fresh` (C_new, ...) with row j replaced by `old` (C_old, ...) row fates[j] where that is not None."""
    new_rows = [new_index for new_index, old_index in enumerate(fates) if old_index is not None]
    rows = fresh.clone()
    rows[new_rows] = old.to(fresh)[[fates[new_index] for new_index in new_rows]]
    return rows


def class_row_parameters(model: nn.Module, class_heads: Sequence[str]) -> set[str]:
    """The state-dict names of the last-layer weight and bias of each head in `class_heads`, in every set of heads
    of `model` (one per stack): the tensors with one row per class."""
    return {f"{prefix}.{name}" for prefix, module in model.named_modules() if isinstance(module, CenterNetHeads)
            for head in class_heads for name in module.output_parameter_names(head)}


def initialise_from(model: nn.Module, path: str | os.PathLike, class_names: Sequence[str], config: ModelConfig,
                    verbose: bool = False) -> InitReport:
    """Load what fits of the checkpoint at `path` into `model` (built from `config`, classes `class_names`), as
    the module docstring says; returns what was loaded, remapped and initialised, and with `verbose` prints it
    (the summary line, then the fate of each class)."""
    try:
        state = load_checkpoint(path)
    except CheckpointError as error:
        if "not a centernet checkpoint" not in str(error):
            raise
        raise CheckpointError(f"{error}; an original CenterNet checkpoint needs converting first: "
                              "scripts/convert_reference_checkpoint.py ... --classes coco|voc|FILE") from None
    check_architecture(checkpoint_config(state, path).model, config, path)
    weights: dict[str, torch.Tensor] = state.get("ema_model", state["model"])
    old_class_names = [str(name) for name in state["class_names"]]
    fates = class_fates(class_names, old_class_names)
    class_rows = class_row_parameters(model, task_for(config).head_layout(len(class_names)).class_heads)
    own = model.state_dict()
    merged, counts = {}, {"loaded": 0, "remapped": 0, "initialised": 0}
    for name, fresh in own.items():
        old = weights.get(name)
        if name in class_rows and old is not None and old.shape[1:] == fresh.shape[1:] and any(
                fate is not None for fate in fates):
            identical = old.shape == fresh.shape and fates == list(range(len(fates)))
            merged[name] = old if identical else _carry_rows(fresh, old, fates)
            counts["loaded" if identical else "remapped"] += 1
        elif old is not None and old.shape == fresh.shape and name not in class_rows:
            merged[name] = old
            counts["loaded"] += 1
        else:
            merged[name] = fresh
            counts["initialised"] += 1
    model.load_state_dict(merged)
    unused = len(weights) - counts["loaded"] - counts["remapped"]  # each used tensor is one of the checkpoint's
    report = InitReport(str(path), list(class_names), old_class_names, fates, **counts, unused=unused)
    if verbose:
        tqdm.write(f"{report.summary()}\n{report.class_table()}")
    return report
