"""Keypoints (--task keypoints, CenterNet's multi_pose) for any skeleton: the boxes task of --box-head, and each
object's K joints, regressed from its centre and snapped to the joints' own heatmap peaks.

Heads, beside the box task's ("heatmap" (B, C, H, W) and its box head): "joints" (B, 2K, H, W) each joint's
(dx, dy) from the pixel's corner in output pixels, read at the object's peak; "joint_heatmap" (B, K, H, W) logits of
each joint's Gaussian (class-agnostic, the reference's round radius of the object's box); "joint_offset"
(B, 2, H, W) a joint peak's sub-pixel (dx, dy). Loss (the reference's): masked L1 on the labelled joints' offsets
from the centre (--joint-weight), the joint heatmaps through the heatmap criterion (--heatmap-weight), masked L1
on their sub-pixel offsets (--offset-weight), and the box task's terms. Joints with v = 0, or outside the input
after the sample's warp, carry no loss.

Decoding (`centernet.decode.decode_joints`): each detection's joints regressed from its peak, each snapped to the
nearest peak of its heatmap scoring >= 0.1 inside the box within 0.3x the box's longer side (--no-snap-joints:
regressed only). Flip test and flipped training samples swap each `left_*` joint with its `right_*` twin (or the
--flip-pairs). The joint names and the skeleton come from the training set's category (`fit_to_data`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import torch

from centernet.config import InferenceConfig, LossConfig, ModelConfig
from centernet.data.keypoints import KeypointSource, flip_permutation
from centernet.decode import decode_joints, merge_flip_joints
from centernet.losses.aggregate import Term
from centernet.losses.regression import masked_l1_loss
from centernet.model.heads import HeadLayout
from centernet.structures import DecodedBatch, Detections, Targets
from centernet.targets import ObjectGeometry, TargetStep, gaussian_sigma, gaussian_windows, round_radius, zeros
from centernet.tasks.base import HeatmapTermFactory, Task

# pycocotools' OKS sigmas of COCO's 17 person joints (nose, eyes, ears, shoulders, elbows, wrists, hips, knees,
# ankles), used when a skeleton is that one
COCO_PERSON_JOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                      "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                      "right_knee", "left_ankle", "right_ankle")
COCO_PERSON_SIGMAS = (0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89,
                      0.89)  # / 10
OTHER_SIGMA = 0.07  # every joint of another skeleton, unless --oks-sigmas gives them
COCO_KEYPOINTS = "keypoints"  # COCO's name of the keypoint fields and of COCOeval's OKS iou type


class Keypoints(Task):
    """The boxes task of --box-head, plus the joints of the config's skeleton."""

    decodes_in_graph = False  # the exported graph's decode outputs boxes, scores and classes only

    def __init__(self, model: ModelConfig, boxes: Task) -> None:
        if not model.joint_names:
            raise ValueError("--task keypoints needs joint names: a training set whose category lists its "
                             "`keypoints`")
        if len(model.flip_pairs) % 2:
            raise ValueError(f"--flip-pairs takes joint indices in pairs, got {len(model.flip_pairs)} of them")
        self.boxes = boxes
        self.heatmap_quality = boxes.heatmap_quality
        self.names = tuple(model.joint_names)
        self.skeleton = tuple(tuple(limb) for limb in model.skeleton)
        pairs = list(zip(model.flip_pairs[::2], model.flip_pairs[1::2], strict=True)) or None
        self.permutation = torch.from_numpy(flip_permutation(self.names, pairs))
        self.flip_pairs = pairs

    @property
    def count(self) -> int:
        return len(self.names)

    def head_layout(self, num_classes: int) -> HeadLayout:
        boxes = self.boxes.head_layout(num_classes)
        return HeadLayout({**boxes.channels, "joints": 2 * self.count, "joint_heatmap": self.count,
                           "joint_offset": 2}, boxes.class_heads, boxes.biases, prior_heads=("joint_heatmap",))

    def loss_terms(self, config: LossConfig, heatmap_term: HeatmapTermFactory) -> dict[str, tuple[Term, float]]:
        return {**self.boxes.loss_terms(config, heatmap_term),
                "joints": (joints_term, config.joint_weight),
                "joint_heatmap": (heatmap_term("joint_heatmap", joint_heatmap_target, per_class=False),
                                  config.heatmap_weight),
                "joint_offset": (joint_offset_term, config.offset_weight)}

    def point_source(self) -> KeypointSource:
        return KeypointSource(self.names, self.flip_pairs)

    def target_step(self) -> JointTargets:
        return JointTargets(self.boxes.target_step())

    def decode(self, maps: Mapping[str, torch.Tensor], inference: InferenceConfig, flip_test: bool) -> DecodedBatch:
        decoded = self.boxes.decode(maps, inference, flip_test)
        vectors, joint_heatmap = maps["joints"].float(), maps["joint_heatmap"].float().sigmoid()
        offset = maps["joint_offset"].float()
        if flip_test:
            vectors, joint_heatmap = merge_flip_joints(vectors, joint_heatmap, self.permutation)
            offset = offset[:offset.shape[0] // 2]  # sub-pixel offsets from the images only, as the centre's
        joints, scores = decode_joints(vectors, joint_heatmap, offset, decoded.boxes, decoded.pixel,
                                       inference.top_k if inference.snap_joints else 0)
        decoded.points, decoded.point_scores = {COCO_KEYPOINTS: joints}, {COCO_KEYPOINTS: scores}
        return decoded

    def result_fields(self, points: dict[str, np.ndarray], point_scores: dict[str, np.ndarray]
                      ) -> dict[str, np.ndarray]:
        joints = np.concatenate([points[COCO_KEYPOINTS], point_scores[COCO_KEYPOINTS][..., None]], -1)
        return {COCO_KEYPOINTS: joints.astype(np.float32)}

    def coco_fields(self, detections: Detections, index: int) -> dict:
        """COCO's keypoint results format: "keypoints" [x1, y1, score1, ..., xK, yK, scoreK] in image pixels."""
        return {COCO_KEYPOINTS: detections.keypoints[index].astype(np.float64).round(3).reshape(-1).tolist()}

    def iou_types(self, has_polygons: bool) -> tuple[str, ...]:
        return ("bbox", COCO_KEYPOINTS)

    def cocoeval_params(self, iou_type: str, inference: InferenceConfig) -> dict[str, object]:
        if iou_type != COCO_KEYPOINTS:
            return {}
        return {"kpt_oks_sigmas": oks_sigmas(self.names, inference.oks_sigmas)}

    def draw(self, canvas: np.ndarray, detections: Detections, index: int, color: tuple[int, int, int],
             thickness: int) -> None:
        """The skeleton's limbs as lines and the joints as dots (a left joint filled, others hollow)."""
        points = np.round(detections.keypoints[index, :, :2]).astype(np.int32)
        for first, second in self.skeleton:
            cv2.line(canvas, tuple(int(v) for v in points[first]), tuple(int(v) for v in points[second]), color,
                     thickness, cv2.LINE_AA)
        for name, (x, y) in zip(self.names, points, strict=True):
            cv2.circle(canvas, (int(x), int(y)), thickness + 2, color, -1 if name.startswith("left_") else thickness,
                       cv2.LINE_AA)


def oks_sigmas(names: Sequence[str], given: Sequence[float]) -> np.ndarray:
    """(K,) float64 OKS sigmas: `given` (one per joint), else COCO's for its 17-joint person, else 0.07 each."""
    if given:
        if len(given) != len(names):
            raise ValueError(f"--oks-sigmas gives {len(given)} sigmas for {len(names)} joints")
        return np.asarray(given, dtype=np.float64)
    if tuple(names) == COCO_PERSON_JOINTS:
        return np.asarray(COCO_PERSON_SIGMAS, dtype=np.float64) / 10
    return np.full(len(names), OTHER_SIGMA)


def joint_fields(categories: Sequence[dict], source: str) -> dict[str, Any]:
    """ModelConfig fields of a keypoint data set (`source` names it in errors): the joint names of its categories'
    `keypoints` (the same for every category that has them) and their `skeleton` (COCO's 1-based pairs) 0-based."""
    named = [category for category in categories if category.get(COCO_KEYPOINTS)]
    if not named:
        raise ValueError(f"{source}: no category lists its `keypoints` (joint names), which --task keypoints needs")
    names = tuple(str(name) for name in named[0][COCO_KEYPOINTS])
    if any(tuple(str(name) for name in category[COCO_KEYPOINTS]) != names for category in named):
        raise ValueError(f"{source}: the categories name different joints; --task keypoints takes one skeleton")
    skeleton = []
    for limb in named[0].get("skeleton") or []:
        if len(limb) != 2 or not all(1 <= int(joint) <= len(names) for joint in limb):
            raise ValueError(f"{source}: skeleton limb {limb} is not two joints of 1..{len(names)}")
        skeleton.append((int(limb[0]) - 1, int(limb[1]) - 1))
    return {"joint_names": names, "skeleton": tuple(skeleton)}


def joint_heatmap_target(targets: Targets) -> tuple[torch.Tensor, torch.Tensor | None]:
    return targets.joint_heatmap, None


def joints_term(outputs: Mapping[str, torch.Tensor], targets: Targets) -> torch.Tensor:
    """Masked L1 on the labelled joints' (dx, dy) from their object's peak, read at the peak."""
    mask = targets.joint_mask.repeat_interleave(2, dim=-1)  # (B, M, 2K), x and y of each joint
    return masked_l1_loss(outputs["joints"], targets.index, mask, targets.joint_vector.flatten(-2))


def joint_offset_term(outputs: Mapping[str, torch.Tensor], targets: Targets) -> torch.Tensor:
    """Masked L1 on the labelled joints' sub-pixel offsets, read at each joint's own peak."""
    return masked_l1_loss(outputs["joint_offset"], targets.joint_index.flatten(1), targets.joint_mask.flatten(1),
                          targets.joint_offset.flatten(1, 2))


class JointTargets:
    """The box task's target step, then the joints' (`Targets.joint_*`), from `ObjectGeometry.points` (B, M, K, 2)
    in input pixels: every labelled joint (`point_labelled`) of a valid object inside the output map peaks in its
    joint heatmap; those of objects whose centre slot is learned (`Targets.mask`) also have their offsets."""

    def __init__(self, boxes: TargetStep | None) -> None:
        self.boxes = boxes

    def shares_heatmap_windows(self, gaussian: str) -> bool:
        return self.boxes is not None and self.boxes.shares_heatmap_windows(gaussian)

    def __call__(self, targets: Targets, geometry: ObjectGeometry) -> None:
        if self.boxes is not None:
            self.boxes(targets, geometry)
        if geometry.points is None or geometry.point_labelled is None:
            raise ValueError("the keypoints task's targets need the objects' joints (Batch.points)")
        height, width = geometry.output_size
        joints = geometry.points.float() / geometry.stride  # (B, M, K, 2) output pixels
        batch, _, count = joints.shape[:3]
        inside = (joints[..., 0] >= 0) & (joints[..., 0] < width) & (joints[..., 1] >= 0) & (joints[..., 1] < height)
        visible = geometry.point_labelled.bool() & inside & geometry.valid[..., None]  # into the joint heatmaps
        labelled = visible & (targets.mask[..., None] > 0)  # and learned from the centre: its slot is
        weights = labelled.float()
        cell = joints.floor().long()
        cell = torch.stack([cell[..., 0].clamp(0, width - 1), cell[..., 1].clamp(0, height - 1)], -1)
        targets.joint_vector = (joints - geometry.peak[:, :, None].float()) * weights[..., None]
        targets.joint_offset = (joints - cell.float()) * weights[..., None]
        targets.joint_index = (cell[..., 1] * width + cell[..., 0]) * labelled.long()
        targets.joint_mask = weights
        image, slot, joint = visible.nonzero(as_tuple=True)
        radius = round_radius(geometry.size[image, slot])  # the reference's: the object's round radius
        _, (flat,), value = gaussian_windows(cell[image, slot, joint], radius, gaussian_sigma(radius),
                                             geometry.output_size, ((image * count + joint) * (height * width),),
                                             owners=False)
        heatmap = zeros((batch, count, height, width), joints.device)
        heatmap.view(-1).scatter_reduce_(0, flat, value, reduce="amax")
        targets.joint_heatmap = heatmap
