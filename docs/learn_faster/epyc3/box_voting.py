"""Screen (issue 26): box voting in the ltrb decode. Each peak's box becomes the average of the boxes predicted at
the pixels of its (2 r + 1)^2 window, weighted by their heatmap score of the peak's class (to the power p; pixels
under ratio x the peak's score weigh 0), instead of the box at the peak's pixel alone.

    python docs/learn_faster/epyc3/box_voting.py RUN/last.pt

Not in the package: +1% AP at the end of a 15-epoch run, nothing on the quickstart (docs/results.md).
"""

import sys

import torch

import centernet.tasks.boxes as boxes_task
from centernet.backends import load_predictor
from centernet.checkpoint import checkpoint_config, load_checkpoint
from centernet.config import STRIDE
from centernet.data.coco import CocoDataset
from centernet.decode import DecodedBatch, top_peaks
from centernet.engine.evaluate import evaluate
from centernet.tensors import pixel_centres


def voting_decode(radius: int, ratio: float, power: float):
    def decode(heatmap: torch.Tensor, distances: torch.Tensor, k: int, stride: int = STRIDE) -> DecodedBatch:
        _, _, height, width = heatmap.shape
        scores, classes, pixel = top_peaks(heatmap, k)  # (B, K) each
        ys, xs = torch.div(pixel, width, rounding_mode="floor"), pixel % width
        heat, edges = heatmap.float().flatten(1), distances.float().flatten(2)  # (B, C HW), (B, 4, HW)
        total, weights = torch.zeros(*pixel.shape, 4), torch.zeros(pixel.shape)
        for dy in range(-radius, radius + 1):
            for dx in range(-radius, radius + 1):
                y, x = ys + dy, xs + dx
                inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
                index = y.clamp(0, height - 1) * width + x.clamp(0, width - 1)
                weight = heat.gather(1, classes * height * width + index)
                weight = torch.where(inside & (weight >= ratio * scores.float()), weight, 0.0) ** power
                ltrb = edges.gather(2, index[:, None, :].expand(-1, 4, -1)).transpose(1, 2)  # (B, K, 4)
                centre = pixel_centres(index, width, stride)
                total += weight[..., None] * torch.cat([centre - ltrb[..., :2], centre + ltrb[..., 2:]], -1)
                weights += weight
        boxes = total / weights.clamp(min=1e-12)[..., None] / stride
        return DecodedBatch(boxes, scores.float(), classes, pixel=pixel)
    return decode


path = sys.argv[1]
config = checkpoint_config(load_checkpoint(path), path)
val_set = CocoDataset(config.data.val_ann, config.data.val_images, config.data.input_size, train=False)
predictor = load_predictor(path, device="cpu")


def ap() -> str:
    metrics = evaluate(predictor, val_set, batch_size=16, workers=0, progress=False).metrics
    return f"AP {metrics['AP']:.4f} AP50 {metrics['AP50']:.4f} AP75 {metrics['AP75']:.4f}"


print("the peak's box (the package's decode)", ap(), flush=True)
for radius, ratio, power in [(1, 0.0, 1), (1, 0.5, 1), (1, 0.0, 2), (2, 0.5, 1)]:
    boxes_task.decode_ltrb = voting_decode(radius, ratio, power)
    print(f"voting: radius {radius}, ratio {ratio}, power {power}", ap(), flush=True)
