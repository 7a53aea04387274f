"""Image and box transforms: the affine crop (letterbox and random, with the flip composed in), on the CPU.

Frames: "original pixels" are the image file's pixel coordinates; "input pixels" are those of the network
input of `input_size` (width, height; one int: a square). Both are continuous, with COCO's pixel-edge
convention: pixel (i, j) covers [i, i + 1) x [j, j + 1), so an image of width W spans [0, W]. Boxes are
(x1, y1, x2, y2) float32 in that frame, and every affine matrix here ((2, 3) float32, mapping column vectors
(x, y, 1)) maps that frame too, so boxes and the inverse affine need no half-pixel corrections. Only
`warp_image` converts to cv2's convention, where integer coordinates are pixel centres. (The reference mixes
the two conventions, which misplaces flipped boxes by one pixel relative to the image content.)

Everything here is numpy/cv2 on one image; colour augmentation runs batched on the training device
(`centernet.data.colour`) and normalisation is part of the model (`CenterNet.normalize`).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from centernet.config import AugmentConfig, input_size_pair
from centernet.structures import apply_affine


def affine_matrix(center_xy: Sequence[float], scale: float, output_size: int | Sequence[int]) -> np.ndarray:
    """(2, 3) float32 mapping the region of width `scale` (original pixels) and of the output's aspect ratio,
    centred at `center_xy`, onto an output of `output_size` (width, height; one int: a square), without
    rotation (the reference's get_affine_transform, whose scale is also the width)."""
    width, height = input_size_pair(output_size)
    zoom = width / scale
    center_x, center_y = float(center_xy[0]), float(center_xy[1])
    return np.array(
        [
            [zoom, 0.0, width / 2 - zoom * center_x],
            [0.0, zoom, height / 2 - zoom * center_y],
        ],
        dtype=np.float32,
    )


def letterbox_extent(width: int, height: int, input_size: int | Sequence[int]) -> float:
    """The width (original pixels) of the smallest region of the input's aspect ratio that holds a whole
    `width` x `height` image: max(width, height) for a square input."""
    input_width, input_height = input_size_pair(input_size)
    return max(width, height * input_width / input_height)


def invert_affine(affine: np.ndarray) -> np.ndarray:
    """The inverse of a (2, 3) affine matrix, as (2, 3) float32 (computed in float64 for precision)."""
    return cv2.invertAffineTransform(affine.astype(np.float64)).astype(np.float32)


def letterbox_affine(width: int, height: int, input_size: int | Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Validation and inference transform: the whole image, centred, aspect kept, padded with zeros (on the
    sides or above and below, whichever the input's aspect ratio leaves free).

    Returns (affine, inverse), each (2, 3) float32: original pixels -> input pixels, and back.
    """
    affine = affine_matrix((width / 2, height / 2), letterbox_extent(width, height, input_size), input_size)
    return affine, invert_affine(affine)


def horizontal_flip_matrix(width: int) -> np.ndarray:
    """(2, 3) float32 mirroring the image: x -> width - x in the pixel-edge frame, which sends pixel index i
    to width - 1 - i (the reference's flip, written for pixel indices)."""
    return np.array([[-1.0, 0.0, float(width)], [0.0, 1.0, 0.0]], dtype=np.float32)


def compose_affine(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """(2, 3) float32 applying `inner` first, then `outer`."""
    outer_3x3 = np.vstack([outer.astype(np.float64), [0.0, 0.0, 1.0]])
    inner_3x3 = np.vstack([inner.astype(np.float64), [0.0, 0.0, 1.0]])
    return (outer_3x3 @ inner_3x3)[:2].astype(np.float32)


def random_affine(
    width: int, height: int, input_size: int | Sequence[int], augment: AugmentConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Training transform: the reference's random scale, shift and horizontal flip as one affine crop.

    The crop has the input's aspect ratio; its width is the letterbox's (`letterbox_extent`, max(width, height)
    for a square input) * U(1 - scale, 1 + scale) and its centre moves by
    U(-shift, shift) * width (x) and * height (y) from the image centre. The reference draws both from a
    Gaussian clipped to the same ranges; a uniform draw covers the range evenly and needs no clipping.
    A flip (probability `flip_probability`) is composed into the matrix so that the image is warped once.

    Returns (affine, inverse, flipped); the matrices are (2, 3) float32, original pixels <-> input pixels.
    """
    scale = letterbox_extent(width, height, input_size) * rng.uniform(1.0 - augment.scale, 1.0 + augment.scale)
    center_x = width / 2 + width * rng.uniform(-augment.shift, augment.shift)
    center_y = height / 2 + height * rng.uniform(-augment.shift, augment.shift)
    flipped = bool(rng.random() < augment.flip_probability)
    if not flipped:
        affine = affine_matrix((center_x, center_y), scale, input_size)
    else:
        # The reference flips the image, then mirrors the crop centre into the flipped frame.
        crop = affine_matrix((width - center_x, center_y), scale, input_size)
        affine = compose_affine(crop, horizontal_flip_matrix(width))
    return affine, invert_affine(affine), flipped


def warp_image(image: np.ndarray, affine: np.ndarray, input_size: int | Sequence[int]) -> np.ndarray:
    """Warp an (H, W, 3) uint8 image into an (input height, input width, 3) uint8 one; the border is 0.

    `affine` maps pixel-edge coordinates (see the module docstring), bilinear interpolation.
    """
    # cv2 puts pixel centres at integer coordinates: centre = edge - 0.5 on both sides of the map.
    affine_centres = affine.astype(np.float64).copy()
    affine_centres[:, 2] += affine_centres[:, :2].sum(axis=1) * 0.5 - 0.5
    return cv2.warpAffine(
        image,
        affine_centres,
        input_size_pair(input_size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


def transform_boxes(
    boxes_xyxy: np.ndarray, affine: np.ndarray, input_size: int | Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Map (N, 4) float32 boxes in original pixels into input pixels.

    All four corners are mapped and bounded by their min/max (so a flip keeps x1 < x2), then clipped to
    [0, input width - 1] x [0, input height - 1]. Boxes whose clipped width or height is <= 0 are dropped.

    Returns (boxes_xyxy (K, 4) float32 in input pixels, keep (N,) bool telling which boxes remain).
    """
    boxes_xyxy = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
    x1, y1, x2, y2 = boxes_xyxy.T
    corners = np.stack([np.stack([x1, y1], -1), np.stack([x2, y1], -1),
                        np.stack([x1, y2], -1), np.stack([x2, y2], -1)], axis=1)  # (N, 4, 2)
    mapped = apply_affine(corners, affine.astype(np.float32))
    boxes = np.concatenate([mapped.min(axis=1), mapped.max(axis=1)], axis=1)
    # side - 1 as in the reference: box centres then stay strictly inside the output map.
    input_width, input_height = input_size_pair(input_size)
    limits = np.array([input_width - 1, input_height - 1] * 2, dtype=np.float32)
    boxes = np.clip(boxes, 0, limits).astype(np.float32)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return boxes[keep], keep
