"""Test oracles: the original CenterNet's formulations, written independently of the package (nothing here imports
the code under test). Formulas as REFERENCE.md states them. `scripts/benchmark.py` times them as the baselines.

- Target encoding: the original per-object loop (ctdet.py) with its own Gaussian radius, kernel and splat, plus
  the one difference our encoder is meant to have: when several objects share a peak pixel, only the largest
  keeps its size / offset slot.
- The penalty-reduced focal loss: the reference's clamped form, and the plain log-sigmoid formula.
- Extreme-point grouping (ExtremeNet's exct_decode): every one of the K^4 (top, left, bottom, right) combinations
  of the top-K peaks of each extreme map, scored and rejected as the reference does.
- Colour augmentation: the reference's per-image numpy colour jitter and PCA lighting on a float image in [0, 1],
  drawing from the generator in the reference's order (the package draws the same parameters in the workers and
  applies them batched on the device).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def reference_gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """CornerNet's radius: the min of three roots, each computed as (b + sqrt(b^2 - 4ac)) / 2 as the reference
    does (not the exact geometric radius; trained models depend on it)."""
    roots = []
    for a, b, c in ((1, height + width, width * height * (1 - min_overlap) / (1 + min_overlap)),
                    (4, 2 * (height + width), (1 - min_overlap) * width * height),
                    (4 * min_overlap, -2 * min_overlap * (height + width), (min_overlap - 1) * width * height)):
        roots.append((b + math.sqrt(b * b - 4 * a * c)) / 2)
    return min(roots)


def reference_gaussian_2d(diameter: int, sigma: float) -> np.ndarray:
    radius = (diameter - 1.0) / 2.0
    y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    kernel = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    kernel[kernel < np.finfo(kernel.dtype).eps * kernel.max()] = 0
    return kernel


def reference_draw_gaussian(heatmap: np.ndarray, center, radius: int) -> np.ndarray:
    """Splat into `heatmap` (H, W) by element-wise max, the window clipped at the border (in place; returned)."""
    diameter = 2 * radius + 1
    kernel = reference_gaussian_2d(diameter, sigma=diameter / 6)
    x, y = int(center[0]), int(center[1])
    height, width = heatmap.shape[0:2]
    left, right = min(x, radius), min(width - x, radius + 1)
    top, bottom = min(y, radius), min(height - y, radius + 1)
    window = heatmap[y - top:y + bottom, x - left:x + right]
    kernel = kernel[radius - top:radius + bottom, radius - left:radius + right]
    if min(kernel.shape) > 0 and min(window.shape) > 0:
        np.maximum(window, kernel, out=window)
    return heatmap


def reference_encode(boxes_xyxy: np.ndarray, classes: np.ndarray, num_classes: int, output_size: tuple[int, int],
                     stride: int = 4, max_objects: int = 128) -> dict[str, np.ndarray]:
    """The original per-object loop: every valid box is masked in, shared peaks included.

    boxes_xyxy (N, 4) in input pixels, classes (N,) in [0, C). Returns heatmap (C, H, W) float32 and (M,) slots
    size / offset (M, 2) float32, index (M,) int64, mask (M,) uint8, with M = `max_objects`.
    """
    height, width = output_size
    heatmap = np.zeros((num_classes, height, width), dtype=np.float32)
    size = np.zeros((max_objects, 2), dtype=np.float32)
    offset = np.zeros((max_objects, 2), dtype=np.float32)
    index = np.zeros(max_objects, dtype=np.int64)
    mask = np.zeros(max_objects, dtype=np.uint8)
    for k in range(min(len(boxes_xyxy), max_objects)):
        box = np.array(boxes_xyxy[k], dtype=np.float32) / stride
        box[[0, 2]] = np.clip(box[[0, 2]], 0, width - 1)
        box[[1, 3]] = np.clip(box[[1, 3]], 0, height - 1)
        box_h, box_w = box[3] - box[1], box[2] - box[0]
        if box_h > 0 and box_w > 0:
            radius = max(0, int(reference_gaussian_radius(math.ceil(box_h), math.ceil(box_w))))
            center = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], dtype=np.float32)
            peak = center.astype(np.int32)
            reference_draw_gaussian(heatmap[int(classes[k])], peak, radius)
            size[k] = 1.0 * box_w, 1.0 * box_h
            index[k] = peak[1] * width + peak[0]
            offset[k] = center - peak
            mask[k] = 1
    return {"heatmap": heatmap, "size": size, "offset": offset, "index": index, "mask": mask}


def shared_peak_duplicates(reference: dict[str, np.ndarray]) -> np.ndarray:
    """(M,) bool: reference slots that another masked-in object beats at the same peak index, by a larger area,
    or by an equal area and an earlier slot. The size and offset heads hold one box per pixel, so these are
    the slots our encoder leaves empty (whatever the classes)."""
    mask = reference["mask"].astype(bool)
    area = reference["size"][:, 0] * reference["size"][:, 1]
    duplicate = np.zeros_like(mask)
    for k in np.flatnonzero(mask):
        for j in np.flatnonzero(mask):
            same_peak = reference["index"][j] == reference["index"][k]
            if j != k and same_peak and (area[j] > area[k] or (area[j] == area[k] and j < k)):
                duplicate[k] = True
    return duplicate


def reference_focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The reference heatmap loss: sigmoid, clamp to [1e-4, 1 - 1e-4], then the masked pow/log expression."""
    pred = logits.sigmoid().clamp(1e-4, 1 - 1e-4)
    positive = target.eq(1).float()
    negative = target.lt(1).float()
    negative_weights = torch.pow(1 - target, 4)
    positive_loss = (torch.log(pred) * torch.pow(1 - pred, 2) * positive).sum()
    negative_loss = (torch.log(1 - pred) * torch.pow(pred, 2) * negative_weights * negative).sum()
    num_positive = positive.sum()
    if num_positive == 0:
        return -negative_loss
    return -(positive_loss + negative_loss) / num_positive


def log_sigmoid_focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0,
                           class_weights: torch.Tensor | None = None,
                           ignore: torch.Tensor | None = None) -> torch.Tensor:
    """CornerNet's focal loss with Gaussian penalty reduction on logits, as plain autograd on log-sigmoid terms.

    logits, target: (B, C, H, W); target peaks are exactly 1. With p = sigmoid(logits):
    L = -1/N * sum( y == 1: (1 - p)^alpha log p ; y < 1: (1 - y)^beta p^alpha log(1 - p) ),
    N = max(number of peaks, 1). Written with log-sigmoid, so it never clamps p (the reference's clamp
    to [1e-4, 1 - 1e-4] stops learning there) and stays finite for any logit, in fp32 and under autocast
    (computed in float32). `class_weights` (C,) scales each class channel; pixels of the bool mask `ignore`
    (B, C, H, W) count neither as positives nor as negatives, except peaks, which stay positive.
    """
    logits, target = logits.float(), target.float()
    log_p = F.logsigmoid(logits)
    log_not_p = F.logsigmoid(-logits)  # log(1 - p), exact where 1 - sigmoid(x) would round to 0
    positive = target == 1
    # powers as exp(alpha * log) so gradients stay finite for any alpha, also where p is exactly 0 or 1
    positive_term = (alpha * log_not_p).exp() * log_p
    negative_term = (1 - target).pow(beta) * (alpha * log_p).exp() * log_not_p
    loss = torch.where(positive, positive_term, negative_term)
    if ignore is not None:
        loss = loss.masked_fill(ignore & ~positive, 0.0)
    if class_weights is not None:
        loss = loss * class_weights.to(loss).view(1, -1, 1, 1)
    return -loss.sum() / positive.sum().clamp(min=1)


def reference_elliptical_gaussian(radius_x: int, radius_y: int) -> np.ndarray:
    """TTFNet's truncated Gaussian: (2 ry + 1, 2 rx + 1), sigma = diameter / 6 per axis, tiny values zeroed."""
    diameter_x, diameter_y = 2 * radius_x + 1, 2 * radius_y + 1
    y, x = np.ogrid[-radius_y:radius_y + 1, -radius_x:radius_x + 1]
    sigma_x, sigma_y = diameter_x / 6, diameter_y / 6
    kernel = np.exp(-(x * x / (2 * sigma_x * sigma_x) + y * y / (2 * sigma_y * sigma_y)))
    kernel[kernel < np.finfo(kernel.dtype).eps * kernel.max()] = 0
    return kernel


def reference_draw_truncated(heatmap: np.ndarray, center, radius_x: int, radius_y: int) -> None:
    """Splat an elliptical Gaussian into `heatmap` (H, W) by element-wise max, clipped at the border."""
    kernel = reference_elliptical_gaussian(radius_x, radius_y)
    x, y = int(center[0]), int(center[1])
    height, width = heatmap.shape
    left, right = min(x, radius_x), min(width - x, radius_x + 1)
    top, bottom = min(y, radius_y), min(height - y, radius_y + 1)
    window = heatmap[y - top:y + bottom, x - left:x + right]
    np.maximum(window, kernel[radius_y - top:radius_y + bottom, radius_x - left:radius_x + right], out=window)


def reference_ltrb_encode(boxes_xyxy: np.ndarray, classes: np.ndarray, num_classes: int,
                          output_size: tuple[int, int], stride: int = 4, alpha: float = 0.54,
                          beta: float = 0.54) -> dict[str, np.ndarray]:
    """TTFNet's per-object loop (target_single_image), in our frames: objects from the largest to the smallest
    (equal areas: the later first), each splatting its alpha Gaussian into the heatmap and writing its box and
    weights (beta-Gaussian value * log(area) / the window's sum) over its beta window, so smaller objects overwrite.

    boxes_xyxy (N, 4) in input pixels. Returns heatmap (C, H, W), box_target (4, H, W) input pixels and
    weight (H, W), zero where no object regresses.
    """
    height, width = output_size
    heatmap = np.zeros((num_classes, height, width), np.float32)
    box_target = np.zeros((4, height, width), np.float32)
    weight = np.zeros((height, width), np.float32)
    boxes = np.minimum(np.maximum(np.asarray(boxes_xyxy, np.float32), 0), [width * stride, height * stride] * 2)
    areas = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 2.0)
    for k in sorted(range(len(boxes)), key=lambda k: (-areas[k], -k)):
        out = boxes[k] / stride
        out[[0, 2]] = np.clip(out[[0, 2]], 0, width - 1)
        out[[1, 3]] = np.clip(out[[1, 3]], 0, height - 1)
        box_w, box_h = out[2] - out[0], out[3] - out[1]
        if box_w <= 0 or box_h <= 0:
            continue
        peak = (int((out[0] + out[2]) / 2), int((out[1] + out[3]) / 2))
        reference_draw_truncated(heatmap[int(classes[k])], peak, int(box_w / 2 * alpha), int(box_h / 2 * alpha))
        window = np.zeros((height, width), np.float64)
        reference_draw_truncated(window, peak, int(box_w / 2 * beta), int(box_h / 2 * beta))
        inside = window > 0
        box_target[:, inside] = boxes[k][:, None]
        weight[inside] = window[inside] * math.log(areas[k]) / window[inside].sum()
    return {"heatmap": heatmap, "box_target": box_target, "weight": weight}


# PCA of ImageNet pixel colours, as used by the reference (CornerNet): rows B, G, R as the reference's images are
# BGR; reversed to R, G, B for our RGB images. Columns are the eigenvectors, in the order of the eigenvalues.
PCA_EIGENVALUES = np.array([0.2141788, 0.01817699, 0.00341571], dtype=np.float32)
PCA_EIGENVECTORS_BGR = np.array(
    [
        [-0.58752847, -0.69563484, 0.41340352],
        [-0.5832747, 0.00994535, -0.81221408],
        [-0.56089297, 0.71832671, 0.41158938],
    ],
    dtype=np.float32,
)
PCA_EIGENVECTORS_RGB = np.ascontiguousarray(PCA_EIGENVECTORS_BGR[::-1])


def _blend(image: np.ndarray, other: np.ndarray | float, factor: float) -> np.ndarray:
    """factor * image + (1 - factor) * other: factor > 1 moves away from `other`, < 1 towards it."""
    return image * factor + other * (1.0 - factor)


def color_jitter(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Reference colour augmentation on an (H, W, 3) float32 RGB image in [0, 1]; returns a new array.

    Brightness (scale), contrast (blend with the mean grey level) and saturation (blend with the grey
    image), applied in random order, each with factor 1 + U(-strength, strength). As in the reference,
    the grey image is computed once, before any of the three. The result is not clipped.
    """
    gray = cv2.cvtColor(image.astype(np.float32), cv2.COLOR_RGB2GRAY)
    gray_mean = float(gray.mean())
    result = image.astype(np.float32, copy=True)
    for operation in rng.permutation(3):
        factor = 1.0 + rng.uniform(-strength, strength)
        if operation == 0:  # brightness
            result = result * factor
        elif operation == 1:  # contrast
            result = _blend(result, gray_mean, factor)
        else:  # saturation
            result = _blend(result, gray[:, :, None], factor)
    return result.astype(np.float32)


def pca_lighting(image: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """AlexNet-style PCA lighting noise on an (H, W, 3) float32 RGB image in [0, 1]; returns a new array.

    Adds eigenvectors @ (eigenvalues * alpha), alpha ~ N(0, std) per component, to every pixel, using the
    reference's eigenvectors with rows reordered from BGR to RGB. The result is not clipped.
    """
    alpha = rng.normal(0.0, std, size=3).astype(np.float32)
    shift_rgb = PCA_EIGENVECTORS_RGB @ (PCA_EIGENVALUES * alpha)
    return (image + shift_rgb).astype(np.float32)


def to_float_image(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> float32 in [0, 1]."""
    return image.astype(np.float32) / 255.0


def to_uint8_image(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] (values outside are clipped) -> uint8, rounded."""
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def reference_colour_augmentation(image: np.ndarray, jitter: float, lighting: float,
                                  rng: np.random.Generator) -> np.ndarray:
    """The workers' colour step before it moved to the device: (H, W, 3) uint8 RGB -> colour jitter (if `jitter`
    > 0), then PCA lighting (if `lighting` > 0), on the [0, 1] float image; returned as float32 in [0, 1], clipped
    but not rounded (`to_uint8_image` of it is what the workers returned)."""
    image_float = to_float_image(image)
    if jitter > 0:
        image_float = color_jitter(image_float, jitter, rng)
    if lighting > 0:
        image_float = pca_lighting(image_float, lighting, rng)
    return np.clip(image_float, 0.0, 1.0)


def _reference_topk(heat: torch.Tensor, k: int):
    """The reference's _nms (3x3 max-pool, keep equal) then _topk over all classes and pixels of (B, C, H, W)."""
    batch, _, height, width = heat.shape
    pooled = F.max_pool2d(heat, 3, stride=1, padding=1)
    heat = heat * (pooled == heat).float()
    scores, indices = heat.view(batch, -1).topk(k)
    classes = indices // (height * width)
    pixel = indices % (height * width)
    return scores, classes, pixel // width, pixel % width


def _reference_combinations(centre: torch.Tensor, extremes: torch.Tensor, image: int, k: int,
                            score_threshold: float, centre_threshold: float):
    """One image's K^4 combinations, as exct_decode expands them: (score (K, K, K, K), kept (K, K, K, K) bool,
    class (K, K, K, K), xs and ys of the top, left, bottom and right peaks, each broadcastable to (K, K, K, K))."""
    peaks = [_reference_topk(extremes[image:image + 1, side], k) for side in range(4)]
    shape = [(k, 1, 1, 1), (1, k, 1, 1), (1, 1, k, 1), (1, 1, 1, k)]
    score, label, ys, xs = ([peaks[side][field][0].view(shape[side]).expand(k, k, k, k) for side in range(4)]
                            for field in range(4))
    (ty, ly, by, ry), (tx, lx, bx, rx) = ys, xs
    centre_x = ((lx + rx).float() + 0.5).div(2).long()
    centre_y = ((ty + by).float() + 0.5).div(2).long()
    centre_score = centre[image, label[0], centre_y, centre_x]
    total = (score[0] + score[1] + score[2] + score[3] + 2 * centre_score) / 6
    wrong_class = (label[0] != label[1]) | (label[0] != label[2]) | (label[0] != label[3])
    wrong_top = (ty > ly) | (ty > by) | (ty > ry)
    wrong_left = (lx > tx) | (lx > bx) | (lx > rx)
    wrong_bottom = (by < ty) | (by < ly) | (by < ry)
    wrong_right = (rx < tx) | (rx < lx) | (rx < bx)
    weak = ((score[0] < score_threshold) | (score[1] < score_threshold) | (score[2] < score_threshold)
            | (score[3] < score_threshold) | (centre_score < centre_threshold))
    kept = ~(wrong_class | wrong_top | wrong_left | wrong_bottom | wrong_right | weak)
    return total, kept, label[0], xs, ys


def reference_exct_decode(centre: torch.Tensor, extremes: torch.Tensor, k: int = 40, num_detections: int = 100,
                          score_threshold: float = 0.1, centre_threshold: float = 0.1) -> torch.Tensor:
    """The reference's decoding cost: per image the K^4 expansion, rejected combinations' scores lowered by 1, and
    the top `num_detections` scores (B, num_detections) (the benchmark's baseline)."""
    best = []
    for image in range(extremes.shape[0]):
        total, kept, *_ = _reference_combinations(centre, extremes, image, k, score_threshold, centre_threshold)
        best.append((total - (~kept).float()).view(-1).topk(num_detections).values)
    return torch.stack(best)


def reference_extreme_groups(centre: torch.Tensor, extremes: torch.Tensor, k: int, score_threshold: float = 0.1,
                             centre_threshold: float = 0.1) -> list[tuple]:
    """ExtremeNet's exct_decode grouping on probabilities centre (B, C, H, W) and extremes (B, 4, C, H, W): all K^4
    combinations expanded, rejected where classes differ, where the geometry is invalid (top below any other
    point, left right of any, bottom above any, right left of any), or where a score is below its threshold; the
    centre is looked up at (int((l.x + r.x + 0.5) / 2), int((t.y + b.y + 0.5) / 2)). Returns the kept groups as
    tuples (image, class, tx, ty, lx, ly, bx, by, rx, ry, score), unordered."""
    found = []
    for image in range(extremes.shape[0]):
        total, kept, label, (tx, lx, bx, rx), (ty, ly, by, ry) = _reference_combinations(
            centre, extremes, image, k, score_threshold, centre_threshold)
        for t, l, b, r in kept.nonzero().tolist():  # noqa: E741
            found.append((image, int(label[t, l, b, r]), int(tx[t, 0, 0, 0]), int(ty[t, 0, 0, 0]),
                          int(lx[0, l, 0, 0]), int(ly[0, l, 0, 0]), int(bx[0, 0, b, 0]), int(by[0, 0, b, 0]),
                          int(rx[0, 0, 0, r]), int(ry[0, 0, 0, r]), float(total[t, l, b, r])))
    return found
