#!/usr/bin/env bash
# Pascal VOC 07+12 -> 2007 test, DLA-34 with deformable convolutions (see voc_resnet18.sh).
# NOT YET RUN: needs VOCdevkit, a GPU and ImageNet DLA-34 weights (a local state dict: torchvision has none).
set -euo pipefail
ARCH=dla34 WEIGHTS="${WEIGHTS:?set WEIGHTS to an ImageNet DLA-34 state dict}" exec bash "$(dirname "$0")/voc_resnet18.sh"
