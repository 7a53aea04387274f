"""Object polygons -> the four extreme points of the exdet task (ExtremeNet), on one image in the data workers.

Frames as in `centernet.data.transforms`: polygons come in original pixels (COCO `segmentation` polygon lists,
each a flat [x1, y1, x2, y2, ...]), go through the sample's affine warp (the flip is composed into it) and are
clipped to the input, [0, W - 1] x [0, H - 1] like the boxes; the extreme points are taken on the clipped polygon,
in input pixels. Because they are taken after the warp, a horizontal flip makes the mirror of the right-most
vertex the left-most one: the left and right points swap by construction.

Extreme points are (4, 2) float32 x, y rows in the order top, left, bottom, right (`structures.EXTREME_SIDES`).
Where several vertices share the extreme coordinate, the point is the middle of that run of consecutive vertices
(the middle of its extent along the other axis); with several such runs, the first in vertex order (counted from
a vertex off the extreme), so that a mirror image picks the mirrored run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from centernet.config import input_size_pair
from centernet.data.points import PointSet
from centernet.structures import apply_affine

TIE_TOLERANCE = 1e-3  # input pixels: vertices this close to the extreme coordinate share it


def _is_polygon(part: object) -> bool:
    """Whether one part of a COCO `segmentation` list is a polygon: x, y pairs of at least 3 vertices."""
    return isinstance(part, list) and len(part) >= 6 and len(part) % 2 == 0


def has_polygon(segmentation: object) -> bool:
    """Whether `polygons_from_segmentation` finds a polygon in `segmentation`, without building the arrays."""
    return isinstance(segmentation, list) and any(_is_polygon(part) for part in segmentation)


def polygons_from_segmentation(segmentation: object) -> list[np.ndarray]:
    """The polygons of a COCO `segmentation`: a list of (V, 2) float32 arrays with V >= 3; an empty list for RLE
    (crowd regions, dicts) and for a missing or empty segmentation."""
    if not isinstance(segmentation, list):
        return []
    polygons = [np.asarray(part, dtype=np.float32).reshape(-1, 2) for part in segmentation if _is_polygon(part)]
    return [polygon for polygon in polygons if len(polygon) >= 3]


def _clip_half_plane(points: np.ndarray, axis: int, limit: float, keep_below: bool) -> np.ndarray:
    """One Sutherland-Hodgman pass: the polygon (V, 2) cut to coordinate `axis` <= limit (or >= limit)."""
    if len(points) == 0:
        return points
    previous = np.roll(points, 1, axis=0)
    sign = 1.0 if keep_below else -1.0
    current_out = sign * (points[:, axis] - limit)  # > 0: outside
    previous_out = sign * (previous[:, axis] - limit)
    inside = current_out <= 0
    crossing = inside != (previous_out <= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(crossing, previous_out / (previous_out - current_out), 0.0)
    crossed = previous + fraction[:, None] * (points - previous)
    crossed[:, axis] = limit
    # each edge previous -> current emits its crossing point first, then its end point when inside
    candidates = np.stack([crossed, points], axis=1)  # (V, 2, 2)
    return candidates[np.stack([crossing, inside], axis=1)].astype(np.float32)


def clip_polygon(polygon: np.ndarray, width: int, height: int) -> np.ndarray:
    """A (V, 2) polygon clipped to [0, width - 1] x [0, height - 1] (the boxes' limits), (V', 2) float32; V' = 0
    when nothing of it is inside."""
    points = np.asarray(polygon, dtype=np.float32).reshape(-1, 2)
    for axis, limit, keep_below in ((0, 0.0, False), (0, width - 1.0, True), (1, 0.0, False),
                                    (1, height - 1.0, True)):
        points = _clip_half_plane(points, axis, limit, keep_below)
    return points


def _extreme_run_middle(values: np.ndarray, other: np.ndarray, lowest: bool) -> tuple[float, float]:
    """(extreme value, middle of its first run along the other axis) of one closed polygon's coordinates."""
    extreme = values.min() if lowest else values.max()
    on = np.abs(values - extreme) <= TIE_TOLERANCE
    if on.all():
        return float(extreme), float((other.min() + other.max()) / 2)
    start = int(np.argmin(on))  # a vertex off the extreme: no run wraps around once rolled to start there
    on, other = np.roll(on, -start), np.roll(other, -start)
    first = int(np.argmax(on))
    length = int(np.argmin(on[first:])) if not on[first:].all() else len(on) - first
    run = other[first:first + length]
    return float(extreme), float((run.min() + run.max()) / 2)


def polygon_extreme_points(polygons: Sequence[np.ndarray]) -> np.ndarray | None:
    """(4, 2) float32 top, left, bottom, right points of an object made of one or more polygons (x, y vertices),
    None when it has no vertex. The extreme over all parts; its run is taken in the first part that reaches it."""
    parts = [np.asarray(part, dtype=np.float32).reshape(-1, 2) for part in polygons if len(part)]
    if not parts:
        return None
    points = np.zeros((4, 2), dtype=np.float32)
    # side -> (coordinate the extreme is taken on, lowest or highest)
    for side, (axis, lowest) in enumerate(((1, True), (0, True), (1, False), (0, False))):
        found = [_extreme_run_middle(part[:, axis], part[:, 1 - axis], lowest) for part in parts]
        values = np.array([value for value, _ in found])
        value, middle = found[int(np.argmin(values) if lowest else np.argmax(values))]
        points[side, axis], points[side, 1 - axis] = value, middle
    return points


def box_edge_midpoints(boxes_xyxy: np.ndarray) -> np.ndarray:
    """(N, 4, 2) float32 top, left, bottom, right points of boxes (N, 4) without a polygon: the middles of their
    top, left, bottom and right edges."""
    x1, y1, x2, y2 = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4).T
    center_x, center_y = (x1 + x2) / 2, (y1 + y2) / 2
    return np.stack([np.stack([center_x, y1], -1), np.stack([x1, center_y], -1), np.stack([center_x, y2], -1),
                     np.stack([x2, center_y], -1)], axis=1).astype(np.float32)


def warped_extreme_points(polygons: Sequence[Sequence[np.ndarray]], boxes_xyxy: np.ndarray, affine: np.ndarray,
                          input_size: int | Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Extreme points in input pixels of N objects: each object's polygons (original pixels) warped by `affine`
    and clipped to the input, `boxes_xyxy` (N, 4) their boxes already in input pixels (`transform_boxes`).

    Returns (points (N, 4, 2) float32 top, left, bottom, right; from_polygon (N,) bool): objects without a polygon,
    or whose polygon lies outside the input, get their box's edge midpoints and from_polygon False.
    """
    width, height = input_size_pair(input_size)
    points = box_edge_midpoints(boxes_xyxy)
    from_polygon = np.zeros(len(points), dtype=bool)
    for index, parts in enumerate(polygons):
        clipped = [clip_polygon(apply_affine(part, affine.astype(np.float32)), width, height) for part in parts]
        extremes = polygon_extreme_points(clipped)
        if extremes is not None:
            points[index], from_polygon[index] = extremes, True
    return points, from_polygon


def extreme_bounds(points: np.ndarray) -> np.ndarray:
    """(N, 4) float32 boxes x1, y1, x2, y2 spanned by extreme points (N, 4, 2): left x, top y, right x, bottom y."""
    points = np.asarray(points, dtype=np.float32).reshape(-1, 4, 2)
    return np.stack([points[:, 1, 0], points[:, 0, 1], points[:, 3, 0], points[:, 2, 1]], axis=1)


class ExtremePointSource:
    """The exdet task's `PointSource`: each object's four extreme points from its polygons (box edge midpoints for
    objects without one, reported), all labelled; an object with a usable polygon takes the box its points span."""

    count = 4
    stand_in_note = "had no polygon (segmentation); their extreme points were their box's edge midpoints"

    def __call__(self, annotations: Sequence[dict], boxes_xyxy: np.ndarray, affine: np.ndarray, flipped: bool,
                 input_size: tuple[int, int]) -> PointSet:
        polygons = [polygons_from_segmentation(annotation.get("segmentation")) for annotation in annotations]
        points, from_polygon = warped_extreme_points(polygons, boxes_xyxy, affine, input_size)
        spanned = extreme_bounds(points)
        usable = from_polygon & (spanned[:, 2] > spanned[:, 0]) & (spanned[:, 3] > spanned[:, 1])
        boxes = np.where(usable[:, None], spanned, boxes_xyxy).astype(np.float32)
        return PointSet(points, np.ones(points.shape[:2], dtype=bool), from_polygon, boxes)
