"""Batch-level augmentation on the training device: Simple Copy-Paste (the objects of one image of the batch pasted
onto another), mosaic (four images of the batch tiled into one) and mix-up (two images of the batch blended),
computed on the images the workers already produced, after the colour augmentation and before the model
normalises them.

Frames: images (B, 3, H, W) float RGB in [0, 255] at the input size; boxes (B, M, 4) x1, y1, x2, y2 and points
(B, M, P, 2) x, y in input pixels; instance maps (B, H, W) int16 k + 1 on slot k's polygon pixels, 0 elsewhere
(`centernet.structures.Batch.instance_map`). The objects of the images that make up a sample become its objects,
in slots appended after its own (so M grows: 2M for copy-paste, 4M for mosaic, 2M for mix-up), crowd regions
(not for copy-paste) and points with them; a slot that was padding stays padding.

Simple Copy-Paste (Ghiasi et al. 2021): every polygon object of the other image, its pixels inside its polygons,
on top of the sample's image; no blending of the edges (the paper finds it unnecessary) and no jitter of its own:
each image of the batch already comes with its own random scale, shift and flip from the workers, as the paper's
two independently jittered images. The pasted objects keep their boxes and points; the sample's own objects that
the pasted pixels hide mostly are dropped, the others keep theirs.

Mosaic (YOLOv4, YOLOX): each of the 2 x 2 tiles is one image shrunk to half its width and height (area
averaging), the sample's own image top left; its boxes and points halve and move with it. Mix-up (as YOLOX's):
the two images half and half, both images' objects targets.

The random choices come from a generator the caller seeds per step, so that a resumed run draws the same.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F

TILE_OFFSETS = ((0, 0), (1, 0), (0, 1), (1, 1))  # mosaic tiles (column, row) in half sizes: the sample's own first
# copy-paste drops an object of the sample when the pasted pixels hide more than this share of its polygon pixels:
# its box (the whole object's) would otherwise teach the heatmap to fire on another object's pixels, while one still
# mostly visible, or partly hidden as objects in the data often are, stays a target. The paper drops only objects
# hidden whole; mmdetection's CopyPaste keeps those with at least 300 pixels visible.
HIDDEN_SHARE_DROPPED = 0.7


@dataclass
class BatchObjects:
    """A batch's object slots on the device (see `centernet.structures.Batch` for each field's meaning)."""

    boxes_xyxy: torch.Tensor
    classes: torch.Tensor
    valid: torch.Tensor
    crowd: torch.Tensor
    points: torch.Tensor | None = None
    point_labelled: torch.Tensor | None = None

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)
                if getattr(self, field.name) is not None}

    def rows(self, index: torch.Tensor) -> BatchObjects:
        """The objects of the batch rows `index` (B,), row by row."""
        return dataclasses.replace(self, **{name: value[index] for name, value in self._tensors().items()})

    def moved(self, scale: float, offset: torch.Tensor) -> BatchObjects:
        """Boxes and points times `scale` plus `offset` (B, 2) x, y per row, in input pixels."""
        boxes = self.boxes_xyxy * scale + offset.repeat(1, 2)[:, None, :]
        points = None if self.points is None else self.points * scale + offset[:, None, None, :]
        return dataclasses.replace(self, boxes_xyxy=boxes, points=points)

    def kept_where(self, keep: torch.Tensor) -> BatchObjects:
        """The same slots, emptied (not valid, not crowd, no labelled point) in the rows where `keep` (B,) is
        False, or in the slots where `keep` (B, M) is False."""
        mask = keep[:, None] if keep.dim() == 1 else keep
        labelled = None if self.point_labelled is None else self.point_labelled & mask[..., None]
        return dataclasses.replace(self, valid=self.valid & mask, crowd=self.crowd & mask, point_labelled=labelled)

    @staticmethod
    def concatenate(parts: list[BatchObjects]) -> BatchObjects:
        """The slots of `parts` one after another in each row: (B, sum of M, ...)."""
        fields = parts[0]._tensors()
        return BatchObjects(**{name: torch.cat([getattr(part, name) for part in parts], 1) for name in fields})


def partners(batch: int, count: int, generator: torch.Generator) -> torch.Tensor:
    """(B, count) int64 other rows of the batch for each row, drawn without the row itself where the batch allows."""
    if batch == 1:
        return torch.zeros(1, count, dtype=torch.int64)
    shifts = torch.stack([torch.randperm(batch - 1, generator=generator)[:count] for _ in range(batch)])
    if shifts.shape[1] < count:  # fewer other rows than tiles: repeat them
        shifts = shifts.repeat(1, -(-count // shifts.shape[1]))[:, :count]
    return (torch.arange(batch)[:, None] + 1 + shifts) % batch


def mosaic(images: torch.Tensor, objects: BatchObjects, apply: torch.Tensor, others: torch.Tensor
           ) -> tuple[torch.Tensor, BatchObjects]:
    """Rows where `apply` (B,) bool is set become 2 x 2 mosaics of themselves and `others` (B, 3) rows of the
    batch, each at half size; the other rows stay as they are. Returns images (B, 3, H, W) and objects with 4M
    slots (a row left as it is has the last 3M empty)."""
    batch, _, height, width = images.shape
    device = images.device
    apply, others = apply.to(device), others.to(device)
    sources = torch.cat([torch.arange(batch, device=device)[:, None], others], 1)  # (B, 4)
    halves = F.interpolate(images, size=(height // 2, width // 2), mode="area")
    tiled = torch.empty_like(images)
    tiles = []
    for tile, (column, row) in enumerate(TILE_OFFSETS):
        top, left = row * (height // 2), column * (width // 2)
        tiled[:, :, top:top + height // 2, left:left + width // 2] = halves[sources[:, tile]]
        offset = torch.tensor([left, top], dtype=objects.boxes_xyxy.dtype, device=device).expand(batch, 2)
        tiles.append(objects.rows(sources[:, tile]).moved(0.5, offset))
    own = BatchObjects(**{name: torch.where(_broadcast(apply, value), getattr(tiles[0], name), value)
                          for name, value in objects._tensors().items()})  # shrunk where mixed, else as it was
    merged = BatchObjects.concatenate([own, *(part.kept_where(apply) for part in tiles[1:])])
    return torch.where(apply[:, None, None, None], tiled, images), merged


def _broadcast(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(B,) `mask` shaped to broadcast against `like` (B, ...)."""
    return mask.reshape(mask.shape + (1,) * (like.dim() - mask.dim()))


def mixup(images: torch.Tensor, objects: BatchObjects, apply: torch.Tensor, other: torch.Tensor
          ) -> tuple[torch.Tensor, BatchObjects]:
    """Rows where `apply` (B,) bool is set become the half-and-half blend of themselves and the `other` (B,) row,
    with both rows' objects; returns images (B, 3, H, W) and objects with 2M slots."""
    apply, other = apply.to(images.device), other.to(images.device)
    blended = torch.where(apply[:, None, None, None], (images + images[other]) / 2, images)
    return blended, BatchObjects.concatenate([objects, objects.rows(other).kept_where(apply)])


def _pixels_per_slot(labels: torch.Tensor, counted: torch.Tensor, slots: int) -> torch.Tensor:
    """(B, M) int64 pixels of each slot where `counted` (B, N) bool is set, from `labels` (B, N) int64 in [0, M]
    (k + 1 for slot k, 0 for none)."""
    counts = torch.zeros(labels.shape[0], slots + 1, dtype=torch.int64, device=labels.device)
    return counts.scatter_add_(1, labels, counted.long())[:, 1:]


def copy_paste(images: torch.Tensor, objects: BatchObjects, instance_map: torch.Tensor, apply: torch.Tensor,
               other: torch.Tensor) -> tuple[torch.Tensor, BatchObjects]:
    """Rows where `apply` (B,) bool is set get the pixels of every valid object of the `other` (B,) row that has
    pixels in its instance map pasted on top of their image, and those objects in M new slots (Simple Copy-Paste).

    Args:
        images: (B, 3, H, W) RGB in input pixels, any dtype.
        objects: the batch's M slots; its own objects hidden for more than `HIDDEN_SHARE_DROPPED` of their
            polygon pixels become padding (objects without pixels stay as they are).
        instance_map: (B, H, W) integer, k + 1 on slot k's pixels, values in [0, M].
        apply, other: (B,) bool rows that receive, (B,) int64 the row each receives from.

    Returns images (B, 3, H, W) and objects with 2M slots: the pasted ones last, empty where nothing came (crowd
    regions and objects without pixels are never pasted).
    """
    batch, slots = objects.valid.shape
    apply, other = apply.to(images.device), other.to(images.device)
    labels = instance_map.flatten(1).long()  # (B, H * W)
    pixels = _pixels_per_slot(labels, torch.ones_like(labels, dtype=torch.bool), slots)  # (B, M)
    pastable = objects.valid & (pixels > 0)
    # (B, H * W) the pixels each row gives: those of its pastable objects
    given = torch.cat([torch.zeros_like(pastable[:, :1]), pastable], 1).gather(1, labels)
    pasted = given[other] & apply[:, None]
    hidden = _pixels_per_slot(labels, pasted, slots)
    dropped = pastable & (hidden > HIDDEN_SHARE_DROPPED * pixels)  # valid objects with pixels, mostly hidden
    images = torch.where(pasted.view(batch, 1, *images.shape[2:]), images[other], images)
    arrived = objects.rows(other).kept_where(pastable[other] & apply[:, None])
    return images, BatchObjects.concatenate([objects.kept_where(~dropped), arrived])


def mix_batch(images: torch.Tensor, objects: BatchObjects, mosaic_probability: float, mixup_probability: float,
              generator: torch.Generator, *, copy_paste_probability: float = 0.0,
              instance_map: torch.Tensor | None = None) -> tuple[torch.Tensor, BatchObjects]:
    """Copy-paste onto each row with `copy_paste_probability` (from the batch's `instance_map` (B, H, W)), then
    mosaic each row with `mosaic_probability`, then mix-up each row with `mixup_probability` (YOLOX's order);
    nothing drawn and nothing changed where a probability is 0."""
    batch = images.shape[0]
    if copy_paste_probability > 0:
        if instance_map is None:
            raise ValueError("copy-paste needs the batch's instance map: a training CocoDataset whose augment has "
                             "copy_paste > 0 draws it")
        apply = torch.rand(batch, generator=generator) < copy_paste_probability
        images, objects = copy_paste(images, objects, instance_map, apply, partners(batch, 1, generator)[:, 0])
    if mosaic_probability > 0 or mixup_probability > 0:
        images = images.float()  # uint8 where colour augmentation is off
    if mosaic_probability > 0:
        apply = torch.rand(batch, generator=generator) < mosaic_probability
        images, objects = mosaic(images, objects, apply, partners(batch, 3, generator))
    if mixup_probability > 0:
        apply = torch.rand(batch, generator=generator) < mixup_probability
        images, objects = mixup(images, objects, apply, partners(batch, 1, generator)[:, 0])
    return images, objects
