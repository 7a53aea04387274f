"""`centernet train | evaluate | demo | export`: the parser fills the config; errors print as one line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from centernet.apps.demo import add_demo_arguments, run_demo
from centernet.apps.export import add_export_arguments, run_export
from centernet.config import AugmentConfig, Config, DataConfig, InferenceConfig, LossConfig, ModelConfig, TrainConfig
from centernet.errors import CenterNetError


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    data, model, optim, loss = (parser.add_argument_group(name) for name in ("data", "model", "optimisation", "loss"))
    data.add_argument("--train-ann", required=True, help="COCO annotation json of the training set")
    data.add_argument("--train-images", required=True, help="folder of the training images")
    data.add_argument("--val-ann", help="COCO annotation json of the validation set")
    data.add_argument("--val-images", help="folder of the validation images")
    data.add_argument("--input-size", type=int, default=512, help="network input side, a multiple of 32")
    data.add_argument("--max-objects", type=int, default=128)
    data.add_argument("--workers", type=int, default=2, help="data loader processes")
    data.add_argument("--no-scale", action="store_true", help="turn off random scale augmentation")
    data.add_argument("--no-shift", action="store_true", help="turn off random shift augmentation")
    data.add_argument("--no-flip", action="store_true", help="turn off random horizontal flips")
    data.add_argument("--no-color", action="store_true", help="turn off colour jitter and PCA lighting")
    model.add_argument("--arch", default="resnet18")
    model.add_argument("--head-conv", type=int, help="head hidden channels (default: 64 ResNet, 256 DLA)")
    model.add_argument("--backbone-weights", help='ImageNet weights: a local state-dict file, or "imagenet"')
    optim.add_argument("--out", required=True, help="run directory (checkpoints, TensorBoard, metrics)")
    optim.add_argument("--epochs", type=int, default=140)
    optim.add_argument("--batch-size", type=int, default=32, help="images per process")
    optim.add_argument("--lr", type=float, default=1.25e-4, help="learning rate for --reference-batch images")
    optim.add_argument("--reference-batch", type=int, default=32, help="lr is scaled linearly from this batch")
    optim.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), default="adam")
    optim.add_argument("--weight-decay", type=float, default=0.0)
    optim.add_argument("--schedule", choices=("step", "cosine"), default="step")
    optim.add_argument("--lr-steps", type=int, nargs="*", default=[90, 120], help="epochs where lr drops x0.1")
    optim.add_argument("--warmup-iters", type=int, default=0)
    optim.add_argument("--grad-clip", type=float, help="clip the gradient norm to this value")
    optim.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    optim.add_argument("--amp", action="store_true", help="mixed precision on CUDA (bf16 where supported)")
    optim.add_argument("--channels-last", action="store_true")
    optim.add_argument("--compile", action="store_true", help="torch.compile the model and the heatmap loss")
    optim.add_argument("--seed", type=int, default=0)
    optim.add_argument("--eval-interval", type=int, default=1, help="evaluate every N epochs")
    optim.add_argument("--log-interval", type=int, default=10, help="TensorBoard train scalars every N steps")
    optim.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    optim.add_argument("--strict", action="store_true", help="fail on a corrupt image instead of skipping it")
    loss.add_argument("--hm-loss", choices=("penalty_reduced", "quality_focal", "sigmoid_focal"),
                      default="penalty_reduced", help="heatmap criterion")
    loss.add_argument("--hm-weight", type=float, default=1.0)
    loss.add_argument("--size-weight", type=float, default=0.1)
    loss.add_argument("--offset-weight", type=float, default=1.0)
    loss.add_argument("--class-balance", type=float, metavar="BETA",
                      help="weight heatmap classes by effective number of samples (e.g. 0.999)")


def config_from_train_args(args: argparse.Namespace) -> Config:
    """Fill the config tree from parsed `train` arguments (num_classes comes from the dataset later)."""
    augment = AugmentConfig(
        scale=0.0 if args.no_scale else AugmentConfig.scale, shift=0.0 if args.no_shift else AugmentConfig.shift,
        flip=0.0 if args.no_flip else AugmentConfig.flip,
        color_jitter=0.0 if args.no_color else AugmentConfig.color_jitter,
        pca_lighting=0.0 if args.no_color else AugmentConfig.pca_lighting)
    return Config(
        model=ModelConfig(arch=args.arch, head_conv=args.head_conv, backbone_weights=args.backbone_weights),
        data=DataConfig(train_ann=args.train_ann, train_images=args.train_images, val_ann=args.val_ann,
                        val_images=args.val_images, input_size=args.input_size, max_objects=args.max_objects,
                        augment=augment, workers=args.workers),
        loss=LossConfig(heatmap=args.hm_loss, heatmap_weight=args.hm_weight, size_weight=args.size_weight,
                        offset_weight=args.offset_weight, class_balance=args.class_balance),
        train=TrainConfig(out=args.out, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                          reference_batch=args.reference_batch, optimizer=args.optimizer,
                          weight_decay=args.weight_decay, schedule=args.schedule, lr_steps=tuple(args.lr_steps),
                          warmup_iters=args.warmup_iters, grad_clip=args.grad_clip, amp=args.amp,
                          channels_last=args.channels_last, compile=args.compile, device=args.device, seed=args.seed,
                          eval_interval=args.eval_interval, log_interval=args.log_interval, strict=args.strict,
                          resume=args.resume),
        inference=InferenceConfig(),
    )


def run_train(args: argparse.Namespace) -> int:
    from centernet.engine.train import train

    if args.input_size % 32:
        raise CenterNetError(f"--input-size must be a multiple of 32, got {args.input_size}")
    if bool(args.val_ann) != bool(args.val_images):
        raise CenterNetError("--val-ann and --val-images go together")
    metrics = train(config_from_train_args(args))
    if metrics:
        print(json.dumps({name: None if value is None else round(value, 4) for name, value in metrics.items()}))
    return 0


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True,
                        help="a centernet checkpoint (last.pt / best.pt), or an ONNX export with --backend onnxruntime")
    parser.add_argument("--backend", choices=("pytorch", "onnxruntime"), default="pytorch")
    parser.add_argument("--ann", required=True, help="COCO annotation json")
    parser.add_argument("--images", required=True, help="folder of the images")
    parser.add_argument("--out", required=True, help="where to write the detections (COCO results json)")
    parser.add_argument("--metrics", help="where to write AP, AP50, AP75, APs, APm, APl and per-class AP (json)")
    parser.add_argument("--flip", action="store_true", help="flip test: average with the mirrored image")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", action="store_true", help="mixed precision on CUDA")


def run_evaluate(args: argparse.Namespace) -> int:
    from centernet.data.coco import CocoDataset
    from centernet.data.validate import check_coco
    from centernet.engine.evaluate import evaluate
    from centernet.onnx_backend import load_predictor

    predictor = load_predictor(args.checkpoint, args.backend, device=args.device, amp=args.amp,
                               flip_test=args.flip or None)
    check_coco(args.ann, args.images)
    dataset = CocoDataset(args.ann, args.images, predictor.config.data.input_size, train=False)
    if dataset.category_ids != predictor.category_ids:
        raise CenterNetError(f"categories of {args.ann} ({dataset.class_names}) differ from the checkpoint's "
                             f"({predictor.class_names})")
    result = evaluate(predictor, dataset, batch_size=args.batch_size, workers=args.workers)
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
    """The COCO table in percent ("-": undefined, e.g. no small objects); per class, those with ground truth."""
    from centernet.engine.evaluate import format_metric

    print("  ".join(f"{name} {format_metric(value, 100, 5, 1)}" for name, value in metrics.items()))
    for name, value in per_class_ap.items():
        auroc = per_class_auroc.get(name)
        print(f"  {name:<20} AP {format_metric(value, 100, 5, 1)}  heatmap AUROC {format_metric(auroc)}")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="centernet", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add_train_arguments(commands.add_parser("train", help="train a detector on a COCO-format dataset"))
    add_evaluate_arguments(commands.add_parser("evaluate", help="COCO mAP of a checkpoint on a dataset"))
    add_demo_arguments(commands.add_parser("demo", help="detect in a video, camera, image or folder; draw and time"))
    add_export_arguments(commands.add_parser("export", help="a checkpoint -> ONNX or TorchScript, verified"))
    return parser


COMMANDS = {"train": run_train, "evaluate": run_evaluate, "demo": run_demo, "export": run_export}


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (CenterNetError, FileNotFoundError, ValueError) as error:
        if os.environ.get("CENTERNET_DEBUG"):
            raise
        print(f"centernet {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"centernet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
