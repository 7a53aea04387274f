"""Command-line options derived from the config dataclasses, and the deprecated spellings of renamed ones.

Every leaf field of the config tree declared with `config.option(...)` becomes `--field-name` (underscores as
dashes), typed from its annotation, with its help text, default and choices. The parsed value lands in
`args.<section path>.<field>` (e.g. `args."data.augment.scale"`), from which `config_from_options` rebuilds the
tree. Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from centernet.catalog import AMP_MODES, BACKENDS
from centernet.config import Config, InferenceConfig, option_name

if TYPE_CHECKING:
    from centernet.predictor import Predictor


def config_fields(cls: type, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field, Any]]:
    """(dotted path, field, resolved type) of every leaf field of a config dataclass, depth first."""
    hints = typing.get_type_hints(cls)
    for item in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[item.name]):
            yield from config_fields(hints[item.name], f"{prefix}{item.name}.")
        else:
            yield f"{prefix}{item.name}", item, hints[item.name]


def _argument_type(annotation: Any) -> tuple[Any, dict[str, Any]]:
    """(scalar type, extra add_argument keywords) for a field annotation."""
    if isinstance(annotation, types.UnionType):  # X | None
        annotation = next(member for member in typing.get_args(annotation) if member is not type(None))
    if typing.get_origin(annotation) is tuple:
        members = typing.get_args(annotation)
        nargs = "*" if members[-1] is Ellipsis else len(members)
        return members[0], {"nargs": nargs}
    return annotation, {}


def add_config_options(parser: argparse.ArgumentParser, cls: type = Config, *, overrides: bool = False,
                       only: Sequence[str] | None = None, group: str | None = None,
                       help_suffix: dict[str, str] | None = None, track_given: bool = False) -> None:
    """One option per CLI field of `cls` (or of the dotted paths in `only`), grouped by section (or all in
    `group`). With `overrides`, every default is None: the option replaces a value read elsewhere (a checkpoint's
    config) only when given. With `track_given` too, but the help shows the field's default and no option is
    required: `given_options` then tells the options given from the rest (a saved config is the base, or the
    defaults). `help_suffix` adds text to a path's help (what an app does when it is not given)."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for path, item, annotation in config_fields(cls):
        if not item.metadata.get("cli", False) or (only is not None and path not in only):
            continue
        section = group or (path.rsplit(".", 1)[0] if "." in path else (
            "the checkpoint's config, overridden when given" if overrides else "options"))
        arguments = groups.setdefault(section, parser.add_argument_group(section))
        default = None if overrides or track_given else item.default
        shown = overrides or item.default is None or item.metadata["required"]
        help_text = item.metadata["help"] + ("" if shown else f" (default: {_shown(item.default)})")
        help_text += (help_suffix or {}).get(path, "")
        kind, extra = _argument_type(annotation)
        if kind is bool:
            arguments.add_argument(option_name(item.name), dest=path, default=default, help=help_text,
                                   action=argparse.BooleanOptionalAction)
            continue
        if item.metadata.get("nargs"):
            extra["nargs"] = item.metadata["nargs"]
        if item.metadata.get("const") is not None:
            extra["const"] = item.metadata["const"]
        if item.metadata["choices"]:
            extra["choices"] = item.metadata["choices"]
        else:
            extra["metavar"] = item.metadata.get("metavar") or item.name.upper()
        arguments.add_argument(option_name(item.name), dest=path, type=kind, default=default, help=help_text,
                               required=item.metadata["required"] and not overrides and not track_given, **extra)


def _shown(value: Any) -> str:
    return " ".join(str(v) for v in value) if isinstance(value, tuple) else str(value)


def config_from_options(args: argparse.Namespace, cls: type = Config) -> Any:
    """The config tree (an instance of `cls`) from parsed options; fields without an option, and options not given
    where the parser tracks them (None), keep their defaults."""
    return apply_options(cls(), given_options(args, cls))


def given_options(args: argparse.Namespace, cls: type = Config) -> dict[str, Any]:
    """{dotted path: value} of the options of `cls`'s fields that hold a value (with `overrides` or `track_given`:
    the options given), lists as tuples."""
    given = {}
    for path, item, _ in config_fields(cls):
        value = getattr(args, path, None) if item.metadata.get("cli", False) else None
        if value is not None:
            given[path] = tuple(value) if isinstance(value, list) else value
    return given


def apply_options(config: Any, values: dict[str, Any]) -> Any:
    """`config` (a config dataclass) with the fields at the dotted paths of `values` replaced."""
    nested: dict[str, dict[str, Any]] = {}
    direct = {}
    for path, value in values.items():
        head, _, rest = path.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[head] = value
    parts = {name: apply_options(getattr(config, name), inner) for name, inner in nested.items()}
    return dataclasses.replace(config, **direct, **parts)


def overrides_from_options(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """{field name: value} of the options given for `cls` (added with `overrides=True`), for dataclasses.replace."""
    return {path.rsplit(".", 1)[-1]: getattr(args, path) for path, item, _ in config_fields(cls)
            if item.metadata.get("cli", False) and getattr(args, path) is not None}


class DeprecatedAlias(argparse.Action):
    """An old spelling (of release 0.1) kept until 0.3.0: sets the new options' destinations and says what to use
    instead.

    `targets` maps each destination to a fixed value, or to None to take the value given on the command line.
    """

    def __init__(self, option_strings: Sequence[str], dest: str, targets: dict[str, Any], replacement: str,
                 **kwargs: Any) -> None:
        self.targets, self.replacement = targets, replacement
        kwargs.setdefault("nargs", 0 if all(value is not None for value in targets.values()) else None)
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"centernet: {option_string} is deprecated (the 0.1 spelling, kept until 0.3.0); use {self.replacement}",
              file=sys.stderr)
        for dest, value in self.targets.items():
            setattr(namespace, dest, values if value is None else value)


def add_deprecated(parser: argparse.ArgumentParser, option_string: str, targets: dict[str, Any], replacement: str,
                   **kwargs: Any) -> None:
    parser.add_argument(option_string, action=DeprecatedAlias, targets=targets, replacement=replacement,
                        help=f"deprecated: {replacement}", **kwargs)


def run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The predictor's device, amp and channels_last from `add_predictor_options`' options, as keywords of
    `centernet.backends.load_predictor`."""
    return {"device": getattr(args, "train.device"), "amp": getattr(args, "train.amp"),
            "channels_last": getattr(args, "train.channels_last")}


def add_predictor_options(parser: argparse.ArgumentParser, *, batch_size: int,
                          score_threshold: float | None = None) -> None:
    """The options `evaluate` and `demo` share: the model file and its backend, where and how it runs, and the
    inference overrides (InferenceConfig fields; unset: the checkpoint's values, `score_threshold` aside)."""
    parser.add_argument("--checkpoint", required=True,
                        help="a centernet checkpoint (best.pt / last.pt), or an ONNX export with --backend onnxruntime")
    parser.add_argument("--backend", choices=tuple(BACKENDS), default="pytorch", help="what runs the network")
    add_config_options(parser, only=("train.device", "train.amp", "train.channels_last"),
                       group="where and how the network runs",
                       help_suffix={"train.channels_last": "; PyTorch backend",
                                    "train.amp": "; PyTorch backend: " + "; ".join(
                                        f"{name}: {text}" for name, text in AMP_MODES.items())})
    parser.add_argument("--batch-size", type=int, default=batch_size, help=f"images per network call "
                        f"(default: {batch_size})")
    shown = (f"; default here: {score_threshold:g}, not the checkpoint's" if score_threshold is not None
             else f"; default: the checkpoint's ({InferenceConfig().score_threshold:g} unless trained with another)")
    add_config_options(parser, InferenceConfig, overrides=True, help_suffix={"score_threshold": shown})
    if score_threshold is not None:
        parser.set_defaults(**{"score_threshold": score_threshold})
    add_deprecated(parser, "--flip", {"flip_test": True}, "--flip-test")
    add_deprecated(parser, "--no-amp", {"train.amp": "off"}, "--amp off")


def predictor_setting(predictor: Predictor) -> str:
    """The input size, test scales (with their input sizes), flip test and precision a predictor runs with, for
    reports."""
    width, height = predictor.input_size
    text = f"input {width}x{height}"
    if len(predictor.inference.test_scales) > 1 or predictor.inference.test_scales[0] != 1.0:
        sizes = " ".join(f"{w}x{h}" for w, h in predictor.input_sizes())
        text += (f", scales {' '.join(f'{scale:g}' for scale in predictor.inference.test_scales)} ({sizes}), "
                 f"NMS IoU {predictor.inference.nms_iou:g}")
    text += ", flip test" if predictor.inference.flip_test else ""
    from centernet.device import precision_label  # here: this module is imported by `--help`, without torch

    text += f", {precision_label(predictor.amp_dtype)}"
    return text + (", channels_last" if predictor.channels_last else "")
