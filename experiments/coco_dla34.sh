#!/usr/bin/env bash
# COCO 2017, DLA-34 with deformable convolutions, the reference recipe (see coco_resnet18.sh).
# NOT YET RUN: needs COCO, GPUs and ImageNet DLA-34 weights (a local state dict: torchvision has none).
set -euo pipefail
ARCH=dla34 WEIGHTS="${WEIGHTS:?set WEIGHTS to an ImageNet DLA-34 state dict}" exec bash "$(dirname "$0")/coco_resnet18.sh"
