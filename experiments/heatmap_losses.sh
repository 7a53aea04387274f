#!/usr/bin/env bash
# Heatmap criteria compared on the shapes data (CPU): penalty-reduced focal (reference), Quality Focal Loss
# (Gaussian value as the soft target), RetinaNet sigmoid focal (peaks positive); then a long-tailed variant
# (70/25/5% training classes) with and without class-balanced weights (beta 0.999).
# Each run is shorter than the quickstart (EPOCHS, default 6) so the five fit in about half an hour here.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-6}
DEVICE=${DEVICE:-cpu}
OUT=${OUT:-runs/heatmap_losses}
python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
python scripts/make_shapes.py --out data/shapes --train 600 --val 100 --image-size 128 --seed 0
python scripts/make_shapes.py --out data/shapes_longtail --train 600 --val 100 --image-size 128 --seed 1 --long-tail

run() {  # name data extra-args...
  local name=$1 data=$2; shift 2
  centernet train --train-ann "$data/annotations/train.json" --train-images "$data/train" \
    --val-ann "$data/annotations/val.json" --val-images "$data/val" --out "$OUT/$name" \
    --input-size 128 --epochs "$EPOCHS" --batch-size 16 --lr 4e-3 --schedule cosine --warmup-iters 50 \
    --color-jitter 0 --pca-lighting 0 --eval-interval "$EPOCHS" --workers 0 --device "$DEVICE" "$@"
}
run penalty_reduced data/shapes --heatmap-loss penalty_reduced
run quality_focal data/shapes --heatmap-loss quality_focal
run sigmoid_focal data/shapes --heatmap-loss sigmoid_focal
run longtail_plain data/shapes_longtail
run longtail_balanced data/shapes_longtail --class-balance 0.999

python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
print(f"{'run':<20} {'AP':>6} {'AP50':>6}  per-class AP")
for run in sorted(Path(sys.argv[1]).iterdir()):
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    per_class = "  ".join(f"{name} {value:.3f}" for name, value in record["per_class_ap"].items())
    print(f"{run.name:<20} {record['AP']:6.3f} {record['AP50']:6.3f}  {per_class}")
PY
