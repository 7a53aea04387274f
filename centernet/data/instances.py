"""Each object's polygon pixels at the input size (an instance map), drawn in the data workers for Simple
Copy-Paste (`centernet.data.mixing.copy_paste`), which pastes them onto another image of the batch on the device.

Frames as in `centernet.data.transforms`: polygons come in original pixels (COCO `segmentation` polygon lists, see
`centernet.data.extreme.polygons_from_segmentation`) and go through the sample's affine warp (the flip composed
in), in the pixel-edge frame; cv2 draws in its own frame, where integer coordinates are pixel centres, so the
polygons move by half a pixel before drawing, as `warp_image` moves the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from centernet.data.extreme import polygons_from_segmentation
from centernet.structures import apply_affine

SUBPIXEL_BITS = 4  # cv2.fillPoly's fixed-point fraction: vertices at 1/16 pixel


def instance_map(annotations: Sequence[dict], affine: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """(H, W) int16 map of one sample at its input size (width, height): k + 1 on the pixels of slot k's polygons,
    0 elsewhere.

    `annotations` are the sample's COCO records in slot order and `affine` (2, 3) maps original to input pixels.
    A pixel belongs to a polygon when cv2.fillPoly fills it: cv2 rounds each edge to the nearest pixel centre, so
    an object takes the pixels whose centres lie inside its polygon or less than about half a pixel outside (a
    square with its sides on pixel edges gets one row and one column more than its area). Crowd regions
    and objects without a polygon (RLE, missing or empty segmentation) get no pixel. Where objects overlap the
    smaller one (by polygon area) keeps the pixels: larger objects are drawn first, so that an object lying on
    another (a cup on a table) stays whole.
    """
    width, height = input_size
    drawn = np.zeros((height, width), dtype=np.int16)
    warped = [[] if annotation.get("iscrowd", 0) else
              [apply_affine(part, affine.astype(np.float32)) - 0.5 for part in
               polygons_from_segmentation(annotation.get("segmentation"))]
              for annotation in annotations]  # per slot: (V, 2) polygons in cv2's pixel-centre frame
    areas = [sum(abs(cv2.contourArea(part)) for part in parts) for parts in warped]
    for slot in sorted(range(len(warped)), key=lambda slot: -areas[slot]):
        # one part at a time: parts drawn together would leave their overlaps empty (even-odd filling)
        for part in warped[slot]:
            vertices = np.round(part * (1 << SUBPIXEL_BITS)).astype(np.int32)
            cv2.fillPoly(drawn, [vertices], slot + 1, lineType=cv2.LINE_8, shift=SUBPIXEL_BITS)
    return drawn
