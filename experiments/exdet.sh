#!/usr/bin/env bash
# Extreme points (--task exdet, ExtremeNet-style) against box detection (--task detect) on the harder shapes set
# with polygons (scripts/make_hard_shapes.py --train 600 --val 150 --seed 0): the default recipe of
# `centernet train` (ResNet-18 from random init, 256 px, 15 epochs, batch 16, Adam, cosine, EMA) for both rows,
# the same seed; exdet's evaluation adds the segm AP of its octagons.
#
#   bash experiments/exdet.sh                 # both rows, seed 0 (about 5 minutes a row on 2 bf16 cores)
#   ROWS=exdet SEEDS="0 1" bash experiments/exdet.sh
#
# Each run's metrics.jsonl is copied to docs/exdet/ROW_seedS.jsonl; the last evaluation of each is printed. A row
# whose copy there is finished is skipped; a run interrupted with a last.pt resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
source experiments/runs.sh

DATA=${DATA:-data/hard}
OUT=${OUT:-runs/exdet}
DEVICE=${DEVICE:-cpu}
WORKERS=${WORKERS:-2}
ROWS=${ROWS:-detect exdet}
SEEDS=${SEEDS:-0}

[ -f "$DATA/annotations/train.json" ] || python scripts/make_hard_shapes.py --out "$DATA" --train 600 --val 150 --seed 0
mkdir -p docs/exdet
for seed in $SEEDS; do
  for row in $ROWS; do
    copy="docs/exdet/${row}_seed$seed.jsonl"
    if finished "$copy" 15; then echo "$copy: finished, skipped"; continue; fi
    run="$OUT/${row}_seed$seed"
    # shellcheck disable=SC2046  # --resume or nothing
    centernet train --task "$row" --seed "$seed" $(resume_or_clear "$run") \
      --train-ann "$DATA/annotations/train.json" --train-images "$DATA/train" \
      --val-ann "$DATA/annotations/val.json" --val-images "$DATA/val" --out "$run" \
      --input-size 256 --epochs 15 --batch-size 16 --workers "$WORKERS" --device "$DEVICE" --eval-interval 5
    cp "$run/metrics.jsonl" "$copy"
  done
done
for seed in $SEEDS; do
  for row in $ROWS; do
    python - "docs/exdet/${row}_seed$seed.jsonl" <<'PY'
import json
import sys

last = [json.loads(line) for line in open(sys.argv[1]) if '"AP"' in line][-1]
fields = ["AP", "AP50", "AP75", "segm_AP", "segm_AP50", "segm_AP75"]
print(sys.argv[1], "epoch", last["epoch"], "  ".join(f"{name} {last[name]:.4f}" for name in fields if last.get(name) is not None))
PY
  done
done
