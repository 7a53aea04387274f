"""The one place for preprocess -> model -> decode -> original pixels, used by evaluate and demo alike."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from centernet.config import STRIDE, Config, InferenceConfig
from centernet.data.transforms import letterbox_affine, normalize, warp_image
from centernet.decode import decode, merge_flip, to_image_coordinates
from centernet.engine.checkpoint import checkpoint_config, load_checkpoint
from centernet.errors import CheckpointError
from centernet.model import build_model
from centernet.structures import Detections


def resolve_device(name: str = "auto") -> torch.device:
    """"auto" -> CUDA when available, else CPU; "cuda" without a GPU is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    return device


def autocast_dtype(device: torch.device) -> torch.dtype:
    """bf16 where the GPU supports it, else fp16 (which needs a GradScaler for training)."""
    return torch.bfloat16 if device.type != "cuda" or torch.cuda.is_bf16_supported() else torch.float16


def preprocess_image(image_rgb: np.ndarray, input_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Letterbox one (H, W, 3) uint8 RGB image: (S, S, 3) uint8 input and the (2, 3) input->original affine."""
    height, width = image_rgb.shape[:2]
    affine, inverse = letterbox_affine(width, height, input_size)
    return warp_image(image_rgb, affine, input_size), inverse


class Predictor:
    """Runs a trained model on images of any size; returns `Detections` in original image pixels.

    Inputs travel as uint8 and are normalised on the device. Works on CPU and CUDA (autocast with `amp`).
    """

    def __init__(self, model: nn.Module, config: Config, class_names: Sequence[str], device: torch.device,
                 inference: InferenceConfig | None = None, amp: bool = False,
                 category_ids: Sequence[int] | None = None) -> None:
        self.model = model.to(device).eval()
        self.config = config
        self.class_names = list(class_names)
        self.category_ids = list(category_ids) if category_ids is not None else list(range(1, len(class_names) + 1))
        self.device = device
        self.inference = inference or config.inference
        self.amp = amp and device.type == "cuda"

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, device: str = "auto", amp: bool = False,
                        **inference_overrides) -> Predictor:
        """Rebuild the model from a checkpoint alone; `inference_overrides` replace InferenceConfig fields."""
        state = load_checkpoint(path)
        config = checkpoint_config(state, path)
        model = build_model(config.model.arch, config.model.num_classes, config.model.head_conv)
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as error:
            raise CheckpointError(f"{path}: weights do not fit arch {config.model.arch} "
                                  f"({str(error).splitlines()[0]})") from None
        overrides = {key: value for key, value in inference_overrides.items() if value is not None}
        inference = dataclasses.replace(config.inference, **overrides)
        return cls(model, config, state["class_names"], resolve_device(device), inference, amp, state["category_ids"])

    @torch.inference_mode()
    def forward(self, images_uint8: torch.Tensor) -> dict[str, torch.Tensor]:
        """Network outputs for (B, 3, S, S) uint8 inputs; with flip test, for [images; mirrored] (2B)."""
        images = normalize(images_uint8.to(self.device, non_blocking=True), self.config.data.mean,
                           self.config.data.std)
        if self.inference.flip_test:
            images = torch.cat([images, images.flip(-1)])
        autocast = torch.autocast("cuda", dtype=autocast_dtype(self.device)) if self.amp else contextlib.nullcontext()
        with autocast:
            outputs = self.model(images)
        return {name: value.float() for name, value in outputs.items()}

    @torch.inference_mode()
    def postprocess(self, outputs: dict[str, torch.Tensor], inverse_affine: torch.Tensor,
                    image_sizes: torch.Tensor) -> list[Detections]:
        """Decode outputs, map boxes to original pixels ((B, 2, 3) affines, (B, 2) width, height), threshold."""
        heatmap, size, offset = outputs["heatmap"].sigmoid(), outputs["size"], outputs["offset"]
        if self.inference.flip_test:
            heatmap, size, offset = merge_flip(heatmap, size, offset)
        detections = decode(heatmap, size, offset, k=self.inference.top_k)
        detections = to_image_coordinates(detections, inverse_affine.to(self.device), STRIDE,
                                          image_sizes.to(self.device)).cpu().numpy()
        results = []
        for rows in detections:
            rows = rows[rows[:, 4] >= self.inference.score_threshold]
            results.append(Detections(rows[:, :4].astype(np.float32), rows[:, 4].astype(np.float32),
                                      rows[:, 5].astype(np.int64)))
        return results

    def predict_batch(self, images_uint8: torch.Tensor, inverse_affine: torch.Tensor,
                      image_sizes: torch.Tensor) -> list[Detections]:
        """Detections for already letterboxed (B, 3, S, S) uint8 inputs."""
        return self.postprocess(self.forward(images_uint8), inverse_affine, image_sizes)

    def __call__(self, images_rgb: Sequence[np.ndarray]) -> list[Detections]:
        """Detections for a list of (H, W, 3) uint8 RGB images of any sizes."""
        if len(images_rgb) == 0:
            return []
        prepared = [preprocess_image(image, self.config.data.input_size) for image in images_rgb]
        images = torch.from_numpy(np.stack([warped for warped, _ in prepared])).permute(0, 3, 1, 2)
        inverse = torch.from_numpy(np.stack([affine for _, affine in prepared]))
        sizes = torch.tensor([[image.shape[1], image.shape[0]] for image in images_rgb])
        return self.predict_batch(images, inverse, sizes)
