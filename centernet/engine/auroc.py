"""Per-class AUROC of the heatmap as a per-pixel classifier, streamed over a dataset in fixed memory."""

from __future__ import annotations

import torch


class HeatmapAUROC:
    """Positives are the Gaussian peaks (target == 1), negatives every other pixel of that class channel.

    Scores are binned into `bins` equal-width histograms per class, so the whole validation set costs
    (C, bins) memory; pairs falling in one bin count as ties (half), which bounds the error by the bin width.
    """

    def __init__(self, num_classes: int, bins: int = 4096) -> None:
        self.bins = bins
        self.positive = torch.zeros(num_classes, bins, dtype=torch.float64)
        self.negative = torch.zeros(num_classes, bins, dtype=torch.float64)

    def update(self, probabilities: torch.Tensor, target: torch.Tensor, ignore: torch.Tensor | None = None) -> None:
        """probabilities, target: (B, C, H, W); any device. ignore: (B, C, H, W) bool or None, pixels that are
        no negatives (inside crowd regions); peaks there stay positives."""
        num_classes = probabilities.shape[1]
        scores = probabilities.detach().float().transpose(0, 1).reshape(num_classes, -1)
        is_peak = target.transpose(0, 1).reshape(num_classes, -1) == 1
        is_negative = ~is_peak
        if ignore is not None:
            is_negative &= ~ignore.transpose(0, 1).reshape(num_classes, -1)
        bin_index = (scores.clamp(0, 1) * (self.bins - 1)).round().long()
        offsets = torch.arange(num_classes, device=scores.device)[:, None] * self.bins
        flat = (bin_index + offsets).reshape(-1)
        for counts, mask in ((self.positive, is_peak), (self.negative, is_negative)):
            histogram = torch.bincount(flat[mask.reshape(-1)], minlength=num_classes * self.bins)
            counts += histogram.view(num_classes, self.bins).double().cpu()

    def compute(self) -> list[float | None]:
        """AUROC per class; None for a class without positives or without negatives."""
        results: list[float | None] = []
        for positive, negative in zip(self.positive, self.negative, strict=True):
            total_positive, total_negative = positive.sum(), negative.sum()
            if total_positive == 0 or total_negative == 0:
                results.append(None)
                continue
            negatives_below = torch.cumsum(negative, 0) - negative
            wins = (positive * (negatives_below + 0.5 * negative)).sum()
            results.append(float(wins / (total_positive * total_negative)))
        return results
