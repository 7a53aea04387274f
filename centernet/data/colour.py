"""Colour augmentation, split in two: its random parameters are drawn per sample in the data loader workers (from
the sample's own generator, so that a resumed run draws the same), and it is applied to whole batches on the
training device, after the transfer and before the model normalises the images.

The formulas are the reference's (CornerNet's colour jitter and AlexNet-style PCA lighting), written for RGB in
[0, 255] instead of [0, 1]: every operation is linear, so only the lighting shift is scaled by 255.
"""

from __future__ import annotations

import numpy as np
import torch

from centernet.config import AugmentConfig

# PCA of ImageNet pixel colours, as used by the reference (CornerNet), on the [0, 1] scale. The reference's images
# are BGR and the eigenvector rows are its B, G, R channels; our images are RGB, so the rows are reversed to R, G, B.
# Columns are the eigenvectors, in the order of the eigenvalues.
PCA_EIGENVALUES = (0.2141788, 0.01817699, 0.00341571)
PCA_EIGENVECTORS_BGR = (
    (-0.58752847, -0.69563484, 0.41340352),
    (-0.5832747, 0.00994535, -0.81221408),
    (-0.56089297, 0.71832671, 0.41158938),
)
PCA_EIGENVECTORS_RGB = PCA_EIGENVECTORS_BGR[::-1]
GRAY_WEIGHTS_RGB = (0.299, 0.587, 0.114)  # cv2's RGB2GRAY, which the reference's grey image is

BRIGHTNESS, CONTRAST, SATURATION = 0, 1, 2  # the colour-jitter operations, as `colour_order` names them


def identity_colour_parameters() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """No colour change: order (0, 1, 2) (int64), factors 1 and lighting alpha 0 (float32), each (3,)."""
    return torch.arange(3), torch.ones(3), torch.zeros(3)


def draw_colour_parameters(augment: AugmentConfig,
                           rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One sample's colour augmentation, drawn as the reference draws it, in the same order from `rng`.

    Colour jitter (when `augment.color_jitter` = s > 0): a random order of brightness, contrast and saturation,
    then a factor 1 + U(-s, s) for each operation in that order. PCA lighting (when `augment.pca_lighting` > 0):
    alpha ~ N(0, pca_lighting) per eigenvector. What is off keeps `identity_colour_parameters`' values.

    Returns (order (3,) int64, factors (3,) float32, lighting_alpha (3,) float32): `factors[k]` is the factor of
    operation `order[k]`, the k-th applied.
    """
    order, factors, alpha = identity_colour_parameters()
    if augment.color_jitter > 0:
        order = torch.from_numpy(rng.permutation(3).astype(np.int64))
        factors = torch.tensor([1.0 + rng.uniform(-augment.color_jitter, augment.color_jitter) for _ in range(3)],
                               dtype=torch.float32)
    if augment.pca_lighting > 0:
        alpha = torch.from_numpy(rng.normal(0.0, augment.pca_lighting, size=3).astype(np.float32))
    return order, factors, alpha


def augment_colour(images: torch.Tensor, order: torch.Tensor, factors: torch.Tensor,
                   lighting_alpha: torch.Tensor) -> torch.Tensor:
    """Colour jitter then PCA lighting on a batch, on the images' device; the result is clipped, not rounded.

    Args:
        images: (B, 3, H, W) RGB in [0, 255], uint8 or float.
        order, factors, lighting_alpha: (B, 3) each, as `draw_colour_parameters` returns them per sample.

    Each jitter operation is r <- f * r + (1 - f) * t, with t = 0 (brightness), the image's mean grey level
    (contrast) or its grey image (saturation); as in the reference, the grey image is taken once, from the input.
    A chain of such blends is r = scale * image + grey_weight * grey + constant with per-image scalars, so the
    image is read and written once. PCA lighting then adds eigenvectors @ (eigenvalues * alpha) * 255 per channel.

    Returns (B, 3, H, W) float32 in [0, 255].
    """
    images = images.float()
    batch = images.shape[0]
    red, green, blue = images.unbind(dim=1)
    gray = (red * GRAY_WEIGHTS_RGB[0]).add_(green, alpha=GRAY_WEIGHTS_RGB[1]).add_(blue, alpha=GRAY_WEIGHTS_RGB[2])
    gray = gray.unsqueeze(1)  # (B, 1, H, W)
    gray_mean = gray.mean(dim=(1, 2, 3))  # (B,)
    factors = factors.to(images)
    scale = images.new_ones(batch)
    gray_weight = images.new_zeros(batch)
    constant = images.new_zeros(batch)
    for step in range(3):
        factor, operation = factors[:, step], order[:, step]
        scale = scale * factor
        gray_weight = gray_weight * factor + (1 - factor) * (operation == SATURATION)
        constant = constant * factor + (1 - factor) * (operation == CONTRAST) * gray_mean
    eigenvectors = images.new_tensor(PCA_EIGENVECTORS_RGB)  # (3 channels, 3 components)
    eigenvalues = images.new_tensor(PCA_EIGENVALUES)
    lighting = 255.0 * (lighting_alpha.to(images) * eigenvalues) @ eigenvectors.T  # (B, 3 channels)
    shift = (constant[:, None] + lighting).view(batch, 3, 1, 1)
    # two fused multiply-adds write the result, with no (B, 3, H, W) temporaries
    result = torch.addcmul(shift, gray, gray_weight.view(batch, 1, 1, 1))  # (B, 3, H, W)
    result.addcmul_(images, scale.view(batch, 1, 1, 1))
    return result.clamp_(0.0, 255.0)
