"""--backend: which predictor runs a file, PyTorch on a checkpoint or onnxruntime on an ONNX export; both share the
Predictor's pre- and post-processing (`centernet.predictor`)."""

from __future__ import annotations

import os
from collections.abc import Callable

from centernet.errors import CenterNetError
from centernet.onnx_backend import OnnxPredictor
from centernet.predictor import Predictor

# --backend name (`centernet.catalog.BACKENDS`) -> the predictor's constructor from a file
BACKENDS: dict[str, Callable[..., Predictor]] = {"pytorch": Predictor.from_file, "onnxruntime": OnnxPredictor.from_file}


def load_predictor(path: str | os.PathLike, backend: str = "pytorch", device: str = "auto", amp: str = "auto",
                   channels_last: bool = True, **inference_overrides) -> Predictor:
    """The predictor of a `--backend` for the file at `path`; `amp` and `channels_last` apply to the PyTorch backend
    only; `inference_overrides` replace InferenceConfig fields."""
    if backend not in BACKENDS:
        raise CenterNetError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    return BACKENDS[backend](path, device=device, amp=amp, channels_last=channels_last, **inference_overrides)
