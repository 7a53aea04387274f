"""`centernet evaluate`: COCO mAP of a checkpoint (or an ONNX export) on an annotated image folder.

Heavy modules are imported inside `run_evaluate`: `centernet --help` imports this module to build its parser.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from centernet.apps.options import (
    add_config_options,
    add_predictor_options,
    overrides_from_options,
    predictor_setting,
    run_options,
)
from centernet.config import InferenceConfig
from centernet.errors import CenterNetError


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ann", required=True, help="COCO annotation json")
    parser.add_argument("--images", required=True, help="folder of the images")
    parser.add_argument("--out", required=True, help="where to write the detections (COCO results json)")
    parser.add_argument("--metrics", help="where to write AP, AP50, AP75, APs, APm, APl and per-class AP (json)")
    add_predictor_options(parser, batch_size=16)
    add_config_options(parser, only=("data.workers",), group="data")
    add_config_options(parser, only=("data.input_size",), overrides=True, group="data",
                       help_suffix={"data.input_size": "; default: the checkpoint's"})


def run_evaluate(args: argparse.Namespace) -> int:
    from centernet.backends import load_predictor
    from centernet.data.coco import CocoDataset
    from centernet.data.validate import check_coco
    from centernet.engine.evaluate import evaluate

    predictor = load_predictor(args.checkpoint, args.backend, **run_options(args),
                               **overrides_from_options(args, InferenceConfig))
    if getattr(args, "data.input_size"):
        predictor.set_input_size(getattr(args, "data.input_size"))
    check_coco(args.ann, args.images)
    dataset = CocoDataset(args.ann, args.images, predictor.input_size, train=False)
    if dataset.category_ids != predictor.category_ids:
        raise CenterNetError(f"categories of {args.ann} ({dataset.class_names}) differ from the checkpoint's "
                             f"({predictor.class_names})")
    print(f"evaluate: {predictor_setting(predictor)}")
    result = evaluate(predictor, dataset, batch_size=args.batch_size, workers=getattr(args, "data.workers"))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result.results))
    print_metrics(result.metrics, result.per_class_ap, result.per_class_auroc)
    if args.metrics:
        Path(args.metrics).parent.mkdir(parents=True, exist_ok=True)
        Path(args.metrics).write_text(json.dumps({**result.metrics, "per_class_ap": result.per_class_ap,
                                                  "per_class_auroc": result.per_class_auroc}, indent=2))
    return 0


def print_metrics(metrics: dict[str, float | None], per_class_ap: dict[str, float],
                  per_class_auroc: dict[str, float | None]) -> None:
    """The COCO table in percent ("-": undefined, e.g. no small objects), a line for the boxes and one for each
    other iou type of the task (its metrics named "TYPE_AP", ...: exdet's octagons "segm", keypoints' OKS
    "keypoints"); per class, those with ground truth."""
    from centernet.engine.evaluate import format_metric

    lines: dict[str, list[str]] = {}
    for name, value in metrics.items():
        iou_type, _, metric = name.rpartition("_")
        lines.setdefault(iou_type, []).append(f"{metric} {format_metric(value, 100, 5, 1)}")
    for iou_type, parts in lines.items():
        print((f"{iou_type}: " if iou_type else "") + "  ".join(parts))
    for name, value in per_class_ap.items():
        auroc = per_class_auroc.get(name)
        print(f"  {name:<20} AP {format_metric(value, 100, 5, 1)}  heatmap AUROC {format_metric(auroc)}")
