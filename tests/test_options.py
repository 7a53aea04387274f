"""Command-line options come from the config fields: one option per field, its help and default beside the
field, choices from the catalog; renamed options keep their old spelling for one release; `--help` is fast."""

import subprocess
import sys

import pytest

from centernet import catalog
from centernet.apps.options import config_fields, config_from_options
from centernet.cli import get_parser
from centernet.config import Config, InferenceConfig, option_name
from tests.conftest import ROOT, subprocess_env

REQUIRED = ["train", "--train-ann", "a.json", "--train-images", "images", "--out", "runs/x"]
# every option `centernet train` had in release 0.1.0
TRAIN_OPTIONS_0_1 = {
    "--train-ann", "--train-images", "--val-ann", "--val-images", "--input-size", "--max-objects", "--workers",
    "--no-scale", "--no-shift", "--no-flip", "--no-color", "--arch", "--head-conv", "--backbone-weights", "--out",
    "--epochs", "--batch-size", "--lr", "--reference-batch", "--optimizer", "--weight-decay", "--schedule",
    "--lr-steps", "--warmup-iters", "--grad-clip", "--device", "--amp", "--channels-last", "--compile", "--seed",
    "--eval-interval", "--log-interval", "--resume", "--strict", "--hm-loss", "--hm-weight", "--size-weight",
    "--offset-weight", "--class-balance"}
PREDICT_OPTIONS_0_1 = {"--checkpoint", "--backend", "--batch-size", "--device", "--flip", "--amp"}


def subcommand(name: str):
    actions = get_parser()._subparsers._group_actions[0].choices  # the subcommand parsers
    return actions[name]


def option_strings(name: str) -> set[str]:
    return {string for action in subcommand(name)._actions for string in action.option_strings}


def test_every_config_field_chosen_by_the_user_is_a_train_option():
    options = option_strings("train")
    app_options = {"train.resume"}  # `--resume [RUN]`: the train app's own option, which also names the run
    for path, item, _ in config_fields(Config):
        assert (option_name(item.name) in options) == (item.metadata["cli"] or path in app_options), path


def test_train_lists_a_superset_of_release_0_1s_options():
    assert option_strings("train") >= TRAIN_OPTIONS_0_1
    assert PREDICT_OPTIONS_0_1 | {"--ann", "--images", "--out", "--metrics", "--workers"} <= option_strings("evaluate")
    assert PREDICT_OPTIONS_0_1 | {"--input", "--output", "--json", "--score-threshold", "--show", "--strip",
                                  "--tensorboard"} <= option_strings("demo")


def test_defaults_come_from_the_dataclasses():
    args = get_parser().parse_args(REQUIRED)
    config = config_from_options(args)
    assert config.train.out == "runs/x" and config.data.train_ann == "a.json"
    assert config.model == Config().model and config.loss == Config().loss and config.inference == Config().inference
    assert config.data.augment == Config().data.augment
    assert (config.train.epochs, config.train.lr, config.train.lr_steps) == (140, 4e-3, (90, 120))


def test_options_are_typed_from_the_annotations():
    args = get_parser().parse_args([*REQUIRED, "--lr-steps", "3", "5", "--mean", "0.1", "0.2", "0.3", "--amp",
                                    "--grad-clip", "2.5", "--head-conv", "32", "--class-balance", "0.99"])
    config = config_from_options(args)
    assert config.train.lr_steps == (3, 5) and config.data.mean == (0.1, 0.2, 0.3) and config.train.amp == "on"
    assert config.train.grad_clip == 2.5 and config.model.head_conv == 32 and config.loss.class_balance == 0.99


@pytest.mark.parametrize(("option", "catalog_dict"), [("--arch", catalog.ARCHITECTURES),
                                                      ("--heatmap-loss", catalog.HEATMAP_LOSSES),
                                                      ("--optimizer", catalog.OPTIMIZERS),
                                                      ("--schedule", catalog.SCHEDULES)])
def test_choices_are_the_catalog_names(option, catalog_dict):
    action = next(action for action in subcommand("train")._actions if option in action.option_strings)
    assert tuple(action.choices) == tuple(catalog_dict)


def test_backend_choices_are_the_catalog_names():
    for name in ("evaluate", "demo"):
        action = next(action for action in subcommand(name)._actions if "--backend" in action.option_strings)
        assert tuple(action.choices) == tuple(catalog.BACKENDS)


def test_deprecated_spellings_set_the_new_fields_and_say_so(capsys):
    args = get_parser().parse_args([*REQUIRED, "--hm-loss", "sigmoid_focal", "--hm-weight", "2", "--no-color",
                                    "--no-flip", "--no-scale", "--no-shift"])
    config = config_from_options(args)
    assert config.loss.heatmap_loss == "sigmoid_focal" and config.loss.heatmap_weight == 2.0
    augment = config.data.augment
    assert (augment.color_jitter, augment.pca_lighting, augment.flip_probability, augment.scale, augment.shift) == (
        0, 0, 0, 0, 0)
    error = capsys.readouterr().err
    for old, new in (("--hm-loss", "--heatmap-loss"), ("--no-color", "--color-jitter 0 --pca-lighting 0")):
        assert f"{old} is deprecated" in error and f"use {new}" in error


def test_evaluate_and_demo_share_the_inference_overrides():
    common = ["--checkpoint", "c.pt"]
    evaluate = get_parser().parse_args(["evaluate", *common, "--ann", "a", "--images", "i", "--out", "o"])
    demo = get_parser().parse_args(["demo", *common, "--input", "v.mp4", "--flip"])
    for path, _, _ in config_fields(InferenceConfig):
        assert hasattr(evaluate, path) and hasattr(demo, path)
    assert evaluate.top_k is None and evaluate.score_threshold is None and evaluate.flip_test is None
    assert demo.score_threshold == 0.3 and demo.flip_test is True  # the deprecated --flip
    assert (evaluate.batch_size, demo.batch_size) == (16, 4)


def test_help_does_not_import_torch():
    probe = ("import sys; from centernet.cli import get_parser; get_parser().format_help(); "
             "assert 'torch' not in sys.modules, 'torch was imported'")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=subprocess_env(),
                            cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_reference_recipe_of_the_experiment_scripts_is_the_original_centernets():
    script = "source experiments/recipes.sh && printf '%s\\n' \"${REFERENCE_RECIPE[@]}\""
    printed = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    printed = printed.stdout.split()
    config = config_from_options(get_parser().parse_args([*REQUIRED, *printed]))
    assert (config.model.box_head, config.loss.gaussian, config.model.neck_shortcuts, config.train.ema) == (
        "center", "round", False, False)
    assert config.model.neck_channels == (256, 256, 256)  # the plain ResNet's up path
    assert (config.train.optimizer, config.train.lr, config.train.reference_batch, config.train.schedule) == (
        "adam", 1.25e-4, 32, "step")
    assert (config.train.warmup_iters, config.train.weight_decay, config.loss.gaussian_min_radius) == (0, 0.0, 0)
    augment = config.data.augment
    assert (augment.scale, augment.shift, augment.flip_probability, augment.color_jitter, augment.pca_lighting) == (
        0.4, 0.1, 0.5, 0.4, 0.1)  # the reference's augmentation, whatever the defaults
    assert (augment.copy_paste, augment.mosaic, augment.mixup) == (0.0, 0.0, 0.0)  # no batch-level augmentation
    assert (config.loss.heatmap_loss, config.loss.heatmap_weight, config.loss.size_weight,
            config.loss.offset_weight) == ("penalty_reduced", 1.0, 0.1, 1.0)


def test_the_lr_schedule_of_the_ablation_is_the_defaults():
    script = "source experiments/recipes.sh && printf '%s\\n' \"${LR_SCHEDULE[@]}\""
    printed = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=ROOT, check=True)
    config = config_from_options(get_parser().parse_args([*REQUIRED, *printed.stdout.split()]))
    assert config.train == config_from_options(get_parser().parse_args(REQUIRED)).train


def test_every_choice_the_cli_offers_has_exactly_one_implementation():
    # the catalog lists names and descriptions (no torch); the layer that implements a choice maps the same names
    from centernet.backends import BACKENDS
    from centernet.engine.train import OPTIMIZER_CLASSES
    from centernet.export import WRITERS
    from centernet.losses.aggregate import HEATMAP_CRITERIA
    from centernet.targets import RADII
    from centernet.tasks import BOX_TASKS, TASKS

    pairs = [(catalog.HEATMAP_LOSSES, HEATMAP_CRITERIA), (catalog.OPTIMIZERS, OPTIMIZER_CLASSES),
             (catalog.BACKENDS, BACKENDS), (catalog.EXPORT_FORMATS, WRITERS), (catalog.TASKS, TASKS),
             (catalog.BOX_HEADS, BOX_TASKS), (catalog.GAUSSIANS, RADII)]
    for names, implementations in pairs:
        assert list(names) == list(implementations)
