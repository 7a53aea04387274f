#!/usr/bin/env bash
# Keypoints (--task keypoints, CenterNet's multi_pose) on our keypoint sets (scripts/make_keypoint_shapes.py --train
# 600 --val 150 --seed 0: stick figures with 13 named joints, left and right told apart by their hand and foot
# marks, occlusion and border cuts): "clean" (--clean: a textured background, no figure under 40 px) and "clutter"
# (the full set: lines and arcs of clutter, faint figures, figures from 24 px). ResNet-18 from random init, the
# default recipe of `centernet train`, 256 px, 15 epochs, batch 16, CPU. Each run's last checkpoint is then
# evaluated twice: with the joints snapped to the joint heatmaps' peaks (the default decoding) and regressed from
# the centre only (--no-snap-joints).
#
#   bash experiments/keypoints.sh                        # the clean set, seeds 0 and 1 (about 8 minutes a run)
#   SETS="clutter" SEEDS=0 bash experiments/keypoints.sh
#
# Each run's metrics.jsonl is copied to docs/keypoints/SET_seedS.jsonl and the two evaluations' metrics to
# docs/keypoints/SET_{snapped,regressed}_seedS.json (their printed tables beside them, .log);
# `python scripts/readme_tables.py --table keypoints` makes the table. A run whose copy is finished is not trained
# again; an interrupted run with a last.pt resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
source experiments/runs.sh

OUT=${OUT:-runs/keypoints}
DEVICE=${DEVICE:-cpu}
WORKERS=${WORKERS:-2}
SETS=${SETS:-clean}
SEEDS=${SEEDS:-0 1}
INPUT=${INPUT:-256}
EPOCHS=${EPOCHS:-15}
BATCH=${BATCH:-16}
DOCS=${DOCS:-docs/keypoints}

mkdir -p "$DOCS"
for set in $SETS; do
  case "$set" in
    clean) data=${DATA_CLEAN:-data/keypoints_clean}; flags=(--clean) ;;
    clutter) data=${DATA_CLUTTER:-data/keypoints}; flags=() ;;
    *) echo "unknown set $set (clean | clutter)" >&2; exit 2 ;;
  esac
  [ -f "$data/annotations/train.json" ] || python scripts/make_keypoint_shapes.py --out "$data" --train 600 \
    --val 150 --seed 0 "${flags[@]}"
  for seed in $SEEDS; do
    copy="$DOCS/${set}_seed$seed.jsonl"
    run="$OUT/${set}_seed$seed"
    if finished "$copy" "$EPOCHS"; then
      echo "$copy: finished, not trained again"
    else
      # shellcheck disable=SC2046  # --resume or nothing
      centernet train --task keypoints --seed "$seed" $(resume_or_clear "$run") \
        --train-ann "$data/annotations/train.json" --train-images "$data/train" \
        --val-ann "$data/annotations/val.json" --val-images "$data/val" --out "$run" \
        --input-size "$INPUT" --epochs "$EPOCHS" --batch-size "$BATCH" --workers "$WORKERS" --device "$DEVICE" \
        --eval-interval 5
      cp "$run/metrics.jsonl" "$copy"
    fi
    for decoding in snapped regressed; do
      metrics="$DOCS/${set}_${decoding}_seed$seed.json"
      [ -f "$metrics" ] && [ "$metrics" -nt "$copy" ] && continue
      flag=()
      [ "$decoding" = regressed ] && flag=(--no-snap-joints)
      centernet evaluate --checkpoint "$run/last.pt" --ann "$data/annotations/val.json" --images "$data/val" \
        --device "$DEVICE" --workers "$WORKERS" --out "$run/${decoding}_results.json" --metrics "$metrics" \
        "${flag[@]}" | tee "${metrics%.json}.log"
    done
  done
done
python scripts/readme_tables.py --table keypoints
