"""Loading ImageNet weights into a backbone: a local file, or torchvision's weights when reachable."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn


def load_backbone_weights(module: nn.Module, weights: str | None, torchvision_enum: str | None) -> None:
    """Load `weights` into `module` in place; None leaves the random initialisation.

    `weights` is a path to a state dict (`torch.save(model.state_dict())`, loaded with weights_only=True)
    or "imagenet" for torchvision's default weights of `torchvision_enum` (needs them cached or online).
    Keys the module lacks (a classifier, say) are ignored; a shape mismatch is an error.
    """
    if weights is None:
        return
    if weights == "imagenet":
        if torchvision_enum is None:
            raise ValueError("no torchvision ImageNet weights exist for this backbone; pass a file")
        enum = getattr(torchvision.models, torchvision_enum).DEFAULT
        try:
            state = enum.get_state_dict(progress=False)
        except Exception as error:  # network or cache failures come in many types
            raise RuntimeError(
                f"could not load torchvision weights {enum} ({error}); "
                "download them elsewhere and pass the file with --backbone-weights FILE") from error
    else:
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"backbone weights file not found: {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
    own = module.state_dict()
    matched = {k: v for k, v in state.items() if k in own}
    if not matched:
        raise ValueError(f"backbone weights {weights}: no parameter names match this backbone")
    for key, value in matched.items():
        if value.shape != own[key].shape:
            raise ValueError(f"backbone weights {weights}: {key} has shape {tuple(value.shape)}, "
                             f"expected {tuple(own[key].shape)}")
    module.load_state_dict(matched, strict=False)
