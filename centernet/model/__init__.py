"""Backbones, necks and heads; `build_model` is the entry point (architectures are listed in centernet.catalog,
head layouts come from the tasks, `centernet.tasks`)."""

from centernet.model.build import CenterNet, build_model, last_stack, stacks
from centernet.model.heads import HeadLayout

__all__ = ["CenterNet", "HeadLayout", "build_model", "last_stack", "stacks"]
