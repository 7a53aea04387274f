"""Checkpoints: written atomically, read with `torch.load(weights_only=True)` so they never run code."""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from centernet.config import Config, config_from_dict
from centernet.errors import CheckpointError

REQUIRED_KEYS = ("model", "config", "class_names", "category_ids")


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write `state` to `path` via a temporary file in the same folder and an atomic rename.

    A run killed while saving leaves the previous checkpoint intact, never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(state, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a centernet checkpoint safely; every failure is a one-line CheckpointError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        if not zipfile.is_zipfile(path):
            raise CheckpointError(f"cannot read checkpoint {path}: not a file written by torch.save") from None
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"refusing to load {path}: it holds objects that would run code when unpickled "
                              f"({first_line})") from None
    except Exception as error:  # torch raises RuntimeError, EOFError, zipfile errors... for damaged files
        raise CheckpointError(f"cannot read checkpoint {path}: {type(error).__name__}: {error}") from None
    if not isinstance(state, dict) or any(key not in state for key in REQUIRED_KEYS):
        raise CheckpointError(f"{path} is not a centernet checkpoint (expected keys {', '.join(REQUIRED_KEYS)})")
    return state


def checkpoint_config(state: dict[str, Any], path: str | os.PathLike = "checkpoint") -> Config:
    """The Config saved in a checkpoint."""
    try:
        return config_from_dict(state["config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: its config does not fit this version of centernet ({error})") from None
