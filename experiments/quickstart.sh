#!/usr/bin/env bash
# Shapes quickstart, end to end on a CPU: install, make data, train ResNet-18, evaluate COCO mAP, render a demo.
# The README's quickstart figure is what this script printed; override any variable from the environment.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${DATA:-data/shapes}
OUT=${OUT:-runs/quickstart}
DEVICE=${DEVICE:-cpu}
ARCH=${ARCH:-resnet18}
EPOCHS=${EPOCHS:-24}

python -m pip install --quiet --disable-pip-version-check -e ".[dev]"

python scripts/make_shapes.py --out "$DATA" --train 1000 --val 100 --image-size 64 --seed 0
python scripts/make_shapes_video.py --out "$DATA/demo.avi" --frames 60

start=$(date +%s)
centernet train --arch "$ARCH" \
  --train-ann "$DATA/annotations/train.json" --train-images "$DATA/train" \
  --val-ann "$DATA/annotations/val.json" --val-images "$DATA/val" \
  --out "$OUT" --input-size 64 --epochs "$EPOCHS" --batch-size 16 --lr 4e-3 \
  --schedule cosine --warmup-iters 30 --color-jitter 0 --pca-lighting 0 --scale 0 --shift 0 --eval-interval 8 --workers 0 --device "$DEVICE"
echo "training took $(( $(date +%s) - start )) s"

centernet evaluate --checkpoint "$OUT/best.pt" --ann "$DATA/annotations/val.json" --images "$DATA/val" \
  --out "$OUT/detections.json" --metrics "$OUT/metrics_val.json" --workers 1 --device "$DEVICE"

centernet demo --checkpoint "$OUT/best.pt" --input "$DATA/demo.avi" --output "$OUT/demo.avi" \
  --json "$OUT/demo.jsonl" --strip "$OUT/demo_strip.png" --score-threshold 0.3 --device "$DEVICE"

python - "$OUT/metrics_val.json" <<'PY'
import json, sys
metrics = json.load(open(sys.argv[1]))
print(f"quickstart COCO mAP@[.5:.95] = {metrics['AP']:.3f}  (AP50 {metrics['AP50']:.3f}, AP75 {metrics['AP75']:.3f})")
PY
