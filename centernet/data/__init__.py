"""Data pipeline: COCO-format datasets, image reading, augmentation transforms and dataset validation."""

from centernet.data.coco import CocoDataset, Sample, collate
from centernet.data.images import read_image_rgb
from centernet.data.transforms import (
    affine_matrix,
    color_jitter,
    compose_affine,
    horizontal_flip_matrix,
    invert_affine,
    letterbox_affine,
    pca_lighting,
    random_affine,
    to_float_image,
    to_uint8_image,
    transform_boxes,
    warp_image,
)
from centernet.data.validate import check_coco, load_coco_json, validate_coco

__all__ = [
    "CocoDataset",
    "Sample",
    "affine_matrix",
    "check_coco",
    "collate",
    "color_jitter",
    "compose_affine",
    "horizontal_flip_matrix",
    "invert_affine",
    "letterbox_affine",
    "load_coco_json",
    "pca_lighting",
    "random_affine",
    "read_image_rgb",
    "to_float_image",
    "to_uint8_image",
    "transform_boxes",
    "validate_coco",
    "warp_image",
]
