"""Data pipeline: COCO-format datasets, image reading, the affine crop, colour augmentation on the device, and
dataset validation."""

from centernet.data.coco import CocoDataset, Sample, collate
from centernet.data.colour import augment_colour, draw_colour_parameters, identity_colour_parameters
from centernet.data.gpu_decode import decode_and_warp_jpegs, warp_images
from centernet.data.images import read_image_rgb, read_jpeg_for_device
from centernet.data.transforms import (
    affine_matrix,
    compose_affine,
    horizontal_flip_matrix,
    invert_affine,
    letterbox_affine,
    random_affine,
    transform_boxes,
    warp_image,
)
from centernet.data.validate import check_coco, load_coco_json, validate_coco

__all__ = [
    "CocoDataset",
    "Sample",
    "affine_matrix",
    "augment_colour",
    "check_coco",
    "collate",
    "compose_affine",
    "decode_and_warp_jpegs",
    "draw_colour_parameters",
    "horizontal_flip_matrix",
    "identity_colour_parameters",
    "invert_affine",
    "letterbox_affine",
    "load_coco_json",
    "random_affine",
    "read_image_rgb",
    "read_jpeg_for_device",
    "transform_boxes",
    "validate_coco",
    "warp_image",
    "warp_images",
]
