#!/usr/bin/env bash
# The heatmap-loss study of the README: which heatmap criterion to pick, on balanced and on long-tailed data, and
# CenterNet against an anchor-based detector. Data: the harder shapes set of the learning-speed ablation
# (scripts/make_hard_shapes.py --train 600 --val 150 --seed 0) and its long-tailed variant (the same with
# --long-tail: training classes from 100:1 down, the same balanced validation set). Recipe: the default of
# `centernet train` (ResNet-18 from random init, 256 px, 15 epochs, batch 16), every row the same budget.
#
#   penalty_reduced quality_focal sigmoid_focal   --heatmap-loss NAME, on the harder set
#   longtail_plain longtail_balanced              the long-tailed set, default loss, without / with --class-balance
#   retinanet                                     scripts/retinanet_baseline.py on the harder set, for as many
#                                                 training seconds as penalty_reduced of the same seed took
#
#   bash experiments/heatmap_losses.sh                      # every row, seeds 0 and 1 (about 5 minutes a run on 2 bf16 cores)
#   ROWS="quality_focal" SEEDS=1 bash experiments/heatmap_losses.sh   # one run; the table and plot include every run done
#   ROWS= bash experiments/heatmap_losses.sh                # no training: the table and plot from docs/heatmap_losses
#
# Each run's metrics.jsonl is copied to docs/heatmap_losses/ROW_seedS.jsonl; a row whose copy there is finished is
# skipped, and a stopped centernet run resumes from its last.pt (the RetinaNet baseline starts over). From those (every row and seed of SEEDS
# found there), the table (scripts/loss_study_table.py, mean ± half-range over the seeds) is printed and written to
# docs/heatmap_losses/table.md, and the plots (scripts/plot_metrics.py) of validation mAP against epoch and against
# training seconds to docs/heatmap_losses/map_vs_epoch.png and map_vs_seconds.png.
# TensorBoard shows the same runs: tensorboard --logdir runs/heatmap_losses
set -euo pipefail
cd "$(dirname "$0")/.."
source experiments/runs.sh

DATA=${DATA:-data/hard}
DATA_LONGTAIL=${DATA_LONGTAIL:-data/hard_longtail}
OUT=${OUT:-runs/heatmap_losses}
DOCS=${DOCS:-docs/heatmap_losses}
DEVICE=${DEVICE:-cpu}
WORKERS=${WORKERS:-2}
EPOCHS=${EPOCHS:-15}
INPUT_SIZE=${INPUT_SIZE:-256}
BATCH_SIZE=${BATCH_SIZE:-16}
EVAL_INTERVAL=${EVAL_INTERVAL:-5}
BALANCE_BETA=${BALANCE_BETA:-0.999}
BASELINE_MAX_EPOCHS=${BASELINE_MAX_EPOCHS:-100}  # the ceiling; the budget in seconds decides
ALL_ROWS="penalty_reduced quality_focal sigmoid_focal longtail_plain longtail_balanced retinanet"
ROWS=${ROWS-$ALL_ROWS}  # set but empty: no runs, only the table and the plots
SEEDS=${SEEDS:-0 1}

row_data() {  # the data set of a row
  case "$1" in
    longtail_*) echo "$DATA_LONGTAIL" ;;
    *) echo "$DATA" ;;
  esac
}

row_flags() {  # the flags of a row, on top of the default recipe
  case "$1" in
    penalty_reduced | quality_focal | sigmoid_focal) echo "--heatmap-loss $1" ;;
    longtail_plain) echo "" ;;
    longtail_balanced) echo "--class-balance $BALANCE_BETA" ;;
    retinanet) echo "" ;;
    *) echo "unknown row $1" >&2; exit 2 ;;
  esac
}

train_row() {  # row seed run-directory: train one run
  local row=$1 seed=$2 run=$3 data
  data=$(row_data "$row")
  local common=(--seed "$seed" --train-ann "$data/annotations/train.json" --train-images "$data/train"
                --val-ann "$data/annotations/val.json" --val-images "$data/val" --out "$run"
                --input-size "$INPUT_SIZE" --batch-size "$BATCH_SIZE" --workers "$WORKERS" --device "$DEVICE"
                --eval-interval "$EVAL_INTERVAL")
  if [ "$row" = retinanet ]; then
    local budget="$DOCS/penalty_reduced_seed$seed.jsonl"
    if [ -f "$budget" ]; then
      python scripts/retinanet_baseline.py "${common[@]}" --epochs "$BASELINE_MAX_EPOCHS" --seconds-like "$budget"
    else
      echo "no $budget: the baseline trains $EPOCHS epochs instead of the same seconds" >&2
      python scripts/retinanet_baseline.py "${common[@]}" --epochs "$EPOCHS"
    fi
  else
    # shellcheck disable=SC2046  # the row's flags and --resume or nothing are words
    centernet train $(row_flags "$row") "${common[@]}" --epochs "$EPOCHS" $(resume_or_clear "$run")
  fi
}

[ -f "$DATA/annotations/train.json" ] || python scripts/make_hard_shapes.py --out "$DATA" --train 600 --val 150 --seed 0
[ -f "$DATA_LONGTAIL/annotations/train.json" ] ||
  python scripts/make_hard_shapes.py --out "$DATA_LONGTAIL" --train 600 --val 150 --seed 0 --long-tail
mkdir -p "$DOCS"
for seed in $SEEDS; do
  for row in $ROWS; do
    row_flags "$row" > /dev/null  # an unknown row fails before any training
    copy="$DOCS/${row}_seed$seed.jsonl"
    run="$OUT/${row}_seed$seed"
    if [ "$row" = retinanet ]; then
      # its epochs follow the seconds budget, and it cannot resume: a copy in docs/ is a finished run
      if [ -f "$copy" ]; then echo "$copy: finished, skipped"; continue; fi
      rm -rf "$run"
    elif finished "$copy" "$EPOCHS"; then
      echo "$copy: finished, skipped"; continue
    fi
    train_row "$row" "$seed" "$run"
    cp "$run/metrics.jsonl" "$copy"
  done
done

files=()
for row in $ALL_ROWS; do
  for seed in $SEEDS; do
    if [ -f "$DOCS/${row}_seed$seed.jsonl" ]; then files+=("$DOCS/${row}_seed$seed.jsonl"); fi
  done
done
[ ${#files[@]} -gt 0 ] || { echo "no runs in $DOCS yet" >&2; exit 1; }
python scripts/loss_study_table.py --rarest-from "$DATA_LONGTAIL/annotations/train.json" --out "$DOCS/table.md" \
  "${files[@]}"
title="hard shapes, ${INPUT_SIZE} px, $DEVICE"
python scripts/plot_metrics.py --out "$DOCS/map_vs_epoch.png" --title "$title" "${files[@]}"
python scripts/plot_metrics.py --out "$DOCS/map_vs_seconds.png" --x seconds --title "$title" "${files[@]}"
