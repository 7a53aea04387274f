"""Backbones, necks and heads; `build_model` is the entry point."""

from centernet.model.build import ARCHITECTURES, CenterNet, build_model

__all__ = ["ARCHITECTURES", "CenterNet", "build_model"]
