"""Tensor helpers shared by the losses and the decoder (which must not import each other)."""

from __future__ import annotations

import torch


def gather_pixels(feature_map: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Pick pixels from feature_map (B, D, H, W) at flat index (B, M) = y * W + x -> (B, M, D)."""
    batch, channels = feature_map.shape[:2]
    flat = feature_map.reshape(batch, channels, -1)
    return flat.gather(2, index.unsqueeze(1).expand(-1, channels, -1)).transpose(1, 2)
