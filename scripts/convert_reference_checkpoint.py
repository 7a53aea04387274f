"""Convert an original CenterNet checkpoint (ResNet, ResNet-DCN or DLA-34 ctdet) into our state dict.

    python scripts/convert_reference_checkpoint.py ctdet_coco_dla_2x.pth dla34.pt --arch dla34

The input is a state dict or a dict holding one under "state_dict" (the original checkpoints also hold
"epoch"); it is read with torch.load(weights_only=True). The output is a plain state dict for
`build_model(arch, num_classes)`, loadable with `model.load_state_dict(torch.load(OUT, weights_only=True))`;
num_classes and head_conv are read from the heatmap head.

Only names change, never values. The original DCNv2 layer's `conv_offset_mask` predicts 27 channels which
it splits into thirds o1, o2, mask and then re-joins o1 and o2: the 18 offsets stay in their original order,
interleaved (dy, dx) per kernel position in row-major order, which is exactly torchvision's deform_conv2d
layout, and the 9 mask logits follow. Our `offset_and_mask` conv has the same channel order, so its weight
and bias copy over unchanged.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence

import torch

from centernet.catalog import ARCHITECTURES
from centernet.model import build_model

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
    expected = build_model(arch, num_classes, head_conv=head_conv).state_dict()
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
    report.append(f"converted {len(renamed)} tensors for {arch} with {num_classes} classes, head_conv {head_conv}")
    return converted, report


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="original checkpoint (.pth)")
    parser.add_argument("output", help="where to write our state dict (.pt)")
    parser.add_argument("--arch", required=True, choices=sorted(ARCHITECTURES))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    checkpoint = torch.load(args.input, map_location="cpu", weights_only=True)
    if isinstance(checkpoint, dict) and "state_dict" in checkpoint:
        checkpoint = checkpoint["state_dict"]
    try:
        converted, report = convert_state_dict(checkpoint, args.arch)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 1
    print("\n".join(report))
    torch.save(converted, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
