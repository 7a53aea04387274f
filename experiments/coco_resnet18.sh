#!/usr/bin/env bash
# COCO 2017, ResNet-18 (plain up path; ARCH and WEIGHTS override), the REFERENCE recipe (experiments/recipes.sh):
# 140 epochs, Adam 1.25e-4 per 32 images, lr x0.1 at 90 and 120, 512 input.
# NOT YET RUN: needs COCO under $COCO and GPUs; no README number comes from it yet.
# Multi-GPU: NPROC=8 bash experiments/coco_resnet18.sh (batch is per process; lr scales with the global batch).
set -euo pipefail
cd "$(dirname "$0")/.."
COCO=${COCO:-data/coco}
NPROC=${NPROC:-1}
ARCH=${ARCH:-resnet18}
WEIGHTS=${WEIGHTS:-imagenet}
source experiments/recipes.sh
torchrun --standalone --nproc_per_node "$NPROC" -m centernet.cli train "${REFERENCE_RECIPE[@]}" \
  --arch "$ARCH" --backbone-weights "$WEIGHTS" \
  --train-ann "$COCO/annotations/instances_train2017.json" --train-images "$COCO/train2017" \
  --val-ann "$COCO/annotations/instances_val2017.json" --val-images "$COCO/val2017" \
  --out "runs/coco_$ARCH" --input-size 512 --epochs 140 --lr-steps 90 120 --batch-size 32 \
  --workers 8 --amp --channels-last --eval-interval 10
centernet evaluate --checkpoint "runs/coco_$ARCH/best.pt" --ann "$COCO/annotations/instances_val2017.json" \
  --images "$COCO/val2017" --out "runs/coco_$ARCH/detections.json" --metrics "runs/coco_$ARCH/metrics_val.json"
