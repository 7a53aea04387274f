"""--gpu-decode: the JPEGs the workers left encoded are decoded on the training device (nvjpeg on CUDA) and warped
there, with the affine crop the worker drew and the conventions of `centernet.data.transforms.warp_image`."""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torchvision.io import ImageReadMode, decode_jpeg

from centernet.config import input_size_pair
from centernet.errors import DataError
from centernet.structures import apply_affine


def warp_images(images: list[torch.Tensor], inverse_affine: torch.Tensor,
                input_size: int | tuple[int, int]) -> torch.Tensor:
    """`warp_image` for a batch on any device: bilinear, zero border, pixel-edge frame; the result is not rounded.

    Args:
        images: K images (3, H_k, W_k), uint8 or float, on one device.
        inverse_affine: (K, 2, 3) float32 maps input pixels back to original pixels (both in the pixel-edge frame).
        input_size: (width W, height H) of the output; one int: a square.

    Returns (K, 3, H, W) float32 in the images' value range.
    """
    height, width = max(image.shape[1] for image in images), max(image.shape[2] for image in images)
    # one grid_sample for all: the images share the top-left corner of a zero canvas, whose zeros are the border
    canvas = torch.zeros(len(images), 3, height, width, dtype=torch.float32, device=images[0].device)
    for row, image in enumerate(images):
        canvas[row, :, :image.shape[1], :image.shape[2]] = image
    output_width, output_height = input_size_pair(input_size)
    columns = torch.arange(output_width, dtype=torch.float32, device=canvas.device) + 0.5  # output pixel centres
    rows = torch.arange(output_height, dtype=torch.float32, device=canvas.device) + 0.5
    y, x = torch.meshgrid(rows, columns, indexing="ij")
    points = torch.stack([x, y], dim=-1).view(1, output_height * output_width, 2)
    source = apply_affine(points, inverse_affine.to(canvas))  # (K, H * W, 2) x, y in original pixels
    # align_corners=False: -1 and 1 are the outer edges of the first and last pixels, so edge coordinate u -> 2u/W - 1
    grid = source / source.new_tensor([width, height]) * 2 - 1
    grid = grid.view(len(images), output_height, output_width, 2)
    return F.grid_sample(canvas, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def decode_and_warp_jpegs(images: torch.Tensor, encoded_jpegs: dict[int, torch.Tensor],
                          inverse_affine: torch.Tensor) -> torch.Tensor:
    """Fill the rows of a batch whose JPEGs were left encoded: decode them on `images.device`, warp them.

    Args:
        images: (B, 3, H, W) uint8 or float RGB in [0, 255]; the rows in `encoded_jpegs` are placeholders.
        encoded_jpegs: row -> (N,) uint8 bytes of a 3-channel JPEG file, on the CPU (as the decoder wants them).
        inverse_affine: (B, 2, 3) float32 input pixels -> original pixels of each row.

    Returns (B, 3, H, W) float32 in [0, 255], not rounded. Raises DataError when the decoder rejects a file (the
    workers' header check lets through files whose data is corrupt).
    """
    rows = sorted(encoded_jpegs)
    try:
        with warnings.catch_warnings():
            # torchvision 0.29 deprecates its decoders in favour of torchcodec, which is not a dependency here
            warnings.simplefilter("ignore", DeprecationWarning)
            decoded = decode_jpeg([encoded_jpegs[row] for row in rows], mode=ImageReadMode.RGB, device=images.device)
    except RuntimeError as error:
        raise DataError(f"the {images.device.type} JPEG decoder rejected the file of one of the rows {rows}: "
                        f"{error}") from error
    index = torch.tensor(rows, device=images.device)
    result = images.float()
    result[index] = warp_images(decoded, inverse_affine[index], (images.shape[-1], images.shape[-2]))
    return result
