"""`centernet demo` end to end on tiny videos and images: outputs, JSON consistent with the Predictor, errors,
Ctrl-C, the report and the example strip. A small overfit ResNet-18 checkpoint at 64 px input keeps it fast."""

import json
import os
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from centernet.apps import video
from centernet.checkpoint import save_checkpoint
from centernet.cli import main
from centernet.config import Config, DataConfig, LossConfig, ModelConfig, config_to_dict, reference_neck_channels
from centernet.data.transforms import letterbox_affine, transform_boxes, warp_image
from centernet.predictor import Predictor
from centernet.targets import encode_targets_batched
from centernet.tasks import build, build_criterion, build_model, task_for
from centernet.viz import frame_strip

CLASS_NAMES = ["square", "bar"]
FRAME_COUNT, FRAME_WIDTH, FRAME_HEIGHT, FPS = 12, 96, 80, 10.0
THRESHOLD = "0.2"  # well above the 0.1 prior of untrained heads and below the overfit objects


def training_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three 64x64 images with bright rectangles: class 0 squares, class 1 wide bars."""
    images = torch.full((3, 3, 64, 64), 30, dtype=torch.uint8)
    boxes = torch.tensor([[[8.0, 8, 28, 28], [30, 40, 62, 52]], [[36, 6, 56, 26], [2, 44, 34, 56]],
                          [[20, 20, 44, 44], [0, 0, 0, 0]]])
    classes = torch.tensor([[0, 1], [0, 1], [0, 0]])
    valid = torch.tensor([[True, True], [True, True], [True, False]])
    for image, image_boxes, image_valid in zip(images, boxes.long(), valid, strict=True):
        for (x1, y1, x2, y2), keep in zip(image_boxes.tolist(), image_valid, strict=True):
            if keep:
                image[:, y1:y2, x1:x2] = 230
    return images, boxes, classes, valid


def overfit_checkpoint(model, criterion, images, targets, config: Config, lr: float, path: Path) -> Path:
    """24 Adam steps of `model` on one batch (uint8 images: the model normalises them), saved at `path` shaped
    like train.py's `inference_checkpoint` (best.pt)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(24):
        loss, _ = criterion(model(images), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    save_checkpoint(path, {"model": model.state_dict(), "epoch": 1, "step": 24, "config": config_to_dict(config),
                           "class_names": CLASS_NAMES, "category_ids": [1, 2]})
    return path


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """A checkpoint shaped like train.py's `inference_checkpoint` (best.pt), of a model overfit for a few steps."""
    torch.manual_seed(0)
    config = Config(model=ModelConfig(arch="resnet18", num_classes=2, box_head="center", neck_shortcuts=False,
                                      neck_channels=reference_neck_channels("resnet18")),
                    data=DataConfig(input_size=64))
    images, boxes, classes, valid = training_batch()
    task = task_for(config.model)
    targets = encode_targets_batched(boxes, classes, valid, 2, (16, 16), gaussian="round", step=task.target_step())
    model = build_model(config.model, config.data)
    return overfit_checkpoint(model, build_criterion(task, LossConfig()), images, targets, config, 1e-3,
                              tmp_path_factory.mktemp("checkpoint") / "best.pt")


def synthetic_frame(index: int) -> np.ndarray:
    """(80, 96, 3) uint8 BGR: a square and a bar moving right on a dark background."""
    frame = np.full((FRAME_HEIGHT, FRAME_WIDTH, 3), 30, dtype=np.uint8)
    frame[10:40, 4 + 3 * index:34 + 3 * index] = 230
    frame[55:70, 40 - 2 * index:90 - 2 * index] = 230
    return frame


def write_video(path: Path, fourcc: str = "MJPG", frame_count: int = FRAME_COUNT) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, (FRAME_WIDTH, FRAME_HEIGHT))
    if not writer.isOpened():
        pytest.skip(f"this OpenCV build cannot write {fourcc}")
    for index in range(frame_count):
        writer.write(synthetic_frame(index))
    writer.release()
    return path


@pytest.fixture(scope="session")
def input_video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "moving.avi")


def read_frames_rgb(path: Path) -> tuple[list[np.ndarray], float]:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), path
    frames, fps = [], capture.get(cv2.CAP_PROP_FPS)
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames, fps


def run_demo(checkpoint: Path, source: Path | str, *options: str) -> int:
    return main(["demo", "--checkpoint", str(checkpoint), "--input", str(source), "--device", "cpu",
                 "--score-threshold", THRESHOLD, *options])


def read_json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_same_detections(record: dict, expected, class_names: list[str]) -> None:
    assert len(record["detections"]) == len(expected), (record, expected)
    if len(expected) == 0:
        return
    boxes = np.array([found["box"] for found in record["detections"]])
    scores = np.array([found["score"] for found in record["detections"]])
    np.testing.assert_allclose(boxes, expected.boxes, atol=1e-4)
    np.testing.assert_allclose(scores, expected.scores, atol=1e-4)
    assert [found["class_index"] for found in record["detections"]] == expected.classes.tolist()
    assert [found["class"] for found in record["detections"]] == [class_names[i] for i in expected.classes]


def test_video_demo_writes_video_json_report_and_strip_consistent_with_the_predictor(
        checkpoint, input_video, tmp_path, capsys):
    output, lines, strip = tmp_path / "annotated.avi", tmp_path / "detections.jsonl", tmp_path / "strip.png"
    assert run_demo(checkpoint, input_video, "--output", str(output), "--json", str(lines), "--batch-size", "5",
                    "--strip", str(strip), "--tensorboard", str(tmp_path / "run")) == 0
    written, written_fps = read_frames_rgb(output)
    assert len(written) == FRAME_COUNT and written_fps == pytest.approx(FPS)
    assert written[0].shape == (FRAME_HEIGHT, FRAME_WIDTH, 3)
    records = read_json_lines(lines)
    assert [record["frame"] for record in records] == list(range(FRAME_COUNT))
    assert [record["timestamp"] for record in records] == pytest.approx([i / FPS for i in range(FRAME_COUNT)])
    predictor = Predictor.from_file(checkpoint, device="cpu", score_threshold=float(THRESHOLD))
    decoded, _ = read_frames_rgb(input_video)
    for record, frame in zip(records, decoded, strict=True):
        assert_same_detections(record, predictor([frame])[0], CLASS_NAMES)
    assert sum(len(record["detections"]) for record in records) > 0, "nothing detected: the check is vacuous"
    report = capsys.readouterr().out
    assert f"demo: {FRAME_COUNT} frames" in report and "FPS end to end" in report and "FPS network only" in report
    for stage in ("read/decode", "preprocess", "network", "postprocess", "draw/write"):
        assert stage in report
    strip_image = cv2.imread(str(strip))
    assert strip_image.shape[0] == 240 and strip_image.shape[1] > 4 * 240
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "run"))


def test_mp4_output_keeps_frame_count_size_and_rate(checkpoint, tmp_path):
    source = write_video(tmp_path / "moving.mp4", "mp4v", frame_count=6)
    output = tmp_path / "annotated.mp4"
    assert run_demo(checkpoint, source, "--output", str(output)) == 0
    written, written_fps = read_frames_rgb(output)
    assert len(written) == 6 and written_fps == pytest.approx(FPS)
    assert written[0].shape == (FRAME_HEIGHT, FRAME_WIDTH, 3)


def test_image_and_folder_inputs_write_annotated_images_under_the_same_names(checkpoint, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "b.png"), synthetic_frame(0))
    cv2.imwrite(str(images / "a.jpg"), synthetic_frame(5)[:64])
    (images / "notes.txt").write_text("not an image, ignored")
    lines = tmp_path / "images.jsonl"
    assert run_demo(checkpoint, images, "--output", str(tmp_path / "out"), "--json", str(lines)) == 0
    assert sorted(os.listdir(tmp_path / "out")) == ["a.jpg", "b.png"]
    assert cv2.imread(str(tmp_path / "out" / "a.jpg")).shape == (64, FRAME_WIDTH, 3)
    records = read_json_lines(lines)
    assert [(record["frame"], record["source"], record["timestamp"]) for record in records] == [
        (0, "a.jpg", None), (1, "b.png", None)]
    assert run_demo(checkpoint, images / "b.png", "--output", str(tmp_path / "single")) == 0
    assert os.listdir(tmp_path / "single") == ["b.png"]
    assert cv2.imread(str(tmp_path / "single" / "b.png")).shape == (FRAME_HEIGHT, FRAME_WIDTH, 3)


def bad_inputs(tmp_path: Path, input_video: Path) -> dict[str, tuple[list[str], Path]]:
    """Name -> (demo options, the path the one-line message must name)."""
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    bad_image = tmp_path / "broken.png"
    bad_image.write_text("this is not an image")
    empty_video = write_video(tmp_path / "empty.avi", frame_count=0)
    return {
        "missing video": (["--input", str(tmp_path / "missing.mp4")], tmp_path / "missing.mp4"),
        "text renamed .mp4": (["--input", str(text)], text),
        "zero-frame video": (["--input", str(empty_video)], empty_video),
        "unreadable image": (["--input", str(bad_image)], bad_image),
        "output folder missing": (["--input", str(input_video), "--output", str(tmp_path / "no" / "out.avi")],
                                  tmp_path / "no" / "out.avi"),
        "unknown output suffix": (["--input", str(input_video), "--output", str(tmp_path / "out.mkv")],
                                  tmp_path / "out.mkv"),
        "json folder missing": (["--input", str(input_video), "--json", str(tmp_path / "no" / "d.jsonl")],
                                tmp_path / "no" / "d.jsonl"),
    }


@pytest.mark.parametrize("case", ["missing video", "text renamed .mp4", "zero-frame video", "unreadable image",
                                  "output folder missing", "unknown output suffix", "json folder missing"])
def test_bad_input_or_output_is_a_one_line_error_naming_the_path(case, checkpoint, input_video, tmp_path, capsys):
    options, path = bad_inputs(tmp_path, input_video)[case]
    assert main(["demo", "--checkpoint", str(checkpoint), "--device", "cpu", *options]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and str(path) in captured.err, captured.err
    assert captured.out == ""  # failed before any work: no report
    assert not (tmp_path / "out.mkv").exists()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores folder permissions")
def test_output_folder_without_permission_is_a_one_line_error(checkpoint, input_video, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert run_demo(checkpoint, input_video, "--output", str(locked / "out.avi")) == 2
    assert "no permission" in capsys.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the display check reads DISPLAY on Linux")
def test_show_without_a_display_is_a_one_line_error(checkpoint, input_video, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert run_demo(checkpoint, input_video, "--show") == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--show" in error


def test_ctrl_c_mid_run_leaves_a_readable_video_with_the_frames_so_far(checkpoint, input_video, tmp_path,
                                                                      monkeypatch, capsys):
    write = video.VideoSink.write
    calls = []

    def write_then_interrupt(sink, frame, image_rgb):
        calls.append(frame.index)
        if len(calls) == 7:
            raise KeyboardInterrupt
        write(sink, frame, image_rgb)

    monkeypatch.setattr(video.VideoSink, "write", write_then_interrupt)
    output, lines = tmp_path / "interrupted.avi", tmp_path / "interrupted.jsonl"
    assert run_demo(checkpoint, input_video, "--output", str(output), "--json", str(lines), "--batch-size", "4") == 130
    written, written_fps = read_frames_rgb(output)
    assert len(written) == 6 and written_fps == pytest.approx(FPS)
    assert [record["frame"] for record in read_json_lines(lines)] == list(range(6))
    assert "interrupted" in capsys.readouterr().err


def test_truncated_video_warns_with_the_frame_index_and_keeps_what_decodes(checkpoint, input_video, tmp_path,
                                                                          capsys):
    truncated = tmp_path / "truncated.avi"
    data = input_video.read_bytes()
    truncated.write_bytes(data[: len(data) * 6 // 10])
    decodable, _ = read_frames_rgb(truncated)
    if not 0 < len(decodable) < FRAME_COUNT:
        pytest.skip("this OpenCV build reads truncated AVI files differently")
    output = tmp_path / "annotated.avi"
    assert run_demo(checkpoint, truncated, "--output", str(output)) == 0
    assert len(read_frames_rgb(output)[0]) == len(decodable)
    assert f"frame {len(decodable)} of {truncated} cannot be decoded" in capsys.readouterr().err


def test_frame_strip_scales_frames_to_one_height_side_by_side():
    frames = [np.zeros((80, 96, 3), np.uint8), np.full((480, 640, 3), 200, np.uint8)]
    strip = frame_strip(frames, height=120, gap=4)
    assert strip.shape == (120, 144 + 4 + 160, 3) and strip.dtype == np.uint8
    assert (strip[:, 144:148] == 255).all() and (strip[:, 148:] == 200).all()
    with pytest.raises(ValueError):
        frame_strip([])


# --- the frame's aspect ratio ---------------------------------------------------------------------------------

WIDE_WIDTH, WIDE_HEIGHT, WIDE_FRAMES = 128, 72, 8  # 16:9


def wide_frame(index: int) -> tuple[np.ndarray, np.ndarray]:
    """(72, 128, 3) uint8 BGR frame of a 16:9 clip, a square and a bar moving on a dark background, and their
    (2, 4) boxes (x1, y1, x2, y2) in frame pixels, square first."""
    frame = np.full((WIDE_HEIGHT, WIDE_WIDTH, 3), 30, dtype=np.uint8)
    boxes = np.array([[6 + 6 * index, 8, 30 + 6 * index, 32], [84 - 5 * index, 46, 124 - 5 * index, 60]], np.float32)
    for x1, y1, x2, y2 in boxes.astype(int):
        frame[y1:y2, x1:x2] = 230
    return frame, boxes


@pytest.fixture(scope="session")
def square_trained_checkpoint(tmp_path_factory) -> Path:
    """A checkpoint of the default architecture (ltrb head, neck shortcuts) trained on squares only: a few steps on
    the clip's frames letterboxed into 128 x 128, as validation letterboxes them."""
    torch.manual_seed(0)
    config = Config(model=ModelConfig(arch="resnet18", num_classes=2), data=DataConfig(input_size=128))
    affine, _ = letterbox_affine(WIDE_WIDTH, WIDE_HEIGHT, 128)
    frames = [wide_frame(index) for index in range(0, WIDE_FRAMES, 2)]
    images = torch.stack([torch.from_numpy(warp_image(frame, affine, 128)).permute(2, 0, 1) for frame, _ in frames])
    boxes = torch.stack([torch.from_numpy(transform_boxes(boxes, affine, 128)[0]) for _, boxes in frames])
    classes, valid = torch.tensor([[0, 1]] * len(frames)), torch.ones(len(frames), 2, dtype=torch.bool)
    parts = build(config)  # the ltrb head's model, criterion and target encoder (elliptical Gaussians), as training's
    return overfit_checkpoint(parts.model, parts.criterion, images, parts.encoder(boxes, classes, valid), config, 2e-3,
                              tmp_path_factory.mktemp("square_trained") / "best.pt")


def test_the_demo_runs_a_16_9_clip_at_its_aspect_ratio_with_the_detections_of_the_square_letterbox(
        square_trained_checkpoint, tmp_path, capsys):
    clip = tmp_path / "wide.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (WIDE_WIDTH, WIDE_HEIGHT))
    for index in range(WIDE_FRAMES):
        writer.write(wide_frame(index)[0])
    writer.release()
    runs = {}
    for name, options in (("aspect", []), ("square", ["--input-size", "128"])):
        lines = tmp_path / f"{name}.jsonl"
        assert run_demo(square_trained_checkpoint, clip, "--json", str(lines), "--score-threshold", "0.2",
                        *options) == 0
        runs[name] = read_json_lines(lines)
    report = capsys.readouterr().out
    # both runs report their speed; 128 x 72 frames run at 128 x 96 (72 up to a multiple of 32), not 128 x 128
    assert re.search(r"FPS end to end, [\d.]+ FPS network only \(batch 4, input 128x96,", report)
    assert re.search(r"FPS end to end, [\d.]+ FPS network only \(batch 4, input 128x128,", report)
    matched = 0
    for aspect, square in zip(runs["aspect"], runs["square"], strict=True):
        for ours, theirs in ((aspect, square), (square, aspect)):
            for name in CLASS_NAMES:
                # each class's best detection; weaker ones may swap places with a neighbouring peak of equal score
                found = max((item for item in ours["detections"] if item["class"] == name),
                            key=lambda item: item["score"], default=None)
                if found is None or found["score"] < 0.3:  # a partner may lie below the 0.2 threshold
                    continue
                assert any(partner["class"] == name and abs(partner["score"] - found["score"]) < 0.03
                           and np.abs(np.subtract(partner["box"], found["box"])).max() <= 2.0
                           for partner in theirs["detections"]), (found, theirs)
                matched += 1
    assert matched >= WIDE_FRAMES, "too few detections: the comparison is vacuous"
