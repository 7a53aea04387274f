"""Decoding primitives, head outputs -> `DecodedBatch`: 3x3 max-pool peaks, top-K over classes and pixels, boxes
from a box head, ExtremeNet's centre grouping of extreme points, flip-test merges; the frame change to original
image pixels, and the detections of several test scales merged by class-wise NMS. Which of them a model's heads
need is its task's business (`centernet.tasks`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import batched_nms

from centernet.config import STRIDE
from centernet.structures import DecodedBatch, Detections, apply_affine
from centernet.tensors import gather_pixels, pixel_centres


def peak_mask(heatmap: torch.Tensor, kernel: int = 3) -> torch.Tensor:
    """heatmap (B, C, H, W) with only the pixels equal to their kernel x kernel neighbourhood max kept."""
    pooled = F.max_pool2d(heatmap, kernel, stride=1, padding=(kernel - 1) // 2)
    return heatmap * (pooled == heatmap).to(heatmap.dtype)


def top_peaks(heatmap: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The k best peaks over all classes and pixels of heatmap (B, C, H, W) probabilities.

    Returns (scores (B, k'), classes (B, k') int64, pixel (B, k') int64 = y * W + x), k' = min(k, C * H * W),
    sorted by score.
    """
    batch, num_classes, height, width = heatmap.shape
    scores, flat = peak_mask(heatmap).reshape(batch, -1).topk(min(k, num_classes * height * width))
    classes = torch.div(flat, height * width, rounding_mode="floor")
    return scores, classes, flat - classes * (height * width)


def decode(heatmap: torch.Tensor, size: torch.Tensor, offset: torch.Tensor | None, k: int) -> DecodedBatch:
    """The center head's top-k boxes per image.

    heatmap: (B, C, H, W) probabilities (after sigmoid); size: (B, 2, H, W) as (w, h) in output pixels;
    offset: (B, 2, H, W) as (dx, dy), or None to place centres at pixel centres (+0.5).
    Returns the k' = min(k, C * H * W) best per image in output-map pixels, sorted by score.
    """
    width = heatmap.shape[-1]
    scores, classes, pixel = top_peaks(heatmap, k)
    y = torch.div(pixel, width, rounding_mode="floor")
    x = pixel - y * width
    box_size = gather_pixels(size, pixel).float()
    if offset is None:
        center_x, center_y = x.float() + 0.5, y.float() + 0.5
    else:
        shift = gather_pixels(offset, pixel).float()
        center_x, center_y = x.float() + shift[..., 0], y.float() + shift[..., 1]
    half_w, half_h = box_size[..., 0] / 2, box_size[..., 1] / 2
    boxes = torch.stack([center_x - half_w, center_y - half_h, center_x + half_w, center_y + half_h], dim=-1)
    return DecodedBatch(boxes, scores.float(), classes, pixel=pixel)


def decode_ltrb(heatmap: torch.Tensor, distances: torch.Tensor, k: int, stride: int = STRIDE) -> DecodedBatch:
    """The ltrb head's top-k boxes per image: each peak's pixel centre minus (left, top), plus (right, bottom).

    heatmap: (B, C, H, W) probabilities; distances: (B, 4, H, W) left, top, right, bottom in input pixels
    (`ltrb_distances`). Returns the k' best per image as `decode`, in output-map pixels.
    """
    width = heatmap.shape[-1]
    scores, classes, pixel = top_peaks(heatmap, k)
    centres = pixel_centres(pixel, width, stride)  # (B, k', 2) input pixels
    edges = gather_pixels(distances, pixel).float()  # (B, k', 4)
    boxes = torch.cat([centres - edges[..., :2], centres + edges[..., 2:]], dim=-1) / stride
    return DecodedBatch(boxes, scores.float(), classes, pixel=pixel)


def merge_flip(heatmap: torch.Tensor, size: torch.Tensor, offset: torch.Tensor | None):
    """Flip test: outputs for [images; mirrored images] (2B, ...) -> averaged (B, ...).

    The heatmap (probabilities) and size are averaged with the mirror's flipped back; the offset comes
    from the original images only, as in the reference.
    """
    half = heatmap.shape[0] // 2
    heatmap = (heatmap[:half] + heatmap[half:].flip(-1)) / 2
    size = (size[:half] + size[half:].flip(-1)) / 2
    return heatmap, size, None if offset is None else offset[:half]


def merge_flip_ltrb(heatmap: torch.Tensor, distances: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip test for the ltrb head: [images; mirrored images] (2B, ...) -> averaged (B, ...).

    The mirror's maps are flipped back, and its left and right distances swapped (a mirror's left edge is the
    image's right one), before averaging with the image's: heatmap (2B, C, H, W), distances (2B, 4, H, W).
    """
    half = heatmap.shape[0] // 2
    mirrored = distances[half:].flip(-1)[:, [2, 1, 0, 3]]
    return (heatmap[:half] + heatmap[half:].flip(-1)) / 2, (distances[:half] + mirrored) / 2


def _to_image(points: torch.Tensor, inverse_affine: torch.Tensor, stride: int,
              image_sizes: torch.Tensor | None) -> torch.Tensor:
    """(B, K, ..., 2) x, y in output-map pixels -> original pixels, clipped to the image when its size is given."""
    flat = points.reshape(points.shape[0], -1, 2)
    mapped = apply_affine(flat * stride, inverse_affine.to(points))
    if image_sizes is not None:
        mapped = torch.minimum(mapped.clamp(min=0), image_sizes.to(mapped)[:, None, :])
    return mapped.reshape(points.shape)


def to_image_frame(decoded: DecodedBatch, inverse_affine: torch.Tensor, image_sizes: torch.Tensor | None = None,
                   stride: int = STRIDE) -> DecodedBatch:
    """A batch's detections from output-map pixels to original image pixels: the boxes' corners and every point
    of the task (their scores and the peak pixels are kept as they are).

    inverse_affine: (B, 2, 3) maps input pixels to original pixels (no rotation, so corners map to corners).
    image_sizes: optional (B, 2) original (width, height) to clip the boxes and points to.
    """
    boxes = _to_image(decoded.boxes.unflatten(-1, (2, 2)), inverse_affine, stride, image_sizes).flatten(-2)
    points = {name: _to_image(value, inverse_affine, stride, image_sizes) for name, value in decoded.points.items()}
    return DecodedBatch(boxes, decoded.scores, decoded.classes, points, decoded.point_scores, decoded.pixel)


def merge_detections(found: Sequence[Detections], iou_threshold: float, top_k: int) -> Detections:
    """One image's detections from several test scales (or any sources) merged into one `Detections`.

    All boxes (x1, y1, x2, y2, in one frame, e.g. original pixels) go through class-wise NMS
    (`torchvision.ops.batched_nms`): of two boxes of the same class overlapping with IoU above `iou_threshold`
    only the higher-scoring one stays, boxes of different classes never suppress each other. The `top_k` best
    are kept, sorted by score, with every field of theirs. (The reference merges its scales with Soft-NMS, which
    decays scores one selected box after another; that sequential loop has no batched torchvision operator, so
    hard NMS it is.)
    """
    merged = Detections.concatenate(found)
    keep = batched_nms(torch.from_numpy(merged.boxes.astype(np.float32)).reshape(-1, 4),
                       torch.from_numpy(merged.scores.astype(np.float32)),
                       torch.from_numpy(merged.classes.astype(np.int64)), iou_threshold)[:top_k]
    return merged.select(keep.numpy())  # sorted by decreasing score


EXTREME_SCORE_THRESHOLD = 0.1  # ExtremeNet: every extreme point of a group scores at least this
CENTRE_SCORE_THRESHOLD = 0.1  # and the centre heatmap at the group's centre


def merge_flip_extremes(centre: torch.Tensor, extremes: torch.Tensor, offsets: torch.Tensor):
    """Flip test for exdet: [images; mirrored images] (2B, ...) -> (B, ...). The mirror's heatmaps are flipped
    back and averaged with the image's, its left map with the image's right and its right with the left (a
    mirror's left-most point is the image's right-most); offsets come from the images only, as the reference."""
    half = centre.shape[0] // 2
    mirrored = extremes[half:].flip(-1)[:, [0, 3, 2, 1]]  # top, right, bottom, left of the mirror
    return (centre[:half] + centre[half:].flip(-1)) / 2, (extremes[:half] + mirrored) / 2, offsets[:half]


def _ragged_pairs(first_key: torch.Tensor, second_key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (i, j) with first_key[i] == second_key[j], without a len(first) x len(second) matrix: (i (P,), j (P,))."""
    order = torch.argsort(second_key)
    sorted_key = second_key[order]
    start = torch.searchsorted(sorted_key, first_key)
    counts = torch.searchsorted(sorted_key, first_key, right=True) - start
    first = torch.repeat_interleave(torch.arange(len(first_key), device=first_key.device), counts)
    offsets = torch.arange(len(first), device=first_key.device) - (torch.cumsum(counts, 0) - counts)[first]
    return first, order[start[first] + offsets]


def _rank_within(row: torch.Tensor, score: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(order, rank): `order` sorts entries by row, best score first (scores in [0, 1]); `rank` (in that order) is
    each entry's place within its row, 0 for the best."""
    order = torch.argsort(row.double() * 2 - score.double())
    sorted_row = row[order]
    return order, torch.arange(len(order), device=row.device) - torch.searchsorted(sorted_row, sorted_row)


def thresholded_peaks(heatmap: torch.Tensor, k: int, threshold: float) -> tuple[torch.Tensor, ...]:
    """The k best peaks of each row of heatmap (N, C, H, W), over its classes and pixels, among those scoring at
    least `threshold`: what `top_peaks` keeps above the threshold, without max-pooling the whole heatmap where
    few pixels pass (a trained model's). A peak equals the max of its 3x3 neighbourhood, as `peak_mask`.

    Returns flat (P,) tensors (row, score, class, y, x), rows ascending, best first within a row.
    """
    rows, num_classes, height, width = heatmap.shape
    flat = heatmap.reshape(-1)
    index = (flat >= threshold).nonzero().squeeze(1)
    if len(index) > flat.numel() // 8:  # a dense map (an untrained model's): one max-pool is cheaper
        scores, classes, pixel = top_peaks(heatmap, k)
        row, column = (scores >= threshold).nonzero(as_tuple=True)
        y = torch.div(pixel[row, column], width, rounding_mode="floor")
        return row, scores[row, column], classes[row, column], y, pixel[row, column] - y * width
    plane = torch.div(index, height * width, rounding_mode="floor")
    y = torch.div(index - plane * (height * width), width, rounding_mode="floor")
    x = index - plane * (height * width) - y * width
    value = flat[index]
    peak = torch.ones_like(index, dtype=torch.bool)
    for step_y, step_x in ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)):
        # a neighbour outside the map is clamped onto the map, to a pixel of the same window
        neighbour = (y + step_y).clamp(0, height - 1) * width + (x + step_x).clamp(0, width - 1)
        peak &= value >= flat[plane * (height * width) + neighbour]
    plane, y, x, value = plane[peak], y[peak], x[peak], value[peak]
    row = torch.div(plane, num_classes, rounding_mode="floor")
    order, rank = _rank_within(row, value)
    order = order[rank < k]
    return row[order], value[order], (plane - row * num_classes)[order], y[order], x[order]


def _extreme_candidates(extremes: torch.Tensor, k: int, offsets: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """The k best peaks of each extreme map (B, 4, C, H, W), those scoring >= EXTREME_SCORE_THRESHOLD, as flat
    (N,) lists: "image", "side" (0..3: top, left, bottom, right), "score", "class", the peak pixel "x", "y", and the
    sub-pixel point "point" (N, 2): the pixel plus its offset (B, 4, 2, H, W), or its centre (+0.5) without."""
    batch, sides, num_classes, height, width = extremes.shape
    row, score, label, y, x = thresholded_peaks(extremes.reshape(batch * sides, num_classes, height, width), k,
                                                EXTREME_SCORE_THRESHOLD)
    image, side = torch.div(row, sides, rounding_mode="floor"), row % sides
    point = torch.stack([x, y], -1).float()
    point = point + 0.5 if offsets is None else point + offsets[image, side, :, y, x].float()  # (N, 2)
    return {"image": image, "side": side, "score": score, "class": label, "x": x, "y": y, "point": point}


def _pairs(peaks: dict[str, torch.Tensor], first: int, second: int, axis: str,
           num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(first, second) peaks of one image and class with first's `axis` coordinate <= second's: their indices
    into `peaks`, (P,) each."""
    key = peaks["image"] * num_classes + peaks["class"]
    a = (peaks["side"] == first).nonzero().squeeze(1)
    b = (peaks["side"] == second).nonzero().squeeze(1)
    i, j = _ragged_pairs(key[a], key[b])
    i, j = a[i], b[j]
    ordered = peaks[axis][i] <= peaks[axis][j]
    return i[ordered], j[ordered]


def group_extremes(centre: torch.Tensor, extremes: torch.Tensor, k: int = 40,
                   offsets: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """ExtremeNet's centre grouping, pruned: of the k best peaks of each extreme map, every (top, left, bottom,
    right) of one image and class that is geometrically valid (top above left, right and bottom; bottom below
    left and right; left left of top, bottom and right; right right of top and bottom; in peak pixels, as the
    reference), whose four scores pass EXTREME_SCORE_THRESHOLD and whose geometric centre scores at least
    CENTRE_SCORE_THRESHOLD in the class's centre heatmap.

    The centre pixel: without offsets the reference's, (int((l.x + r.x + 0.5) / 2), int((t.y + b.y + 0.5) / 2))
    of the peak pixels; with offsets (B, 4, 2, H, W) the floor of the middle of the sub-pixel points, which is
    where the targets put the centre peak (the floor of the centre of the box the points span). The reference's
    rule looks half a pixel left of and above that, which misses the peak of a sharp centre heatmap.

    The reference scores all k^4 combinations of a batch row. Here peaks below the threshold are never found
    (`thresholded_peaks`), and combinations are built by joins on equal keys: ordered (left, right) pairs of one
    image and class with the centre pixels passing the threshold in their column, then those with the ordered
    (top, bottom) pairs whose centre row they are in; only the survivors are checked in full.
    centre: (B, C, H, W), extremes: (B, 4, C, H, W) probabilities. Returns flat tensors over the G groups:
    "image", "class" (G,) int64, "score" (G,) = (t + l + b + r + 2 c) / 6, "x", "y" (G, 4) int64 peak pixels
    and "points" (G, 4, 2) float sub-pixel points (pixel centres without offsets) of the top, left, bottom and
    right points.
    """
    num_classes, height, width = centre.shape[1:]
    peaks = _extreme_candidates(extremes, k, offsets)
    x, y = peaks["x"], peaks["y"]
    owner = peaks["image"] * num_classes + peaks["class"]  # image * C + class of each peak
    left, right = _pairs(peaks, 1, 3, "x", num_classes)
    top, bottom = _pairs(peaks, 0, 2, "y", num_classes)
    lit = (centre >= CENTRE_SCORE_THRESHOLD).nonzero()  # (S, 4) image, class, y, x
    lit_owner = lit[:, 0] * num_classes + lit[:, 1]
    point = peaks["point"]
    if offsets is None:
        centre_x = ((x[left] + x[right]).float() + 0.5).div(2).long()
    else:
        centre_x = ((point[left, 0] + point[right, 0]) / 2).floor().long().clamp(0, width - 1)
    horizontal, centre_pixel = _ragged_pairs(owner[left] * width + centre_x, lit_owner * width + lit[:, 3])
    if offsets is None:
        centre_y = ((y[top] + y[bottom]).float() + 0.5).div(2).long()
    else:
        centre_y = ((point[top, 1] + point[bottom, 1]) / 2).floor().long().clamp(0, height - 1)
    matched, vertical = _ragged_pairs(lit_owner[centre_pixel] * height + lit[centre_pixel, 2],
                                      owner[top] * height + centre_y)
    top, bottom = top[vertical], bottom[vertical]
    left, right, centre_pixel = left[horizontal[matched]], right[horizontal[matched]], centre_pixel[matched]
    valid = ((y[top] <= y[left]) & (y[top] <= y[right]) & (y[left] <= y[bottom]) & (y[right] <= y[bottom])
             & (x[left] <= x[top]) & (x[left] <= x[bottom]) & (x[top] <= x[right]) & (x[bottom] <= x[right]))
    members = torch.stack([top, left, bottom, right], -1)[valid]  # (G, 4) indices into the peaks
    image, label, centre_y, centre_x = lit[centre_pixel[valid]].unbind(-1)
    centre_score = centre[image, label, centre_y, centre_x]
    score = (peaks["score"][members].sum(-1) + 2 * centre_score) / 6
    return {"image": image, "class": label, "score": score, "x": x[members], "y": y[members],
            "points": point[members]}


def decode_extremes(centre: torch.Tensor, extremes: torch.Tensor, offsets: torch.Tensor | None, k: int,
                    num_detections: int) -> DecodedBatch:
    """exdet detections: `group_extremes` of the k best peaks of each extreme map (with the offsets, when given, for
    the points and the centre lookup), the best `num_detections` groups per image.

    centre: (B, C, H, W), extremes: (B, 4, C, H, W) probabilities, offsets: (B, 4, 2, H, W) (dx, dy) of each
    extreme point (top, left, bottom, right), or None for pixel centres (+0.5). Returns `num_detections` slots per
    image in output-map pixels, sorted by score, with the points as "extreme_points" (B, num_detections, 4, 2) top,
    left, bottom, right; the box is (left x, top y, right x, bottom y); slots without a group have score -1 (and
    zeros).
    """
    batch = centre.shape[0]
    groups = group_extremes(centre, extremes, k, offsets)
    order, rank = _rank_within(groups["image"], groups["score"])
    image = groups["image"][order]
    kept = rank < num_detections
    order, image, rank = order[kept], image[kept], rank[kept]
    found = groups["points"][order].float()  # (D, 4, 2)
    boxes = centre.new_zeros(batch, num_detections, 4)
    boxes[image, rank] = torch.stack([found[:, 1, 0], found[:, 0, 1], found[:, 3, 0], found[:, 2, 1]], -1)
    scores = centre.new_full((batch, num_detections), -1.0)
    scores[image, rank] = groups["score"][order].float()
    classes = torch.zeros(batch, num_detections, dtype=torch.int64, device=centre.device)
    classes[image, rank] = groups["class"][order]
    points = centre.new_zeros(batch, num_detections, 4, 2)
    points[image, rank] = found
    return DecodedBatch(boxes.float(), scores.float(), classes, {"extreme_points": points.float()})


JOINT_SCORE_THRESHOLD = 0.1  # the reference's multi_pose: joint peaks scoring below this never take a joint
JOINT_SNAP_REACH = 0.3  # nor those farther from the regressed joint than this times the box's longer side


def merge_flip_joints(vectors: torch.Tensor, joint_heatmap: torch.Tensor,
                      permutation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip test for keypoints: [images; mirrored images] (2B, ...) -> (B, ...), averaged with the mirror's maps
    flipped back and its joints renamed by `permutation` (K,) (a mirror's left hand is the image's right one).

    vectors: (2B, 2K, H, W) each joint's (dx, dy) from a pixel's corner in output pixels; joint_heatmap: (2B, K, H,
    W) probabilities. A mirror's pixel x' = W - 1 - x and point u' = W - u, so its dx' from its pixel reads
    dx = 1 - dx' from the image's pixel (the reference's negation, -dx', is off by one pixel, half of it after
    averaging).
    """
    half = vectors.shape[0] // 2
    permutation = permutation.to(vectors.device)
    mirrored = vectors[half:].flip(-1).unflatten(1, (-1, 2))[:, permutation]  # (B, K, 2, H, W)
    mirrored = torch.stack([1 - mirrored[:, :, 0], mirrored[:, :, 1]], 2)
    vectors = (vectors[:half].unflatten(1, (-1, 2)) + mirrored).flatten(1, 2) / 2
    return vectors, (joint_heatmap[:half] + joint_heatmap[half:].flip(-1)[:, permutation]) / 2


def decode_joints(vectors: torch.Tensor, joint_heatmap: torch.Tensor, joint_offset: torch.Tensor,
                  boxes: torch.Tensor, pixel: torch.Tensor, peaks: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each detection's K joints, as the reference's multi_pose decoding: regressed from its peak pixel, then
    snapped to the nearest of the `peaks` best peaks of that joint's heatmap that scores at least
    JOINT_SCORE_THRESHOLD, where that peak lies inside the detection's box and within JOINT_SNAP_REACH times the
    box's longer side of the regressed joint; `peaks` = 0 keeps every regressed joint (no snapping).

    vectors: (B, 2K, H, W) (dx, dy) per joint from the pixel's corner; joint_heatmap: (B, K, H, W) probabilities;
    joint_offset: (B, 2, H, W) a joint peak's sub-pixel (dx, dy); boxes: (B, D, 4) x1, y1, x2, y2 and pixel: (B, D)
    y * W + x, the detections' boxes and peaks; all in output pixels. Returns joints (B, D, K, 2) x, y in output
    pixels and their scores (B, D, K): the snapped peak's, else the joint heatmap's at the regressed joint.
    """
    batch, joints, height, width = joint_heatmap.shape
    y = torch.div(pixel, width, rounding_mode="floor")
    corner = torch.stack([pixel - y * width, y], -1).float()  # (B, D, 2)
    regressed = gather_pixels(vectors, pixel).float().unflatten(-1, (joints, 2)) + corner[:, :, None]
    cell = regressed.floor().long()
    cell_index = cell[..., 1].clamp(0, height - 1) * width + cell[..., 0].clamp(0, width - 1)  # (B, D, K)
    flat = joint_heatmap.flatten(2)  # (B, K, H * W)
    scores = flat.gather(2, cell_index.transpose(1, 2)).transpose(1, 2)
    if peaks <= 0:
        return regressed, scores
    peak_scores, peak_pixel = peak_mask(joint_heatmap).flatten(2).topk(min(peaks, height * width))  # (B, K, P)
    peak_y = torch.div(peak_pixel, width, rounding_mode="floor")
    shift = gather_pixels(joint_offset, peak_pixel.flatten(1)).float().unflatten(1, peak_pixel.shape[1:])
    found = torch.stack([peak_pixel - peak_y * width, peak_y], -1).float() + shift  # (B, K, P, 2)
    distance = (regressed.transpose(1, 2)[:, :, :, None] - found[:, :, None]).norm(dim=-1)  # (B, K, D, P)
    distance = distance.masked_fill((peak_scores < JOINT_SCORE_THRESHOLD)[:, :, None], float("inf"))
    nearest_distance, nearest = distance.min(-1)  # (B, K, D)
    nearest_point = found.gather(2, nearest[..., None].expand(-1, -1, -1, 2)).transpose(1, 2)  # (B, D, K, 2)
    nearest_score = peak_scores.gather(2, nearest).transpose(1, 2)  # (B, D, K)
    x1, y1, x2, y2 = (boxes[..., i, None].float() for i in range(4))  # (B, D, 1) each
    reach = torch.maximum(x2 - x1, y2 - y1) * JOINT_SNAP_REACH
    snap = ((nearest_point[..., 0] >= x1) & (nearest_point[..., 0] <= x2) & (nearest_point[..., 1] >= y1)
            & (nearest_point[..., 1] <= y2) & (nearest_distance.transpose(1, 2) <= reach)
            & (nearest_score >= JOINT_SCORE_THRESHOLD))
    return (torch.where(snap[..., None], nearest_point, regressed), torch.where(snap, nearest_score, scores))
