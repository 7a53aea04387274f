"""CenterNet ("Objects as Points"): keypoint-heatmap object detection in PyTorch.

`from centernet import Detector` (and `centernet.train`) load the Python API (`centernet.api`) on first use, so that
importing the package (and `centernet --help`) does not import torch.
"""

__version__ = "0.2.0"  # the one place of the version: setup.cfg reads it
__all__ = ["Detector", "Result", "__version__", "train"]


def __getattr__(name: str):
    if name in {"Detector", "Result", "train"}:
        from centernet import api

        return getattr(api, name)
    raise AttributeError(f"module 'centernet' has no attribute {name!r}")
