"""The keypoints task (CenterNet's multi_pose, any skeleton): its heads, targets of a hand-made figure, the loss that
ignores unlabelled joints, decoding with and without snapping, the flip merge, an overfit run that recovers the
joints, OKS evaluation against pycocotools, and the CLI from training to the demo's JSON lines and the export."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from centernet.config import AugmentConfig, Config, InferenceConfig, LossConfig, ModelConfig, config_from_dict
from centernet.data.coco import CocoDataset, collate
from centernet.decode import decode_joints, merge_flip_joints
from centernet.engine.evaluate import coco_metrics
from centernet.errors import CenterNetError
from centernet.structures import Detections
from centernet.targets import encode_targets_batched
from centernet.tasks import build_criterion, build_model, fit_to_data, task_for
from centernet.tasks.keypoints import COCO_PERSON_JOINTS, COCO_PERSON_SIGMAS, oks_sigmas
from tests.conftest import load_script

NAMES = ("head", "left_hand", "right_hand")
MODEL = ModelConfig(task="keypoints", num_classes=2, joint_names=NAMES, skeleton=((0, 1), (0, 2)))
CENTER_MODEL = ModelConfig(task="keypoints", num_classes=1, joint_names=NAMES, box_head="center")


def test_the_task_adds_joint_heads_to_the_box_heads_of_its_box_head():
    layout = task_for(MODEL).head_layout(2)
    assert layout.channels == {"heatmap": 2, "ltrb": 4, "joints": 6, "joint_heatmap": 3, "joint_offset": 2}
    assert layout.class_heads == ("heatmap",)  # the joint heatmaps are class-agnostic, as the reference's
    assert layout.prior_heads == ("joint_heatmap",)  # but start at the heatmap prior, as the reference's hm_hp
    biases = build_model(MODEL).heads["joint_heatmap"][-1].bias
    torch.testing.assert_close(biases, torch.full((3,), -2.1972), atol=1e-4, rtol=0)
    assert task_for(CENTER_MODEL).head_layout(1).channels == {"heatmap": 1, "size": 2, "offset": 2, "joints": 6,
                                                              "joint_heatmap": 3, "joint_offset": 2}


def test_the_joint_names_and_skeleton_come_from_the_training_sets_category():
    categories = [{"id": 1, "name": "figure", "keypoints": list(NAMES), "skeleton": [[1, 2], [1, 3]]}]
    model = fit_to_data(ModelConfig(task="keypoints"), categories, "train.json")
    assert (model.num_classes, model.joint_names, model.skeleton) == (1, NAMES, ((0, 1), (0, 2)))
    with pytest.raises(ValueError, match="train.json: no category lists its `keypoints`"):
        fit_to_data(ModelConfig(task="keypoints"), [{"id": 1, "name": "a"}], "train.json")
    with pytest.raises(ValueError, match="needs joint names"):
        task_for(ModelConfig(task="keypoints"))
    assert fit_to_data(ModelConfig(), categories, "x").joint_names == ()  # detect reads the classes only


def test_a_config_of_version_6_loads_without_joints_and_with_snapping():
    old = {"version": 6, "model": {"task": "detect"}, "inference": {"top_k": 10}}
    config = config_from_dict(old)
    assert config.model.joint_names == () and config.inference.snap_joints and config.loss.joint_weight == 1.0
    saved = config_from_dict(json.loads(json.dumps(dataclass_dict(Config(model=MODEL)))))
    assert saved.model.skeleton == ((0, 1), (0, 2))  # nested tuples survive the JSON round trip


def dataclass_dict(config):
    from centernet.config import config_to_dict
    return config_to_dict(config)


# --- targets ----------------------------------------------------------------------------------------------------

def encode(points, labelled, boxes=((8.0, 8.0, 40.0, 56.0),), model=MODEL):
    """Targets of one 64 x 64 input (16 x 16 output) with objects `boxes` and their joints (M, K, 2)."""
    count = len(boxes)
    return encode_targets_batched(torch.tensor([boxes]), torch.zeros(1, count, dtype=torch.int64),
                                  torch.ones(1, count, dtype=torch.bool), model.num_classes, (16, 16),
                                  gaussian="elliptical", step=task_for(model).target_step(),
                                  points=torch.tensor([points]), point_labelled=torch.tensor([labelled]))


def test_targets_of_a_hand_made_figure():
    # box centre (24, 32) input pixels -> peak pixel (6, 8); joints in input pixels, the right hand unlabelled
    targets = encode([[[12.0, 10.0], [30.5, 40.2], [0.0, 0.0]]], [[True, True, False]])
    torch.testing.assert_close(targets.joint_vector[0, 0], torch.tensor([[-3.0, -5.5], [1.625, 2.05], [0.0, 0.0]]))
    assert targets.joint_mask[0, 0].tolist() == [1.0, 1.0, 0.0]
    assert targets.joint_index[0, 0].tolist() == [2 * 16 + 3, 10 * 16 + 7, 0]
    torch.testing.assert_close(targets.joint_offset[0, 0], torch.tensor([[0.0, 0.5], [0.625, 0.05], [0.0, 0.0]]))
    heatmap = targets.joint_heatmap[0]  # (K, H, W): a unit peak at each labelled joint's pixel, nothing else
    assert heatmap.shape == (3, 16, 16)
    assert heatmap[0, 2, 3] == 1 and heatmap[1, 10, 7] == 1 and (heatmap == 1).sum() == 2
    assert heatmap[2].abs().sum() == 0  # the unlabelled joint has no peak
    assert heatmap[0, 2, 4] > 0  # a Gaussian around the peak, with the object's round radius


def test_joints_outside_the_map_and_of_objects_losing_their_peak_are_not_regressed():
    # the second object shares the first's peak pixel and is smaller: it keeps its joint peaks, not its vectors
    targets = encode([[[12.0, 10.0], [70.0, 10.0], [20.0, 20.0]], [[25.0, 33.0], [26.0, 30.0], [22.0, 30.0]]],
                     [[True, True, True], [True, True, False]],
                     boxes=((8.0, 8.0, 40.0, 56.0), (20.0, 28.0, 28.0, 36.0)))
    assert targets.mask[0].tolist() == [1.0, 0.0]
    assert targets.joint_mask[0].tolist() == [[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]  # x = 70 is off the 64-px input
    assert targets.joint_heatmap[0, 0, 8, 6] == 1  # the second object's head
    assert targets.joint_heatmap[0, 1, 7, 6] == 1  # and left hand still peak


def test_a_flipped_sample_swaps_its_left_and_right_joints(tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((64, 64, 3), np.uint8))
    data = {"images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 64}],
            "categories": [{"id": 1, "name": "figure", "keypoints": list(NAMES), "skeleton": [[1, 2]]}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [8, 8, 32, 48], "area": 1536,
                             "iscrowd": 0, "num_keypoints": 2, "keypoints": [24, 10, 2, 0, 0, 0, 36.5, 40.5, 2]}]}
    (tmp_path / "ann.json").write_text(json.dumps(data))
    task = task_for(CENTER_MODEL)
    augment = AugmentConfig(scale=0, shift=0, flip_probability=1.0, color_jitter=0, pca_lighting=0)
    batch = collate([CocoDataset(tmp_path / "ann.json", tmp_path, 64, train=True, augment=augment,
                                 points=task.point_source())[0]], max_objects=1)
    targets = encode_targets_batched(batch.boxes_xyxy, batch.classes, batch.valid, 1, (16, 16), gaussian="round",
                                     step=task.target_step(), points=batch.points,
                                     point_labelled=batch.point_labelled)
    # the right hand at x = 36.5 mirrors to x = 27.5: it is the left hand now, and the right hand is unlabelled
    assert targets.joint_mask[0, 0].tolist() == [1.0, 1.0, 0.0]
    assert targets.joint_heatmap[0, 1, 10, 6] == 1 and targets.joint_heatmap[0, 2].sum() == 0
    assert targets.joint_heatmap[0, 0, 2, 10] == 1  # the head at x = 64 - 24 = 40 -> pixel 10


# --- loss -------------------------------------------------------------------------------------------------------

def test_the_loss_adds_three_joint_terms_and_unlabelled_joints_carry_none():
    targets = encode([[[12.0, 10.0], [30.5, 40.2], [0.0, 0.0]]], [[True, True, False]])
    criterion = build_criterion(task_for(MODEL), LossConfig(joint_weight=2.0))
    assert set(criterion.terms) == {"heatmap", "box", "joints", "joint_heatmap", "joint_offset"}
    assert criterion.terms["joints"][1] == 2.0
    torch.manual_seed(0)
    outputs = {name: torch.randn(1, channels, 16, 16) for name, channels in
               task_for(MODEL).head_layout(2).channels.items()}
    _, stats = criterion(outputs, targets)
    moved = {**outputs, "joints": outputs["joints"].clone()}
    moved["joints"][0, 4:6] += 100.0  # the right hand's (dx, dy) everywhere: it is unlabelled
    _, moved_stats = criterion(moved, targets)
    assert moved_stats["joints_loss"] == stats["joints_loss"]
    moved["joints"][0, 0, 8, 6] += 1.0  # the head's dx at the peak: labelled, one of 4 masked values
    _, moved_stats = criterion(moved, targets)
    assert 0 < abs(moved_stats["joints_loss"] - stats["joints_loss"]) <= 0.25 + 1e-6
    exact = {**outputs, "joints": torch.zeros(1, 6, 16, 16)}
    exact["joints"][0, :, 8, 6] = targets.joint_vector[0, 0].flatten()
    assert criterion(exact, targets)[1]["joints_loss"] == 0


# --- decoding ---------------------------------------------------------------------------------------------------

def hand_built_maps() -> dict[str, torch.Tensor]:
    """One detection at pixel (6, 8) with the center box head: box (2.5, 2.5)-(10.5, 14.5) output pixels; the head
    regressed to (3, 2.5) with a strong peak nearby, the left hand regressed to (7.6, 10) with a strong peak outside
    the box, the right hand regressed to (5, 12) with a weak peak (0.05) next to it."""
    maps = {"heatmap": torch.full((1, 1, 16, 16), -10.0), "size": torch.zeros(1, 2, 16, 16),
            "offset": torch.zeros(1, 2, 16, 16), "joints": torch.zeros(1, 6, 16, 16),
            "joint_heatmap": torch.full((1, 3, 16, 16), -10.0), "joint_offset": torch.zeros(1, 2, 16, 16)}
    maps["heatmap"][0, 0, 8, 6] = 3.0
    maps["size"][0, :, 8, 6] = torch.tensor([8.0, 12.0])
    maps["offset"][0, :, 8, 6] = torch.tensor([0.5, 0.5])
    maps["joints"][0, :, 8, 6] = torch.tensor([-3.0, -5.5, 1.6, 2.0, -1.0, 4.0])
    maps["joint_heatmap"][0, 0, 2, 3] = 2.0
    maps["joint_offset"][0, :, 2, 3] = torch.tensor([0.25, 0.75])
    maps["joint_heatmap"][0, 1, 14, 12] = 4.0
    maps["joint_heatmap"][0, 2, 12, 5] = float(np.log(0.05 / 0.95))
    return maps


def test_decoding_snaps_a_regressed_joint_to_a_strong_peak_inside_the_box_only():
    decoded = task_for(CENTER_MODEL).decode(hand_built_maps(), InferenceConfig(top_k=5), flip_test=False)
    joints, scores = decoded.points["keypoints"][0, 0], decoded.point_scores["keypoints"][0, 0]
    torch.testing.assert_close(joints, torch.tensor([[3.25, 2.75], [7.6, 10.0], [5.0, 12.0]]))
    torch.testing.assert_close(scores[0], torch.sigmoid(torch.tensor(2.0)))
    assert scores[1] < 1e-3  # not snapped: the heatmap's value at the regressed joint
    torch.testing.assert_close(scores[2], torch.tensor(0.05))


def test_without_snapping_every_joint_is_the_regressed_one():
    decoded = task_for(CENTER_MODEL).decode(hand_built_maps(), InferenceConfig(top_k=5, snap_joints=False), False)
    torch.testing.assert_close(decoded.points["keypoints"][0, 0], torch.tensor([[3.0, 2.5], [7.6, 10.0], [5.0, 12.0]]))


def test_a_peak_farther_than_three_tenths_of_the_box_side_does_not_take_the_joint():
    maps = hand_built_maps()
    maps["joints"][0, 0:2, 8, 6] = torch.tensor([-3.0, -2.0])  # the head regressed to (3, 6): 3.29 from the peak
    joints = decode_joints(maps["joints"], maps["joint_heatmap"].sigmoid(), maps["joint_offset"],
                           torch.tensor([[[2.5, 2.5, 10.5, 14.5]]]), torch.tensor([[8 * 16 + 6]]), peaks=5)[0]
    torch.testing.assert_close(joints[0, 0, 0], torch.tensor([3.25, 2.75]))  # 3.29 < 0.3 x 12
    shorter = decode_joints(maps["joints"], maps["joint_heatmap"].sigmoid(), maps["joint_offset"],
                            torch.tensor([[[2.5, 2.5, 10.5, 12.5]]]), torch.tensor([[8 * 16 + 6]]), peaks=5)[0]
    torch.testing.assert_close(shorter[0, 0, 0], torch.tensor([3.0, 6.0]))  # 3.29 > 0.3 x 10


def test_the_flip_merge_reads_the_mirror_with_its_joints_renamed():
    torch.manual_seed(0)
    vectors, heatmap = torch.randn(1, 6, 8, 8), torch.rand(1, 3, 8, 8)
    permutation = torch.tensor([0, 2, 1])
    # the exact mirror: maps flipped, joints renamed, a dx from the mirrored pixel's corner is 1 - dx
    mirror_vectors = vectors.flip(-1).unflatten(1, (3, 2))[:, permutation].clone()
    mirror_vectors[:, :, 0] = 1 - mirror_vectors[:, :, 0]
    mirror = (mirror_vectors.flatten(1, 2), heatmap.flip(-1)[:, permutation])
    merged_vectors, merged_heatmap = merge_flip_joints(torch.cat([vectors, mirror[0]]),
                                                       torch.cat([heatmap, mirror[1]]), permutation)
    torch.testing.assert_close(merged_vectors, vectors)
    torch.testing.assert_close(merged_heatmap, heatmap)


def test_flip_test_decoding_of_a_symmetric_output_keeps_its_joints():
    maps = hand_built_maps()
    decoded = task_for(CENTER_MODEL).decode(maps, InferenceConfig(top_k=5, snap_joints=False), flip_test=False)
    mirror_vectors = maps["joints"].flip(-1).unflatten(1, (3, 2))[:, [0, 2, 1]].clone()
    mirror_vectors[:, :, 0] = 1 - mirror_vectors[:, :, 0]
    both = {name: torch.cat([value, value.flip(-1)]) for name, value in maps.items()}
    both["joints"] = torch.cat([maps["joints"], mirror_vectors.flatten(1, 2)])
    both["joint_heatmap"] = torch.cat([maps["joint_heatmap"], maps["joint_heatmap"].flip(-1)[:, [0, 2, 1]]])
    flipped = task_for(CENTER_MODEL).decode(both, InferenceConfig(top_k=5, snap_joints=False), flip_test=True)
    torch.testing.assert_close(flipped.points["keypoints"][0, 0], decoded.points["keypoints"][0, 0])


# --- overfit ----------------------------------------------------------------------------------------------------

def test_overfits_a_small_batch_until_the_decoded_joints_are_within_one_output_pixel():
    import cv2

    torch.manual_seed(0)
    images = np.full((2, 64, 64, 3), 30, dtype=np.uint8)
    figures = [[[[20, 10], [10, 30], [32, 28]], [[48, 36], [40, 54], [58, 52]]], [[[30, 14], [16, 46], [46, 44]]]]
    boxes = torch.zeros(2, 2, 4)
    points = torch.zeros(2, 2, 3, 2)
    valid = torch.tensor([[True, True], [True, False]])
    for image, image_figures in enumerate(figures):
        for slot, joints in enumerate(image_figures):
            joints = np.array(joints, np.float32)
            cv2.line(images[image], tuple(map(int, joints[0])), tuple(map(int, joints[1])), (230, 80, 80), 3)
            cv2.line(images[image], tuple(map(int, joints[0])), tuple(map(int, joints[2])), (80, 230, 80), 3)
            low, high = joints.min(0) - 3, joints.max(0) + 3
            boxes[image, slot] = torch.tensor([*low, *high])
            points[image, slot] = torch.from_numpy(joints)
    model_config = ModelConfig(arch="resnet18", num_classes=1, task="keypoints", joint_names=NAMES)
    task = task_for(model_config)
    targets = encode_targets_batched(boxes, torch.zeros(2, 2, dtype=torch.int64), valid, 1, (16, 16),
                                     gaussian="elliptical", step=task.target_step(), points=points,
                                     point_labelled=valid[..., None].expand(2, 2, 3))
    model = build_model(model_config)
    criterion = build_criterion(task, LossConfig())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    inputs = torch.from_numpy(images).permute(0, 3, 1, 2)
    for _ in range(150):
        loss, _ = criterion(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.inference_mode():
        decoded = task.decode(model(inputs), InferenceConfig(top_k=5), flip_test=False)
    for image in range(2):
        for slot in valid[image].nonzero().squeeze(1).tolist():
            truth = points[image, slot] / 4  # output pixels
            kept = decoded.scores[image] > 0.3
            found = decoded.points["keypoints"][image][kept]  # (N, K, 2)
            assert len(found), f"image {image} figure {slot} not found"
            assert (found - truth).norm(dim=-1).amax(-1).min() <= 1.0


# --- evaluation -------------------------------------------------------------------------------------------------

def test_oks_sigmas_are_cocos_for_its_person_and_a_constant_otherwise():
    np.testing.assert_allclose(oks_sigmas(COCO_PERSON_JOINTS, ()), np.array(COCO_PERSON_SIGMAS) / 10)
    np.testing.assert_allclose(oks_sigmas(NAMES, ()), [0.07] * 3)
    np.testing.assert_allclose(oks_sigmas(NAMES, (0.1, 0.2, 0.3)), [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="3 joints"):
        oks_sigmas(NAMES, (0.1,))


@pytest.fixture(scope="module")
def keypoint_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("keypoint_set")
    load_script("make_keypoint_shapes").make_keypoint_shapes(out, num_train=6, num_val=3, seed=0)
    return out


def test_keypoint_ap_is_pycocotools_own_with_the_tasks_sigmas(keypoint_set):
    gt_file = keypoint_set / "annotations/val.json"
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(gt_file))
    # results: the ground truth's joints, moved by growing amounts, with falling scores
    rng = np.random.default_rng(0)
    results = []
    for index, annotation in enumerate(coco.dataset["annotations"]):
        joints = np.asarray(annotation["keypoints"], np.float64).reshape(-1, 3)
        joints[:, :2] += rng.normal(0, 1 + index, size=(len(joints), 2))
        joints[:, 2] = 1
        results.append({"image_id": annotation["image_id"], "category_id": 1, "bbox": annotation["bbox"],
                        "score": 1 - index / 100, "keypoints": joints.reshape(-1).round(3).tolist()})
    task = task_for(fit_to_data(ModelConfig(task="keypoints"), coco.dataset["categories"], "val.json"))
    metrics, _ = coco_metrics(coco, results, ["figure"], [1], "keypoints",
                              task.cocoeval_params("keypoints", InferenceConfig()))
    with contextlib.redirect_stdout(io.StringIO()):
        direct = COCOeval(coco, coco.loadRes(copy.deepcopy(results)), "keypoints")
        direct.params.kpt_oks_sigmas = np.full(13, 0.07)
        direct.evaluate()
        direct.accumulate()
        direct.summarize()
    assert list(metrics) == ["AP", "AP50", "AP75", "APm", "APl"]
    assert metrics["AP"] == pytest.approx(direct.stats[0]) and metrics["AP50"] == pytest.approx(direct.stats[1])
    assert 0.05 < metrics["AP"] < 0.95  # neither all hits nor all misses: the sigmas matter


# --- the CLI ----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def keypoint_run(keypoint_set, tmp_path_factory) -> Path:
    from centernet.cli import main

    run = tmp_path_factory.mktemp("keypoint_run") / "run"
    assert main(["train", "--task", "keypoints", "--train-ann", str(keypoint_set / "annotations/train.json"),
                 "--train-images", str(keypoint_set / "train"), "--val-ann", str(keypoint_set / "annotations/val.json"),
                 "--val-images", str(keypoint_set / "val"), "--out", str(run), "--input-size", "64", "--epochs", "1",
                 "--batch-size", "3", "--workers", "0", "--device", "cpu", "--warmup-iters", "1"]) == 0
    return run


def test_training_evaluates_box_and_keypoint_ap_each_epoch(keypoint_run):
    record = json.loads((keypoint_run / "metrics.jsonl").read_text().splitlines()[-1])
    assert "AP" in record and "keypoints_AP" in record and "keypoints_AP50" in record
    assert {"joints", "joint_heatmap", "joint_offset"} <= {name.removesuffix("_loss")
                                                            for name in record["val_losses"]}
    config = json.loads((keypoint_run / "config.json").read_text())
    assert config["model"]["joint_names"][:3] == ["head", "neck", "left_elbow"]
    assert len(config["model"]["skeleton"]) == 12


def test_evaluate_writes_joints_in_cocos_results_format_with_and_without_snapping(keypoint_run, keypoint_set,
                                                                                  tmp_path, capsys):
    from centernet.cli import main

    for name, extra in (("snapped", []), ("regressed", ["--no-snap-joints"])):
        assert main(["evaluate", "--checkpoint", str(keypoint_run / "last.pt"), "--ann",
                     str(keypoint_set / "annotations/val.json"), "--images", str(keypoint_set / "val"),
                     "--device", "cpu", "--out", str(tmp_path / f"{name}.json"), "--score-threshold", "0",
                     "--metrics", str(tmp_path / f"{name}_metrics.json"), *extra]) == 0
    assert "\nkeypoints: AP " in capsys.readouterr().out
    assert "keypoints_AP" in json.loads((tmp_path / "snapped_metrics.json").read_text())
    snapped, regressed = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("snapped", "regressed"))
    assert snapped and {"bbox", "score", "category_id", "keypoints"} <= set(snapped[0])
    assert len(snapped[0]["keypoints"]) == 13 * 3
    assert [result["bbox"] for result in snapped] == [result["bbox"] for result in regressed]


def test_the_predictor_demo_and_export_carry_the_joints(keypoint_run, tmp_path):
    from centernet.apps.video import Frame, detection_record
    from centernet.backends import load_predictor
    from centernet.export import export_checkpoint
    from centernet.predictor import Predictor
    from centernet.viz import draw_detections

    image = np.random.default_rng(0).integers(0, 255, (48, 80, 3), dtype=np.uint8)
    pytorch = Predictor.from_file(keypoint_run / "last.pt", device="cpu", amp="off", score_threshold=0.0)
    found = pytorch([image])[0]
    assert len(found) and found.keypoints.shape == (len(found), 13, 3)
    assert ((found.keypoints[..., 2] >= 0) & (found.keypoints[..., 2] <= 1)).all()
    record = detection_record(Frame(0, None, "x.png", image), found)["detections"][0]
    assert np.asarray(record["keypoints"]).shape == (13, 3)
    drawn = draw_detections(image, found.select(np.arange(1)), draw_extras=pytorch.task.draw)
    boxes_only = draw_detections(image, Detections(found.boxes[:1], found.scores[:1], found.classes[:1],
                                                   found.names[:1]))
    assert (drawn != boxes_only).any(axis=2).sum() > 20  # the skeleton and the joints
    with pytest.raises(CenterNetError, match="--with-decode"):
        export_checkpoint(keypoint_run / "last.pt", tmp_path / "decoded.onnx", with_decode=True)
    onnx = load_predictor(export_checkpoint(keypoint_run / "last.pt", tmp_path / "net.onnx"), "onnxruntime",
                          device="cpu", score_threshold=0.0)
    np.testing.assert_allclose(onnx([image])[0].keypoints[:5], found.keypoints[:5], atol=1e-3)


def test_init_from_a_keypoints_checkpoint_loads_its_joint_heads(keypoint_run):
    from centernet.checkpoint import checkpoint_config, load_checkpoint
    from centernet.engine.init_from import initialise_from

    config = checkpoint_config(load_checkpoint(keypoint_run / "last.pt"), keypoint_run / "last.pt")
    model = build_model(config.model)
    report = initialise_from(model, keypoint_run / "last.pt", ["figure"], config.model)
    assert report.initialised == 0 and report.remapped == 0
    saved = load_checkpoint(keypoint_run / "last.pt")
    weights = saved.get("ema_model", saved["model"])
    for head in ("joints", "joint_heatmap", "joint_offset"):
        torch.testing.assert_close(model.state_dict()[f"heads.{head}.3.weight"], weights[f"heads.{head}.3.weight"])


def test_keypoints_on_a_set_without_joint_names_is_one_clear_line(shapes, tmp_path, capsys):
    from centernet.cli import main

    assert main(["train", "--task", "keypoints", "--train-ann", str(shapes / "annotations/train.json"),
                 "--train-images", str(shapes / "train"), "--out", str(tmp_path / "run"), "--epochs", "1",
                 "--input-size", "64", "--device", "cpu", "--workers", "0"]) != 0
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == [f"centernet train: error: {shapes / 'annotations/train.json'}: no category lists its "
                      "`keypoints` (joint names), which --task keypoints needs"]


# --- the reference's multi_pose checkpoints -----------------------------------------------------------------------

def test_a_multi_pose_checkpoint_converts_into_a_keypoints_checkpoint_of_cocos_person(tmp_path):
    import dataclasses

    from centernet.checkpoint import checkpoint_config, load_checkpoint
    from tests.test_backbones import reference_name

    converter = load_script("convert_reference_checkpoint")
    torch.manual_seed(0)
    ours = build_model(dataclasses.replace(converter.reference_model_config("resnet18", 1, 64, COCO_PERSON_JOINTS),
                                           neck_channels=(256, 256, 256))).state_dict()
    original = {}
    for name, tensor in ours.items():
        if not name.endswith("num_batches_tracked"):
            for head, theirs in (("heads.joints.", "hps."), ("heads.joint_heatmap.", "hm_hp."),
                                 ("heads.joint_offset.", "hp_offset.")):
                name = name.replace(head, theirs)
            original[reference_name(name, "resnet18")] = tensor.clone()
    assert {"hps.2.weight", "hm_hp.2.weight", "hp_offset.2.weight"} <= set(original)
    torch.save({"epoch": 320, "state_dict": original}, tmp_path / "multi_pose.pth")
    assert converter.main([str(tmp_path / "multi_pose.pth"), str(tmp_path / "pose.pt"), "--arch", "resnet18",
                           "--classes", "person"]) == 0
    state = load_checkpoint(tmp_path / "pose.pt")
    config = checkpoint_config(state, tmp_path / "pose.pt")
    assert config.model.task == "keypoints" and config.model.joint_names == COCO_PERSON_JOINTS
    assert (15, 13) in config.model.skeleton and state["class_names"] == ["person"]
    torch.testing.assert_close(state["model"]["heads.joints.2.weight"], ours["heads.joints.2.weight"])
    assert task_for(config.model).flip_pairs is None  # COCO's left_* / right_* names pair themselves
    assert converter.main([str(tmp_path / "multi_pose.pth"), str(tmp_path / "coco.pt"), "--arch", "resnet18",
                           "--classes", "coco"]) == 1  # 80 classes named for a one-class network
