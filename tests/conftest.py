"""Shared fixtures: a tiny synthetic shapes dataset made on the fly (nothing is downloaded)."""

import importlib.util
import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

# Tests share 2 cores with data-loader workers and subprocesses: one intra-op thread avoids oversubscription.
torch.set_num_threads(1)


def load_script(name: str):
    """Import scripts/NAME.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses in the script look their module up here
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def shapes(tmp_path_factory) -> Path:
    """16 training and 8 validation images of 64 px with COCO annotations (category ids 1, 3, 7)."""
    out = tmp_path_factory.mktemp("shapes")
    load_script("make_shapes").make_shapes(out, num_train=16, num_val=8, image_size=64, seed=0)
    return out


def subprocess_env() -> dict[str, str]:
    """Environment for child processes: one thread each, the package importable from the checkout."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.pop("CENTERNET_DEBUG", None)
    return env


@pytest.fixture(scope="session")
def ema_run(shapes, tmp_path_factory) -> Path:
    """A 1-epoch run with --ema and the ltrb head, validated once (so best.pt is its last epoch)."""
    from centernet.cli import main

    out = tmp_path_factory.mktemp("ema_run")
    assert main(["train", "--train-ann", str(shapes / "annotations/train.json"), "--train-images",
                 str(shapes / "train"), "--val-ann", str(shapes / "annotations/val.json"), "--val-images",
                 str(shapes / "val"), "--out", str(out), "--input-size", "64", "--epochs", "1", "--batch-size", "4",
                 "--lr", "1e-3", "--workers", "0", "--device", "cpu", "--ema", "--ema-ramp", "2",
                 "--box-head", "ltrb", "--gaussian", "elliptical"]) == 0
    return out


@pytest.fixture(scope="session")
def trained_shapes(shapes, tmp_path_factory) -> Path:
    """A run of the default recipe trained to non-trivial AP on the 16 training images of `shapes` and validated on
    them (64 px, batch 4, no augmentation, 20 epochs on CPU; about 20 s): a detector to fine-tune from."""
    from centernet.cli import main

    out = tmp_path_factory.mktemp("trained_shapes")
    train = [str(shapes / "annotations/train.json"), str(shapes / "train")]
    assert main(["train", "--train-ann", train[0], "--train-images", train[1], "--val-ann", train[0],
                 "--val-images", train[1], "--out", str(out), "--input-size", "64", "--epochs", "20",
                 "--batch-size", "4", "--lr", "1e-2", "--warmup-iters", "8", "--scale", "0", "--shift", "0",
                 "--flip-probability", "0", "--color-jitter", "0", "--pca-lighting", "0", "--workers", "0",
                 "--device", "cpu", "--eval-interval", "20"]) == 0
    return out
