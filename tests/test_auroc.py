"""Heatmap AUROC against the pairwise definition."""

import pytest
import torch

from centernet.engine.auroc import HeatmapAUROC


def pairwise_auroc(scores: torch.Tensor, positive: torch.Tensor) -> float:
    pos, neg = scores[positive], scores[~positive]
    wins = (pos[:, None] > neg[None, :]).double() + 0.5 * (pos[:, None] == neg[None, :]).double()
    return float(wins.mean())


def test_matches_the_pairwise_definition_and_streams_over_batches():
    generator = torch.Generator().manual_seed(0)
    target = torch.rand(4, 2, 8, 8, generator=generator) * 0.9
    target[:, :, 2, 3] = 1.0
    target[0, 1, 5, 5] = 1.0
    probabilities = (torch.rand(4, 2, 8, 8, generator=generator) + (target == 1) * 0.5).clamp(max=1)
    metric = HeatmapAUROC(num_classes=2, bins=100_000)
    metric.update(probabilities[:2], target[:2])
    metric.update(probabilities[2:], target[2:])
    for channel, value in enumerate(metric.compute()):
        expected = pairwise_auroc(probabilities[:, channel].reshape(-1), target[:, channel].reshape(-1) == 1)
        assert value == pytest.approx(expected, abs=1e-4)


def test_perfect_random_and_undefined_cases():
    target = torch.zeros(1, 3, 4, 4)
    target[0, :2, 1, 1] = 1.0
    probabilities = torch.full((1, 3, 4, 4), 0.2)
    probabilities[0, 0, 1, 1] = 0.9  # class 0: the peak scores highest; class 1: all tied
    metric = HeatmapAUROC(num_classes=3)
    metric.update(probabilities, target)
    perfect, tied, undefined = metric.compute()
    assert perfect == 1.0 and tied == 0.5 and undefined is None
