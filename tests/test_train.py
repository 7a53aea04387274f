"""Training end to end on CPU: run directory, TensorBoard tags, evaluation json, kill + resume, DDP (gloo)."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing
from pycocotools.coco import COCO
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import centernet
from centernet.checkpoint import load_checkpoint
from centernet.cli import main
from centernet.engine.logger import PACKAGE, source_commit
from centernet.predictor import Predictor
from tests.conftest import ROOT, subprocess_env
from tests.replicas_worker import check_replicas


def train_args(shapes: Path, out: Path, *extra: str, epochs: int = 2) -> list[str]:
    return ["train", "--train-ann", str(shapes / "annotations/train.json"), "--train-images", str(shapes / "train"),
            "--val-ann", str(shapes / "annotations/val.json"), "--val-images", str(shapes / "val"),
            "--out", str(out), "--input-size", "64", "--epochs", str(epochs), "--batch-size", "4", "--lr", "1e-3",
            "--workers", "0", "--device", "cpu", "--log-interval", "1", *extra]


@pytest.fixture(scope="module")
def trained_run(shapes, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    assert main(train_args(shapes, out)) == 0
    return out


def test_run_directory_holds_config_checkpoints_metrics_and_events(trained_run):
    config = json.loads((trained_run / "config.json").read_text())
    assert config["model"]["num_classes"] == 3 and config["data"]["input_size"] == [64, 64]  # width, height
    lines = (trained_run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2
    record = json.loads(lines[-1])
    assert record["epoch"] == 2 and set(record["per_class_ap"]) == {"circle", "square", "triangle"}
    for name in ("AP", "AP50", "AP75", "APs"):
        assert 0.0 <= record[name] <= 1.0
    # every object of 64 px images is small (area < 32^2): COCOeval's -1 for medium and large is undefined
    assert record["APm"] is None and record["APl"] is None
    last = torch.load(trained_run / "last.pt", weights_only=True)
    assert {"model", "optimizer", "scaler", "epoch", "step", "best_ap", "config", "class_names",
            "category_ids"} <= set(last)
    assert last["epoch"] == 2
    assert load_checkpoint(trained_run / "last.pt")["epoch"] == 2


def test_best_checkpoint_holds_what_inference_needs_and_last_what_resume_needs(trained_run):
    best = torch.load(trained_run / "best.pt", weights_only=True)
    assert set(best) == {"model", "epoch", "step", "config", "class_names", "category_ids"}
    assert (trained_run / "best.pt").stat().st_size < 0.6 * (trained_run / "last.pt").stat().st_size  # no Adam moments
    predictor = Predictor.from_file(trained_run / "best.pt", device="cpu")
    assert predictor.class_names == ["circle", "square", "triangle"]


def test_tensorboard_events_read_back_with_the_expected_tags(trained_run):
    events = EventAccumulator(str(trained_run), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    expected = {"train/loss", "train/heatmap_loss", "train/box_loss", "train/lr", "val/AP",
                "val/AP50", "val/loss", "val/heatmap_loss", "val_ap_per_class/circle", "val_auroc_per_class/circle"}
    assert expected <= scalars, expected - scalars
    assert len(events.Scalars("train/loss")) == 8  # 2 epochs x 4 steps, logged every step
    assert {"val_examples/0", "val_examples/3"} <= set(events.Tags()["images"])


def test_evaluate_writes_coco_results_that_pycocotools_loads(trained_run, shapes, tmp_path, capsys):
    out, metrics = tmp_path / "detections.json", tmp_path / "metrics.json"
    assert main(["evaluate", "--checkpoint", str(trained_run / "last.pt"),
                 "--ann", str(shapes / "annotations/val.json"), "--images", str(shapes / "val"),
                 "--out", str(out), "--metrics", str(metrics), "--workers", "0", "--device", "cpu", "--flip"]) == 0
    results = json.loads(out.read_text())
    assert results, "an untrained model still scores its top-K peaks above the 0.01 threshold"
    assert all(set(result) == {"image_id", "category_id", "bbox", "score"} for result in results)
    ground_truth = COCO(str(shapes / "annotations/val.json"))
    loaded = ground_truth.loadRes(str(out))
    assert {a["category_id"] for a in loaded.dataset["annotations"]} <= {1, 3, 7}
    scores = json.loads(metrics.read_text())
    assert {"AP", "AP50", "AP75", "APs", "APm", "APl", "per_class_ap", "per_class_auroc"} <= set(scores)
    assert all(0.0 <= value <= 1.0 for value in scores["per_class_auroc"].values())
    assert "AP50" in capsys.readouterr().out


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "centernet.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=subprocess_env(), cwd=ROOT)


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    """The trained and the averaged (EMA) weights of a run's last.pt, keyed "model.<name>", "ema_model.<name>"."""
    state = torch.load(run / "last.pt", weights_only=True)
    return {f"{part}.{name}": value for part in ("model", "ema_model") for name, value in state[part].items()}


def test_a_killed_run_resumes_to_the_same_weights_as_an_uninterrupted_one(shapes, tmp_path):
    """With the default augmentation, colour included: its parameters come from each sample's own generator in the
    workers and are applied in the train step, so a resumed run draws and applies the same."""
    epochs = 4
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    options = ("--ema",)
    assert run_cli(*train_args(shapes, whole, *options, epochs=epochs)).returncode == 0
    process = subprocess.Popen([sys.executable, "-m", "centernet.cli", *train_args(shapes, killed, *options,
                                                                                   epochs=epochs)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=subprocess_env(), cwd=ROOT)
    deadline = time.monotonic() + 240
    while not (killed / "last.pt").exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert load_checkpoint(killed / "last.pt")["epoch"] < epochs
    resumed = run_cli(*train_args(shapes, killed, *options, "--resume", epochs=epochs))
    assert resumed.returncode == 0, resumed.stderr
    for name, value in final_weights(whole).items():
        assert torch.equal(value, final_weights(killed)[name]), name


def test_two_process_gloo_ddp_keeps_replicas_identical(shapes, tmp_path):
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "centernet.cli", *train_args(shapes, out, epochs=2)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=subprocess_env(), cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "epoch 2: 2 replicas in sync" in result.stdout + result.stderr
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2  # only rank 0 writes


def test_replicas_in_sync_compares_every_parameter_and_buffer_element(tmp_path, monkeypatch):
    """`replicas_in_sync` in two gloo processes (tests/replicas_worker.py), answered alike on both ranks: True
    for identical models; False when rank 1 differs in one BatchNorm running_mean element (a buffer), or has
    two weight elements swapped (every sum unchanged). The exemption of a DistributedDataParallel model's
    buffers is exercised by `test_two_process_gloo_ddp_keeps_replicas_identical`."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the spawned ranks inherit it: one thread each
    torch.multiprocessing.spawn(check_replicas, args=(2, str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=2)
    expected = {"identical": True, "buffer_element_differs": False, "weight_elements_swapped": False}
    for rank in (0, 1):
        assert json.loads((tmp_path / f"rank{rank}.json").read_text()) == expected, f"rank {rank}"


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=folder, check=True,
                          capture_output=True, text=True).stdout.strip()


def test_a_run_records_its_commit_and_whether_any_file_of_the_package_changed(tmp_path):
    assert Path(centernet.__file__).resolve().parent == PACKAGE  # the whole package, not the engine folder
    package = tmp_path / "pkg"
    (package / "engine").mkdir(parents=True)
    (package / "config.py").write_text("A = 1\n")
    (package / "engine" / "logger.py").write_text("B = 1\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "start")
    head = git(tmp_path, "rev-parse", "--short", "HEAD")
    assert source_commit(package) == head
    (package / "config.py").write_text("A = 2\n")  # a file outside the logger's own folder
    assert source_commit(package) == head + "+changes"
    (package / "notes.txt").write_text("untracked files do not count\n")
    (package / "config.py").write_text("A = 1\n")
    assert source_commit(package) == head
    assert source_commit(tmp_path / "elsewhere") is None  # not a checkout (cwd missing): no commit
