"""Regression losses: the masked L1 of the center head's size and offset (and the exdet task's extreme-point
offsets, the keypoints task's joint offsets) on gathered pixels, the ltrb head's GIoU (torchvision's) and
Distribution Focal Loss on its sample pixels, and the reference's MSE heatmap criterion (its `mse_loss` option)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.ops import generalized_box_iou_loss

from centernet.losses.focal import distribution_focal_loss
from centernet.tensors import DFL_BIN_WIDTH, gather_pixels, ltrb_distances, paired_box_iou, pixel_centres


def masked_l1_loss(pred: torch.Tensor, index: torch.Tensor, mask: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between pred (B, D, H, W) gathered at index (B, M) and target (B, M, D), over masked slots: mask (B, M),
    or (B, M, D) per value (the keypoints' joints, labelled one by one).

    Sum |gathered - target| * mask over the masked values, divided by their count + 1e-4: zero when none is
    masked in.
    """
    gathered = gather_pixels(pred, index).float()
    weights = (mask.float() if mask.dim() == gathered.dim() else mask.float().unsqueeze(-1)).expand_as(gathered)
    loss = F.l1_loss(gathered * weights, target.float() * weights, reduction="sum")
    return loss / (weights.sum() + 1e-4)


def _samples(raw: torch.Tensor, box_index: torch.Tensor) -> torch.Tensor:
    """The ltrb head's raw output (B, K, H, W) at S sample pixels box_index (S,) = b * H * W + p -> (S, K)."""
    return raw.permute(0, 2, 3, 1).reshape(-1, raw.shape[1]).index_select(0, box_index)


def _weighted_mean(loss: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """sum(weight * loss) / (sum(weight) + 1e-4): 0 without samples, as TTFNet's average."""
    return (loss * weight).sum() / (weight.sum() + 1e-4)


def ltrb_giou_loss(raw: torch.Tensor, box_index: torch.Tensor, box_target: torch.Tensor, box_weight: torch.Tensor,
                   stride: int, dfl_bins: int = 0) -> torch.Tensor:
    """TTFNet's box loss: GIoU between the boxes the ltrb head predicts at the sample pixels and their targets.

    raw: (B, K, H, W) ltrb head output (see `ltrb_distances`); box_index (S,) sample pixels b * H * W + y * W + x;
    box_target (S, 4) x1, y1, x2, y2 in input pixels; box_weight (S,). A sample's box is its pixel centre minus
    (left, top) and plus (right, bottom). Returns the weighted mean of the GIoU losses, float32.
    """
    loss = generalized_box_iou_loss(ltrb_sample_boxes(raw, box_index, stride, dfl_bins), box_target.float(),
                                    reduction="none")
    return _weighted_mean(loss, box_weight.float())


def ltrb_sample_boxes(raw: torch.Tensor, box_index: torch.Tensor, stride: int, dfl_bins: int = 0) -> torch.Tensor:
    """The boxes (S, 4) x1, y1, x2, y2 in input pixels, float32, that the ltrb head's raw output (B, K, H, W)
    predicts at the S sample pixels box_index (S,) = b * H * W + y * W + x: the pixel centre minus (left, top),
    plus (right, bottom)."""
    height, width = raw.shape[-2:]
    distances = ltrb_distances(_samples(raw, box_index), dfl_bins)  # (S, 4)
    centres = pixel_centres(box_index % (height * width), width, stride)  # (S, 2)
    return torch.cat([centres - distances[:, :2], centres + distances[:, 2:]], dim=1)


def ltrb_iou_map(raw: torch.Tensor, box_index: torch.Tensor, box_target: torch.Tensor, stride: int,
                 dfl_bins: int = 0) -> torch.Tensor:
    """(B, 1, H, W) float32, no gradient: at each of the S sample pixels box_index (S,) the IoU of the box the ltrb
    head's raw output (B, K, H, W) predicts there with its target box_target (S, 4), 1 at every other pixel."""
    batch, _, height, width = raw.shape
    with torch.no_grad():
        iou = paired_box_iou(ltrb_sample_boxes(raw.detach(), box_index, stride, dfl_bins), box_target.float())
        quality = torch.ones(batch * height * width, device=raw.device, dtype=torch.float32)
        return quality.index_copy(0, box_index, iou).view(batch, 1, height, width)


def ltrb_dfl_loss(raw: torch.Tensor, box_index: torch.Tensor, box_target: torch.Tensor, box_weight: torch.Tensor,
                  stride: int, dfl_bins: int) -> torch.Tensor:
    """Distribution Focal Loss (GFL) of the ltrb head's bins at the sample pixels, the mean of the four edges,
    weighted as the GIoU term. Target distances are in bins of DFL_BIN_WIDTH pixels, capped just below the last."""
    height, width = raw.shape[-2:]
    logits = _samples(raw, box_index).float().view(-1, 4, dfl_bins + 1)  # (S, 4, n + 1)
    centres = pixel_centres(box_index % (height * width), width, stride)
    target = torch.cat([centres - box_target[:, :2], box_target[:, 2:] - centres], dim=1) / DFL_BIN_WIDTH
    target = target.clamp(0, dfl_bins - 0.01)
    loss = distribution_focal_loss(logits.reshape(-1, dfl_bins + 1), target.reshape(-1), reduction="none")
    return _weighted_mean(loss.view(-1, 4).mean(dim=1), box_weight.float())


def heatmap_mse_loss(logits: torch.Tensor, target: torch.Tensor, class_weights: torch.Tensor | None = None,
                     ignore: torch.Tensor | None = None) -> torch.Tensor:
    """The reference's MSE heatmap option: the mean of (sigmoid(x) - y)^2 over the heatmap (torch.nn.MSELoss on
    the sigmoid outputs against the Gaussian targets).

    logits, target: (B, C, H, W), target in [0, 1]; class_weights: (C,) or None, each channel's squared errors
    scaled by its weight; ignore: (B, C, H, W) bool or None, pixels left out of the sum and of the count (peaks
    excepted). Returns a float32 scalar; without weights and ignored pixels exactly torch.nn.MSELoss's value.
    """
    loss = (logits.float().sigmoid() - target.float()).square()
    if class_weights is not None:
        loss = loss * class_weights.to(loss).view(1, -1, 1, 1)
    if ignore is None:
        return loss.mean()
    counted = ~(ignore & (target != 1))
    return (loss * counted).sum() / counted.sum().clamp(min=1)
