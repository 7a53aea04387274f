"""Reading image files into RGB uint8 arrays, with user-facing errors for missing or corrupt files."""

from __future__ import annotations

import os

import cv2
import numpy as np

from centernet.errors import DataError


def read_image_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB.

    Grayscale, alpha, palette and 16-bit files all come out as 8-bit RGB (alpha is dropped). EXIF
    orientation is applied, as COCO-style annotations describe the upright image.

    Raises:
        DataError: "image not found: PATH" or "corrupt or unreadable image: PATH".
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"image not found: {path}")
    try:
        # np.fromfile + imdecode instead of imread: imread cannot open non-ASCII paths on Windows.
        encoded = np.fromfile(path, dtype=np.uint8)
        # IMREAD_COLOR (without ANYDEPTH) expands gray and palette images to 3 channels and 16-bit to 8-bit.
        image_bgr = cv2.imdecode(encoded, cv2.IMREAD_COLOR) if encoded.size else None
    except (OSError, cv2.error) as error:
        raise DataError(f"corrupt or unreadable image: {path} ({error})") from error
    if image_bgr is None or image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise DataError(f"corrupt or unreadable image: {path}")
    return np.ascontiguousarray(image_bgr[:, :, ::-1])
