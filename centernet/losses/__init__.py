"""Losses: the CenterNet heatmap and regression losses, the focal-loss family, and the aggregator."""

from centernet.losses.aggregate import HEATMAP_CRITERIA, DetectionLoss, build_criterion
from centernet.losses.centernet import gather_pixels, masked_l1_loss, penalty_reduced_focal_loss

__all__ = [
    "HEATMAP_CRITERIA",
    "DetectionLoss",
    "build_criterion",
    "gather_pixels",
    "masked_l1_loss",
    "penalty_reduced_focal_loss",
]
