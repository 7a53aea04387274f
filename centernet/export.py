"""Model export: a checkpoint -> an ONNX or TorchScript file that runs without this package's Python code.

`centernet export` (centernet/apps/export.py) is the command line over `export_checkpoint`.

The exported graph takes what the Predictor feeds its network: letterboxed (B, 3, H, W) uint8 RGB images
(`predictor.preprocess_image`) of the export's input size (W, H), square or not. Normalisation with the
checkpoint's mean and std happens inside the graph, so a consumer needs only the input size, and an image costs
a quarter of the bytes of a float one. Outputs:

- network only (default): heatmap (B, C, H/4, W/4) logits (no sigmoid), size (B, 2, H/4, W/4) box (w, h)
  and offset (B, 2, H/4, W/4) centre (dx, dy), both in output-map pixels: exactly `CenterNet.forward` (in
  eval mode: a stacked network's last stack); the ltrb head's and the exdet task's heads by their names
  (the task's `HeadLayout`).
- `with_decode` (tasks whose decoding traces: boxes): boxes_xyxy (B, K, 4) float32 in input pixels (the W x H
  letterboxed image; not clipped), scores (B, K) float32 descending, classes (B, K) int64 in [0, C); the task's
  decoding after a sigmoid, K = min(top_k, C * H/4 * W/4). No score threshold: callers drop low scores and map
  boxes back through the inverse letterbox.

`num_classes` (C) excludes background. The file carries what the Predictor needs (class names, category ids,
input size [W, H], mean/std, the whole config) as JSON: in the ONNX model's metadata_props under "centernet", in a
TorchScript file as the extra file "centernet.json".

ONNX goes through the TorchScript-based exporter (`dynamo=False`): the torch.export-based one needs
onnxscript, which is not a dependency, while this one maps max_pool2d / topk / gather straight to
MaxPool / TopK / GatherElements and takes a custom symbolic for torchvision's deform_conv2d, for which
torchvision registers none. That symbolic writes ONNX DeformConv, which exists from opset 19 on, so the DCN
architectures (resnet*_dcn, dla34) need `opset >= 19`. onnxruntime 1.32 runs DeformConv on CPU and matches
torchvision to 1e-6; an onnxruntime that cannot makes the export fail after writing the file, with a one-line
error naming the fallback: `--format torchscript`.
A TorchScript file needs `import torchvision` before `torch.jit.load` when the architecture is deformable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.onnx import symbolic_helper

from centernet.config import STRIDE, Config, InferenceConfig, check_input_size, config_to_dict, input_size_pair
from centernet.errors import CenterNetError
from centernet.model import last_stack
from centernet.model.dcn import ModulatedDeformConv2d
from centernet.onnx_backend import INPUT_NAME, METADATA_KEY, import_optional
from centernet.predictor import Predictor
from centernet.tasks import Task

DEFAULT_OPSET = 19  # the first opset with DeformConv, which the deformable architectures need
MIN_OPSET = 11  # TopK with a `largest` attribute, which decoding needs
MAX_OPSET = 20  # the newest opset the TorchScript-based exporter writes
DECODED_NAMES = ("boxes_xyxy", "scores", "classes")


class ExportedNetwork(nn.Module):
    """uint8 images -> CenterNet heads (the model normalises them), and with `inference` set, decoded detections
    (the task's decoding, `inference.top_k` of them).

    images_uint8: (B, 3, H, W) uint8 RGB. Returns a tuple in the order of `output_names` (formats: module
    docstring).
    """

    def __init__(self, model: nn.Module, head_names: tuple[str, ...], task: Task,
                 inference: InferenceConfig | None = None) -> None:
        super().__init__()
        self.model = model
        self.head_names = head_names
        self.task = task
        self.inference = inference

    @property
    def top_k(self) -> int | None:
        return None if self.inference is None else self.inference.top_k

    @property
    def output_names(self) -> tuple[str, ...]:
        return self.head_names if self.top_k is None else DECODED_NAMES

    def forward(self, images_uint8: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = last_stack(self.model(images_uint8))
        if self.top_k is None:
            return tuple(outputs[name] for name in self.head_names)
        decoded = self.task.decode(outputs, self.inference, flip_test=False)
        return decoded.boxes * STRIDE, decoded.scores, decoded.classes


@symbolic_helper.parse_args("v", "v", "v", "v", "v", "i", "i", "i", "i", "i", "i", "i", "i", "b")
def deform_conv2d_symbolic(graph, features, weight, offset, mask, bias, stride_h: int, stride_w: int, pad_h: int,
                           pad_w: int, dilation_h: int, dilation_w: int, groups: int, offset_groups: int,
                           use_mask: bool):
    """torchvision::deform_conv2d -> ONNX DeformConv (opset 19). Both lay offsets out as (dy, dx) pairs per
    kernel position, and torchvision passes a zero bias when there is none."""
    inputs = [features, weight, offset, bias, mask] if use_mask else [features, weight, offset, bias]
    return graph.op("DeformConv", *inputs, strides_i=[stride_h, stride_w], pads_i=[pad_h, pad_w, pad_h, pad_w],
                    dilations_i=[dilation_h, dilation_w], group_i=groups, offset_group_i=offset_groups)


def is_deformable(model: nn.Module) -> bool:
    return any(isinstance(module, ModulatedDeformConv2d) for module in model.modules())


def export_metadata(config: Config, class_names: list[str], category_ids: list[int], head_names: tuple[str, ...],
                    top_k: int | None) -> dict:
    """What a consumer of the file needs, as JSON-able builtins; `config.data.input_size` is the export's,
    [width, height] (format 2; format 1 wrote one side, always a square)."""
    return {
        "format_version": 2,
        "arch": config.model.arch,
        "num_classes": config.model.num_classes,
        "class_names": list(class_names),
        "category_ids": [int(category) for category in category_ids],
        "input_size": list(config.data.input_size),
        "input": f"{INPUT_NAME}: (B, 3, H, W) uint8 RGB, letterboxed; normalised inside the graph",
        "mean": list(config.data.mean),
        "std": list(config.data.std),
        "stride": STRIDE,
        "with_decode": top_k is not None,
        "top_k": top_k,
        "outputs": list(head_names if top_k is None else DECODED_NAMES),
        "config": config_to_dict(config),
    }


@contextlib.contextmanager
def expected_warnings_silenced():
    """Silence the warnings every export of this network raises, all expected: torch deprecates both exporters
    and torch.jit (chosen on purpose, module docstring), and the tracer notes that mean, std and the input
    size become constants of the graph, as intended (only the batch axis may vary)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="The feature will be removed", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=FutureWarning)
        yield


def example_images(batch: int, input_size: int | tuple[int, int]) -> torch.Tensor:
    """Random (batch, 3, H, W) uint8 images of `input_size` (W, H; one int: a square), the same on every call."""
    generator = torch.Generator().manual_seed(0)
    width, height = input_size_pair(input_size)
    return torch.randint(0, 256, (batch, 3, height, width), dtype=torch.uint8, generator=generator)


def _export_onnx(network: ExportedNetwork, path: str | os.PathLike, input_size: int | tuple[int, int],
                 metadata: dict[str, Any], *,
                dynamic_batch: bool = False, opset: int = DEFAULT_OPSET) -> None:
    """Write `network` as ONNX with `metadata` (JSON) in metadata_props; the batch is 1 unless `dynamic_batch`."""
    onnx = import_optional("onnx")
    torch.onnx.register_custom_op_symbolic("torchvision::deform_conv2d", deform_conv2d_symbolic, DEFAULT_OPSET)
    names = (INPUT_NAME, *network.output_names)
    buffer = io.BytesIO()
    with expected_warnings_silenced():
        torch.onnx.export(network.eval(), (example_images(1, input_size),), buffer, dynamo=False, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=list(network.output_names),
                          dynamic_axes={name: {0: "batch"} for name in names} if dynamic_batch else None)
    model = onnx.load_from_string(buffer.getvalue())
    onnx.helper.set_model_props(model, {METADATA_KEY: json.dumps(metadata)})
    onnx.save(model, path)


def verify_onnx(path: str | os.PathLike, network: ExportedNetwork, input_size: int | tuple[int, int],
                dynamic_batch: bool) -> None:
    """onnx.checker, then one onnxruntime (CPU) run compared with PyTorch on random images."""
    onnx, onnxruntime = import_optional("onnx"), import_optional("onnxruntime")
    onnx.checker.check_model(str(path), full_check=True)
    images = example_images(2 if dynamic_batch else 1, input_size)
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        outputs = session.run(list(network.output_names), {INPUT_NAME: images.numpy()})
    except Exception as error:  # onnxruntime raises its own pybind types (NotImplemented, Fail, ...)
        reason = str(error).strip().splitlines()[0]
        if is_deformable(network):
            raise CenterNetError(f"wrote {path}, but onnxruntime {onnxruntime.__version__} cannot run its DeformConv "
                                 f"({reason}); export deformable architectures with --format torchscript, or run the "
                                 "file with an ONNX runtime that has DeformConv (opset 19)") from None
        raise CenterNetError(f"wrote {path}, but onnxruntime cannot run it: {reason}") from None
    with torch.inference_mode():
        expected = network(images)
    # Decoded boxes and classes may swap places between equal scores; the sorted scores may not.
    compared = [1] if network.top_k is not None else range(len(expected))
    for index in compared:
        difference = float(np.abs(outputs[index] - expected[index].numpy()).max())
        if difference > 1e-3 * (1 + float(expected[index].abs().max())):
            raise CenterNetError(f"wrote {path}, but onnxruntime's {network.output_names[index]} differs from "
                                 f"PyTorch's by up to {difference:.3g}")


def write_onnx(network: ExportedNetwork, path: Path, input_size: int | tuple[int, int], metadata: dict[str, Any], *,
               dynamic_batch: bool, opset: int) -> None:
    """Write `network` as ONNX and verify it (onnx.checker, one onnxruntime run compared with PyTorch)."""
    _export_onnx(network, path, input_size, metadata, dynamic_batch=dynamic_batch, opset=opset)
    verify_onnx(path, network, input_size, dynamic_batch)


def write_torchscript(network: ExportedNetwork, path: Path, input_size: int | tuple[int, int],
                      metadata: dict[str, Any], *,
                      dynamic_batch: bool, opset: int) -> None:
    """Trace `network` (any batch size: `dynamic_batch` and `opset` do not apply) and save it with `metadata` as
    the extra file "centernet.json"; the reloaded trace is compared with the model."""
    # Traced with a batch of 2 so that no size-1 batch can be folded into the graph as a constant.
    with expected_warnings_silenced(), torch.no_grad():
        traced = torch.jit.trace(network.eval(), (example_images(2, input_size),))
        torch.jit.save(traced, str(path), _extra_files={f"{METADATA_KEY}.json": json.dumps(metadata)})
        loaded = torch.jit.load(str(path))
    images = example_images(1, input_size)
    with torch.no_grad():
        pairs = zip(loaded(images), network(images), strict=True)
        difference = max(float((ours - theirs).abs().max()) for ours, theirs in pairs)
    if difference > 1e-4:
        raise CenterNetError(f"wrote {path}, but the loaded trace differs from the model by up to {difference:.3g}")


# --format name (`centernet.catalog.EXPORT_FORMATS`) -> the function writing and verifying that file
WRITERS: dict[str, Callable[..., None]] = {"onnx": write_onnx, "torchscript": write_torchscript}


def export_checkpoint(checkpoint: str | os.PathLike, output: str | os.PathLike, *, export_format: str = "onnx",
                      input_size: int | tuple[int, int] | None = None, with_decode: bool = False,
                      top_k: int | None = None,
                      dynamic_batch: bool = False, opset: int | None = None) -> Path:
    """Export a checkpoint's network (on CPU) and verify the file; returns the path written.

    export_format: a name of `WRITERS` (`centernet.catalog.EXPORT_FORMATS`).
    input_size: (width, height), each a multiple of 32, or one side for a square (None: the checkpoint's
        training size).
    top_k: detections per image with `with_decode` (None: the checkpoint's InferenceConfig.top_k).
    dynamic_batch: ONNX only; a TorchScript trace always takes any batch size.
    opset: ONNX opset, MIN_OPSET to MAX_OPSET (None: DEFAULT_OPSET).
    Every user error (file, format, arch, opset) is a one-line CenterNetError or ValueError.
    """
    if export_format not in WRITERS:
        raise CenterNetError(f"unsupported format {export_format!r}; choose from {', '.join(WRITERS)}")
    if top_k is not None and not with_decode:
        raise CenterNetError("--top-k sets the detections of --with-decode; add --with-decode")
    if top_k is not None and top_k < 1:
        raise CenterNetError(f"--top-k must be at least 1, got {top_k}")
    predictor = Predictor.from_file(checkpoint, device="cpu", amp="off", channels_last=False)  # traced as stored
    config = predictor.config
    if with_decode and not predictor.task.decodes_in_graph:
        raise CenterNetError(f"--with-decode puts the decoding in the graph, which the {config.model.task} task's "
                             "cannot be; its checkpoints export the network only (leave out --with-decode)")
    try:
        input_size = config.data.input_size if input_size is None else check_input_size(input_size)
    except ValueError as error:
        raise CenterNetError(str(error)) from None
    opset = DEFAULT_OPSET if opset is None else opset
    if export_format == "onnx" and not MIN_OPSET <= opset <= MAX_OPSET:
        raise CenterNetError(f"--opset must be in {MIN_OPSET}..{MAX_OPSET}, got {opset}")
    if export_format == "onnx" and opset < DEFAULT_OPSET and is_deformable(predictor.model):
        raise CenterNetError(f"arch {config.model.arch} uses deformable convolution, which ONNX has from opset "
                             f"{DEFAULT_OPSET}; use --opset {DEFAULT_OPSET} or higher")
    top_k = (top_k or config.inference.top_k) if with_decode else None
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, input_size=input_size))
    head_names = tuple(predictor.task.head_layout(config.model.num_classes).channels)
    metadata = export_metadata(config, predictor.class_names, predictor.category_ids, head_names, top_k)
    inference = None if top_k is None else dataclasses.replace(config.inference, top_k=top_k)
    network = ExportedNetwork(predictor.model, head_names, predictor.task, inference).eval()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    WRITERS[export_format](network, output, input_size, metadata, dynamic_batch=dynamic_batch, opset=opset)
    return output
