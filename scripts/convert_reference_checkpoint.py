"""Convert an original CenterNet checkpoint (ResNet, ResNet-DCN or DLA-34; ctdet, or multi_pose: boxes and joints)
into our state dict, or with --classes into a centernet checkpoint (for `centernet train --init-from`, evaluate,
demo and export).

    python scripts/convert_reference_checkpoint.py ctdet_coco_dla_2x.pth dla34.pt --arch dla34
    python scripts/convert_reference_checkpoint.py ctdet_coco_dla_2x.pth dla34_coco.pt --arch dla34 --classes coco
    python scripts/convert_reference_checkpoint.py multi_pose_dla_3x.pth pose.pt --arch dla34 --classes person

A multi_pose checkpoint (its `hps`, `hm_hp` and `hp_offset` heads) becomes a `--task keypoints` network; with
--classes person, COCO's person class with its 17 joints and skeleton, or an annotation file whose category names
the joints (`keypoints`, `skeleton`).

The input is a state dict or a dict holding one under "state_dict" (the original checkpoints also hold
"epoch"); it is read with torch.load(weights_only=True). The output is a plain state dict for
`centernet.tasks.build_model(reference_model_config(arch, num_classes, head_conv))` (the reference's layout: center
box head, no neck shortcuts, the reference's up path), loadable with
`model.load_state_dict(torch.load(OUT, weights_only=True))`; num_classes and head_conv are read from the heatmap
head.

With --classes (coco: the 80 COCO classes and their category ids in the reference's order; voc: the 20 Pascal
VOC classes, ids 1..20 as scripts/voc_to_coco.py writes them; or a COCO annotation file whose categories, sorted
by id, are the checkpoint's classes) the output is a centernet checkpoint: model, config (the reference's layout:
center box head, no neck shortcuts, 512 x 512 input), class names and category ids. The reference feeds its
network BGR images normalised with BGR statistics (--bgr-mean, --bgr-std: its COCO ones by default); ours are
RGB, so the first convolution's input channels are reversed and the statistics written in RGB order: the
checkpoint then detects on our pipeline as the original does on its own.

Only names change, never values. The original DCNv2 layer's `conv_offset_mask` predicts 27 channels which
it splits into thirds o1, o2, mask and then re-joins o1 and o2: the 18 offsets stay in their original order,
interleaved (dy, dx) per kernel position in row-major order, which is exactly torchvision's deform_conv2d
layout, and the 9 mask logits follow. Our `offset_and_mask` conv has the same channel order, so its weight
and bias copy over unchanged.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from centernet.catalog import ARCHITECTURES
from centernet.checkpoint import save_checkpoint
from centernet.config import Config, DataConfig, ModelConfig, config_to_dict, reference_neck_channels
from centernet.tasks import build_model
from centernet.tasks.keypoints import COCO_PERSON_JOINTS, joint_fields

Replacement = str | Callable[[re.Match[str]], str]

# Original top-level prefix -> ours; the first match applies. ResNet: trunk is an nn.Sequential of conv1,
# bn1, relu, maxpool, layer1..4, and the neck keeps the original flat `deconv_layers` indices.
PREFIX_RULES: list[tuple[re.Pattern[str], Replacement]] = [
    (re.compile(r"^conv1\."), "body.trunk.0."),
    (re.compile(r"^bn1\."), "body.trunk.1."),
    (re.compile(r"^layer([1-4])\."), lambda match: f"body.trunk.{int(match[1]) + 3}."),
    (re.compile(r"^deconv_layers\."), "body.neck."),
    (re.compile(r"^base\."), "body.trunk."),
    (re.compile(r"^dla_up\.ida_(\d+)\."), r"body.aggregation_up.steps.\1."),
    (re.compile(r"^ida_up\."), "body.final_aggregation."),
    (re.compile(r"^hm\."), "heads.heatmap."),
    (re.compile(r"^wh\."), "heads.size."),
    (re.compile(r"^reg\."), "heads.offset."),
    (re.compile(r"^hps\."), "heads.joints."),
    (re.compile(r"^hm_hp\."), "heads.joint_heatmap."),
    (re.compile(r"^hp_offset\."), "heads.joint_offset."),
]
_MODULE_LISTS = {"proj": "projections", "node": "nodes"}
# Inside an IDA-up the original numbers its parts from 1 and wraps conv, then BN + ReLU as `actf`.
INNER_RULES: list[tuple[re.Pattern[str], Replacement]] = [
    (re.compile(r"\.(proj|node)_(\d+)\.conv\."),
     lambda match: f".{_MODULE_LISTS[match[1]]}.{int(match[2]) - 1}.0."),
    (re.compile(r"\.(proj|node)_(\d+)\.actf\.0\."),
     lambda match: f".{_MODULE_LISTS[match[1]]}.{int(match[2]) - 1}.1."),
    (re.compile(r"\.up_(\d+)\."), lambda match: f".upsamplers.{int(match[1]) - 1}."),
    (re.compile(r"\.conv_offset_mask\."), ".offset_and_mask."),
]
# The DLA ImageNet classifier that the original keeps inside its trunk; CenterNet never uses it.
DROPPED = re.compile(r"^base\.fc\.")


def reference_to_ours(name: str) -> str | None:
    """Our parameter name for an original one; None for names we drop or do not know."""
    name = name.removeprefix("module.")  # checkpoints saved from nn.DataParallel
    if DROPPED.match(name):
        return None
    for pattern, replacement in PREFIX_RULES:
        if pattern.match(name):
            name = pattern.sub(replacement, name, count=1)
            break
    else:
        return None
    for pattern, replacement in INNER_RULES:
        name = pattern.sub(replacement, name)
    return name


def reference_model_config(arch: str, num_classes: int, head_conv: int, joint_names: Sequence[str] = (),
                           skeleton: Sequence[tuple[int, int]] = ()) -> ModelConfig:
    """The reference's ctdet network as our model config: the center box head, no neck shortcuts and the
    reference's up path for `arch`; with `joint_names` its multi_pose network (our keypoints task)."""
    task = {"task": "keypoints", "joint_names": tuple(joint_names), "skeleton": tuple(skeleton)} if joint_names else {}
    return ModelConfig(arch=arch, num_classes=int(num_classes), head_conv=int(head_conv), box_head="center",
                       dfl_bins=0, neck_shortcuts=False, neck_channels=reference_neck_channels(arch),
                       head_norm="none", **task)


def placeholder_joints(converted: dict[str, torch.Tensor]) -> tuple[str, ...]:
    """Names for the joints of a converted multi_pose state dict (one per `hm_hp` channel), none for ctdet."""
    joint_heatmap = converted.get("heads.joint_heatmap.2.weight")
    return () if joint_heatmap is None else tuple(f"joint_{index}" for index in range(joint_heatmap.shape[0]))


def convert_state_dict(reference: dict[str, torch.Tensor], arch: str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Rename `reference` for `arch`; returns (our complete state dict, report lines).

    Raises ValueError when one of our tensors has no source (other than BatchNorm's `num_batches_tracked`,
    which old checkpoints predate and which is then taken from a fresh model) or a shape differs.
    """
    renamed = {}
    report = []
    for name, tensor in reference.items():
        ours = reference_to_ours(name)
        if ours is None:
            report.append(f"unmatched (dropped): {name}")
        else:
            renamed[ours] = tensor
    if "heads.heatmap.2.weight" not in renamed:
        raise ValueError("no heatmap head (`hm.2.weight`) in the input: not a CenterNet ctdet checkpoint")
    num_classes, head_conv = renamed["heads.heatmap.2.weight"].shape[:2]
    model = reference_model_config(arch, num_classes, head_conv, placeholder_joints(renamed))
    expected = build_model(model).state_dict()
    problems = []
    for name in renamed.keys() - expected.keys():
        report.append(f"unmatched (no such parameter in {arch}): {name}")
        del renamed[name]
    converted = {}
    for name, own in expected.items():
        if name not in renamed:
            if name.endswith("num_batches_tracked"):
                converted[name] = own
            else:
                problems.append(f"missing: {name}")
        elif renamed[name].shape != own.shape:
            problems.append(f"shape: {name} is {tuple(renamed[name].shape)}, {arch} needs {tuple(own.shape)}")
        else:
            converted[name] = renamed[name]
    if problems:
        raise ValueError(f"checkpoint does not fit {arch}:\n" + "\n".join(problems))
    joints = f", {len(model.joint_names)} joints" if model.joint_names else ""
    report.append(f"converted {len(renamed)} tensors for {arch} with {num_classes} classes{joints}, head_conv "
                  f"{head_conv}")
    return converted, report


COCO_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant",
    "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard",
    "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli",
    "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed", "dining table", "toilet",
    "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush")
COCO_CATEGORY_IDS = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33, 34,
    35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
    64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90)
REFERENCE_BGR_MEAN = (0.408, 0.447, 0.470)  # the reference's COCO statistics, B, G, R
REFERENCE_BGR_STD = (0.289, 0.274, 0.278)
REFERENCE_INPUT_SIZE = 512
# COCO's person keypoints (the reference's multi_pose): joint names as in our tasks.keypoints, skeleton 1-based
COCO_PERSON_SKELETON = ((16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9),
                        (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7))


def _voc_classes() -> tuple[str, ...]:
    spec = importlib.util.spec_from_file_location("voc_to_coco", Path(__file__).with_name("voc_to_coco.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(module.VOC_CLASSES)


def named_classes(spec: str) -> tuple[list[str], list[int], list[dict]]:
    """(class names, category ids, categories) of --classes: coco, voc, person (COCO's, with its keypoints), or a
    COCO annotation file (categories sorted by id)."""
    if spec == "coco":
        return list(COCO_CLASSES), list(COCO_CATEGORY_IDS), []
    if spec == "voc":
        names = _voc_classes()
        return list(names), list(range(1, len(names) + 1)), []
    if spec == "person":
        person = {"id": 1, "name": "person", "keypoints": list(COCO_PERSON_JOINTS),
                  "skeleton": [list(limb) for limb in COCO_PERSON_SKELETON]}
        return ["person"], [1], [person]
    categories = sorted(json.loads(Path(spec).read_text())["categories"], key=lambda category: category["id"])
    return ([str(category["name"]) for category in categories], [int(category["id"]) for category in categories],
            categories)


def centernet_checkpoint(converted: dict[str, torch.Tensor], arch: str, class_names: Sequence[str],
                         category_ids: Sequence[int], bgr_mean: Sequence[float] = REFERENCE_BGR_MEAN,
                         bgr_std: Sequence[float] = REFERENCE_BGR_STD, epoch: int = 0,
                         categories: Sequence[dict] = ()) -> dict:
    """A centernet checkpoint of a converted state dict: the first convolution reads RGB instead of BGR, the
    config is the reference's layout with its statistics in RGB order; a multi_pose state dict takes its joint
    names and skeleton from `categories` (COCO's, the --classes)."""
    num_classes, head_conv = converted["heads.heatmap.2.weight"].shape[:2]
    if len(class_names) != num_classes:
        raise ValueError(f"the checkpoint has {num_classes} classes, --classes names {len(class_names)}")
    first_conv = next(name for name, tensor in converted.items() if tensor.ndim == 4 and tensor.shape[1] == 3)
    weights = {**converted, first_conv: converted[first_conv].flip(1)}  # input channels B, G, R -> R, G, B
    joints = placeholder_joints(converted)
    skeleton: tuple[tuple[int, int], ...] = ()
    if joints:
        fields = joint_fields(categories, "--classes")
        if len(fields["joint_names"]) != len(joints):
            raise ValueError(f"the checkpoint has {len(joints)} joints, --classes names {len(fields['joint_names'])}")
        joints, skeleton = fields["joint_names"], fields["skeleton"]
    model = reference_model_config(arch, num_classes, head_conv, joints, skeleton)
    data = DataConfig(input_size=REFERENCE_INPUT_SIZE, mean=tuple(bgr_mean)[::-1], std=tuple(bgr_std)[::-1])
    return {"model": weights, "epoch": epoch, "step": 0, "config": config_to_dict(Config(model=model, data=data)),
            "class_names": list(class_names), "category_ids": list(category_ids)}


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="original checkpoint (.pth)")
    parser.add_argument("output", help="where to write our state dict (.pt), or with --classes our checkpoint")
    parser.add_argument("--arch", required=True, choices=sorted(ARCHITECTURES))
    parser.add_argument("--classes", help="write a centernet checkpoint with these classes: coco, voc, person "
                        "(COCO's, with its 17 joints, for multi_pose), or a COCO annotation file whose categories "
                        "(sorted by id) are the checkpoint's")
    parser.add_argument("--bgr-mean", type=float, nargs=3, default=REFERENCE_BGR_MEAN,
                        help="with --classes: the reference's normalisation mean, B G R (default: its COCO one)")
    parser.add_argument("--bgr-std", type=float, nargs=3, default=REFERENCE_BGR_STD,
                        help="with --classes: its standard deviation, B G R")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    checkpoint = torch.load(args.input, map_location="cpu", weights_only=True)
    epoch = int(checkpoint.get("epoch", 0)) if isinstance(checkpoint, dict) else 0
    if isinstance(checkpoint, dict) and "state_dict" in checkpoint:
        checkpoint = checkpoint["state_dict"]
    try:
        converted, report = convert_state_dict(checkpoint, args.arch)
        if args.classes:
            class_names, category_ids, categories = named_classes(args.classes)
            state = centernet_checkpoint(converted, args.arch, class_names, category_ids, args.bgr_mean, args.bgr_std,
                                         epoch, categories)
    except (ValueError, OSError, KeyError) as error:
        print(error, file=sys.stderr)
        return 1
    print("\n".join(report))
    if args.classes:
        save_checkpoint(args.output, state)
        print(f"wrote a centernet checkpoint with {len(class_names)} classes ({args.classes}), RGB input")
    else:
        torch.save(converted, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
