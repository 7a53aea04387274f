"""An anchor-based baseline on the data of a `centernet train` run: torchvision's RetinaNet with a ResNet-18 FPN
from random init, trained with the same data pipeline and recipe and scored with the same COCO evaluation.

The same as `centernet train` given the same options (this script takes its data and train options, with their
defaults): the training samples (centernet's CocoDataset: random scale, shift and horizontal flip of the affine
crop, then colour jitter and PCA lighting on the device), the input size and normalisation, the optimizer with
the learning rate scaled to the batch, the warm-up and schedule, the EMA of the weights (which is what is
evaluated), the letterboxed validation images, the detections kept (top 100 above score 0.01, InferenceConfig's
defaults) and their scoring (`centernet.engine.evaluate.coco_metrics`), and the run directory: metrics.jsonl
lines and TensorBoard scalars under the same names, so scripts/loss_study_table.py and scripts/plot_metrics.py
read it as they read our runs.

The model, given a fair chance (torchvision's RetinaNet v2 layout, `retinanet_resnet50_fpn_v2`, with a ResNet-18
body): no pretrained weights, every layer trained, the body's BatchNorm trainable (torchvision freezes it when it
loads pretrained weights), an FPN P3-P7 with P6 and P7 from C5, a GroupNorm head, GIoU box loss, the sigmoid
focal loss (alpha 0.25, gamma 2) on its anchors, class-wise NMS at IoU 0.5. Its image transform is told our
input size (min_size / max_size) so that it does not resize to 800 px, and torchvision's anchors (32-512 px with
3 scales and 3 aspect ratios per level, made for 800 px images) are scaled to the input: 10-164 px at 256 px.
No heatmap, hence no heatmap AUROC (an empty per_class_auroc).

Budget: --epochs, or --seconds (or --seconds-like, the training seconds of another run's metrics.jsonl) for a
training-time budget measured as metrics.jsonl measures it (the sum of the epochs' training seconds, evaluation
excluded): after each epoch, the number of epochs that fits is estimated from the mean epoch time so far; the
cosine (or step) schedule is laid over that many epochs and training ends there (--epochs stays the ceiling).

Usage:
    python scripts/retinanet_baseline.py --train-ann data/hard/annotations/train.json --train-images data/hard/train \
        --val-ann data/hard/annotations/val.json --val-images data/hard/val --out runs/retinanet \
        --input-size 256 --batch-size 16 --epochs 100 --seconds-like runs/penalty_reduced_seed0/metrics.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn
from torchvision.models.detection import RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.models.detection.retinanet import RetinaNetHead
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from centernet.apps.options import add_config_options, config_from_options
from centernet.checkpoint import load_checkpoint, save_checkpoint
from centernet.config import (
    Config,
    DataConfig,
    InferenceConfig,
    TrainConfig,
    config_from_dict,
    config_to_dict,
)
from centernet.data.coco import CocoDataset
from centernet.device import autocast, autocast_dtype, in_float32, precision_line, precision_name, resolve_device
from centernet.engine.ema import ModelEMA
from centernet.engine.evaluate import Evaluation, coco_metrics, detections_to_coco, format_metric
from centernet.engine.logger import RunLogger, source_commit
from centernet.engine.resume import changed_options
from centernet.engine.train import (
    build_optimizer,
    iterations_per_epoch,
    load_datasets,
    lr_factor,
    make_loader,
    network_inputs,
    scaled_lr,
    seed_everything,
)
from centernet.structures import Batch, Detections, apply_affine
from centernet.tasks.boxes import CenterBoxes

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/ is no package; also when loaded from elsewhere
from run_metrics import read_records, training_seconds  # noqa: E402

TORCHVISION_ANCHORS = (32, 64, 128, 256, 512)  # base anchor sizes of P3-P7 for torchvision's 800 px inputs
TORCHVISION_MIN_SIZE = 800
BOXES = CenterBoxes()  # a boxes task: COCO result records of boxes alone (no task fields)
# options of `centernet train` whose machinery this script does not have
UNSUPPORTED = {"gpu_decode": False, "compile": False,
               "init_from": None}
MAX_BAD_STEPS_IN_A_ROW = 20


def anchor_sizes_for(input_size: tuple[int, int]) -> tuple[int, ...]:
    """torchvision's base anchor sizes scaled from its 800 px shorter side to the input's shorter side."""
    return tuple(max(1, round(size * min(input_size) / TORCHVISION_MIN_SIZE)) for size in TORCHVISION_ANCHORS)


def build_retinanet(num_classes: int, data: DataConfig, inference: InferenceConfig) -> RetinaNet:
    """RetinaNet, ResNet-18 FPN, random init, trainable BatchNorm; `num_classes` object classes (no background).

    Its transform normalises [0, 1] RGB with `data.mean` / `data.std` and keeps `data.input_size` as it is.
    """
    body = torchvision.models.resnet18(weights=None, norm_layer=nn.BatchNorm2d)
    backbone = _resnet_fpn_extractor(body, trainable_layers=5, returned_layers=[2, 3, 4],
                                     extra_blocks=LastLevelP6P7(body.inplanes, 256))  # inplanes: C5's channels
    sizes = anchor_sizes_for(data.input_size)
    anchors = AnchorGenerator(tuple((size, size * 2 ** (1 / 3), size * 2 ** (2 / 3)) for size in sizes),
                              ((0.5, 1.0, 2.0),) * len(sizes))
    head = Float32Head(backbone.out_channels, anchors.num_anchors_per_location()[0], num_classes,
                         norm_layer=functools.partial(nn.GroupNorm, 32))
    head.regression_head._loss_type = "giou"  # as torchvision's retinanet_resnet50_fpn_v2 sets it
    width, height = data.input_size
    return RetinaNet(backbone, num_classes, min_size=min(width, height), max_size=max(width, height),
                     image_mean=list(data.mean), image_std=list(data.std), anchor_generator=anchors, head=head,
                     score_thresh=inference.score_threshold, detections_per_img=inference.top_k)


class Float32Head(RetinaNetHead):
    """RetinaNet's head (classification and box branches) in float32 under autocast, so that its logits, box deltas
    and the losses torchvision computes from them keep float32's precision, as centernet keeps its heads' last
    layers; the backbone and FPN run in the autocast dtype."""

    def forward(self, x: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        return in_float32(lambda *features: super(Float32Head, self).forward(list(features)), *x)


def retinanet_targets(batch: Batch) -> list[dict[str, torch.Tensor]]:
    """torchvision's targets of a batch: per image {"boxes": (N, 4) float32 x1, y1, x2, y2 in input pixels,
    "labels": (N,) int64 class indices}; crowd regions and padding left out (RetinaNet has no ignore regions)."""
    return [{"boxes": boxes[valid], "labels": classes[valid]}
            for boxes, classes, valid in zip(batch.boxes_xyxy, batch.classes, batch.valid, strict=True)]


def as_unit_range(images: torch.Tensor) -> list[torch.Tensor]:
    """(B, 3, H, W) RGB in [0, 255] (uint8 or float) as the list of (3, H, W) float [0, 1] images RetinaNet takes."""
    return list((images.float() / 255.0).unbind(0))


@dataclasses.dataclass
class Training:
    """What a step needs: the model, its EMA, the optimizer and the schedule's position."""

    config: Config
    model: RetinaNet
    ema: ModelEMA | None
    optimizer: torch.optim.Optimizer
    device: torch.device
    amp_dtype: torch.dtype | None  # the forward pass's autocast dtype (--amp on this device); None: float32
    iters_per_epoch: int
    base_lr: float
    step: int = 0
    bad_steps_in_a_row: int = 0


def train_step(training: Training, batch: Batch, iteration: int, schedule: TrainConfig) -> dict[str, float] | None:
    """One optimisation step at loader position `iteration` of `schedule`; None when the loss was not finite."""
    for group in training.optimizer.param_groups:
        group["lr"] = training.base_lr * lr_factor(iteration, schedule, training.iters_per_epoch)
    batch = batch.to(training.device, non_blocking=True)
    with autocast(training.device, training.amp_dtype):
        losses = training.model(as_unit_range(network_inputs(batch, training.config)), retinanet_targets(batch))
    loss = sum(losses.values())
    values = {"loss": float(loss.detach()), **{name: float(value.detach()) for name, value in losses.items()}}
    training.optimizer.zero_grad(set_to_none=True)
    if not math.isfinite(values["loss"]):
        training.bad_steps_in_a_row += 1
        if training.bad_steps_in_a_row >= MAX_BAD_STEPS_IN_A_ROW:
            raise SystemExit(f"training diverged at step {training.step}; lower --lr or set --grad-clip")
        return None
    training.bad_steps_in_a_row = 0
    loss.backward()
    if training.config.train.grad_clip:
        torch.nn.utils.clip_grad_norm_(training.model.parameters(), training.config.train.grad_clip)
    training.optimizer.step()
    if training.ema is not None:
        training.ema.update(training.model)
    training.step += 1
    return values


def train_one_epoch(training: Training, loader, epoch: int, schedule: TrainConfig, logger: RunLogger) -> float:
    """Train one epoch; returns its training seconds."""
    training.model.train()
    start = time.perf_counter()
    for position, batch in enumerate(loader):
        if len(batch.image_ids) == 0:
            continue
        values = train_step(training, batch, epoch * training.iters_per_epoch + position, schedule)
        if values is not None and training.step % training.config.train.log_interval == 0:
            logger.scalars("train", {**values, "lr": training.optimizer.param_groups[0]["lr"]}, training.step)
    return time.perf_counter() - start


def to_detections(output: dict[str, torch.Tensor], inverse_affine: np.ndarray, width: int, height: int,
                  class_names: Sequence[str]) -> Detections:
    """RetinaNet's output for one image (boxes in input pixels, descending scores, contiguous class indices into
    `class_names`) in original image pixels, clipped to the image as centernet's decoding clips them."""
    boxes = output["boxes"].float().cpu().numpy().reshape(-1, 2)
    boxes = apply_affine(boxes, inverse_affine).reshape(-1, 4)
    boxes = np.minimum(np.clip(boxes, 0, None), [width, height, width, height])
    labels = output["labels"].cpu().numpy().astype(np.int64)
    return Detections(boxes.astype(np.float32), output["scores"].float().cpu().numpy(), labels,
                      [class_names[label] for label in labels])


@torch.inference_mode()
def evaluate_retinanet(model: RetinaNet, dataset: CocoDataset, device: torch.device, batch_size: int,
                       workers: int, amp_dtype: torch.dtype | None = None) -> Evaluation:
    """Detect on every (letterboxed) validation image and score the detections with centernet's COCOeval."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                                         collate_fn=dataset.collate_fn())
    was_training = model.training
    model.eval()
    results = []
    for batch in loader:
        if len(batch.image_ids) == 0:
            continue
        with autocast(device, amp_dtype):
            outputs = model(as_unit_range(batch.images.to(device)))
        for image_id, inverse, output in zip(batch.image_ids.tolist(), batch.inverse_affine.numpy(), outputs,
                                             strict=True):
            info = dataset.coco.imgs[image_id]
            detections = to_detections(output, inverse, info["width"], info["height"], dataset.class_names)
            results += detections_to_coco(detections, image_id, dataset.category_ids, BOXES)
    model.train(was_training)
    metrics, per_class = coco_metrics(dataset.coco, results, dataset.class_names, dataset.category_ids)
    return Evaluation(metrics, per_class, results, per_class_auroc={})


def planned_epochs(epoch_seconds: Sequence[float], seconds: float | None, max_epochs: int) -> int:
    """Epochs to train: `max_epochs`, or under a `seconds` budget as many as fit at the mean epoch time so far
    (rounded, so the total lands within half an epoch of the budget), at least those done and at least one."""
    if seconds is None or not epoch_seconds:
        return max_epochs
    fit = round(seconds / (sum(epoch_seconds) / len(epoch_seconds)))
    return max(len(epoch_seconds), 1, min(max_epochs, fit))


def _record(epoch: int, step: int, seconds: float, result: Evaluation | None) -> dict:
    """The metrics.jsonl line of an epoch, with the keys `centernet train` writes."""
    record = {"epoch": epoch, "step": step, "epoch_seconds": round(seconds, 2), "load_average": list(os.getloadavg())}
    if result is not None:
        record.update(result.metrics, per_class_ap=result.per_class_ap, per_class_auroc=result.per_class_auroc)
    return record


def save_progress(training: Training, epoch_seconds: list[float], dataset: CocoDataset, path: Path) -> None:
    """last.pt after an epoch: what `restore_progress` needs to continue the run exactly (atomic write)."""
    state = {"model": training.model.state_dict(), "optimizer": training.optimizer.state_dict(),
             "step": training.step, "epoch_seconds": list(epoch_seconds), "config": config_to_dict(training.config),
             "class_names": list(dataset.class_names), "category_ids": list(dataset.category_ids)}
    if training.ema is not None:
        state.update(ema_model=training.ema.module.state_dict(), ema_updates=training.ema.updates)
    save_checkpoint(path, state)


def restore_progress(training: Training, path: Path) -> list[float]:
    """The state `save_progress` wrote, put back into `training`; returns the epochs' seconds so far. Options other
    than those a resumed run may change (epochs, device, workers, intervals) must be the saved run's."""
    saved = load_checkpoint(path)
    changes = changed_options(training.config, config_from_dict(saved["config"]))
    if changes:
        raise SystemExit(f"--resume: these options differ from the run saved in {path}: {'; '.join(changes)}")
    training.model.load_state_dict(saved["model"])
    training.optimizer.load_state_dict(saved["optimizer"])
    if training.ema is not None:
        training.ema.module.load_state_dict(saved["ema_model"])
        training.ema.updates = saved["ema_updates"]
    training.step = saved["step"]
    return list(saved["epoch_seconds"])


def run(config: Config, seconds: float | None) -> dict:
    """Train and evaluate as configured (see the module); returns the last evaluation's metrics."""
    train_set, val_set = load_datasets(config)
    device = resolve_device(config.train.device)
    seed_everything(config.train.seed)
    model = build_retinanet(train_set.num_classes, config.data, config.inference).to(device)
    if config.train.channels_last:  # the transform batches the images itself; channels-last weights carry it on
        model = model.to(memory_format=torch.channels_last)
    amp_dtype = autocast_dtype(device, config.train.amp)
    if amp_dtype == torch.float16:
        raise SystemExit("retinanet_baseline.py has no gradient scaler for fp16; on this GPU use --amp off")
    print(precision_line(device, config.train.amp, config.train.channels_last), flush=True)
    training = Training(config, model, ModelEMA(model, config.train.ema_decay, config.train.ema_ramp)
                        if config.train.ema else None, build_optimizer(model, config.train, 1), device, amp_dtype,
                        iterations_per_epoch(len(train_set), config.train.batch_size, 1),
                        scaled_lr(config.train, 1))
    logger = RunLogger(config.train.out, config, provenance={
        "commit": source_commit(), "precision": precision_name(amp_dtype), "channels_last": config.train.channels_last})
    description = {"model": {"name": "retinanet", "body": "resnet18", "fpn": "P3-P7, P6/P7 from C5",
                             "anchor_sizes": anchor_sizes_for(config.data.input_size), "seconds_budget": seconds},
                   "data": config_to_dict(config.data), "train": config_to_dict(config.train)}
    (logger.out / "config.json").write_text(json.dumps(description, indent=2) + "\n")  # not a centernet config
    last = logger.out / "last.pt"
    epoch_seconds = restore_progress(training, last) if config.train.resume and last.is_file() else []
    if epoch_seconds:
        print(f"resumed from {last} after epoch {len(epoch_seconds)}", flush=True)
    metrics: dict = {}
    epochs = planned_epochs(epoch_seconds, seconds, config.train.epochs)
    while len(epoch_seconds) < epochs:
        epoch = len(epoch_seconds)
        schedule = dataclasses.replace(config.train, epochs=epochs)
        epoch_seconds.append(train_one_epoch(training, make_loader(train_set, config, epoch, 1, 0), epoch, schedule,
                                             logger))
        logger.scalars("train", {"epoch_seconds": epoch_seconds[-1]}, training.step)
        epochs = planned_epochs(epoch_seconds, seconds, config.train.epochs)
        done = len(epoch_seconds)
        result = None
        if val_set is not None and (done % config.train.eval_interval == 0 or done == epochs):
            evaluated = training.ema.module if training.ema is not None else model
            result = evaluate_retinanet(evaluated, val_set, device, config.train.batch_size, config.data.workers,
                                        amp_dtype)
            logger.evaluation(result, val_set.class_names, done, training.step)
            metrics = result.metrics
            print(f"epoch {done}/{epochs}: AP {format_metric(metrics['AP'])}  AP50 {format_metric(metrics['AP50'])}",
                  flush=True)
        logger.log_json(_record(done, training.step, epoch_seconds[-1], result))
        save_progress(training, epoch_seconds, train_set, last)
    logger.close()
    return metrics


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_config_options(parser, DataConfig)
    add_config_options(parser, TrainConfig)
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt when it "
                                                               "exists")
    budget = parser.add_argument_group("budget").add_mutually_exclusive_group()
    budget.add_argument("--seconds", type=float, help="training-time budget in seconds (evaluation not counted); "
                                                      "--epochs stays the ceiling")
    budget.add_argument("--seconds-like", type=Path, metavar="METRICS_JSONL",
                        help="the budget: as many training seconds as the run that wrote this metrics.jsonl")
    return parser


def config_from_arguments(args: argparse.Namespace) -> Config:
    """The Config of the parsed data and train options; SystemExit for options this script cannot honour."""
    try:  # the data config validates the input size when it is made
        train = dataclasses.replace(config_from_options(args, TrainConfig), resume=args.resume)
        config = Config(data=config_from_options(args, DataConfig), train=train)
    except ValueError as error:
        raise SystemExit(str(error)) from error
    given = {**config_to_dict(config.data), **config_to_dict(config.train)}
    unsupported = [name for name, default in UNSUPPORTED.items() if given[name] != default]
    if unsupported:
        raise SystemExit("retinanet_baseline.py does not support " + ", ".join(f"--{name.replace('_', '-')}"
                                                                               for name in unsupported))
    return config


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    config = config_from_arguments(args)
    seconds = args.seconds
    if args.seconds_like is not None:
        seconds = training_seconds(read_records(args.seconds_like))
        print(f"budget: {seconds:.1f} training seconds, as {args.seconds_like}")
    metrics = run(config, seconds)
    if metrics:
        print(json.dumps({name: None if value is None else round(value, 4) for name, value in metrics.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
