#!/usr/bin/env bash
# COCO 2017, DLA-34 with deformable convolutions, the reference recipe: 140 epochs, Adam 1.25e-4 per 32 images, lr x0.1 at
# 90 and 120, 512 input. NOT YET RUN: needs COCO under $COCO and GPUs; no README number comes from it yet.
# Multi-GPU: NPROC=8 bash experiments/coco_dla34.sh (batch is per process; lr scales with the global batch).
set -euo pipefail
cd "$(dirname "$0")/.."
COCO=${COCO:-data/coco}
NPROC=${NPROC:-1}
python -m pip install --quiet -e ".[dev]"
torchrun --standalone --nproc_per_node "$NPROC" -m centernet.cli train --arch dla34 --backbone-weights "${DLA_WEIGHTS:?set DLA_WEIGHTS to an ImageNet DLA-34 state dict}" \
  --train-ann "$COCO/annotations/instances_train2017.json" --train-images "$COCO/train2017" \
  --val-ann "$COCO/annotations/instances_val2017.json" --val-images "$COCO/val2017" \
  --out runs/coco_dla34 --input-size 512 --epochs 140 --lr-steps 90 120 --batch-size 32 --lr 1.25e-4 \
  --workers 8 --amp --channels-last --eval-interval 10
centernet evaluate --checkpoint runs/coco_dla34/best.pt --ann "$COCO/annotations/instances_val2017.json" \
  --images "$COCO/val2017" --out runs/coco_dla34/detections.json --metrics runs/coco_dla34/metrics_val.json
