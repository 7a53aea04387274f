"""The one inference path: preprocess -> model -> decode -> original pixels, used by evaluate, demo and export.

A multi-scale test (`InferenceConfig.test_scales`) runs that path once per scale, at the input size times the scale,
and merges the detections of all scales with class-wise NMS (`merge_scales`).

`centernet.backends.load_predictor` picks the backend: PyTorch on a checkpoint (this module's `Predictor`), or
onnxruntime on an exported network (`centernet.onnx_backend`); both go through this module's pre- and
post-processing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from centernet.checkpoint import checkpoint_config, load_checkpoint
from centernet.config import STRIDE, Config, InferenceConfig, check_input_size, input_size_pair, scaled_input_size
from centernet.data.transforms import letterbox_affine, warp_image
from centernet.decode import merge_detections, to_image_frame
from centernet.device import autocast, autocast_dtype, resolve_device
from centernet.errors import CenterNetError, CheckpointError
from centernet.model import stacks
from centernet.structures import Detections
from centernet.tasks import build_model, task_for


@dataclass
class PreparedBatch:
    """Letterboxed network inputs and what maps their outputs back.

    images: (B, 3, H, W) uint8 RGB of one input size (W, H); inverse_affine: (B, 2, 3) float32 input pixels ->
    original pixels;
    image_sizes: (B, 2) original (width, height).
    """

    images: torch.Tensor
    inverse_affine: torch.Tensor
    image_sizes: torch.Tensor


@dataclass
class NetworkOutputs:
    """The heads for a batch of B images: `maps` the last stack's as the network returned them, (B, ...) or under
    flip test (2B, ...), the images then their mirror images (one network call for both); `heads` are the images'
    own; `earlier_maps` the earlier stacks' of a stacked body (Hourglass), as `maps`."""

    maps: dict[str, torch.Tensor]
    count: int
    earlier_maps: list[dict[str, torch.Tensor]] = dataclasses.field(default_factory=list)

    @property
    def heads(self) -> dict[str, torch.Tensor]:
        """(B, ...) float32 heads of the images as given, flip test or not (the last stack's)."""
        return {name: value[:self.count] for name, value in self.maps.items()}

    @property
    def stack_heads(self) -> list[dict[str, torch.Tensor]]:
        """`heads` of every stack, the last stack last (one dict for a single-stack body)."""
        return [{name: value[:self.count] for name, value in maps.items()} for maps in [*self.earlier_maps, self.maps]]

    @property
    def flip_test(self) -> bool:
        return next(iter(self.maps.values())).shape[0] == 2 * self.count > 0


def preprocess_image(image_rgb: np.ndarray, input_size: int | Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Letterbox one (H, W, 3) uint8 RGB image into `input_size` (width, height; one int: a square): the
    (input height, input width, 3) uint8 input and the (2, 3) input->original affine."""
    height, width = image_rgb.shape[:2]
    affine, inverse = letterbox_affine(width, height, input_size)
    return warp_image(image_rgb, affine, input_size), inverse


@contextlib.contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[None]:
    """The model in eval mode inside the block, and back in the mode it was in after it."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


class Predictor:
    """Runs a trained model on images of any size; returns `Detections` in original image pixels.

    Inputs travel as uint8 and are normalised by the model on its device. Works on CPU and CUDA. `amp` is an
    `--amp` mode (`centernet.catalog.AMP_MODES`: "auto" runs bf16 autocast on CUDA and on CPUs with native bf16,
    float32 elsewhere); the heads' outputs are float32 either way. The model is moved to `device` (and to the
    channels-last memory format with `channels_last`, in place); its train/eval mode is left as it was given.
    Images are letterboxed into `input_size` (the config's, (width, height); `set_input_size` changes it, e.g. to
    a video's aspect ratio).
    """

    fixed_input_size = False  # True where the network takes one input size only (an ONNX export)

    def __init__(self, model: nn.Module, config: Config, class_names: Sequence[str], device: torch.device,
                 inference: InferenceConfig | None = None, amp: str = "auto", channels_last: bool = True,
                 category_ids: Sequence[int] | None = None) -> None:
        self.model = model.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)
        self.config = config
        self.class_names = list(class_names)
        self.category_ids = list(category_ids) if category_ids is not None else list(range(1, len(class_names) + 1))
        self.device = device
        self.inference = inference or config.inference
        self.amp_dtype = autocast_dtype(device, amp)  # None: float32
        self.channels_last = channels_last
        self.task = task_for(config.model)  # decodes the heads, and says what the detections carry

    @classmethod
    def from_file(cls, path: str | os.PathLike, device: str = "auto", amp: str = "auto", channels_last: bool = True,
                  **inference_overrides) -> Predictor:
        """Rebuild the model from a checkpoint alone; `inference_overrides` replace InferenceConfig fields."""
        state = load_checkpoint(path)
        config = checkpoint_config(state, path)
        model = build_model(dataclasses.replace(config.model, backbone_weights=None), config.data)
        try:
            model.load_state_dict(state.get("ema_model", state["model"]))  # the averaged weights, where trained so
        except RuntimeError as error:
            raise CheckpointError(f"{path}: weights do not fit arch {config.model.arch} "
                                  f"({str(error).splitlines()[0]})") from None
        overrides = {key: value for key, value in inference_overrides.items() if value is not None}
        inference = dataclasses.replace(config.inference, **overrides)
        return cls(model, config, state["class_names"], resolve_device(device), inference, amp=amp,
                   channels_last=channels_last, category_ids=state["category_ids"])

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the network input at scale 1."""
        return self.config.data.input_size

    def set_input_size(self, input_size: int | Sequence[int]) -> None:
        """Run at another input size (width, height, multiples of 32; one int: a square) from now on."""
        size = check_input_size(input_size)
        if self.fixed_input_size and size != self.input_size:
            raise CenterNetError(f"this network takes {self.input_size[0]}x{self.input_size[1]} inputs only, not "
                                 f"{size[0]}x{size[1]}")
        self.config = dataclasses.replace(self.config, data=dataclasses.replace(self.config.data, input_size=size))

    def input_sizes(self) -> list[tuple[int, int]]:
        """(width, height) of the input at each test scale (`InferenceConfig.test_scales`), in their order."""
        return [scaled_input_size(self.input_size, scale) for scale in self.inference.test_scales]

    def preprocess(self, images_rgb: Sequence[np.ndarray], input_size: int | Sequence[int] | None = None
                   ) -> PreparedBatch:
        """Letterbox (H_i, W_i, 3) uint8 RGB images of any sizes into one batch of `input_size` (default: the
        predictor's)."""
        size = self.input_size if input_size is None else input_size_pair(input_size)
        prepared = [preprocess_image(image, size) for image in images_rgb]
        return PreparedBatch(
            images=torch.from_numpy(np.stack([warped for warped, _ in prepared])).permute(0, 3, 1, 2),
            inverse_affine=torch.from_numpy(np.stack([inverse for _, inverse in prepared])),
            image_sizes=torch.tensor([[image.shape[1], image.shape[0]] for image in images_rgb]))

    @torch.inference_mode()
    def forward(self, images_uint8: torch.Tensor) -> NetworkOutputs:
        """The heads for (B, 3, H, W) uint8 inputs, in eval mode; with flip test also for the mirrored images."""
        images = images_uint8.to(self.device, non_blocking=True)
        if self.inference.flip_test:
            images = torch.cat([images, images.flip(-1)])
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with evaluation_mode(self.model), autocast(self.device, self.amp_dtype):
            outputs = [{name: value.float() for name, value in maps.items()} for maps in stacks(self.model(images))]
        return NetworkOutputs(outputs[-1], len(images_uint8), outputs[:-1])

    @torch.inference_mode()
    def postprocess(self, outputs: NetworkOutputs, inverse_affine: torch.Tensor,
                    image_sizes: torch.Tensor) -> list[Detections]:
        """Decode outputs (the task's decoding), map them to original pixels ((B, 2, 3) affines, (B, 2) width,
        height, clipped to the image), keep those scoring at least the score threshold."""
        decoded = self.task.decode(outputs.maps, self.inference, outputs.flip_test)
        decoded = to_image_frame(decoded, inverse_affine.to(self.device), image_sizes.to(self.device), STRIDE)
        boxes, scores, classes = (value.cpu().numpy() for value in (decoded.boxes, decoded.scores, decoded.classes))
        points = {name: value.cpu().numpy() for name, value in decoded.points.items()}
        point_scores = {name: value.cpu().numpy() for name, value in decoded.point_scores.items()}
        results = []
        for row in range(len(scores)):
            keep = scores[row] >= self.inference.score_threshold
            labels = classes[row][keep].astype(np.int64)
            fields = self.task.result_fields({name: value[row][keep] for name, value in points.items()},
                                             {name: value[row][keep] for name, value in point_scores.items()})
            results.append(Detections(boxes[row][keep].astype(np.float32), scores[row][keep].astype(np.float32),
                                      labels, [self.class_names[label] for label in labels], **fields))
        return results

    def merge_scales(self, per_scale: Sequence[Sequence[Detections]]) -> list[Detections]:
        """Each image's detections of every scale (one list per scale, images in the same order) as one:
        class-wise NMS at `nms_iou` over them all, the `top_k` best kept (`decode.merge_detections`). A single
        scale's detections are returned as they are."""
        if len(per_scale) == 1:
            return list(per_scale[0])
        return [merge_detections(found, self.inference.nms_iou, self.inference.top_k)
                for found in zip(*per_scale, strict=True)]

    def predict_scales(self, batches: Iterable[PreparedBatch],
                       measure: Callable[[str], contextlib.AbstractContextManager] | None = None
                       ) -> tuple[list[Detections], list[NetworkOutputs]]:
        """The one multi-scale + flip test: the same images letterboxed at each test scale (`batches`, one
        `PreparedBatch` per scale, in `input_sizes()` order; e.g. a generator, so that preprocessing happens as
        they are asked for) -> each image's detections of every scale merged (`merge_scales`), and each scale's
        network outputs (flip test: `InferenceConfig.flip_test`, in `forward`). `measure(stage)` times the
        "network" and "postprocess" stages (with a CUDA synchronisation after the network) where given."""
        timed = measure or (lambda stage: contextlib.nullcontext())
        per_scale, outputs = [], []
        for batch in batches:
            with timed("network"):
                outputs.append(self.forward(batch.images))
                if measure is not None and self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)  # kernels run asynchronously: bill them to the network
            with timed("postprocess"):
                per_scale.append(self.postprocess(outputs[-1], batch.inverse_affine, batch.image_sizes))
        with timed("postprocess"):
            return self.merge_scales(per_scale), outputs

    def predict_batch(self, batch: PreparedBatch) -> list[Detections]:
        """Detections for an already letterboxed batch (one scale)."""
        return self.postprocess(self.forward(batch.images), batch.inverse_affine, batch.image_sizes)

    def __call__(self, images_rgb: Sequence[np.ndarray]) -> list[Detections]:
        """Detections for a list of (H, W, 3) uint8 RGB images of any sizes, at every test scale, merged."""
        if len(images_rgb) == 0:
            return []
        return self.predict_scales(self.preprocess(images_rgb, size) for size in self.input_sizes())[0]
