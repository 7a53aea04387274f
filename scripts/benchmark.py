"""Time the training step, heatmap loss, target encoding, data loading, inference and the exdet task's extreme-point
grouping against baselines.

Every figure is the median of --repeats runs after --warmup runs, printed next to a baseline measured in the
same run and the ratio (> 1: ours is better). The runs of a comparison are interleaved (baseline, ours,
baseline, ours, ...), so that a change in the load of a shared machine reaches both alike. Peak memory is the peak of
bytes allocated above what was allocated before: torch.cuda.max_memory_allocated on CUDA, the profiler's
tensor allocation events on CPU.

Boxes are COCO-like, in a --input-size input: 41% small (side 4-32 px), 34% medium (32-96 px), 25% large
(96-400 px), side uniform within its class, aspect ratio log-uniform in [0.5, 2], centres uniform.

Usage:
    python scripts/benchmark.py --arch resnet18 dla34 --sections train,loss,targets,data,inference,grouping
"""

from __future__ import annotations

import argparse
import copy
import functools
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable, Sequence

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # tests.reference, below

from centernet.catalog import ARCHITECTURES
from centernet.config import STRIDE, Config, DataConfig, InferenceConfig, ModelConfig, TrainConfig
from centernet.data.coco import CocoDataset, collate
from centernet.data.colour import augment_colour
from centernet.data.transforms import random_affine, transform_boxes
from centernet.decode import decode_extremes
from centernet.device import autocast_dtype, precision_name, resolve_device
from centernet.engine.train import build_state, train_step
from centernet.export import DEFAULT_OPSET, ExportedNetwork, export_metadata, write_onnx
from centernet.losses.penalty_reduced import DenseKernels, penalty_reduced_focal_loss
from centernet.onnx_backend import OnnxPredictor
from centernet.predictor import Predictor
from centernet.structures import Batch
from centernet.targets import TargetEncoder, encode_targets_batched
from centernet.tasks import build_model, task_for
from tests.reference import (
    color_jitter,
    log_sigmoid_focal_loss,
    pca_lighting,
    reference_encode,
    reference_exct_decode,
    reference_focal_loss,
    reference_ltrb_encode,
    to_float_image,
)

NUM_CLASSES = 80
SECTIONS = ("train", "loss", "targets", "data", "inference", "grouping")
SIDE_RANGES = ((4.0, 32.0), (32.0, 96.0), (96.0, 400.0))  # COCO's small / medium / large, by box side
SIDE_SHARES = (0.41, 0.34, 0.25)  # COCO's share of small / medium / large objects


def coco_like_boxes(rng: np.random.Generator, count: int, width: int, height: int) -> np.ndarray:
    """(count, 4) float32 boxes_xyxy in a width x height image (sides scaled to 512-px COCO-like sizes)."""
    kind = rng.choice(len(SIDE_SHARES), size=count, p=SIDE_SHARES)
    side = rng.uniform(*np.array(SIDE_RANGES)[kind].T) * max(width, height) / 512
    aspect = np.exp(rng.uniform(np.log(0.5), np.log(2.0), count))
    box_w, box_h = side * np.sqrt(aspect), side / np.sqrt(aspect)
    center_x, center_y = rng.uniform(0, width, count), rng.uniform(0, height, count)
    boxes = np.stack([center_x - box_w / 2, center_y - box_h / 2, center_x + box_w / 2, center_y + box_h / 2], 1)
    return np.clip(boxes, 0, [width - 1, height - 1] * 2).astype(np.float32)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(functions: dict[str, Callable[[], object]], device: torch.device, repeats: int,
                   warmup: int) -> dict[str, float]:
    """Median seconds per call of each function, their timed runs interleaved round by round."""
    for function in functions.values():
        for _ in range(warmup):
            function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            synchronize(device)
            start = time.perf_counter()
            function()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def peak_extra_bytes(function: Callable[[], object], device: torch.device) -> int:
    """Peak bytes allocated while `function` runs, above those allocated before it."""
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        function()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as profiler:
        function()
    # kineto's raw events carry every allocation (+bytes) and free (-bytes) in time order
    changes = sorted((event.start_ns(), event.nbytes()) for event in profiler.profiler.kineto_results.events()
                     if event.name() == "[memory]" and str(event.device_type()).endswith("CPU"))
    running, peak = 0, 0
    for _, nbytes in changes:
        running += nbytes
        peak = max(peak, running)
    return peak


def report(name: str, baseline: float, ours: float, unit: str, higher_is_better: bool) -> None:
    """One figure with its baseline; the ratio is > 1 when ours is better (faster, or less memory)."""
    ratio = ours / baseline if higher_is_better else baseline / ours
    print(f"  {name:<48} baseline {baseline:10.3f} {unit:<9} ours {ours:10.3f} {unit:<9} ratio {ratio:6.2f}x")


def machine_line(device: torch.device) -> str:
    model = platform.processor() or "unknown CPU"
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
        model = names[0] if names else model
    accelerator = torch.cuda.get_device_name(device) if device.type == "cuda" else "no GPU"
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return (f"machine: {model}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} "
            f"threads), device {device} ({accelerator}), load average {load}")


def random_heatmap_case(batch: int, output_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (B, 80, S, S) around the initial bias and the target of 50 COCO-like objects per image."""
    rng = np.random.default_rng(0)
    input_size = output_size * STRIDE
    boxes = torch.from_numpy(np.stack([coco_like_boxes(rng, 50, input_size, input_size) for _ in range(batch)]))
    classes = torch.from_numpy(rng.integers(0, NUM_CLASSES, (batch, 50)))
    targets = encode_targets_batched(boxes.to(device), classes.to(device), torch.ones(batch, 50, dtype=torch.bool,
                                     device=device), NUM_CLASSES, (output_size, output_size), gaussian="round",
                                     step=None)  # the centre heatmap (CenterNet's round Gaussians) alone
    logits = torch.randn(batch, NUM_CLASSES, output_size, output_size, device=device) - 2.19
    return logits, targets.heatmap


def benchmark_loss(args: argparse.Namespace, device: torch.device) -> None:
    output_size = args.input_size // STRIDE
    logits, target = random_heatmap_case(args.loss_batch, output_size, device)
    print(f"heatmap loss forward + backward, ({args.loss_batch}, {NUM_CLASSES}, {output_size}, {output_size}), "
          "baseline = reference formulation (sigmoid, clamp, masked pow/log)")

    def step(loss_function: Callable[..., torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            leaf = logits.detach().requires_grad_()
            loss_function(leaf, target).backward()
        return run

    forms = {"reference": reference_focal_loss,
             "log-sigmoid autograd (the tests' oracle)": log_sigmoid_focal_loss,
             "centernet.losses.penalty_reduced_focal_loss (fused, eager; the default)": penalty_reduced_focal_loss}
    if not args.no_compile:
        compiled = functools.partial(penalty_reduced_focal_loss, kernels=DenseKernels(compiled=True))
        start = time.perf_counter()
        step(compiled)()
        print(f"  (compiling the fused loss took {time.perf_counter() - start:.1f} s, once)")
        forms["fused, torch.compile (--compile)"] = compiled
    seconds = median_seconds({name: step(form) for name, form in forms.items()}, device, args.repeats, args.warmup)
    memory = {name: peak_extra_bytes(step(form), device) / 2**20 for name, form in forms.items()}
    for name in list(forms)[1:]:
        report(f"{name}: time", seconds["reference"] * 1e3, seconds[name] * 1e3, "ms", False)
        report(f"{name}: peak extra memory", memory["reference"], memory[name], "MiB", False)


def benchmark_targets(args: argparse.Namespace, device: torch.device) -> None:
    rng = np.random.default_rng(1)
    images = [(coco_like_boxes(rng, 50, args.input_size, args.input_size), rng.integers(0, NUM_CLASSES, 50))
              for _ in range(32)]
    output_size = (args.input_size // STRIDE,) * 2
    print(f"target encoding, 50 COCO-like objects per image, {NUM_CLASSES} classes, output {output_size}, "
          "baseline = the reference's per-object loop (CenterNet's ctdet, TTFNet's target_single_image)")

    def per_image(encode: Callable[..., object]) -> Callable[[], None]:
        def run() -> None:
            for boxes, classes in images:
                encode(boxes, classes, NUM_CLASSES, output_size)
        return run

    boxes = torch.from_numpy(np.stack([boxes for boxes, _ in images])).to(device)
    classes = torch.from_numpy(np.stack([classes for _, classes in images])).to(device)
    valid = torch.ones(classes.shape, dtype=torch.bool, device=device)
    heads = {"center": (reference_encode, "round"), "ltrb": (reference_ltrb_encode, "elliptical")}
    for box_head, (reference, gaussian) in heads.items():
        step = task_for(ModelConfig(box_head=box_head)).target_step()  # the box head's samples (center: none)
        encoder = TargetEncoder(NUM_CLASSES, output_size, gaussian=gaussian, step=step)  # as training keeps it
        seconds = median_seconds({"reference": per_image(reference),
                                  "ours": lambda encoder=encoder: encoder(boxes, classes, valid)},
                                 device, args.repeats, args.warmup)
        per_image_ms = {name: value * 1e3 / len(images) for name, value in seconds.items()}
        report(f"{box_head} head, {gaussian} Gaussians: TargetEncoder ({device}, batch {len(images)})",
               per_image_ms["reference"], per_image_ms["ours"], "ms/img", False)


def write_coco_like_dataset(folder: str, count: int, widths: tuple[int, int] = (640, 640),
                            heights: tuple[int, int] = (480, 480)) -> str:
    """JPEGs of noisy gradients with 1-14 COCO-like boxes each (COCO averages 7.3), each image's width and height
    uniform in the given inclusive ranges; returns the json path."""
    rng = np.random.default_rng(2)
    os.makedirs(folder, exist_ok=True)
    images, annotations = [], []
    for image_id in range(1, count + 1):
        width, height = int(rng.integers(widths[0], widths[1] + 1)), int(rng.integers(heights[0], heights[1] + 1))
        ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
        image = ramp * rng.uniform(0.3, 1, 3) + rng.normal(0, 20, (height, width, 3))
        boxes = coco_like_boxes(rng, int(rng.integers(1, 15)), width, height)
        for x1, y1, x2, y2 in boxes.astype(int).tolist():
            image[y1:y2 + 1, x1:x2 + 1] = rng.uniform(0, 255, 3)
        cv2.imwrite(os.path.join(folder, f"{image_id:06d}.jpg"), np.clip(image, 0, 255).astype(np.uint8))
        images.append({"id": image_id, "file_name": f"{image_id:06d}.jpg", "width": width, "height": height})
        for x1, y1, x2, y2 in boxes.tolist():
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "iscrowd": 0,
                                "category_id": int(rng.integers(1, NUM_CLASSES + 1)),
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1)})
    categories = [{"id": index, "name": f"class{index}"} for index in range(1, NUM_CLASSES + 1)]
    path = os.path.join(folder, "annotations.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"images": images, "annotations": annotations, "categories": categories}, handle)
    return path


class ReferencePipeline(CocoDataset):
    """The original loader's per-sample work: float32 image, colour augmentation, normalisation, CHW, and
    the per-object numpy target encoding; the default collate then stacks float images and heatmaps."""

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        image_id = self.image_ids[index]
        image = self._read_image(image_id)
        boxes_xyxy, classes, _ = self.annotations(image_id)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        affine, _, _ = random_affine(image.shape[1], image.shape[0], self.input_size, self.augment, rng)
        width, height = self.input_size
        warped = cv2.warpAffine(image, affine, (width, height), flags=cv2.INTER_LINEAR)
        boxes_xyxy, keep = transform_boxes(boxes_xyxy, affine, self.input_size)
        image_float = pca_lighting(color_jitter(to_float_image(warped), 0.4, rng), 0.1, rng)
        mean, std = np.array(DataConfig().mean, np.float32), np.array(DataConfig().std, np.float32)
        sample = reference_encode(boxes_xyxy, classes[keep], self.num_classes, (height // STRIDE, width // STRIDE))
        return {"input": ((image_float - mean) / std).transpose(2, 0, 1), **sample}


def samples_per_second(dataset: CocoDataset, workers: int, batch_size: int, collate_fn,
                       per_batch: Callable[[object], object] | None = None) -> float:
    """Rate of one pass of a fresh loader, timed from its second batch on; `per_batch` runs on each batch in this
    process (what the train step would do with it before the model)."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=False,
                                         collate_fn=collate_fn, drop_last=True)
    iterator = iter(loader)
    next(iterator)  # worker start-up is paid once per epoch, not per sample
    start, count = time.perf_counter(), 0
    for batch in iterator:
        if per_batch is not None:
            per_batch(batch)
        count += batch_size
    return count / (time.perf_counter() - start)


def colour_on_cpu(batch: Batch) -> torch.Tensor:
    """The train step's colour augmentation, here on the CPU in the loading process."""
    return augment_colour(batch.images, batch.colour_order, batch.colour_factors, batch.lighting_alpha)


def data_variants(args: argparse.Namespace, annotations: str, folder: str) -> dict[str, Callable[[int], float]]:
    """name -> samples/s of one loader pass with that many workers: the reference-style pipeline (float image,
    colour, normalisation and per-object targets per sample, in the workers), our worker path (decode, one warp,
    flip; uint8), and our worker path followed in this process by what the train step adds on its device: colour,
    then colour and the target encoding (TargetEncoder on the CPU)."""
    reference = ReferencePipeline(annotations, folder, args.input_size, train=True)
    ours = CocoDataset(annotations, folder, args.input_size, train=True)
    encoder = TargetEncoder(NUM_CLASSES, (args.input_size // STRIDE,) * 2, gaussian="round",
                            step=None)  # as the reference's: the center head's targets, round Gaussians

    def colour_and_targets(batch: Batch) -> None:
        colour_on_cpu(batch)
        encoder(batch.boxes_xyxy, batch.classes, batch.valid, batch.crowd)

    def rate(dataset: CocoDataset, collate_fn, per_batch=None) -> Callable[[int], float]:
        return lambda workers: samples_per_second(dataset, workers, args.data_batch, collate_fn, per_batch)

    return {"reference": rate(reference, torch.utils.data.default_collate),
            "ours, worker path": rate(ours, ours.collate_fn()),
            "ours, worker path + colour (CPU)": rate(ours, ours.collate_fn(), colour_on_cpu),
            "ours, worker path + colour + targets (CPU)": rate(ours, ours.collate_fn(), colour_and_targets)}


def median_rates(variants: dict[str, Callable[[int], float]], workers: int, repeats: int) -> dict[str, float]:
    """Median samples/s of each variant, their passes interleaved round by round."""
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, variant in variants.items():
            rates[name].append(variant(workers))
    return {name: statistics.median(values) for name, values in rates.items()}


def benchmark_data(args: argparse.Namespace, image_sets: dict[str, tuple[str, str]], demand: dict[str, float]) -> None:
    """Per process (0 workers) on each image set: reference-style pipeline vs ours; then, on the last set, the
    reference and our worker path with 1 and 2 worker processes."""
    for name, (annotation_file, folder) in image_sets.items():
        print(f"data loading per process (0 workers), {name} -> {args.input_size} training samples, batch "
              f"{args.data_batch}; baseline = reference-style pipeline (decode, affine crop, float colour jitter + "
              "PCA, normalise, per-object targets)")
        variants = data_variants(args, annotation_file, folder)
        rates = median_rates(variants, 0, args.repeats)
        for variant in list(variants)[1:]:
            report(variant, rates["reference"], rates[variant], "samples/s", True)
    print(f"data loading with worker processes, {name}; baseline = reference-style pipeline")
    variants = {key: value for key, value in variants.items() if key in ("reference", "ours, worker path")}
    supply = 0.0
    for workers in (1, 2):
        rates = median_rates(variants, workers, args.repeats)
        supply = rates["ours, worker path"]
        report(f"{workers} workers, ours, worker path", rates["reference"], supply, "samples/s", True)
    for arch, images_per_second in demand.items():
        print(f"  training step demand ({arch}, our fastest step): {images_per_second:.2f} img/s; "
              f"2 workers supply {supply / images_per_second:.1f}x that")


def train_config(args: argparse.Namespace, arch: str, device: torch.device, **switches) -> Config:
    """The default recipe's config (its layout and loss) at the benchmark's batch and input, with `switches`."""
    train = TrainConfig(batch_size=args.batch_size, device=str(device), **switches)
    return Config(model=ModelConfig(arch=arch, num_classes=NUM_CLASSES),
                  data=DataConfig(input_size=args.input_size), train=train)


def half_name(device: torch.device) -> str:
    """The autocast dtype of --amp on, as the reports name it."""
    return precision_name(autocast_dtype(device, "on"))


def precision_variants(device: torch.device) -> dict[str, dict]:
    """{name: TrainConfig switches} of the four paths: float32 or --amp on, contiguous or channels_last; the first
    is the baseline."""
    half = half_name(device)
    return {"fp32, NCHW": {"amp": "off", "channels_last": False},
            "fp32, channels_last": {"amp": "off", "channels_last": True},
            f"{half}, NCHW": {"amp": "on", "channels_last": False},
            f"{half}, channels_last": {"amp": "on", "channels_last": True}}


def default_variant(device: torch.device) -> str:
    """The name in `precision_variants` of what `centernet train` runs by default on this device."""
    defaults = TrainConfig()
    dtype = autocast_dtype(device, defaults.amp)
    precision = "fp32" if dtype is None else half_name(device)
    return f"{precision}, {'channels_last' if defaults.channels_last else 'NCHW'}"


def all_heads_in_half(state) -> None:
    """Run the heads' last layers under autocast too (the model keeps them in float32): what that saves."""
    heads = state.bare_model.heads
    heads.forward = types.MethodType(lambda self, features: {name: head(features) for name, head in self.items()},
                                     heads)


def benchmark_train(args: argparse.Namespace, device: torch.device, arch: str, dataset: CocoDataset) -> float:
    """Prints each path's throughput against float32 NCHW; returns the best images/s (the loader's demand)."""
    batch = collate([dataset[index] for index in range(args.batch_size)], max_objects=128)
    variants = precision_variants(device)
    half = half_name(device)
    variants[f"{half}, channels_last, heads' last layers in {half} too"] = {"amp": "on", "channels_last": True}
    if not args.no_compile:
        variants[f"{half}, channels_last, compile (model and loss)"] = {"amp": "on", "channels_last": True,
                                                                      "compile": True}
    baseline, default = next(iter(variants)), default_variant(device)
    print(f"training step {arch} (the default layout and loss), batch {args.batch_size}, input {args.input_size}, "
          f"targets encoded on {device}; baseline = {baseline}; the default here: {default}")
    states = {name: build_state(train_config(args, arch, device, **switches), dataset, rank=0, local_rank=0,
                                world_size=1) for name, switches in variants.items()}
    all_heads_in_half(states[f"{half}, channels_last, heads' last layers in {half} too"])
    steps = {name: functools.partial(train_step, state, batch) for name, state in states.items()}
    seconds = median_seconds(steps, device, args.repeats, args.warmup)
    memory = {name: peak_extra_bytes(step, device) / 2**20 for name, step in steps.items()}
    for name in list(variants)[1:]:
        marker = " (default)" if name == default else ""
        report(f"{name}{marker}: throughput", args.batch_size / seconds[baseline], args.batch_size / seconds[name],
               "img/s", True)
        report(f"{name}{marker}: peak extra memory", memory[baseline], memory[name], "MiB", False)
    print("  seconds per step: " + ", ".join(f"{name} {value:.3f}" for name, value in seconds.items()))
    return args.batch_size / min(seconds.values())


def inference_predictors(arch: str, input_size: int, device: torch.device,
                         folder: str) -> dict[str, Predictor]:
    """One Predictor per path on the same random weights (the default layout): the four of
    `precision_variants`, and on the CPU onnxruntime on the float32 ONNX export when it is installed."""
    config = Config(model=ModelConfig(arch=arch, num_classes=NUM_CLASSES), data=DataConfig(input_size=input_size))
    model = build_model(config.model, config.data).eval()
    names = [str(index) for index in range(NUM_CLASSES)]
    predictors = {name: Predictor(copy.deepcopy(model), config, names, device, amp=switches["amp"],
                                  channels_last=switches["channels_last"])
                  for name, switches in precision_variants(device).items()}
    if device.type == "cpu" and importlib.util.find_spec("onnxruntime") is not None:
        path = os.path.join(folder, f"{arch}.onnx")
        task = task_for(config.model)
        head_names = tuple(task.head_layout(NUM_CLASSES).channels)
        network = ExportedNetwork(model, head_names, task)
        metadata = export_metadata(config, names, list(range(1, NUM_CLASSES + 1)), head_names, top_k=None)
        write_onnx(network, path, input_size, metadata, dynamic_batch=True, opset=DEFAULT_OPSET)
        predictors["onnxruntime (fp32 export)"] = OnnxPredictor.from_file(path, device="cpu")
    return predictors


def benchmark_inference(args: argparse.Namespace, device: torch.device, arch: str) -> None:
    throughput_batch = args.inference_batch or (32 if device.type == "cuda" else 8)
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory() as folder:
        predictors = inference_predictors(arch, args.input_size, device, folder)
        baseline, default = next(iter(predictors)), default_variant(device)
        print(f"inference {arch} (the default layout), input {args.input_size}; baseline = {baseline}; the default "
              f"here: {default}; network = the heads of uint8 images; end to end = Predictor on 640x480 RGB images "
              "(letterbox, network, decode)")
        for batch in sorted({1, throughput_batch}):
            images = torch.from_numpy(rng.integers(0, 256, (batch, 3, args.input_size, args.input_size),
                                                   dtype=np.uint8))
            rgb = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(batch)]
            runs = {name: functools.partial(predictor.forward, images) for name, predictor in predictors.items()}
            network = median_seconds(runs, device, args.repeats, args.warmup)
            runs = {name: functools.partial(predictor, rgb) for name, predictor in predictors.items()}
            end_to_end = median_seconds(runs, device, args.repeats, args.warmup)
            for name in list(predictors)[1:]:
                marker = " (default)" if name == default else ""
                report(f"batch {batch}, {name}{marker}: network latency", network[baseline] * 1e3,
                       network[name] * 1e3, "ms", False)
            for name in predictors:
                print(f"  batch {batch}, {name}: end to end {end_to_end[name] * 1e3:10.3f} ms, "
                      f"{batch / end_to_end[name]:.2f} img/s")
            fastest = min(end_to_end, key=end_to_end.get)
            print(f"  batch {batch}: fastest end to end: {fastest} ({end_to_end[baseline] / end_to_end[fastest]:.2f}x "
                  f"{baseline})")


def extreme_maps_case(rng: np.random.Generator, batch: int, output_size: int, crowded: bool,
                      device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities centre (B, 80, S, S) and extremes (B, 4, 80, S, S) like a trained exdet model's: a low
    background with 50 objects an image, each a peak in [0.1, 1) on each map; `crowded` puts every object in
    class 0 (all K peaks of every map in one class: the most combinations the grouping can meet)."""
    shape = (batch, 4, NUM_CLASSES, output_size, output_size)
    extremes = torch.from_numpy(rng.uniform(0, 0.05, shape).astype(np.float32))
    centre = torch.from_numpy(rng.uniform(0, 0.05, (batch, NUM_CLASSES, output_size, output_size)).astype(np.float32))
    for image in range(batch):
        for _ in range(50):
            label = 0 if crowded else int(rng.integers(NUM_CLASSES))
            x1, y1 = rng.integers(0, output_size - 8, 2)
            x2, y2 = x1 + rng.integers(4, min(48, output_size - x1)), y1 + rng.integers(4, min(48, output_size - y1))
            points = ((rng.integers(x1, x2), y1), (x1, rng.integers(y1, y2)), (rng.integers(x1, x2), y2 - 1),
                      (x2 - 1, rng.integers(y1, y2)))
            for side, (x, y) in enumerate(points):
                extremes[image, side, label, y, x] = rng.uniform(0.1, 1.0)
            centre[image, label, (y1 + y2) // 2, (x1 + x2) // 2] = rng.uniform(0.1, 1.0)
    return centre.to(device), extremes.to(device)


def benchmark_grouping(args: argparse.Namespace, device: torch.device) -> None:
    """exdet decoding: the pruned, batched centre grouping against the reference's K^4 expansion, per image."""
    output_size, k, batch = args.input_size // STRIDE, 40, 4
    detections = InferenceConfig().top_k  # the groups kept per image
    print(f"exdet grouping (decode_extremes), K = {k} peaks a map, {NUM_CLASSES} classes, output {output_size}x"
          f"{output_size}, batch {batch}, per image; baseline = the reference's K^4 expansion (tests/reference.py)")
    rng = np.random.default_rng(2)
    for crowded in (False, True):
        centre, extremes = extreme_maps_case(rng, batch, output_size, crowded, device)
        seconds = median_seconds({"reference": functools.partial(reference_exct_decode, centre, extremes, k,
                                                                 detections),
                                  "ours": functools.partial(decode_extremes, centre, extremes, None, k, detections)},
                                 device, args.repeats, args.warmup)
        case = "50 objects of one class (worst case)" if crowded else "50 objects of random classes"
        report(f"{case}: time", seconds["reference"] * 1e3 / batch, seconds["ours"] * 1e3 / batch, "ms", False)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", nargs="+", default=["resnet18", "dla34"], help="architectures (unknown: skipped)")
    parser.add_argument("--input-size", type=int, default=512)
    parser.add_argument("--batch-size", type=int, help="training batch (default: 32 on CUDA, 2 on CPU)")
    parser.add_argument("--loss-batch", type=int, default=8, help="batch of the heatmap loss section")
    parser.add_argument("--data-batch", type=int, default=8, help="batch of the data loading section")
    parser.add_argument("--data-images", type=int, default=64, help="images in the synthetic dataset")
    parser.add_argument("--inference-batch", type=int, help="throughput batch (default: 32 on CUDA, 8 on CPU)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per figure (the median is shown)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before the timed ones")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated: {','.join(SECTIONS)}")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    parser.add_argument("--threads", type=int, help="intra-op CPU threads (default: PyTorch's choice)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = get_parser().parse_args(argv)
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    sections = [name.strip() for name in args.sections.split(",") if name.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    args.batch_size = args.batch_size or (32 if device.type == "cuda" else 2)
    archs = [arch for arch in args.arch if arch in ARCHITECTURES]
    for arch in sorted(set(args.arch) - set(archs)):
        print(f"skipping arch {arch!r}: not registered")
    print(machine_line(device))
    if "loss" in sections:
        benchmark_loss(args, device)
    if "targets" in sections:
        benchmark_targets(args, device)
    with tempfile.TemporaryDirectory() as folder:
        vga = os.path.join(folder, "vga")
        annotations = write_coco_like_dataset(vga, args.data_images) if {"train", "data"} & set(sections) else ""
        demand: dict[str, float] = {}
        if "train" in sections:
            dataset = CocoDataset(annotations, vga, args.input_size, train=True)
            for arch in archs:
                demand[arch] = benchmark_train(args, device, arch, dataset)
        if "data" in sections:
            small = os.path.join(folder, "small")
            image_sets = {"160-420 px JPEGs (upscaled)": (write_coco_like_dataset(small, args.data_images, (160, 420),
                                                                                  (160, 420)), small),
                          "640x480 JPEGs": (annotations, vga)}
            benchmark_data(args, image_sets, demand)
    if "inference" in sections:
        for arch in archs:
            benchmark_inference(args, device, arch)
    if "grouping" in sections:
        benchmark_grouping(args, device)
    print(machine_line(device).replace("machine:", "after:", 1))


if __name__ == "__main__":
    main()
