"""COCO-format dataset: annotation file + image folder -> network-input images and boxes, and batch collation.

Class indices: the dataset's category ids, sorted ascending, become contiguous indices [0, num_classes);
`num_classes` counts object classes only (there is no background class). Crowd annotations (iscrowd=1, and
VOC "difficult" objects, which scripts/voc_to_coco.py converts to iscrowd=1) are ignore regions in training
and in evaluation: they are never targets, the heatmap loss counts the pixels inside them (in their class
channel) neither as positives nor as negatives, and COCOeval ignores detections that match them.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import os
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from pycocotools.coco import COCO

from centernet.config import MAX_OBJECTS, AugmentConfig, input_size_pair
from centernet.data.colour import draw_colour_parameters, identity_colour_parameters
from centernet.data.images import read_image_rgb, read_jpeg_for_device
from centernet.data.instances import instance_map
from centernet.data.points import PointSource
from centernet.data.transforms import letterbox_affine, random_affine, transform_boxes, warp_image
from centernet.data.validate import load_coco_json
from centernet.errors import DataError
from centernet.structures import Batch, box_xywh_to_xyxy


@dataclass
class Sample:
    """One network input and its targets.

    image: (3, H, W) uint8 RGB of the input size (W, H), warped but not colour-augmented; zeros when
        `encoded_jpeg` is set.
    boxes_xyxy: (N, 4) float32 boxes in input pixels, inside [0, W - 1] x [0, H - 1]; real objects first, then
        crowd regions.
    classes: (N,) int64 contiguous class indices.
    crowd: (N,) bool, True for crowd regions (ignore regions, not targets).
    image_id: the dataset's image id.
    inverse_affine: (2, 3) float32 mapping input pixels back to original image pixels.
    colour_order, colour_factors, lighting_alpha: (3,) int64, (3,) float32, (3,) float32, the colour augmentation
        the train step applies on the device (`centernet.data.colour.draw_colour_parameters`); the identity for
        validation samples.
    encoded_jpeg: (N,) uint8 bytes of the JPEG file when the train step decodes and warps it on the device
        (--gpu-decode), else None.
    points: (N, P, 2) float32 per-object points in input pixels, where the dataset has a point source (a task's:
        exdet's extreme points, keypoints' joints; `centernet.data.points`), else None; point_labelled: (N, P) bool,
        the points with a position to learn; points_from_annotation: (N,) bool, False where the source stood in.
    instance_map: (H, W) int16, k + 1 on the pixels of object k's polygons, 0 elsewhere
        (`centernet.data.instances.instance_map`), for training samples with copy-paste on, else None.
    """

    image: torch.Tensor
    boxes_xyxy: torch.Tensor
    classes: torch.Tensor
    crowd: torch.Tensor
    image_id: int
    inverse_affine: torch.Tensor
    colour_order: torch.Tensor
    colour_factors: torch.Tensor
    lighting_alpha: torch.Tensor
    encoded_jpeg: torch.Tensor | None = None
    points: torch.Tensor | None = None
    point_labelled: torch.Tensor | None = None
    points_from_annotation: torch.Tensor | None = None
    instance_map: torch.Tensor | None = None


def _load_coco(ann_file: str) -> COCO:
    """A pycocotools COCO index built from JSON we have checked ourselves (and without its prints)."""
    coco = COCO()
    coco.dataset = load_coco_json(ann_file)
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


class CocoDataset(torch.utils.data.Dataset):
    """Images and boxes of a COCO annotation file, as `Sample`s of `input_size` (width, height; one int: a square).

    train=True applies the reference augmentation as configured in `augment`: the random affine crop and flip
    here, and colour jitter and PCA lighting, whose parameters are drawn here and carried in the sample for the
    train step to apply on the device; train=False letterboxes the whole image, unaugmented.
    Randomness comes from a generator seeded by (seed, epoch, index), so a sample does not depend on the
    worker that loads it; call `set_epoch` each epoch (with persistent DataLoader workers the workers hold
    copies of the dataset, so recreate the loader or the epoch change will not reach them).
    With `decode_on_device`, JPEG files the device decoder takes as they are (`read_jpeg_for_device`) are not
    decoded here: the sample carries their bytes, and the train step decodes and warps them (--gpu-decode).
    A missing or corrupt image raises DataError when `strict`, else warns and yields None (see `collate`).
    With a point source `points` (a task's, `centernet.data.points.PointSource`) samples also carry each object's
    points (exdet: its extreme points, from its polygons, and then the box they span; keypoints: its joints).
    Training samples carry their objects' instance map when `augment.copy_paste` is on (drawn only then).
    """

    def __init__(
        self,
        ann_file: str | os.PathLike,
        image_dir: str | os.PathLike,
        input_size: int | tuple[int, int],
        train: bool,
        augment: AugmentConfig | None = None,
        max_objects: int = MAX_OBJECTS,
        seed: int = 0,
        strict: bool = False,
        decode_on_device: bool = False,
        points: PointSource | None = None,
    ) -> None:
        self.ann_file = os.fspath(ann_file)
        self.image_dir = os.fspath(image_dir)
        self.input_size = input_size_pair(input_size)
        self.train = train
        self.augment = augment if augment is not None else AugmentConfig()
        self.max_objects = max_objects
        self.seed = seed
        self.strict = strict
        self.decode_on_device = decode_on_device
        self.points = points
        self.epoch = 0
        self.coco = _load_coco(self.ann_file)
        self.category_ids: list[int] = sorted(self.coco.cats)
        self.class_names: list[str] = [str(self.coco.cats[category]["name"]) for category in self.category_ids]
        self.num_classes = len(self.category_ids)
        self.class_index = {category: index for index, category in enumerate(self.category_ids)}
        self.image_ids: list[int] = sorted(self.coco.imgs)
        self._check_annotation_categories()

    def _check_annotation_categories(self) -> None:
        unknown = sorted({annotation["category_id"] for annotation in self.coco.anns.values()} - set(self.class_index))
        if unknown:
            raise DataError(f"{self.ann_file}: annotations use unknown category ids {unknown}")

    def __len__(self) -> int:
        return len(self.image_ids)

    def class_counts(self) -> list[int]:
        """Objects per contiguous class index over the whole file (crowd regions not counted)."""
        counts = [0] * self.num_classes
        for annotation in self.coco.anns.values():
            if not annotation.get("iscrowd", 0):
                counts[self.class_index[annotation["category_id"]]] += 1
        return counts

    def with_input_size(self, input_size: int | tuple[int, int]) -> CocoDataset:
        """This dataset (sharing its annotation index) with samples of another input size."""
        resized = copy.copy(self)
        resized.input_size = input_size_pair(input_size)
        return resized

    def set_epoch(self, epoch: int) -> None:
        """Select the random stream of `epoch` (training augmentation differs per epoch, reproducibly)."""
        self.epoch = epoch

    def collate_fn(self) -> functools.partial:
        """`collate` bound to this dataset's `max_objects`, for DataLoader(collate_fn=...)."""
        return functools.partial(collate, max_objects=self.max_objects)

    def image_path(self, image_id: int) -> str:
        return os.path.join(self.image_dir, self.coco.imgs[image_id]["file_name"])

    def _sorted_annotations(self, image_id: int) -> list[dict]:
        """An image's annotation records, real objects first (in file order), then crowd regions."""
        return sorted(self.coco.imgToAnns.get(image_id, []), key=lambda annotation: bool(annotation.get("iscrowd", 0)))

    def annotations(self, image_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """An image's objects, real ones first (in file order), then crowd regions.

        Returns (N, 4) float32 boxes_xyxy in original pixels, (N,) int64 classes, (N,) bool crowd flags.
        """
        annotations = self._sorted_annotations(image_id)
        boxes_xywh = np.array([annotation["bbox"] for annotation in annotations], dtype=np.float32).reshape(-1, 4)
        classes = np.array([self.class_index[annotation["category_id"]] for annotation in annotations],
                           dtype=np.int64)
        crowd = np.array([bool(annotation.get("iscrowd", 0)) for annotation in annotations], dtype=bool)
        return box_xywh_to_xyxy(boxes_xywh), classes, crowd

    def _read_image(self, image_id: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB; its size must match the annotation file, or the boxes would be misplaced."""
        path = self.image_path(image_id)
        image = read_image_rgb(path)
        info = self.coco.imgs[image_id]
        expected = (info.get("height"), info.get("width"))
        if None not in expected and image.shape[:2] != expected:
            raise DataError(f"image is {image.shape[1]}x{image.shape[0]} but the annotations say "
                            f"{expected[1]}x{expected[0]}: {path}")
        return image

    def _read_jpeg_for_device(self, image_id: int) -> torch.Tensor | None:
        """The JPEG bytes for the device decoder, or None when the workers decode this image (see the class)."""
        info = self.coco.imgs[image_id]
        if not (self.decode_on_device and self.train and info.get("width") and info.get("height")):
            return None
        return read_jpeg_for_device(self.image_path(image_id), int(info["width"]), int(info["height"]))

    def _draw_transforms(self, index: int, width: int,
                         height: int) -> tuple[np.ndarray, np.ndarray, bool, tuple[torch.Tensor, ...]]:
        """(affine, inverse, flipped, colour parameters) of sample `index`, from its own generator; see `Sample`."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if not self.train:
            return *letterbox_affine(width, height, self.input_size), False, identity_colour_parameters()
        affine, inverse, flipped = random_affine(width, height, self.input_size, self.augment, rng)
        # drawn after the affine crop, as when the workers applied them: the same stream gives the same draws
        return affine, inverse, flipped, draw_colour_parameters(self.augment, rng)

    def _instance_map(self, annotations: list[dict], affine: np.ndarray) -> torch.Tensor | None:
        """The sample's instance map (see `Sample`), drawn only for training with copy-paste on."""
        if not (self.train and self.augment.copy_paste > 0):
            return None
        return torch.from_numpy(instance_map(annotations, affine, self.input_size))

    def __getitem__(self, index: int) -> Sample | None:
        image_id = self.image_ids[index]
        encoded_jpeg = self._read_jpeg_for_device(image_id)
        if encoded_jpeg is None:
            try:
                image = self._read_image(image_id)
            except DataError as error:
                if self.strict:
                    raise
                warnings.warn(f"skipping image: {error}", stacklevel=2)
                return None
            height, width = image.shape[:2]
        else:
            width, height = int(self.coco.imgs[image_id]["width"]), int(self.coco.imgs[image_id]["height"])
        affine, inverse, flipped, (colour_order, colour_factors, lighting_alpha) = self._draw_transforms(
            index, width, height)
        boxes_xyxy, classes, crowd = self.annotations(image_id)
        boxes_xyxy, keep = transform_boxes(boxes_xyxy, affine, self.input_size)
        kept = [annotation for annotation, inside in zip(self._sorted_annotations(image_id), keep, strict=True)
                if inside]  # in slot order
        point_set = None
        if self.points is not None:
            point_set = self.points(kept, boxes_xyxy, affine, flipped, self.input_size)
            if point_set.boxes_xyxy is not None:
                boxes_xyxy = point_set.boxes_xyxy
        if encoded_jpeg is None:
            warped = warp_image(image, affine, self.input_size)
            image_chw = torch.from_numpy(np.ascontiguousarray(warped.transpose(2, 0, 1)))
        else:
            image_chw = torch.zeros(3, self.input_size[1], self.input_size[0], dtype=torch.uint8)
        return Sample(image=image_chw, boxes_xyxy=torch.from_numpy(boxes_xyxy),
                      classes=torch.from_numpy(classes[keep]), crowd=torch.from_numpy(crowd[keep]),
                      image_id=int(image_id), inverse_affine=torch.from_numpy(inverse), colour_order=colour_order,
                      colour_factors=colour_factors, lighting_alpha=lighting_alpha, encoded_jpeg=encoded_jpeg,
                      instance_map=self._instance_map(kept, affine),
                      **({} if point_set is None else {
                          "points": torch.from_numpy(point_set.points),
                          "point_labelled": torch.from_numpy(point_set.labelled),
                          "points_from_annotation": torch.from_numpy(point_set.from_annotation)}))


def collate(samples: list[Sample | None], max_objects: int) -> Batch:
    """Stack samples into a `Batch`, for DataLoader(collate_fn=functools.partial(collate, max_objects=M)).

    None samples (unreadable images) are dropped and counted in `Batch.skipped`. Boxes, classes and crowd
    flags are padded to M = max_objects slots; `valid` marks real objects and `crowd` crowd regions. Objects
    beyond M are left out (crowd regions first, as samples list them last) and each such image is listed in
    `Batch.truncated` with its object count, so that the trainer can say so. If every sample was dropped, the
    batch has B = 0 and images of shape (0, 3, 0, 0). Samples with points give `Batch.points`,
    `Batch.point_labelled` and `Batch.points_from_annotation`, padded alike; samples with instance maps give
    `Batch.instance_map`, without the pixels of objects left out.
    """
    kept = [sample for sample in samples if sample is not None]
    batch_size = len(kept)
    boxes_xyxy = torch.zeros(batch_size, max_objects, 4, dtype=torch.float32)
    classes = torch.zeros(batch_size, max_objects, dtype=torch.int64)
    crowd = torch.zeros(batch_size, max_objects, dtype=torch.bool)
    used = torch.zeros(batch_size, max_objects, dtype=torch.bool)
    with_points = bool(kept) and all(sample.points is not None for sample in kept)
    per_object = kept[0].points.shape[1] if with_points else 0
    points = torch.zeros(batch_size, max_objects, per_object, 2, dtype=torch.float32) if with_points else None
    point_labelled = torch.zeros(batch_size, max_objects, per_object, dtype=torch.bool) if with_points else None
    from_annotation = torch.zeros(batch_size, max_objects, dtype=torch.bool) if with_points else None
    truncated = []
    for row, sample in enumerate(kept):
        count = min(len(sample.classes), max_objects)
        if len(sample.classes) > max_objects:
            truncated.append((sample.image_id, len(sample.classes)))
        boxes_xyxy[row, :count] = sample.boxes_xyxy[:count]
        classes[row, :count] = sample.classes[:count]
        crowd[row, :count] = sample.crowd[:count]
        used[row, :count] = True
        if with_points:
            points[row, :count] = sample.points[:count]
            point_labelled[row, :count] = sample.point_labelled[:count]
            from_annotation[row, :count] = sample.points_from_annotation[:count]
    instance_map = None
    if kept and all(sample.instance_map is not None for sample in kept):
        instance_map = torch.stack([sample.instance_map for sample in kept])
        instance_map[instance_map > max_objects] = 0  # value k + 1 of slot k
    if kept:
        images = torch.stack([sample.image for sample in kept])
        inverse_affine = torch.stack([sample.inverse_affine for sample in kept])
    else:
        images = torch.zeros(0, 3, 0, 0, dtype=torch.uint8)
        inverse_affine = torch.zeros(0, 2, 3, dtype=torch.float32)
    return Batch(
        images=images,
        boxes_xyxy=boxes_xyxy,
        classes=classes,
        valid=used & ~crowd,
        crowd=crowd,
        image_ids=torch.tensor([sample.image_id for sample in kept], dtype=torch.int64),
        inverse_affine=inverse_affine,
        colour_order=_stack([sample.colour_order for sample in kept], (0, 3), torch.int64),
        colour_factors=_stack([sample.colour_factors for sample in kept], (0, 3), torch.float32),
        lighting_alpha=_stack([sample.lighting_alpha for sample in kept], (0, 3), torch.float32),
        skipped=len(samples) - batch_size,
        truncated=truncated,
        encoded_jpegs={row: sample.encoded_jpeg for row, sample in enumerate(kept) if sample.encoded_jpeg is not None},
        points=points,
        point_labelled=point_labelled,
        points_from_annotation=from_annotation,
        instance_map=instance_map,
    )


def _stack(tensors: list[torch.Tensor], empty_shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """torch.stack, or an empty tensor of `empty_shape` when there is nothing to stack."""
    return torch.stack(tensors).to(dtype) if tensors else torch.zeros(empty_shape, dtype=dtype)
