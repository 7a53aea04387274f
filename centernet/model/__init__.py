"""Backbones, necks and heads; `build_model` is the entry point (architectures are listed in centernet.catalog)."""

from centernet.model.build import CenterNet, build_model, build_model_from_config

__all__ = ["CenterNet", "build_model", "build_model_from_config"]
