"""The training loop: data -> device-side targets -> model -> loss -> step; evaluation, checkpoints, logs."""

from __future__ import annotations

import dataclasses
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from centernet.checkpoint import save_checkpoint
from centernet.config import Config, TrainConfig
from centernet.data.coco import CocoDataset
from centernet.data.colour import augment_colour
from centernet.data.extreme import has_polygon
from centernet.data.gpu_decode import decode_and_warp_jpegs
from centernet.data.mixing import BatchObjects, mix_batch
from centernet.data.validate import check_coco
from centernet.device import autocast, autocast_dtype, precision_line, precision_name, resolve_device
from centernet.engine import distributed
from centernet.engine.ema import ModelEMA
from centernet.engine.evaluate import Evaluation, evaluate
from centernet.engine.init_from import initialise_from
from centernet.engine.logger import RunLogger, epoch_line, source_commit
from centernet.engine.resume import inference_checkpoint, restore, resume_checkpoint, resume_config
from centernet.errors import CenterNetError, DataError
from centernet.losses import DetectionLoss
from centernet.losses.focal import class_balanced_weights
from centernet.predictor import Predictor
from centernet.structures import Batch
from centernet.targets import TargetEncoder
from centernet.tasks import build, fit_to_data, task_for

MAX_BAD_STEPS_IN_A_ROW = 20

# --optimizer name (`centernet.catalog.OPTIMIZERS`) -> its class
OPTIMIZER_CLASSES: dict[str, type[torch.optim.Optimizer]] = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
                                                              "sgd": torch.optim.SGD}


@dataclass
class TrainState:
    """Everything a step needs, built once per run."""

    config: Config
    model: nn.Module  # possibly DDP-wrapped
    criterion: DetectionLoss
    encoder: TargetEncoder
    ema: ModelEMA | None  # the averaged weights, when config.train.ema
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    device: torch.device
    amp_dtype: torch.dtype | None  # the forward pass's autocast dtype (--amp on this device); None: float32
    rank: int
    world_size: int
    iters_per_epoch: int
    base_lr: float  # the learning rate before the schedule's factor: `lr` scaled to the global batch
    epoch: int = 0
    step: int = 0
    best_ap: float = -1.0
    bad_steps_in_a_row: int = 0
    truncated_images: set[int] = dataclasses.field(default_factory=set)  # ids already warned about

    @property
    def bare_model(self) -> nn.Module:
        return self.model.module if isinstance(self.model, DistributedDataParallel) else self.model

    @property
    def inference_model(self) -> nn.Module:
        """The weights inference uses: the averaged ones where there is an EMA."""
        return self.bare_model if self.ema is None else self.ema.module


def warn(message: str) -> None:
    """A warning on stderr that does not break the progress bars."""
    tqdm.write(f"warning: {message}", file=sys.stderr)


# a loss weight -> the criterion's terms it weighs (a term whose name contains one of these)
WEIGHTED_TERMS = {"size_weight": ("size",), "offset_weight": ("offset",), "box_weight": ("box",),
                  "dfl_weight": ("dfl",), "joint_weight": ("joints",)}


def warn_ignored_options(config: Config, criterion: DetectionLoss) -> None:
    """One line for each option set away from its default that this run ignores: a loss weight of a term its task
    and box head do not have, --lr-steps without the step schedule."""
    defaults = Config()
    for name, parts in WEIGHTED_TERMS.items():
        value = getattr(config.loss, name)
        if value != getattr(defaults.loss, name) and not any(part in term for term in criterion.terms
                                                             for part in parts):
            warn(f"--{name.replace('_', '-')} {value:g} is ignored: this run's loss has no such term "
                 f"({', '.join(criterion.terms)})")
    if config.train.lr_steps != defaults.train.lr_steps and config.train.schedule != "step":
        warn(f"--lr-steps is ignored: it sets the step schedule, and this run's --schedule is {config.train.schedule}")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def scaled_lr(config: TrainConfig, world_size: int) -> float:
    """`lr` scaled linearly from `reference_batch` images to the global batch."""
    return config.lr * config.batch_size * world_size / config.reference_batch


def build_optimizer(model: nn.Module, config: TrainConfig, world_size: int) -> torch.optim.Optimizer:
    """The optimizer of `config.optimizer` (SGD with momentum 0.9), lr scaled linearly to the global batch."""
    if config.optimizer not in OPTIMIZER_CLASSES:
        raise ValueError(f"unknown optimizer {config.optimizer!r}; choose from {', '.join(OPTIMIZER_CLASSES)}")
    options = {"momentum": 0.9} if config.optimizer == "sgd" else {}
    return OPTIMIZER_CLASSES[config.optimizer](model.parameters(), lr=scaled_lr(config, world_size),
                                               weight_decay=config.weight_decay, **options)


def iterations_per_epoch(num_samples: int, batch_size: int, world_size: int) -> int:
    """Batches a rank's loader yields per epoch (DistributedSampler and the loader both drop the remainder)."""
    return max((num_samples // world_size) // batch_size, 1)


def lr_factor(iteration: int, config: TrainConfig, iters_per_epoch: int) -> float:
    """Linear warmup, then a step (x0.1 at each of `lr_steps` epochs) or cosine schedule, per iteration.

    `iteration` is the loader position, epoch * iters_per_epoch + batch index, so skipped steps (a non-finite
    loss, a batch of unreadable images) do not shift the schedule, and a resumed run continues it exactly.
    """
    warmup = min(1.0, (iteration + 1) / config.warmup_iters) if config.warmup_iters > 0 else 1.0
    if config.schedule == "step":
        epoch = iteration // max(iters_per_epoch, 1)
        return warmup * 0.1 ** sum(epoch >= boundary for boundary in config.lr_steps)
    if config.schedule == "cosine":
        progress = iteration / max(config.epochs * iters_per_epoch, 1)
        return warmup * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    raise ValueError(f"unknown schedule {config.schedule!r}; choose step or cosine")


def class_weights_for(dataset: CocoDataset, beta: float | None) -> torch.Tensor | None:
    """Class-balanced heatmap weights from the training set's object counts (None when off)."""
    if beta is None:
        return None
    return class_balanced_weights(dataset.class_counts(), beta=beta)


def make_loader(dataset: CocoDataset, config: Config, epoch: int, world_size: int, rank: int):
    """A fresh loader per epoch, so the epoch reaches the workers' copies of the dataset (reproducible order)."""
    dataset.set_epoch(epoch)
    generator = torch.Generator().manual_seed(config.train.seed + epoch)
    sampler = None
    if world_size > 1:
        sampler = torch.utils.data.DistributedSampler(dataset, world_size, rank, shuffle=True, seed=config.train.seed,
                                                      drop_last=True)
        sampler.set_epoch(epoch)
    return torch.utils.data.DataLoader(
        dataset, batch_size=config.train.batch_size, shuffle=sampler is None, sampler=sampler,
        num_workers=config.data.workers, collate_fn=dataset.collate_fn(), drop_last=True, generator=generator,
        pin_memory=torch.cuda.is_available())


def set_learning_rate(state: TrainState, iteration: int) -> None:
    """The schedule's learning rate at loader position `iteration` (see `lr_factor`), on every param group."""
    lr = state.base_lr * lr_factor(iteration, state.config.train, state.iters_per_epoch)
    for group in state.optimizer.param_groups:
        group["lr"] = lr


def network_inputs(batch: Batch, config: Config) -> torch.Tensor:
    """The images of a batch already on the device, as the model takes them (RGB in [0, 255]): JPEGs left encoded
    decoded and warped (--gpu-decode), then colour jitter and PCA lighting when on (float, clipped, not rounded)."""
    images = batch.images
    if batch.encoded_jpegs:
        try:
            images = decode_and_warp_jpegs(images, batch.encoded_jpegs, batch.inverse_affine)
        except DataError as error:
            ids = [int(batch.image_ids[row]) for row in sorted(batch.encoded_jpegs)]
            raise DataError(f"--gpu-decode: {error} (image ids {ids}); without --gpu-decode the workers skip corrupt "
                            "images") from error
    augment = config.data.augment
    if augment.color_jitter > 0 or augment.pca_lighting > 0:
        images = augment_colour(images, batch.colour_order, batch.colour_factors, batch.lighting_alpha)
    return images


def train_step(state: TrainState, batch: Batch) -> dict[str, float] | None:
    """One optimisation step; returns the loss stats, or None when the loss was not finite (step skipped)."""
    config = state.config
    batch = batch.to(state.device, non_blocking=True)
    images = network_inputs(batch, config)  # the model normalises them
    objects = BatchObjects(batch.boxes_xyxy, batch.classes, batch.valid, batch.crowd, batch.points,
                           batch.point_labelled)
    augment = config.data.augment
    if state.epoch < config.train.epochs - augment.plain_last_epochs:
        generator = torch.Generator().manual_seed(config.train.seed * 1_000_003 + state.step)  # resumes exactly
        images, objects = mix_batch(images, objects, augment.mosaic, augment.mixup, generator,
                                    copy_paste_probability=augment.copy_paste, instance_map=batch.instance_map)
    if config.train.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    targets = state.encoder(objects.boxes_xyxy, objects.classes, objects.valid, objects.crowd, objects.points,
                            objects.point_labelled)
    with autocast(state.device, state.amp_dtype):  # the heads' outputs are float32 (`model.heads`)
        outputs = state.model(images)
    loss, stats = state.criterion(outputs, targets)
    values = {name: float(value) for name, value in stats.items()}
    if not distributed.all_ranks_agree(math.isfinite(values["loss"]), state.device):
        state.optimizer.zero_grad(set_to_none=True)
        state.bad_steps_in_a_row += 1
        return None
    state.bad_steps_in_a_row = 0
    state.optimizer.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    if config.train.grad_clip:
        state.scaler.unscale_(state.optimizer)
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), config.train.grad_clip)
    state.scaler.step(state.optimizer)
    state.scaler.update()
    if state.ema is not None:
        state.ema.update(state.bare_model)
    state.step += 1
    return values


@dataclass
class EpochReport:
    """What an epoch took and left out: its training seconds, samples skipped (corrupt images), objects past
    --max-objects and their images, and objects whose points the task's point source had to stand in for (exdet:
    box edge midpoints for objects without a polygon)."""

    seconds: float = 0.0
    skipped: int = 0
    truncated_objects: int = 0
    truncated_images: int = 0
    stand_in_points: int = 0
    losses: dict[str, float] = dataclasses.field(default_factory=dict)  # mean of each term over the epoch's steps
    lr: float = 0.0  # at the epoch's last step


def report_truncation(state: TrainState, batch: Batch, dataset: CocoDataset, report: EpochReport) -> None:
    """Count the objects this batch left out, and warn once per image (workers truncate, so dedupe here)."""
    limit = state.config.data.max_objects
    for image_id, count in batch.truncated:
        report.truncated_objects += count - limit
        report.truncated_images += 1
        if image_id not in state.truncated_images:
            state.truncated_images.add(image_id)
            warn(f"{dataset.image_path(image_id)} (image id {image_id}) has {count} objects, more than "
                 f"--max-objects {limit}: {count - limit} are left out of training; raise --max-objects")


def train_one_epoch(state: TrainState, loader, dataset: CocoDataset, logger: RunLogger | None) -> EpochReport:
    """Run one epoch; returns what it had to leave out."""
    state.model.train()
    report = EpochReport()
    start = time.perf_counter()
    window: dict[str, list[float]] = {}
    totals: dict[str, float] = {}
    steps = 0
    bar = tqdm(loader, desc=f"epoch {state.epoch + 1}/{state.config.train.epochs}", unit="it",
               disable=state.rank != 0, leave=False, dynamic_ncols=True)
    for position, batch in enumerate(bar):
        report.skipped += batch.skipped
        report_truncation(state, batch, dataset, report)
        if batch.points_from_annotation is not None:
            report.stand_in_points += int((batch.valid & ~batch.points_from_annotation).sum())
        if len(batch.image_ids) == 0:
            continue
        set_learning_rate(state, state.epoch * state.iters_per_epoch + position)
        values = train_step(state, batch)
        if values is None:
            warn(f"non-finite loss at step {state.step}; step skipped, weights unchanged")
            if state.bad_steps_in_a_row >= MAX_BAD_STEPS_IN_A_ROW:
                raise CenterNetError(f"training diverged: {MAX_BAD_STEPS_IN_A_ROW} non-finite losses in a row "
                                     f"at step {state.step}; lower --lr or enable --grad-clip")
            continue
        for name, value in values.items():
            window.setdefault(name, []).append(value)
            totals[name] = totals.get(name, 0.0) + value
        steps += 1
        lr = report.lr = state.optimizer.param_groups[0]["lr"]
        bar.set_postfix(loss=f"{values['loss']:.3f}", lr=f"{lr:.2e}")
        if logger is not None and state.step % logger.interval == 0:
            logger.scalars("train", {name: float(np.mean(v)) for name, v in window.items()}, state.step)
            logger.scalars("train", {"lr": lr}, state.step)
            window.clear()
    report.seconds = time.perf_counter() - start
    report.losses = {name: total / max(steps, 1) for name, total in totals.items()}
    return report


def decode_on_device(config: Config, dataset: CocoDataset) -> bool:
    """Whether the training images are decoded on the device (--gpu-decode on CUDA). Where --gpu-decode is asked
    for but cannot apply (no CUDA), or not to every file (file names without a JPEG extension), one line says so."""
    if not config.data.gpu_decode:
        return False
    device = resolve_device(config.train.device)
    if device.type != "cuda":
        warn(f"--gpu-decode: training on {device.type}, not CUDA; the data loader workers decode the images")
        return False
    names = [info["file_name"] for info in dataset.coco.imgs.values()]
    others = sum(not name.lower().endswith((".jpg", ".jpeg")) for name in names)
    if others:
        warn(f"--gpu-decode: {others} of {len(names)} training images are not JPEG files; the data loader workers "
             "decode those")
    return True


def load_datasets(config: Config) -> tuple[CocoDataset, CocoDataset | None]:
    """Validate the annotation files (every problem reported at once), then open the datasets (without the task's
    point source, which `fit_to_data` decides: see `_train`)."""
    data = config.data
    if not data.train_ann or not data.train_images:
        raise CenterNetError("training needs --train-ann FILE and --train-images DIR")
    check_coco(data.train_ann, data.train_images)
    train_set = CocoDataset(data.train_ann, data.train_images, data.input_size, train=True, augment=data.augment,
                            max_objects=data.max_objects, seed=config.train.seed, strict=config.train.strict)
    train_set.decode_on_device = decode_on_device(config, train_set)
    if not data.val_ann:
        return train_set, None
    check_coco(data.val_ann, data.val_images)
    val_set = CocoDataset(data.val_ann, data.val_images, data.input_size, train=False, max_objects=data.max_objects,
                          strict=config.train.strict)
    if val_set.category_ids != train_set.category_ids:
        raise CenterNetError(f"categories of {data.val_ann} differ from those of {data.train_ann}")
    return train_set, val_set


def copy_paste_line(train_set: CocoDataset, config: Config) -> str | None:
    """One line on what copy-paste (on by default) has to paste in this run, or None when it is off: the count of
    the training objects with a polygon (COCO `segmentation` lists; crowd regions and RLE masks are never pasted)."""
    augment = config.data.augment
    if augment.copy_paste <= 0:
        return None
    objects = [annotation for annotation in train_set.coco.anns.values() if not annotation.get("iscrowd", 0)]
    with_polygon = sum(has_polygon(annotation.get("segmentation")) for annotation in objects)
    if with_polygon == 0:
        return (f"copy-paste: none of the {len(objects)} training objects has a polygon, so nothing is pasted "
                "(--copy-paste 0 leaves out drawing their instance maps)")
    mixed = config.train.epochs - augment.plain_last_epochs
    if mixed <= 0:
        return f"copy-paste: off in this run (its {config.train.epochs} epochs are all --plain-last-epochs)"
    return (f"copy-paste: {with_polygon} of the {len(objects)} training objects have polygons; with probability "
            f"{augment.copy_paste:g} an image gets those of another image of its batch, in epochs 1-{mixed} of "
            f"{config.train.epochs}")


def build_state(config: Config, train_set: CocoDataset, rank: int, local_rank: int, world_size: int, *,
                resuming: bool = False) -> TrainState:
    device = resolve_device(config.train.device)
    if device.type == "cuda" and world_size > 1:
        device = torch.device("cuda", local_rank)
    seed_everything(config.train.seed)
    weights = class_weights_for(train_set, config.loss.class_balance)
    parts = build(config, None if weights is None else weights.to(device), compile_heatmap=config.train.compile)
    model = parts.model.to(device)
    if config.train.init_from and not resuming:  # a resumed run restores its own weights
        initialise_from(model, config.train.init_from, train_set.class_names, config.model, verbose=rank == 0)
    if config.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if config.train.compile:
        model.compile()  # in place, so the state_dict keys (and checkpoints) stay those of the plain model
    ema = ModelEMA(model, config.train.ema_decay, config.train.ema_ramp) if config.train.ema else None
    if world_size > 1:
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = build_optimizer(model, config.train, world_size)
    iters_per_epoch = iterations_per_epoch(len(train_set), config.train.batch_size, world_size)
    amp_dtype = autocast_dtype(device, config.train.amp)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)  # bf16 needs none
    criterion, encoder = parts.criterion, parts.encoder
    return TrainState(config, model, criterion, encoder, ema, optimizer, scaler, device, amp_dtype, rank, world_size,
                      iters_per_epoch, scaled_lr(config.train, world_size))


def run_evaluation(state: TrainState, val_set: CocoDataset, logger: RunLogger) -> Evaluation:
    predictor = Predictor(state.inference_model, state.config, val_set.class_names, state.device,
                          amp=state.config.train.amp, channels_last=state.config.train.channels_last,
                          category_ids=val_set.category_ids)
    result = evaluate(predictor, val_set, batch_size=state.config.train.batch_size,
                      workers=state.config.data.workers, criterion=state.criterion, num_examples=4)
    logger.evaluation(result, val_set.class_names, state.epoch, state.step)
    return result


def train(config: Config) -> dict[str, Any]:
    """Train as configured; returns the last evaluation's metrics (empty without validation data)."""
    rank, local_rank, world_size = distributed.init_distributed(config.train.device)
    try:
        return _train(config, rank, local_rank, world_size)
    finally:
        distributed.cleanup_distributed()


def _train(config: Config, rank: int, local_rank: int, world_size: int) -> dict[str, Any]:
    out = Path(config.train.out)
    saved = None
    if config.train.resume:
        config, saved = resume_config(config, out)
    elif out.is_dir() and any(out.iterdir()):
        raise CenterNetError(f"{out} holds a run already (its files stay as they are): continue it with --resume "
                             f"{out}, or train into another --out")
    train_set, val_set = load_datasets(config)
    categories = [train_set.coco.cats[category] for category in train_set.category_ids]
    try:
        config = dataclasses.replace(config, model=fit_to_data(config.model, categories, config.data.train_ann))
        points = task_for(config.model).point_source()  # a task refuses the options that do not apply to it
    except ValueError as error:
        raise CenterNetError(str(error)) from None
    for dataset in (train_set, val_set):
        if dataset is not None:
            dataset.points = points
    state = build_state(config, train_set, rank, local_rank, world_size, resuming=saved is not None)
    if rank == 0:
        warn_ignored_options(config, state.criterion)
    if saved is not None:
        restore(state, saved)
    provenance = {"commit": source_commit(), "precision": precision_name(state.amp_dtype),
                  "channels_last": config.train.channels_last}
    logger = RunLogger(out, config, config.train.log_interval, provenance) if rank == 0 else None
    if rank == 0:
        tqdm.write(precision_line(state.device, config.train.amp, config.train.channels_last))
        if (line := copy_paste_line(train_set, config)) is not None:
            tqdm.write(line)
    metrics: dict[str, Any] = {}
    launched, first_epoch = time.perf_counter(), state.epoch  # the ETA: this launch's pace, evaluations included
    while state.epoch < config.train.epochs:
        report = train_one_epoch(state, make_loader(train_set, config, state.epoch, world_size, rank), train_set,
                                 logger)
        state.epoch += 1
        if world_size > 1:
            if not distributed.replicas_in_sync(state.model):
                raise CenterNetError(f"replicas diverged after epoch {state.epoch}")
            if rank == 0:
                tqdm.write(f"epoch {state.epoch}: {world_size} replicas in sync")
        if rank == 0:
            metrics = _end_of_epoch(state, train_set, val_set, logger, report, launched, first_epoch)
        distributed.barrier()
    if logger is not None:
        logger.close()
    return metrics


def _end_of_epoch(state: TrainState, train_set: CocoDataset, val_set: CocoDataset | None, logger: RunLogger,
                  report: EpochReport, launched: float, first_epoch: int) -> dict[str, Any]:
    config = state.config
    if report.skipped:
        warn(f"{report.skipped} corrupt images skipped in epoch {state.epoch}")
        logger.scalars("train", {"skipped_images": report.skipped}, state.step)
    if report.truncated_objects:
        tqdm.write(f"epoch {state.epoch}: {report.truncated_objects} objects in {report.truncated_images} images "
                   f"left out (more than --max-objects {config.data.max_objects})")
        logger.scalars("train", {"truncated_objects": report.truncated_objects}, state.step)
    source = task_for(config.model).point_source()
    if report.stand_in_points:
        warn(f"epoch {state.epoch}: {report.stand_in_points} objects {source.stand_in_note}")
        logger.scalars("train", {"stand_in_points": report.stand_in_points}, state.step)
    metrics: dict[str, Any] = {}
    record = {"epoch": state.epoch, "step": state.step, "epoch_seconds": round(report.seconds, 2),
              "load_average": list(os.getloadavg()), "truncated_objects": report.truncated_objects}
    if source is not None:
        record["stand_in_points"] = report.stand_in_points
    logger.scalars("train", {"epoch_seconds": report.seconds}, state.step)
    due = state.epoch % config.train.eval_interval == 0 or state.epoch == config.train.epochs
    result = None
    if val_set is not None and due:
        result = run_evaluation(state, val_set, logger)
        metrics = result.metrics
        record.update(result.metrics, per_class_ap=result.per_class_ap, per_class_auroc=result.per_class_auroc,
                      val_losses=result.losses)
        ap = result.metrics["AP"] if result.metrics["AP"] is not None else -1.0
        if ap > state.best_ap:
            state.best_ap = ap
            save_checkpoint(logger.out / "best.pt", inference_checkpoint(state, train_set))
    logger.log_json(record)
    save_checkpoint(logger.out / "last.pt", resume_checkpoint(state, train_set))
    pace = (time.perf_counter() - launched) / (state.epoch - first_epoch)
    tqdm.write(epoch_line(state.epoch, config.train.epochs, report.losses, report.lr, report.seconds,
                          pace * (config.train.epochs - state.epoch), result))
    return metrics
