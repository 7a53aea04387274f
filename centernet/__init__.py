"""CenterNet ("Objects as Points"): keypoint-heatmap object detection in PyTorch."""

__version__ = "0.1.0"
