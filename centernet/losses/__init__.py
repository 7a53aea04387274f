"""Losses: the CenterNet heatmap and regression losses, the focal-loss family, and the aggregator."""

from centernet.losses.aggregate import HEATMAP_CRITERIA, DetectionLoss, HeatmapTerm, heatmap_criterion
from centernet.losses.focal import (
    ClassBalancedFocalLoss,
    DistributionFocalLoss,
    QualityFocalLoss,
    SigmoidFocalLoss,
    SoftmaxFocalLoss,
    class_balanced_focal_loss,
    class_balanced_weights,
    distribution_focal_loss,
    quality_focal_loss,
    sigmoid_focal_loss,
    softmax_focal_loss,
)
from centernet.losses.penalty_reduced import penalty_reduced_focal_loss
from centernet.losses.regression import masked_l1_loss

__all__ = [
    "HEATMAP_CRITERIA",
    "ClassBalancedFocalLoss",
    "DetectionLoss",
    "DistributionFocalLoss",
    "QualityFocalLoss",
    "SigmoidFocalLoss",
    "HeatmapTerm",
    "SoftmaxFocalLoss",
    "class_balanced_focal_loss",
    "class_balanced_weights",
    "distribution_focal_loss",
    "heatmap_criterion",
    "masked_l1_loss",
    "penalty_reduced_focal_loss",
    "quality_focal_loss",
    "sigmoid_focal_loss",
    "softmax_focal_loss",
]
