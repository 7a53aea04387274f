#!/usr/bin/env bash
# Keypoints (--task keypoints, CenterNet's multi_pose) on our keypoint set (scripts/make_keypoint_shapes.py --train
# 600 --val 150 --seed 0: stick figures with 13 named joints, left and right told apart by their hand and foot
# marks, occlusion and border cuts): ResNet-18 from random init, the default recipe of `centernet train`, 256 px,
# 15 epochs, batch 16, CPU. Each run's last checkpoint is then evaluated twice: with the joints snapped to the joint
# heatmaps' peaks (the default decoding) and regressed from the centre only (--no-snap-joints).
#
#   bash experiments/keypoints.sh                 # seeds 0 and 1 (about 6 minutes a run on 2 bf16 cores)
#   SEEDS=0 bash experiments/keypoints.sh
#
# Each run's metrics.jsonl is copied to docs/keypoints/keypoints_seedS.jsonl and the two evaluations' metrics to
# docs/keypoints/{snapped,regressed}_seedS.json (logs beside them); `python scripts/readme_tables.py --table
# keypoints` makes the README's table. A run whose copy is finished is not trained again; an interrupted run with a
# last.pt resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
source experiments/runs.sh

DATA=${DATA:-data/keypoints}
OUT=${OUT:-runs/keypoints}
DEVICE=${DEVICE:-cpu}
WORKERS=${WORKERS:-2}
SEEDS=${SEEDS:-0 1}
INPUT=${INPUT:-256}
EPOCHS=${EPOCHS:-15}
BATCH=${BATCH:-16}
DOCS=${DOCS:-docs/keypoints}

[ -f "$DATA/annotations/train.json" ] || python scripts/make_keypoint_shapes.py --out "$DATA" --train 600 --val 150 \
  --seed 0
mkdir -p "$DOCS"
for seed in $SEEDS; do
  copy="$DOCS/keypoints_seed$seed.jsonl"
  run="$OUT/keypoints_seed$seed"
  if finished "$copy" "$EPOCHS"; then
    echo "$copy: finished, not trained again"
  else
    # shellcheck disable=SC2046  # --resume or nothing
    centernet train --task keypoints --seed "$seed" $(resume_or_clear "$run") \
      --train-ann "$DATA/annotations/train.json" --train-images "$DATA/train" \
      --val-ann "$DATA/annotations/val.json" --val-images "$DATA/val" --out "$run" \
      --input-size "$INPUT" --epochs "$EPOCHS" --batch-size "$BATCH" --workers "$WORKERS" --device "$DEVICE" \
      --eval-interval 5
    cp "$run/metrics.jsonl" "$copy"
  fi
  for decoding in snapped regressed; do
    [ -f "$DOCS/${decoding}_seed$seed.json" ] && [ "$DOCS/${decoding}_seed$seed.json" -nt "$copy" ] && continue
    flag=""
    [ "$decoding" = regressed ] && flag="--no-snap-joints"
    # shellcheck disable=SC2086  # the flag or nothing
    centernet evaluate --checkpoint "$run/last.pt" --ann "$DATA/annotations/val.json" --images "$DATA/val" \
      --device "$DEVICE" --workers "$WORKERS" --out "$run/${decoding}_results.json" \
      --metrics "$DOCS/${decoding}_seed$seed.json" $flag | tee "$DOCS/${decoding}_seed$seed.log"
  done
done
python scripts/readme_tables.py --table keypoints
