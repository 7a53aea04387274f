"""The Predictor on onnxruntime: an exported ONNX network with the same pre- and post-processing as PyTorch's.

The file must be a network-only export (`centernet export --format onnx`, without --with-decode); its
metadata_props carry the class names, category ids and config, so the .onnx file alone is enough.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from centernet.config import config_from_dict
from centernet.errors import CenterNetError, CheckpointError
from centernet.export import INPUT_NAME, METADATA_KEY, import_optional
from centernet.predictor import Predictor
from centernet.structures import HEAD_NAMES

if TYPE_CHECKING:
    import onnxruntime

BACKENDS = ("pytorch", "onnxruntime")


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
    """An onnxruntime session behind CenterNet's interface, minus normalisation (which is in the graph).

    images_uint8: (B, 3, S, S) uint8 RGB -> {"heatmap", "size", "offset"} float32 CPU tensors, as
    `CenterNet.forward`. A file exported with a fixed batch size runs the batch in slices of that size.
    """

    def __init__(self, session: onnxruntime.InferenceSession) -> None:
        super().__init__()
        self.session = session
        batch = session.get_inputs()[0].shape[0]
        self.fixed_batch = batch if isinstance(batch, int) else None

    def forward(self, images_uint8: torch.Tensor) -> dict[str, torch.Tensor]:
        images = images_uint8.cpu().numpy()
        step = self.fixed_batch or max(len(images), 1)
        slices = [self.session.run(list(HEAD_NAMES), {INPUT_NAME: images[start:start + step]})
                  for start in range(0, len(images), step)]
        return {name: torch.from_numpy(np.concatenate([outputs[index] for outputs in slices]))
                for index, name in enumerate(HEAD_NAMES)}


class OnnxPredictor(Predictor):
    """`Predictor` running an exported ONNX network; decoding runs in PyTorch on the CPU, as its outputs arrive."""

    @classmethod
    def from_onnx(cls, path: str | os.PathLike, device: str = "auto", **inference_overrides) -> OnnxPredictor:
        """Rebuild the predictor from an ONNX export alone; `inference_overrides` replace InferenceConfig fields."""
        session, metadata = open_session(path, device)
        if metadata["with_decode"]:
            raise CheckpointError(f"{path} was exported with --with-decode; the predictor needs a network-only export")
        config = config_from_dict(metadata["config"])
        overrides = {key: value for key, value in inference_overrides.items() if value is not None}
        inference = dataclasses.replace(config.inference, **overrides)
        return cls(OnnxNetwork(session), config, metadata["class_names"], torch.device("cpu"), inference,
                   category_ids=metadata["category_ids"])

    @torch.inference_mode()
    def forward(self, images_uint8: torch.Tensor) -> dict[str, torch.Tensor]:
        """Network outputs for (B, 3, S, S) uint8 inputs; with flip test, for [images; mirrored] (2B).

        Unlike `Predictor.forward`, the images stay uint8: the graph normalises them. Mirroring commutes
        with the per-channel normalisation, so the flip test sees the same inputs.
        """
        if self.inference.flip_test:
            images_uint8 = torch.cat([images_uint8, images_uint8.flip(-1)])
        return self.model(images_uint8)


def load_predictor(path: str | os.PathLike, backend: str = "pytorch", device: str = "auto", amp: bool = False,
                   **inference_overrides) -> Predictor:
    """The predictor for a `--backend`: "pytorch" reads a checkpoint, "onnxruntime" an ONNX export (network-only,
    written by `centernet export`). `amp` applies to "pytorch" only."""
    if backend == "pytorch":
        return Predictor.from_checkpoint(path, device=device, amp=amp, **inference_overrides)
    if backend == "onnxruntime":
        return OnnxPredictor.from_onnx(path, device=device, **inference_overrides)
    raise CenterNetError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
