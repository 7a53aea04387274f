"""The config tree: defaults, versioned loading of older configs, and a checkpoint of release 0.1.0 (config
version 1) that still loads and predicts the same (tests/fixtures/v1, made by make_v1_fixture.py there)."""

import dataclasses
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from centernet.config import (
    CONFIG_VERSION,
    MIGRATIONS,
    Config,
    DataConfig,
    InferenceConfig,
    ModelConfig,
    _pop_path,
    check_input_size,
    config_from_dict,
    config_to_dict,
    frame_input_size,
    scaled_input_size,
    upgrade_config_dict,
)
from centernet.data.images import read_image_rgb
from centernet.predictor import Predictor
from centernet.tasks import build_model

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
    # one side of 0.1.0 (and config version 2) is a square: (width, height) since version 3
    assert config.data.augment.flip_probability == 0.0 and config.data.input_size == (64, 64)
    assert config.data.output_size == (16, 16)
    assert config.train.out == "runs/v1" and config.model.num_classes == 2
    # fields added since take the values that reproduce 0.1.0's behaviour, not today's defaults
    assert (config.model.box_head, config.model.neck_shortcuts, config.loss.gaussian, config.train.ema) == (
        "center", False, "round", False)
    assert config.model.neck_channels == (256, 256, 256)  # 0.1.0's plain ResNet up path
    assert (config.train.lr, config.train.schedule, config.train.warmup_iters) == (1.25e-4, "step", 0)  # as saved
    assert (config.train.init_from, config.inference.test_scales) == (None, (1.0,))  # no fine-tuning, one test scale


def saved_at(version: int) -> dict:
    """Today's default config as a config of `version` would hold it: without the fields added since."""
    saved = config_to_dict(Config())
    saved.update(version=version)
    for step in range(version, CONFIG_VERSION):
        for path in MIGRATIONS[step]["added"]:
            _pop_path(saved, path)
    return saved


def test_a_version_9_config_keeps_one_pixel_peaks_for_small_objects():
    saved = saved_at(9)
    assert "gaussian_min_radius" not in saved["loss"]
    assert config_from_dict(saved).loss.gaussian_min_radius == 0  # the default since version 10 is 1
    saved["loss"]["gaussian_min_radius"] = 2  # a version-9 config that already had the option keeps its value
    assert config_from_dict(saved).loss.gaussian_min_radius == 2
    assert Config().loss.gaussian_min_radius == 1


def test_a_version_10_config_trains_without_copy_paste():
    saved = saved_at(10)
    assert "copy_paste" not in saved["data"]["augment"]
    assert config_from_dict(saved).data.augment.copy_paste == 0.0  # the default since version 11 is 1.0
    saved["data"]["augment"].update(copy_paste=0.3, plain_last_epochs=1)  # a config that had the options keeps them
    loaded = config_from_dict(saved).data.augment
    assert (loaded.copy_paste, loaded.plain_last_epochs) == (0.3, 1)
    assert (Config().data.augment.copy_paste, Config().data.augment.plain_last_epochs) == (1.0, 2)


def test_a_version_4_config_loads_as_the_detect_task():
    saved = config_to_dict(Config())
    saved.update(version=4)
    del saved["model"]["task"], saved["inference"]["extreme_peaks"]
    config = config_from_dict(saved)
    assert config.model.task == "detect" and config.inference.extreme_peaks == 40


def test_a_version_2_config_loads_its_input_side_as_a_square():
    saved = saved_at(2)
    saved["data"]["input_size"] = 384
    config = config_from_dict(saved)
    assert config.data.input_size == (384, 384) and config.data.output_size == (96, 96)
    augment = dataclasses.replace(Config().data.augment, copy_paste=0.0, plain_last_epochs=0)
    expected = dataclasses.replace(Config(), data=dataclasses.replace(Config().data, input_size=(384, 384),
                                                                      augment=augment),
                                   model=dataclasses.replace(Config().model, neck_channels=(256, 256, 256),
                                                             head_norm="none", head_conv=64),
                                   loss=dataclasses.replace(Config().loss, gaussian_min_radius=0))
    assert config == expected  # and version 2's plain ResNet up path (version 4), its heads (version 9), its peaks
    # (version 10), no batch-level augmentation (versions 8 and 11)


def test_input_sizes_are_width_then_height_and_one_side_is_a_square():
    assert DataConfig(input_size=96).input_size == (96, 96)
    assert DataConfig(input_size=(96, 64)).output_size == (16, 24)  # (height, width) of the heads
    assert config_from_dict(config_to_dict(Config(data=DataConfig(input_size=(96, 64))))).data.input_size == (96, 64)
    with pytest.raises(ValueError, match="one side"):
        DataConfig(input_size=(96, 64, 32))
    with pytest.raises(ValueError, match="multiple of 32"):
        check_input_size((96, 70))
    assert check_input_size([64]) == (64, 64)


def test_test_scales_multiply_the_input_size_to_multiples_of_32():
    assert [scaled_input_size((512, 288), scale) for scale in (0.5, 0.75, 1, 1.25, 1.5)] == [
        (256, 160), (384, 224), (512, 288), (640, 352), (768, 448)]  # 144 -> 160, 216 -> 224, 360 -> 352, 432 -> 448
    assert scaled_input_size(64, 0.25) == (32, 32)  # never below 32
    with pytest.raises(ValueError, match="--test-scales"):
        InferenceConfig(test_scales=(1.0, 0.0))


def test_the_frame_aspect_ratio_keeps_the_longer_side_and_holds_the_frame():
    assert frame_input_size(1920, 1080, 512) == (512, 288)
    assert frame_input_size(1280, 720, (128, 128)) == (128, 96)  # 72 rounds up to the next multiple of 32
    assert frame_input_size(640, 480, 512) == (512, 384)
    assert frame_input_size(1080, 1920, 512) == (288, 512)  # portrait
    assert frame_input_size(300, 300, (512, 384)) == (512, 512)  # the longer side of a rectangular input


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
    predictor = Predictor.from_file(checkpoint, device="cpu", amp="off", channels_last=False)  # as recorded
    assert predictor.class_names == ["block", "other"] and predictor.category_ids == [3, 8]
    detections = predictor([read_image_rgb(FIXTURE / "image.png")])[0]
    # this briefly trained model's activations reach 1e3 and cancel in BatchNorm, so the order of float32 sums (the
    # convolution kernels of the torch / oneDNN release) moves its scores by up to 3e-4 (torch 2.14.1 against the
    # release that recorded them)
    np.testing.assert_allclose(detections.scores, expected["scores"], atol=5e-4)
    np.testing.assert_allclose(detections.boxes, expected["boxes_xyxy"], atol=1e-3)
    np.testing.assert_array_equal(detections.classes, expected["classes"])


def test_a_version_3_config_keeps_the_up_path_its_architecture_had():
    for arch, channels in (("resnet18", (256, 256, 256)), ("resnet18_dcn", (256, 128, 64))):
        saved = config_to_dict(Config(model=ModelConfig(arch=arch)))
        saved.update(version=3)
        del saved["model"]["neck_channels"]
        assert config_from_dict(saved).model.neck_channels == channels, arch
    assert Config().model.neck_channels == (256, 128, 64)  # today's default: TTFNet's up path


def test_a_version_8_config_keeps_the_head_channels_its_architecture_had():
    for arch, head_conv, expected in (("resnet18", None, 64), ("resnet50_dcn", None, 64), ("dla34", None, 256),
                                      ("resnet18", 32, 32)):
        saved = config_to_dict(Config(model=ModelConfig(arch=arch, head_conv=head_conv, head_norm="none")))
        saved.update(version=8)
        config = config_from_dict(saved)
        assert config.model.head_conv == expected and config.model.head_norm == "none", arch
    # today's default: the plain ResNets' heads have 128 channels with BatchNorm
    assert ModelConfig().head_conv is None and ModelConfig().head_norm == "batch"
    assert build_model(ModelConfig(num_classes=2)).heads["heatmap"][0].out_channels == 128
