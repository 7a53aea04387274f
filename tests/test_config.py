"""The config tree: defaults, versioned loading of older configs, and a checkpoint of release 0.1.0 (config
version 1) that still loads and predicts the same (tests/fixtures/v1, made by make_v1_fixture.py there)."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from centernet.config import CONFIG_VERSION, Config, config_from_dict, config_to_dict, upgrade_config_dict
from centernet.data.images import read_image_rgb
from centernet.predictor import Predictor

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "v1"


def test_a_config_round_trips_through_its_dict():
    config = Config()
    assert config_to_dict(config)["version"] == CONFIG_VERSION
    assert config_from_dict(json.loads(json.dumps(config_to_dict(config)))) == config


def test_a_version_1_config_loads_with_renamed_fields_mapped():
    saved = json.loads((FIXTURE / "config.json").read_text())
    assert "version" not in saved and saved["loss"]["heatmap"] == "quality_focal"  # release 0.1.0's layout
    config = config_from_dict(saved)
    assert config.version == CONFIG_VERSION
    assert config.loss.heatmap_loss == "quality_focal" and config.loss.size_weight == 0.2
    assert config.data.augment.flip_probability == 0.0 and config.data.input_size == 64
    assert config.train.out == "runs/v1" and config.model.num_classes == 2
    # fields added since take the values that reproduce 0.1.0's behaviour, not today's defaults
    assert (config.model.box_head, config.model.neck_shortcuts, config.loss.gaussian, config.train.ema) == (
        "center", False, "round", False)
    assert (config.train.lr, config.train.schedule, config.train.warmup_iters) == (1.25e-4, "step", 0)  # as saved


def test_upgrading_does_not_touch_the_saved_dict():
    saved = json.loads((FIXTURE / "config.json").read_text())
    upgrade_config_dict(saved)
    assert saved == json.loads((FIXTURE / "config.json").read_text())


def test_unknown_versions_and_fields_are_errors():
    with pytest.raises(ValueError, match="config version 99"):
        config_from_dict({"version": 99})
    with pytest.raises(ValueError, match="unknown LossConfig fields"):
        config_from_dict({"version": CONFIG_VERSION, "loss": {"focal_gamma": 2.0}})


def test_a_release_0_1_checkpoint_loads_and_predicts_the_same(tmp_path):
    checkpoint = tmp_path / "last.pt"
    checkpoint.write_bytes(gzip.decompress((FIXTURE / "last.pt.gz").read_bytes()))
    expected = json.loads((FIXTURE / "predictions.json").read_text())
    predictor = Predictor.from_file(checkpoint, device="cpu")
    assert predictor.class_names == ["block", "other"] and predictor.category_ids == [3, 8]
    detections = predictor([read_image_rgb(FIXTURE / "image.png")])[0]
    np.testing.assert_allclose(detections.scores, expected["scores"], atol=1e-5)
    np.testing.assert_allclose(detections.boxes_xyxy, expected["boxes_xyxy"], atol=1e-3)
    np.testing.assert_array_equal(detections.classes, expected["classes"])
