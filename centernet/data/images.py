"""Reading image files into RGB uint8 arrays, with user-facing errors for missing or corrupt files, and reading
JPEG files undecoded for decoding on the training device."""

from __future__ import annotations

import io
import os

import cv2
import numpy as np
import torch
from PIL import Image

from centernet.errors import DataError

EXIF_ORIENTATION = 0x0112


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


def read_jpeg_for_device(path: str | os.PathLike, width: int, height: int) -> torch.Tensor | None:
    """The bytes of a JPEG file that a device decoder (nvjpeg) turns into what `read_image_rgb` would give, as a
    (N,) uint8 tensor: a 3-channel JPEG of `width` x `height` pixels without an EXIF rotation (the device decoder
    does not apply EXIF orientation). None for anything else (other formats, grayscale or CMYK JPEGs, rotated,
    missing or unreadable files, another size than the annotations say): `read_image_rgb` then reads the file,
    with its conversions and its errors. Only the header is parsed here.
    """
    try:
        with open(path, "rb") as file:
            encoded = file.read()
        if not encoded.startswith(b"\xff\xd8\xff"):
            return None
        with Image.open(io.BytesIO(encoded)) as header:  # lazy: reads the header, decodes nothing
            fits = (header.format == "JPEG" and header.mode == "RGB" and header.size == (width, height)
                    and header.getexif().get(EXIF_ORIENTATION, 1) == 1)
    except (OSError, SyntaxError, ValueError):
        return None
    return torch.frombuffer(bytearray(encoded), dtype=torch.uint8) if fits else None
