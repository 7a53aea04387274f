#!/usr/bin/env bash
# Single-scale vs flip vs flip + multi-scale test of one checkpoint on the harder shapes set's validation split
# (README, "Evaluate, demo, export"). Multi-scale: the input size times 0.5, 0.75, 1, 1.25, 1.5 (sides rounded to
# multiples of 32), detections merged by class-wise NMS at IoU 0.5, as the reference reports its multi-scale
# numbers (with hard NMS where the reference uses soft-NMS).
#
#   bash experiments/multiscale.sh                          # the default row of experiments/learning_speed.sh
#   CHECKPOINT=runs/mine/best.pt bash experiments/multiscale.sh
#
# Without a checkpoint at CHECKPOINT, it trains one first with the learning-speed ablation's default row
# (ResNet-18, 256 px, 15 epochs, batch 16; INPUT, EPOCHS and BATCH change that), e.g. a smoke run of the script:
#   INPUT=64 EPOCHS=1 BATCH=4 DATA=/tmp/hard_tiny CHECKPOINT=/tmp/ms/run/best.pt OUT=/tmp/ms \
#       bash experiments/multiscale.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${DATA:-data/hard}
CHECKPOINT=${CHECKPOINT:-runs/learning_speed/default_seed0/best.pt}
OUT=${OUT:-runs/multiscale}
DOCS=${DOCS:-docs/multiscale}  # each evaluation's metrics and the summary (summary.log), for the README
DEVICE=${DEVICE:-cpu}
WORKERS=${WORKERS:-2}
SCALES=${SCALES:-0.5 0.75 1 1.25 1.5}
INPUT=${INPUT:-256}
EPOCHS=${EPOCHS:-15}
BATCH=${BATCH:-16}

[ -f "$DATA/annotations/train.json" ] || python scripts/make_hard_shapes.py --out "$DATA" --train 600 --val 150 --seed 0
if [ ! -f "$CHECKPOINT" ]; then
  run=$(dirname "$CHECKPOINT")
  centernet train --train-ann "$DATA/annotations/train.json" --train-images "$DATA/train" \
    --val-ann "$DATA/annotations/val.json" --val-images "$DATA/val" --out "$run" \
    --input-size "$INPUT" --epochs "$EPOCHS" --batch-size "$BATCH" --workers "$WORKERS" --device "$DEVICE" \
    --eval-interval 5
fi

mkdir -p "$OUT" "$DOCS"
evaluate() {  # evaluate NAME [options...]: prints NAME and the mAP
  local name=$1
  shift
  # shellcheck disable=SC2086  # SCALES are words
  centernet evaluate --checkpoint "$CHECKPOINT" --ann "$DATA/annotations/val.json" --images "$DATA/val" \
    --out "$OUT/$name.json" --metrics "$OUT/${name}_metrics.json" --device "$DEVICE" --workers "$WORKERS" "$@" \
    > "$OUT/$name.log"
  cp "$OUT/${name}_metrics.json" "$DOCS/"
  python -c "import json, sys; print(f\"{sys.argv[1]:<22} mAP {json.load(open(sys.argv[2]))['AP']:.4f}\")" \
    "$name" "$OUT/${name}_metrics.json" | tee -a "$DOCS/summary.log"
}

echo "$CHECKPOINT on $DATA/annotations/val.json, commit $(git rev-parse --short HEAD):" | tee "$DOCS/summary.log"
evaluate single_scale
evaluate flip --flip-test
# shellcheck disable=SC2086
evaluate flip_multiscale --flip-test --test-scales $SCALES
