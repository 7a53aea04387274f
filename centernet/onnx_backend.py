"""The Predictor on onnxruntime: an exported ONNX network with the same pre- and post-processing as PyTorch's.

The file must be a network-only export (`centernet export --format onnx`, without --with-decode); its
metadata_props carry the class names, category ids and config, so the .onnx file alone is enough.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from centernet.config import config_from_dict
from centernet.errors import CenterNetError, CheckpointError
from centernet.predictor import Predictor

if TYPE_CHECKING:
    import onnxruntime

METADATA_KEY = "centernet"  # ONNX metadata_props key; TorchScript extra file METADATA_KEY + ".json"
INPUT_NAME = "images"


def import_optional(name: str) -> ModuleType:
    """onnx and onnxruntime, the optional `export` extra: imported where used, so the CLI works without them."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise CenterNetError(f"{name} is not installed: pip install 'centernet[export]'") from None


def onnx_providers(device: str = "auto") -> list[str | tuple[str, dict[str, int]]]:
    """onnxruntime execution providers for a `--device`: CUDA (then CPU for what it lacks) where available."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" in import_optional("onnxruntime").get_available_providers():
        index = int(device.split(":")[1]) if device.startswith("cuda:") else 0
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    if device.startswith("cuda"):
        raise CenterNetError(f"device {device!r} needs onnxruntime-gpu (this onnxruntime has no CUDAExecutionProvider)")
    return ["CPUExecutionProvider"]


def open_session(path: str | os.PathLike, device: str = "auto") -> tuple[onnxruntime.InferenceSession, dict]:
    """An onnxruntime session on a centernet ONNX export and the export's metadata (see centernet.export)."""
    if not Path(path).is_file():
        raise CheckpointError(f"ONNX file not found: {path}")
    runtime, providers = import_optional("onnxruntime"), onnx_providers(device)
    try:
        session = runtime.InferenceSession(str(path), providers=providers)
    except Exception as error:  # onnxruntime raises its own pybind types (InvalidProtobuf, Fail, ...)
        raise CheckpointError(f"cannot load {path} in onnxruntime: {str(error).strip().splitlines()[0]}") from None
    properties = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in properties:
        raise CheckpointError(f"{path} is not a centernet export (no {METADATA_KEY!r} metadata)")
    return session, json.loads(properties[METADATA_KEY])


class OnnxNetwork(nn.Module):
    """An onnxruntime session behind CenterNet's interface (normalisation is in the graph, as in the model).

    images_uint8: (B, 3, S, S) uint8 RGB -> the heads by name ({"heatmap", "size", "offset"}, ...) as float32 CPU
    tensors, as `CenterNet.forward` in eval mode. A file exported with a fixed batch size runs the batch in slices
    of that size.
    """

    def __init__(self, session: onnxruntime.InferenceSession) -> None:
        super().__init__()
        self.session = session
        batch = session.get_inputs()[0].shape[0]
        self.fixed_batch = batch if isinstance(batch, int) else None

    def forward(self, images_uint8: torch.Tensor) -> dict[str, torch.Tensor]:
        images = images_uint8.cpu().numpy()
        step = self.fixed_batch or max(len(images), 1)
        names = [output.name for output in self.session.get_outputs()]  # the heads, as `head_names` lists them
        slices = [self.session.run(names, {INPUT_NAME: images[start:start + step]})
                  for start in range(0, len(images), step)]
        return {name: torch.from_numpy(np.concatenate([outputs[index] for outputs in slices]))
                for index, name in enumerate(names)}


class OnnxPredictor(Predictor):
    """`Predictor` running an exported ONNX network; decoding runs in PyTorch on the CPU, as its outputs arrive.

    The exported graph normalises its uint8 input itself, as `CenterNet.forward` does, so `Predictor.forward`
    feeds it the same images, mirrored ones included under flip test. It takes the input size it was exported
    at only, so a multi-scale test needs the PyTorch backend.
    """

    fixed_input_size = True

    @classmethod
    def from_file(cls, path: str | os.PathLike, device: str = "auto", amp: str = "off", channels_last: bool = False,
                  **inference_overrides) -> OnnxPredictor:
        """Rebuild the predictor from an ONNX export alone; `inference_overrides` replace InferenceConfig fields.
        `amp` and `channels_last` do not apply (the graph's precision and layout are fixed at export)."""
        session, metadata = open_session(path, device)
        if metadata["with_decode"]:
            raise CheckpointError(f"{path} was exported with --with-decode; the predictor needs a network-only export")
        config = config_from_dict(metadata["config"])
        overrides = {key: value for key, value in inference_overrides.items() if value is not None}
        inference = dataclasses.replace(config.inference, **overrides)
        predictor = cls(OnnxNetwork(session), config, metadata["class_names"], torch.device("cpu"), inference,
                        amp="off", channels_last=False, category_ids=metadata["category_ids"])
        if any(size != predictor.input_size for size in predictor.input_sizes()):
            raise CenterNetError(f"--test-scales {' '.join(map(str, inference.test_scales))}: {path} takes "
                                 f"{predictor.input_size[0]}x{predictor.input_size[1]} inputs only; a multi-scale "
                                 "test needs --backend pytorch")
        return predictor
