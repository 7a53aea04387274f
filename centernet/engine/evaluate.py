"""COCO evaluation: run the Predictor over a dataset, write COCO results, score them with COCOeval."""

from __future__ import annotations

import contextlib
import copy
import functools
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from tqdm import tqdm

from centernet.data.coco import CocoDataset, Sample, collate
from centernet.data.transforms import invert_affine
from centernet.engine.auroc import HeatmapAUROC
from centernet.predictor import NetworkOutputs, Predictor, PreparedBatch
from centernet.structures import Batch, Detections, Targets, apply_affine, box_xyxy_to_xywh
from centernet.tasks import Task, build_target_encoder

METRIC_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl")


@dataclass
class Evaluation:
    """What one pass over a validation set produced."""

    # AP, AP50, AP75, APs, APm, APl in [0, 1]; None: undefined (no ground truth); exdet on annotations with
    # polygons also segm_AP, segm_AP50, ... of the octagons; keypoints also keypoints_AP, keypoints_AP50, ... (OKS)
    metrics: dict[str, float | None]
    per_class_ap: dict[str, float]  # classes with ground truth in the set only
    results: list[dict]  # COCO results format, original image and category ids
    per_class_auroc: dict[str, float | None] = field(default_factory=dict)  # heatmap as a pixel classifier
    losses: dict[str, float] = field(default_factory=dict)  # validation losses, when a criterion was given
    examples: list[tuple[np.ndarray, Detections, np.ndarray]] = field(default_factory=list)  # see _example


def detections_to_coco(detections: Detections, image_id: int, category_ids: list[int], task: Task) -> list[dict]:
    """One image's detections as COCO result records (boxes x, y, width, height in original pixels), with the
    task's fields (`Task.coco_fields`; exdet's octagon as "segmentation" and its "extreme_points")."""
    boxes = box_xyxy_to_xywh(detections.boxes.astype(np.float64)).round(2)
    return [{"image_id": int(image_id), "category_id": int(category_ids[label]), "bbox": box.tolist(),
             "score": round(float(score), 5), **task.coco_fields(detections, index)}
            for index, (box, score, label) in enumerate(zip(boxes, detections.scores, detections.classes,
                                                            strict=True))]


def has_polygons(coco_gt: COCO) -> bool:
    """Whether every annotation has a segmentation (polygons; RLE for crowd regions), so that segm AP is defined."""
    annotations = coco_gt.dataset.get("annotations", [])
    return bool(annotations) and all(annotation.get("segmentation") for annotation in annotations)


def format_metric(value: float | None, scale: float = 1.0, width: int = 0, digits: int = 4) -> str:
    """A metric for a table: "-" when it is undefined (None), else the number times `scale`."""
    return f"{'-':>{width}}" if value is None else f"{value * scale:{width}.{digits}f}"


def _detections_index(coco_gt: COCO, results: list[dict]) -> COCO:
    """A COCO index of `results` for COCOeval. loadRes fills in fields (area, id, iscrowd, segmentation) of the
    dicts it is given, so it gets a copy and `results` keep exactly the COCO result fields; an empty list (which
    loadRes cannot take) gives an empty index, scoring 0 wherever there is ground truth."""
    if results:
        with contextlib.redirect_stdout(io.StringIO()):
            return coco_gt.loadRes(copy.deepcopy(results))
    empty = COCO()
    empty.dataset = {"images": list(coco_gt.dataset["images"]), "categories": list(coco_gt.dataset["categories"]),
                     "annotations": []}
    with contextlib.redirect_stdout(io.StringIO()):
        empty.createIndex()
    return empty


def coco_metrics(coco_gt: COCO, results: list[dict], class_names: list[str], category_ids: list[int],
                 iou_type: str = "bbox", params: dict[str, object] | None = None
                 ) -> tuple[dict[str, float | None], dict[str, float]]:
    """COCOeval metrics and per-class AP@[.5:.95], of the boxes ("bbox"), of the results' polygons ("segm") or of
    their keypoints by OKS ("keypoints"; `params` gives e.g. its per-joint `kpt_oks_sigmas`).

    Metrics: AP, AP50, AP75, then AP per area range of the iou type (bbox and segm: APs, APm, APl; keypoints:
    APm, APl). A metric COCOeval reports as -1 (undefined: no ground truth in that area range) is None; classes
    without ground truth are left out of the per-class dict.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(coco_gt, _detections_index(coco_gt, results), iou_type)
        evaluator.params.imgIds = sorted(coco_gt.getImgIds())
        for name, value in (params or {}).items():
            setattr(evaluator.params, name, value)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    names = (*METRIC_NAMES[:3], *(f"AP{label[0]}" for label in evaluator.params.areaRngLbl[1:]))
    metrics = {name: None if value < 0 else float(value)
               for name, value in zip(names, evaluator.stats[:len(names)], strict=True)}
    precision = evaluator.eval["precision"]  # (thresholds, recall, classes, areas, max dets); -1 = no ground truth
    per_class = {}
    for column, category_id in enumerate(evaluator.params.catIds):
        values = precision[:, :, column, 0, -1]
        values = values[values > -1]
        if values.size:
            per_class[class_names[category_ids.index(category_id)]] = float(values.mean())
    return metrics, per_class


def _image_sizes(coco: COCO, image_ids: torch.Tensor) -> torch.Tensor:
    return torch.tensor([[coco.imgs[int(i)]["width"], coco.imgs[int(i)]["height"]] for i in image_ids])


class ScaledViews(torch.utils.data.Dataset):
    """A validation dataset letterboxed at several input sizes (a multi-scale test): item i is the tuple of
    image i's samples, one per size. Each view reads the image itself; with one size, item i is (dataset[i],)."""

    def __init__(self, dataset: CocoDataset, input_sizes: Sequence[tuple[int, int]]) -> None:
        self.views = [dataset if size == dataset.input_size else dataset.with_input_size(size)
                      for size in input_sizes]

    def __len__(self) -> int:
        return len(self.views[0])

    def __getitem__(self, index: int) -> tuple[Sample | None, ...]:
        return tuple(view[index] for view in self.views)


def collate_views(samples: list[tuple[Sample | None, ...]], max_objects: int) -> tuple[Batch, ...]:
    """`collate` per view: one Batch per input size, of the same images (an unreadable image is None in every
    view, so every view drops it)."""
    return tuple(collate([sample[view] for sample in samples], max_objects) for view in range(len(samples[0])))


@dataclass
class _HeadScores:
    """What evaluation measures on the heads of one scale: heatmap AUROC, validation losses, example images."""

    auroc: HeatmapAUROC
    criterion: Callable | None
    num_examples: int
    loss_sums: dict[str, float] = field(default_factory=dict)
    batches: int = 0
    examples: list = field(default_factory=list)

    def update(self, predictor: Predictor, batch: Batch, outputs: NetworkOutputs) -> None:
        """The AUROC of the (last stack's) centre heatmap; the criterion over every stack, as in training."""
        heads = outputs.heads
        targets = _targets(batch.to(predictor.device), predictor, tuple(heads["heatmap"].shape[1:]),
                           with_task_targets=self.criterion is not None)
        self.auroc.update(heads["heatmap"].sigmoid(), targets.heatmap, targets.ignore)
        if self.criterion is not None:
            for name, value in self.criterion(outputs.stack_heads, targets)[1].items():
                self.loss_sums[name] = self.loss_sums.get(name, 0.0) + float(value)
            self.batches += 1

    def add_examples(self, batch: Batch, detections: list[Detections], heads: dict[str, torch.Tensor]) -> None:
        for i in range(min(self.num_examples - len(self.examples), len(detections))):
            self.examples.append(_example(batch, i, detections[i], heads["heatmap"][i]))


def evaluate(predictor: Predictor, dataset: CocoDataset, batch_size: int = 16, workers: int = 0,
             criterion: Callable | None = None, num_examples: int = 0, progress: bool = True) -> Evaluation:
    """Detect on every image of a (validation, letterboxed) dataset and score with COCOeval.

    Also measures the per-class heatmap AUROC; with `criterion`, averages the validation losses;
    `num_examples` keeps a few (input image, detections, heatmap) triples for TensorBoard. With several test
    scales (`predictor.input_sizes()`), each image is letterboxed at every scale's input size (by the data
    workers) and goes through `Predictor.predict_scales`, as in the demo; the heads' measures come from the scale
    at the dataset's input size (else the first).
    """
    sizes = predictor.input_sizes()
    primary = sizes.index(dataset.input_size) if dataset.input_size in sizes else 0
    loader = torch.utils.data.DataLoader(ScaledViews(dataset, sizes), batch_size=batch_size, shuffle=False,
                                         num_workers=workers,
                                         collate_fn=functools.partial(collate_views, max_objects=dataset.max_objects))
    results = []
    scores = _HeadScores(HeatmapAUROC(dataset.num_classes), criterion, num_examples)
    for views in tqdm(loader, desc="evaluate", unit="batch", disable=not progress, leave=False):
        batch = views[primary]
        if len(batch.image_ids) == 0:
            continue
        image_sizes = _image_sizes(dataset.coco, batch.image_ids)
        detections, outputs = predictor.predict_scales(PreparedBatch(view.images, view.inverse_affine, image_sizes)
                                                       for view in views)
        scores.update(predictor, batch, outputs[primary])
        heads = outputs[primary].heads  # of the images as given (flip test or not)
        for image_id, image_detections in zip(batch.image_ids.tolist(), detections, strict=True):
            results += detections_to_coco(image_detections, image_id, dataset.category_ids, predictor.task)
        scores.add_examples(batch, detections, heads)
    metrics, per_class = coco_metrics(dataset.coco, results, dataset.class_names, dataset.category_ids)
    for iou_type in predictor.task.iou_types(has_polygons(dataset.coco)):
        if iou_type != "bbox":
            extra, _ = coco_metrics(dataset.coco, results, dataset.class_names, dataset.category_ids, iou_type,
                                    predictor.task.cocoeval_params(iou_type, predictor.inference))
            metrics.update({f"{iou_type}_{name}": value for name, value in extra.items()})
    losses = {name: total / max(scores.batches, 1) for name, total in scores.loss_sums.items()}
    per_class_auroc = dict(zip(dataset.class_names, scores.auroc.compute(), strict=True))
    return Evaluation(metrics, per_class, results, per_class_auroc, losses, scores.examples)


def _example(batch: Batch, i: int, detections: Detections, heatmap_logits: torch.Tensor):
    """(input image (H, W, 3) uint8, detections moved back into input pixels (boxes only), class-max heatmap
    (h, w))."""
    to_input = invert_affine(batch.inverse_affine[i].numpy())
    corners = apply_affine(detections.boxes.reshape(-1, 2), to_input).reshape(-1, 4)
    moved = Detections(corners.astype(np.float32), detections.scores, detections.classes, detections.names)
    return batch.images[i].permute(1, 2, 0).numpy(), moved, heatmap_logits.sigmoid().amax(0).cpu().numpy()


def _targets(batch: Batch, predictor: Predictor, heatmap_shape: tuple[int, ...], *,
             with_task_targets: bool) -> Targets:
    """The batch's ground truth at the heads' resolution (C, H, W), on the batch's device: the centre heatmap, and
    the task's targets `with_task_targets` (for the validation losses)."""
    encoder = build_target_encoder(predictor.task, predictor.config, heatmap_shape[1:],
                                   with_task_targets=with_task_targets)
    return encoder(batch.boxes_xyxy, batch.classes, batch.valid, batch.crowd, batch.points, batch.point_labelled)
