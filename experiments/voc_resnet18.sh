#!/usr/bin/env bash
# Pascal VOC 07+12 trainval -> VOC 2007 test, ResNet-18, 384 input, 70 epochs, lr x0.1 at 45 and 60: the
# REFERENCE recipe (experiments/recipes.sh) with the reference's VOC schedule. NOT YET RUN: needs VOCdevkit under $VOC and a GPU; no README number comes from it.
# Reports COCO-style AP; the VOC metric is AP50.
set -euo pipefail
cd "$(dirname "$0")/.."
VOC=${VOC:-data/VOCdevkit}
ARCH=${ARCH:-resnet18}
WEIGHTS=${WEIGHTS:-imagenet}
source experiments/recipes.sh
python scripts/voc_to_coco.py --voc-root "$VOC/VOC2007" "$VOC/VOC2012" --split trainval --image-root "$VOC" --out data/voc/trainval.json
python scripts/voc_to_coco.py --voc-root "$VOC/VOC2007" --split test --image-root "$VOC" --out data/voc/test.json
centernet train "${REFERENCE_RECIPE[@]}" --arch "$ARCH" --backbone-weights "$WEIGHTS" \
  --train-ann data/voc/trainval.json --train-images "$VOC" --val-ann data/voc/test.json --val-images "$VOC" \
  --out "runs/voc_$ARCH" --input-size 384 --epochs 70 --lr-steps 45 60 --batch-size 32 \
  --max-objects 50 --workers 8 --amp --eval-interval 10
