"""Colour augmentation on the device: the workers draw its parameters from each sample's own generator, in the order
the reference drew them, and `augment_colour` applies them batched, as the reference's per-image numpy code did."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from centernet.config import AugmentConfig
from centernet.data import (
    CocoDataset,
    Sample,
    augment_colour,
    collate,
    random_affine,
    read_image_rgb,
    warp_image,
)
from centernet.data import colour as package_colour
from tests.reference import (
    PCA_EIGENVALUES,
    PCA_EIGENVECTORS_BGR,
    PCA_EIGENVECTORS_RGB,
    color_jitter,
    pca_lighting,
    reference_colour_augmentation,
    to_uint8_image,
)

INPUT_SIZE = 64

REFERENCE_COLOUR = AugmentConfig(color_jitter=0.4, pca_lighting=0.1)  # the reference's (off by default)


def training_set(shapes: Path, augment: AugmentConfig, seed: int = 5) -> CocoDataset:
    return CocoDataset(shapes / "annotations/train.json", shapes / "train", INPUT_SIZE, train=True, augment=augment,
                       seed=seed)


def samples_over_epochs(dataset: CocoDataset, epochs: range) -> list[tuple[int, int, Sample]]:
    """(epoch, index, sample) of every sample of each epoch in `epochs`."""
    samples = []
    for epoch in epochs:
        dataset.set_epoch(epoch)
        samples += [(epoch, index, dataset[index]) for index in range(len(dataset))]
    return samples


def reference_sample(dataset: CocoDataset, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """(warped (S, S, 3) uint8, colour-augmented float32 in [0, 1], clipped, not rounded) as the workers made them
    before colour moved to the device: the same generator, the affine crop drawn first, then the numpy oracle."""
    rng = np.random.default_rng([dataset.seed, epoch, index])
    image = read_image_rgb(dataset.image_path(dataset.image_ids[index]))
    affine, _, _ = random_affine(image.shape[1], image.shape[0], dataset.input_size, dataset.augment, rng)
    warped = warp_image(image, affine, dataset.input_size)
    augment = dataset.augment
    return warped, reference_colour_augmentation(warped, augment.color_jitter, augment.pca_lighting, rng)


def device_augmented(samples: list[Sample]) -> torch.Tensor:
    """(B, S, S, 3) float32 in [0, 255]: the samples collated and augmented by `augment_colour`."""
    batch = collate(samples, max_objects=8)
    images = augment_colour(batch.images, batch.colour_order, batch.colour_factors, batch.lighting_alpha)
    return images.permute(0, 2, 3, 1)


@pytest.mark.parametrize("jitter, lighting", [(0.4, 0.1), (0.4, 0.0), (0.0, 0.1), (0.9, 0.5)])
def test_batched_colour_augmentation_equals_the_per_sample_numpy_oracle_on_the_same_seeds(shapes, jitter, lighting):
    dataset = training_set(shapes, AugmentConfig(color_jitter=jitter, pca_lighting=lighting))
    positions = samples_over_epochs(dataset, range(2))  # 32 samples
    expected = np.stack([reference_sample(dataset, epoch, index)[1] for epoch, index, _ in positions])
    samples = [sample for _, _, sample in positions]
    augmented = device_augmented(samples).numpy() / 255.0
    np.testing.assert_allclose(augmented, expected, atol=1 / 255, rtol=0)
    assert np.abs(augmented - expected).mean() < 0.01 / 255  # float rounding only: no systematic difference
    orders = torch.stack([sample.colour_order for sample in samples])
    if jitter > 0:  # every operation was drawn at every position, so all three orders are exercised
        assert {(position, int(operation)) for row in orders for position, operation in enumerate(row)} == {
            (position, operation) for position in range(3) for operation in range(3)}
    else:
        assert (orders == torch.arange(3)).all()
    alphas = torch.stack([sample.lighting_alpha for sample in samples])
    assert bool((alphas != 0).all()) == (lighting > 0)


def test_mean_brightness_shift_over_200_samples_is_that_of_the_old_worker_path(shapes):
    """The old path rounded to uint8 in the worker; the new one neither rounds nor leaves the device. Over 200
    samples (16 images x 13 epochs) both shift the mean grey level alike, on average and in spread."""
    dataset = training_set(shapes, REFERENCE_COLOUR, seed=11)
    positions = samples_over_epochs(dataset, range(13))[:200]
    old_shifts, plain_means = [], []
    for epoch, index, _ in positions:
        warped, augmented = reference_sample(dataset, epoch, index)
        plain_means.append(warped.astype(np.float64).mean())
        old_shifts.append(to_uint8_image(augmented).astype(np.float64).mean() - plain_means[-1])
    new_means = device_augmented([sample for _, _, sample in positions]).double().mean(dim=(1, 2, 3)).numpy()
    new_shifts, old_shifts = new_means - np.array(plain_means), np.array(old_shifts)
    assert old_shifts.std() > 5.0  # the augmentation is on: brightness moves by several grey levels per sample
    assert abs(new_shifts.mean() - old_shifts.mean()) < 0.05
    assert abs(new_shifts.std() - old_shifts.std()) < 0.05


def test_the_parameters_are_the_identity_when_off_and_for_validation_samples(shapes):
    off = training_set(shapes, AugmentConfig(color_jitter=0.0, pca_lighting=0.0))
    validation = CocoDataset(shapes / "annotations/train.json", shapes / "train", INPUT_SIZE, train=False)
    for sample in (off[3], validation[3]):
        assert sample.colour_order.tolist() == [0, 1, 2] and sample.colour_order.dtype == torch.int64
        assert sample.colour_factors.tolist() == [1, 1, 1] and sample.colour_factors.dtype == torch.float32
        assert sample.lighting_alpha.tolist() == [0, 0, 0] and sample.lighting_alpha.dtype == torch.float32
    batch = collate([off[3], validation[3]], max_objects=8)
    images = augment_colour(batch.images, batch.colour_order, batch.colour_factors, batch.lighting_alpha)
    assert images.dtype == torch.float32 and torch.equal(images, batch.images.float())


def test_values_are_clipped_to_0_255_and_not_rounded():
    images = torch.tensor([[[[0.0, 100.0, 250.0]]] * 3])  # (1, 3, 1, 3): grey pixels
    brighter = augment_colour(images, torch.tensor([[0, 1, 2]]), torch.tensor([[1.0305, 1.0, 1.0]]), torch.zeros(1, 3))
    torch.testing.assert_close(brighter[0, :, 0], torch.tensor([[0.0, 103.05, 255.0]] * 3), atol=1e-4, rtol=0)
    # alpha 3 on the first component: about -96 grey levels in each channel (its eigenvector is negative)
    darker = augment_colour(images, torch.tensor([[0, 1, 2]]), torch.ones(1, 3), torch.tensor([[3.0, 0.0, 0.0]]))
    shift = 255 * 0.2141788 * 3 * torch.tensor([-0.56089297, -0.5832747, -0.58752847])
    expected = torch.stack([torch.zeros(3), 100 + shift, 250 + shift], dim=1)  # 0 + shift clipped to 0
    torch.testing.assert_close(darker[0, :, 0], expected, atol=1e-3, rtol=0)


def test_colour_augmentations_are_identity_at_zero_strength_and_pca_uses_rgb_order():
    image = np.random.default_rng(0).random((8, 8, 3), dtype=np.float32)
    np.testing.assert_allclose(color_jitter(image, 0.0, np.random.default_rng(1)), image, atol=1e-6)
    np.testing.assert_allclose(pca_lighting(image, 0.0, np.random.default_rng(1)), image, atol=1e-6)
    np.testing.assert_array_equal(PCA_EIGENVECTORS_RGB[0], PCA_EIGENVECTORS_BGR[2])  # red row = BGR's last
    shifted = pca_lighting(image, 0.1, np.random.default_rng(1))
    shift = shifted - image
    np.testing.assert_allclose(shift, np.broadcast_to(shift[0, 0], shift.shape), atol=1e-6)  # same for all pixels
    # the package's constants are the oracle's
    np.testing.assert_array_equal(np.float32(package_colour.PCA_EIGENVECTORS_RGB), PCA_EIGENVECTORS_RGB)
    np.testing.assert_array_equal(np.float32(package_colour.PCA_EIGENVALUES), PCA_EIGENVALUES)


def test_augmentation_runs_on_the_images_device_and_dtype_agnostic(shapes):
    dataset = training_set(shapes, REFERENCE_COLOUR)
    batch = collate([dataset[index] for index in range(4)], max_objects=8)
    from_uint8 = augment_colour(batch.images, batch.colour_order, batch.colour_factors, batch.lighting_alpha)
    from_float = augment_colour(batch.images.float(), batch.colour_order, batch.colour_factors, batch.lighting_alpha)
    assert torch.equal(from_uint8, from_float) and from_uint8.device == batch.images.device
    if torch.cuda.is_available():
        on_gpu = augment_colour(batch.images.cuda(), batch.colour_order.cuda(), batch.colour_factors.cuda(),
                                batch.lighting_alpha.cuda())
        torch.testing.assert_close(on_gpu.cpu(), from_uint8, atol=1e-3, rtol=0)
