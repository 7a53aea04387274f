"""--gpu-decode: workers pass JPEG files undecoded, the train step decodes and warps them on the device. The device
path gives the worker path's boxes exactly and its images within interpolation error, on CPU (run everywhere, the
same decoder library as cv2's) and on CUDA (nvjpeg; skipped without a GPU)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.io import decode_jpeg

from centernet.config import AugmentConfig, Config, DataConfig
from centernet.data import (
    CocoDataset,
    augment_colour,
    collate,
    decode_and_warp_jpegs,
    invert_affine,
    random_affine,
    read_image_rgb,
    read_jpeg_for_device,
    warp_image,
    warp_images,
)
from centernet.engine.train import network_inputs
from centernet.errors import DataError

INPUT_SIZE = 64
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(),
                                                                                   reason="needs CUDA")])]

REFERENCE_AUGMENT = AugmentConfig(scale=0.4, color_jitter=0.4, pca_lighting=0.1)  # colour on (off by default)


def photo_like(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB: colour gradients, a few sharp discs, blurred a little, with mild noise."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.stack([x / width * 200 + 30, y / height * 180 + 40, (x + y) / (width + height) * 150 + 60], -1)
    for _ in range(4):
        centre_x, centre_y, radius = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(4, 15)
        image[(x - centre_x) ** 2 + (y - centre_y) ** 2 < radius**2] = rng.uniform(0, 255, 3)
    image = cv2.GaussianBlur(image, (0, 0), 1.0) + rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_dataset(folder: Path, files: list[tuple[str, Image.Image, bytes | None]]) -> Path:
    """A COCO file over the given (file name, image, EXIF bytes or None), one box per image; returns its path."""
    images, annotations = [], []
    for image_id, (name, image, exif) in enumerate(files, start=1):
        image.save(folder / name, **({"exif": exif} if exif else {}), **({"quality": 95} if name.endswith(".jpg")
                                                                         else {}))
        width, height = image.size[::-1] if exif else image.size  # EXIF orientation 6: upright, it is rotated
        images.append({"id": image_id, "file_name": name, "width": width, "height": height})
        annotations.append({"id": image_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                            "bbox": [width / 5, height / 4, width / 2, height / 3], "area": width * height / 6})
    path = folder / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 1, "name": "thing"}]}))
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> tuple[Path, Path]:
    """(annotation file, folder) of 8 RGB JPEGs from 40 to 100 px on a side, smaller and larger than the input."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    sizes = [(int(rng.integers(40, 100)), int(rng.integers(40, 100))) for _ in range(8)]
    files = [(f"{k}.jpg", Image.fromarray(photo_like(rng, *size)), None) for k, size in enumerate(sizes)]
    return write_dataset(folder, files), folder


def datasets(annotations: Path, folder: Path) -> tuple[CocoDataset, CocoDataset]:
    """The same training set twice, with the reference's augmentation (colour on): decoded by the workers, and on
    the device."""
    options = {"train": True, "augment": REFERENCE_AUGMENT, "seed": 3}
    return (CocoDataset(annotations, folder, INPUT_SIZE, **options),
            CocoDataset(annotations, folder, INPUT_SIZE, decode_on_device=True, **options))


@pytest.mark.filterwarnings("ignore:The image decoding:DeprecationWarning")  # this test's own decode_jpeg call
@pytest.mark.parametrize("device", DEVICES)
def test_device_decode_and_warp_match_the_worker_path(photos, device):
    workers, deferred = datasets(*photos)
    expected, samples = [], []
    for epoch in range(2):
        workers.set_epoch(epoch)
        deferred.set_epoch(epoch)
        for index in range(len(workers)):
            decoded, encoded = workers[index], deferred[index]
            assert encoded.encoded_jpeg is not None and not encoded.image.any()
            for name in ("boxes_xyxy", "classes", "crowd", "inverse_affine", "colour_order", "colour_factors",
                         "lighting_alpha"):
                assert torch.equal(getattr(decoded, name), getattr(encoded, name)), name
            expected.append(decoded)
            samples.append(encoded)
    batch = collate(samples, max_objects=4)
    assert sorted(batch.encoded_jpegs) == list(range(len(samples)))
    assert torch.equal(batch.boxes_xyxy, collate(expected, max_objects=4).boxes_xyxy)
    on_device = batch.to(device)
    images = decode_and_warp_jpegs(on_device.images, on_device.encoded_jpegs, on_device.inverse_affine)
    assert images.device.type == device and images.dtype == torch.float32 and images.shape == batch.images.shape
    images = images.cpu()
    # The decoders may differ a little (nvjpeg vs libjpeg-turbo; torchvision's own bar is a mean of 2 levels) ...
    decoded_here = decode_jpeg([batch.encoded_jpegs[row] for row in range(len(samples))], device=device)
    for row, image in enumerate(decoded_here):
        file_image = read_image_rgb(workers.image_path(samples[row].image_id))
        assert (image.cpu().float() - torch.from_numpy(file_image).permute(2, 0, 1).float()).abs().mean() < 2
    # ... the warp may not: cv2's warp of the same decoded pixels, up to its rounding to uint8 and its 1/32-pixel
    # fixed-point coordinates. A shift of 0.1 pixel would show here as a mean of about 0.5 and a maximum over 20.
    cv2_warped = torch.stack([torch.from_numpy(warp_image(image.cpu().permute(1, 2, 0).numpy(), invert_affine(
        sample.inverse_affine.numpy()), INPUT_SIZE)).permute(2, 0, 1) for image, sample in zip(decoded_here, samples,
                                                                                                strict=True)])
    difference = (images - cv2_warped.float()).abs()
    assert difference.max() <= 1.5 and difference.mean() < 0.2
    # end to end, against the workers' images
    assert (images - collate(expected, max_objects=4).images.float()).abs().mean() < 2
    # and the train step's inputs: decoded and warped, then colour-augmented
    inputs = network_inputs(on_device, Config(data=DataConfig(augment=REFERENCE_AUGMENT)))
    augmented = augment_colour(images, batch.colour_order, batch.colour_factors, batch.lighting_alpha)
    torch.testing.assert_close(inputs.cpu(), augmented, atol=1e-3, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("input_size", [(96, 64), (64, 96)])
def test_the_device_warp_matches_cv2_for_rectangular_inputs(device, input_size):
    rng = np.random.default_rng(1)
    image = photo_like(rng, 90, 50)
    affine, inverse, _ = random_affine(90, 50, input_size, AugmentConfig(), rng)
    warped = warp_images([torch.from_numpy(image).permute(2, 0, 1).to(device)],
                         torch.from_numpy(inverse)[None].to(device), input_size).cpu()
    assert warped.shape == (1, 3, input_size[1], input_size[0])
    difference = (warped[0] - torch.from_numpy(warp_image(image, affine, input_size)).permute(2, 0, 1).float()).abs()
    assert difference.max() <= 1.5 and difference.mean() < 0.2  # cv2's rounding and fixed-point coordinates only


def test_other_files_go_the_worker_path_in_the_same_batch(tmp_path):
    """PNGs (also named .jpg), grayscale JPEGs, EXIF-rotated JPEGs and JPEGs of another size than annotated are
    decoded by the workers (the device decoder would not give what `read_image_rgb` gives, or its errors); the rest
    of the batch is decoded on the device."""
    rng = np.random.default_rng(1)
    rotated = Image.Exif()
    rotated[0x0112] = 6
    files = [("plain.jpg", Image.fromarray(photo_like(rng, 50, 40)), None),
             ("lossless.png", Image.fromarray(photo_like(rng, 50, 40)), None),
             ("gray.jpg", Image.fromarray(photo_like(rng, 50, 40)[:, :, 0]), None),
             ("rotated.jpg", Image.fromarray(photo_like(rng, 50, 40)), rotated.tobytes()),
             ("named.jpg", Image.fromarray(photo_like(rng, 50, 40)), None)]
    annotations = write_dataset(tmp_path, files)
    (tmp_path / "named.jpg").write_bytes((tmp_path / "lossless.png").read_bytes())  # a PNG named .jpg
    workers, deferred = datasets(annotations, tmp_path)
    samples = [deferred[index] for index in range(len(deferred))]
    assert [sample.encoded_jpeg is not None for sample in samples] == [True, False, False, False, False]
    for index in range(1, len(samples)):
        assert torch.equal(samples[index].image, workers[index].image)
    batch = collate(samples, max_objects=4)
    images = decode_and_warp_jpegs(batch.images, batch.encoded_jpegs, batch.inverse_affine)
    assert torch.equal(images[1:], batch.images[1:].float())
    assert (images[0] - workers[0].image.float()).abs().max() <= 0.6  # the workers' rounding to uint8
    assert read_image_rgb(tmp_path / "rotated.jpg").shape == (50, 40, 3)  # cv2 applied the rotation
    assert read_jpeg_for_device(tmp_path / "plain.jpg", 50, 40) is not None
    assert read_jpeg_for_device(tmp_path / "plain.jpg", 51, 40) is None
    assert read_jpeg_for_device(tmp_path / "missing.jpg", 50, 40) is None


def test_validation_samples_are_always_decoded_by_the_workers(photos):
    annotations, folder = photos
    validation = CocoDataset(annotations, folder, INPUT_SIZE, train=False, decode_on_device=True)
    assert validation[0].encoded_jpeg is None and validation[0].image.any()


def test_a_jpeg_the_decoder_rejects_is_a_data_error_naming_the_image(tmp_path):
    """The workers parse headers only: a file cut short passes, and the train step's decoder rejects it."""
    annotations = write_dataset(tmp_path, [("cut.jpg", Image.fromarray(photo_like(np.random.default_rng(2), 60, 50)),
                                            None)])
    encoded = (tmp_path / "cut.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(encoded[:len(encoded) * 2 // 3])
    _, deferred = datasets(annotations, tmp_path)
    batch = collate([deferred[0]], max_objects=4)
    assert list(batch.encoded_jpegs) == [0]
    with pytest.raises(DataError, match=r"--gpu-decode: the cpu JPEG decoder rejected .* \(image ids \[1\]\)"):
        network_inputs(batch, Config())
