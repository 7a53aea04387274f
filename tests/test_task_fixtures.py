"""Today's inference, pinned before the task-specific code moves into `centernet/tasks/`: three small "trained"
checkpoints (task detect with the ltrb box head, task detect with the center box head, task exdet) predict the
stored detections on two images, at one scale, with flip test and at three scales; and a seeded two-stack
Hourglass returns the stored outputs in training and in evaluation. tests/fixtures/tasks/make_fixtures.py made the
files with commit 29bb13b (how, and why each case is far from a threshold or a tie, is written there).

After the refactor the same stored files must be reproduced within 1e-4. Where only names or forms change,
`detection_fields` (the fields of `Detections`) and `stack_outputs` (what the model's forward returns) are the
places to update.
"""

import functools
import gzip
import json
from pathlib import Path

import numpy as np
import torch

from centernet.backends import load_predictor
from centernet.checkpoint import load_checkpoint
from centernet.config import ModelConfig
from centernet.data.images import read_image_rgb
from centernet.model.build import CenterNet
from centernet.model.heads import CenterNetHeads
from centernet.model.hourglass import HourglassBody
from centernet.structures import Detections
from centernet.tasks import task_for

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tasks"
ATOL = 1e-4  # scores and coordinates (original image pixels); classes must be equal


def detection_fields(found: Detections) -> dict[str, np.ndarray | None]:
    """One image's detections by the names predictions.json stores them under (`Detections`' fields when they
    were recorded; None where the task has no such field)."""
    return {"boxes_xyxy": found.boxes, "scores": found.scores, "classes": found.classes,
            "extreme_points": found.extreme_points, "octagons": found.octagons}


def stack_outputs(outputs) -> list[dict[str, torch.Tensor]]:
    """The model's outputs as a list of {head name: tensor}, one per stack, the last stack last: today a dict in
    eval mode (the last stack only) and a list of dicts in training."""
    return [outputs] if isinstance(outputs, dict) else list(outputs)


@functools.cache
def stored_predictions() -> dict:
    return json.loads((FIXTURES / "predictions.json").read_text())


def assert_same_detections(found: dict, stored: dict, where: str) -> None:
    """The same number of detections, the same fields present, and each stored detection matched one to one by a
    found one of the same class with every score and coordinate within ATOL (detections whose scores are within
    ATOL of each other may come in either order)."""
    assert {name: value is None for name, value in found.items()} == {
        name: value is None for name, value in stored.items()}, f"{where}: other fields"
    count = len(stored["scores"])
    assert len(found["scores"]) == count, f"{where}: {len(found['scores'])} detections, stored {count}"
    expected, actual = (np.concatenate([np.reshape(np.asarray(fields[name], np.float64), (count, -1))
                                        for name in stored if stored[name] is not None], axis=1)
                        for fields in (stored, found))
    unused = list(range(count))
    for index, row in enumerate(expected):
        close = [other for other in unused if np.abs(actual[other] - row).max() <= ATOL]
        if not close:
            nearest = actual[np.abs(actual - row).max(axis=1).argmin()]
            fields = ", ".join(name for name in stored if stored[name] is not None)
            raise AssertionError(f"{where}: stored detection {index} not found within {ATOL}; the nearest differs by "
                                 f"{np.abs(nearest - row).max():.2g}\n  stored {row.round(4).tolist()}\n  found  "
                                 f"{nearest.round(4).tolist()}\n  ({fields}, flattened)")
        unused.remove(close[0])


def assert_predicts_as_stored(case: str, tmp_path: Path) -> None:
    """The stored case's checkpoint, with its inference overrides, on CPU in float32, predicts the stored detections
    on both stored images."""
    stored = stored_predictions()[case]
    checkpoint = tmp_path / "last.pt"
    checkpoint.write_bytes(gzip.decompress((FIXTURES / stored["checkpoint"]).read_bytes()))
    # InferenceConfig's test_scales were named scales when the fixtures were made (29bb13b)
    overrides = {("test_scales" if name == "scales" else name): value for name, value in stored["overrides"].items()}
    predictor = load_predictor(checkpoint, device="cpu", amp="off", channels_last=False, **overrides)
    names = list(stored["images"])
    found = predictor([read_image_rgb(FIXTURES / name) for name in names])
    for name, detections in zip(names, found, strict=True):
        assert_same_detections(detection_fields(detections), stored["images"][name], f"{case}, {name}")


def test_the_fixtures_are_the_checkpoints_they_claim_to_be(tmp_path):
    tasks = {}
    for name in ("detect_ltrb", "detect_center", "exdet"):
        checkpoint = tmp_path / f"{name}.pt"
        checkpoint.write_bytes(gzip.decompress((FIXTURES / f"{name}.pt.gz").read_bytes()))
        state = load_checkpoint(checkpoint)
        model = state["config"]["model"]
        tasks[name] = (model["task"], model["box_head"], model["arch"], model["num_classes"], "ema_model" in state)
        assert state["class_names"] == ["kite", "triangle"] and list(state["config"]["data"]["input_size"]) == [64, 64]
    assert tasks == {"detect_ltrb": ("detect", "ltrb", "resnet18", 2, True),
                     "detect_center": ("detect", "center", "resnet18", 2, False),
                     "exdet": ("exdet", "ltrb", "resnet18", 2, True)}  # exdet has its own heads; box_head unused
    assert read_image_rgb(FIXTURES / "image_a.png").shape == (72, 104, 3)
    assert read_image_rgb(FIXTURES / "image_b.png").shape == (90, 60, 3)


def test_todays_detect_ltrb_checkpoint_predicts_the_stored_boxes_on_both_images(tmp_path):
    assert_predicts_as_stored("detect_ltrb", tmp_path)


def test_todays_detect_ltrb_checkpoint_at_three_scales_with_flip_test_predicts_the_stored_boxes(tmp_path):
    assert stored_predictions()["detect_ltrb_multiscale_flip"]["overrides"]["scales"] == [0.5, 1.0, 1.5]
    assert_predicts_as_stored("detect_ltrb_multiscale_flip", tmp_path)


def test_todays_detect_center_checkpoint_predicts_the_stored_boxes_on_both_images(tmp_path):
    assert_predicts_as_stored("detect_center", tmp_path)


def test_todays_detect_center_checkpoint_with_flip_test_predicts_the_stored_boxes(tmp_path):
    assert_predicts_as_stored("detect_center_flip", tmp_path)


def test_todays_exdet_checkpoint_predicts_the_stored_extreme_points_boxes_and_octagons(tmp_path):
    assert_predicts_as_stored("exdet", tmp_path)


def test_todays_exdet_checkpoint_with_flip_test_predicts_the_stored_extreme_points(tmp_path):
    assert_predicts_as_stored("exdet_flip", tmp_path)


def small_hourglass() -> CenterNet:
    """As make_fixtures.py builds it: two stacks of three levels, 16 to 32 channels, heads "center" of 8 channels."""
    body = HourglassBody(num_stacks=2, dims=(16, 16, 24, 32), modules=(1, 1, 1, 2))
    layout = task_for(ModelConfig(box_head="center")).head_layout(2)
    heads = [CenterNetHeads(body.out_channels, 8, layout) for _ in range(body.num_stacks)]
    return CenterNet(body, heads[-1], stack_heads=heads[:-1])


def assert_fingerprint(tensor: torch.Tensor, stored: dict, where: str) -> None:
    """Shape equal; sum of squares within a relative ATOL; the sum and the first 16 values within ATOL of the
    tensor's scale (its root mean square, times the count for the sum's bound)."""
    values = tensor.detach().double()
    assert list(values.shape) == stored["shape"], where
    scale = (stored["sum_of_squares"] / values.numel()) ** 0.5
    np.testing.assert_allclose(values.square().sum().item(), stored["sum_of_squares"], rtol=ATOL, err_msg=where)
    np.testing.assert_allclose(values.sum().item(), stored["sum"], rtol=0, atol=ATOL * scale * values.numel(),
                               err_msg=where)
    np.testing.assert_allclose(values.flatten()[:16].numpy(), stored["first"], rtol=0, atol=ATOL * scale,
                               err_msg=where)


def test_a_seeded_two_stack_hourglass_returns_the_stored_outputs_in_training_and_in_evaluation():
    stored = json.loads((FIXTURES / "hourglass.json").read_text())
    torch.manual_seed(0)
    model = small_hourglass()
    images = torch.randint(0, 256, stored["input"]["shape"], generator=torch.Generator().manual_seed(3),
                           dtype=torch.uint8)
    with torch.no_grad():
        evaluated = stack_outputs(model.eval()(images))  # fresh BatchNorm statistics first, then batch ones
        trained = stack_outputs(model.train()(images))
    assert len(trained) == len(stored["train"]) == 2 and len(evaluated) >= len(stored["eval"]) == 1
    for mode, stacks, recorded in (("eval", evaluated[-len(stored["eval"]):], stored["eval"]),
                                   ("train", trained, stored["train"])):
        for stack, (outputs, fingerprints) in enumerate(zip(stacks, recorded, strict=True)):
            assert sorted(outputs) == sorted(fingerprints), f"{mode} stack {stack}"
            for name, fingerprint in fingerprints.items():
                assert_fingerprint(outputs[name], fingerprint, f"{mode} stack {stack} {name}")
