#!/usr/bin/env bash
# The learn-faster study (issue 26): each candidate change to the default recipe of `centernet train`, alone and
# together, on the learning-speed ablation's harder shapes set (scripts/make_hard_shapes.py --train 600 --val 150
# --seed 0), ResNet-18 from random init, 256 px, 15 epochs, batch 16, CPU, evaluated after every epoch (the AP after
# epoch 5 is half of the question). Rows are chosen on seed 0 and the chosen ones confirmed on seeds 1 and 2.
#
#   ROWS="default mosaic" SEEDS=0 bash experiments/learn_faster.sh   # about 5 minutes a row on 2 bf16 cores
# "default" is the default of the study's start (heads without BatchNorm, 64 channels), pinned in every row.
# STOP_AFTER=5 screens: each run stops after its 5th evaluation (the schedule still spans 15 epochs; a later run
# without STOP_AFTER resumes it from last.pt to the end). DOCS=docs/learn_faster/epyc: the rows run on the AMD EPYC
# (2 cores, AVX512-BF16) of 2026-12-07, the table `learn_faster_epyc`; DOCS=docs/learn_faster/xeon2: those run on
# the Intel Xeon (model 167, AMX) of the evening of 2026-12-07, the table `learn_faster_xeon2`;
# DOCS=docs/learn_faster/epyc2: those run on a slower EPYC of the first one's model, that night, `learn_faster_epyc2`;
# DOCS=docs/learn_faster/epyc3: those run on an EPYC of model 2 (the first one's arithmetic), later that night;
# DOCS=docs/learn_faster/epyc4: on an EPYC of model 2 again, on 2026-12-08.
#
# Each run's metrics.jsonl is copied to docs/learn_faster/ROW_seedS.jsonl (a row whose copy there is finished is
# skipped; a run interrupted with a last.pt resumes); the table is `python scripts/readme_tables.py --table
# learn_faster`. Run one row at a time, alone on the cores: its epoch seconds are part of the result.
set -euo pipefail
cd "$(dirname "$0")/.."
source experiments/runs.sh

DATA=${DATA:-data/hard}
OUT=${OUT:-runs/learn_faster}
DOCS=${DOCS:-docs/learn_faster}
DEVICE=${DEVICE:-cpu}
WORKERS=${WORKERS:-2}
ROWS=${ROWS:-default mosaic mixup head_group head_batch lr_2x}
SEEDS=${SEEDS:-0}
STOP_AFTER=${STOP_AFTER:-0}  # 0: to the end
LAST_EPOCH=$([ "$STOP_AFTER" -eq 0 ] && echo 15 || echo "$STOP_AFTER")  # the epoch a finished copy holds

# Every row starts from the default of the study's start, pinned (since then the default heads have BatchNorm and
# 128 channels, `head_batch_conv128`, lighter augmentation with a GIoU weight of 1,
# `conv128_aug_light_box_weight_1`, and copy-paste, `min_r1_copy_paste`): a later flag of the row overrides it.
START_DEFAULT="--head-norm none --head-conv 64 --scale 0.4 --color-jitter 0.4 --pca-lighting 0.1 --box-weight 5
  --gaussian-min-radius 0 --copy-paste 0"
HEADS="--head-norm batch --head-conv 128"  # the default from ca48c04 on (head_batch_conv128), pinned in the rows after it
LIGHT="--scale 0.2 --color-jitter 0 --pca-lighting 0"  # lighter augmentation: half the random scale, no colour
NOW="$HEADS $LIGHT --box-weight 1 --gaussian-min-radius 1"  # the default from d5d7d5c on (new_min_radius_1), pinned
# (the default since f170059 is NOW with copy-paste and --plain-last-epochs 2: first at 0.5, min_r1_copy_paste,
# then at 1.0, min_r1_copy_paste_1)

row_flags() {  # the flags of a row: the default recipe at the study's start and the row's change
  case "$1" in
    default) echo "$START_DEFAULT" ;;
    mosaic) echo "$START_DEFAULT --mosaic 0.5 --plain-last-epochs 2" ;;
    mosaic_full) echo "$START_DEFAULT --mosaic 1.0 --plain-last-epochs 2" ;;
    mixup) echo "$START_DEFAULT --mixup 0.3 --plain-last-epochs 2" ;;
    head_group) echo "$START_DEFAULT --head-norm group" ;;
    head_batch) echo "$START_DEFAULT --head-norm batch" ;;
    lr_2x) echo "$START_DEFAULT --lr 8e-3" ;;
    head_group_lr_2x) echo "$START_DEFAULT --head-norm group --lr 8e-3" ;;
    iou_aware) echo "$START_DEFAULT --heatmap-loss iou_aware" ;;
    head_batch_lr_2x) echo "$START_DEFAULT --head-norm batch --lr 8e-3" ;;
    head_batch_iou_aware) echo "$START_DEFAULT --head-norm batch --heatmap-loss iou_aware" ;;
    head_batch_ema_short) echo "$START_DEFAULT --head-norm batch --ema-decay 0.99 --ema-ramp 50" ;;
    head_batch_lr_half) echo "$START_DEFAULT --head-norm batch --lr 2e-3" ;;
    head_batch_warmup_20) echo "$START_DEFAULT --head-norm batch --warmup-iters 20" ;;
    head_batch_conv128) echo "$START_DEFAULT --head-norm batch --head-conv 128" ;;
    head_batch_conv256) echo "$START_DEFAULT --head-norm batch --head-conv 256" ;;
    head_group_conv128) echo "$START_DEFAULT --head-norm group --head-conv 128" ;;
    head_batch_conv128_ema_short) echo "$START_DEFAULT $HEADS --ema-decay 0.99 --ema-ramp 50" ;;
    conv128_prior_001) echo "$START_DEFAULT $HEADS --heatmap-prior 0.01" ;;
    conv128_box_weight_1) echo "$START_DEFAULT $HEADS --box-weight 1" ;;
    conv128_mosaic) echo "$START_DEFAULT $HEADS --mosaic 0.5 --plain-last-epochs 2" ;;
    conv128_aug_light) echo "$START_DEFAULT $HEADS $LIGHT" ;;
    conv128_no_aug) echo "$START_DEFAULT $HEADS --scale 0 --shift 0 --color-jitter 0 --pca-lighting 0" ;;
    conv128_aug_light_box_weight_1) echo "$START_DEFAULT $HEADS $LIGHT --box-weight 1" ;;
    new_warmup_37) echo "$START_DEFAULT $HEADS $LIGHT --box-weight 1 --warmup-iters 37" ;;
    new_lr_1_5x) echo "$START_DEFAULT $HEADS $LIGHT --box-weight 1 --lr 6e-3" ;;
    new_ema_window_20) echo "$START_DEFAULT $HEADS $LIGHT --box-weight 1 --ema-decay 0.95 --ema-ramp 20" ;;
    new_box_weight_05) echo "$START_DEFAULT $HEADS $LIGHT --box-weight 0.5" ;;
    new_warmup_37_ema_20) echo "$START_DEFAULT $HEADS $LIGHT --box-weight 1 --warmup-iters 37 --ema-decay 0.95 \
      --ema-ramp 20" ;;
    new_min_radius_2) echo "$START_DEFAULT $HEADS $LIGHT --box-weight 1 --gaussian-min-radius 2" ;;
    new_min_radius_1_warmup_37_ema_20) echo "$START_DEFAULT $HEADS $LIGHT --box-weight 1 --gaussian-min-radius 1 \
      --warmup-iters 37 --ema-decay 0.95 --ema-ramp 20" ;;
    new_min_radius_1) echo "$START_DEFAULT $NOW" ;;
    new_copy_paste) echo "$START_DEFAULT $HEADS $LIGHT --box-weight 1 --copy-paste 0.5 --plain-last-epochs 2" ;;
    min_r1_head_none) echo "$START_DEFAULT $NOW --head-norm none" ;;
    min_r1_head_none_box_weight_5) echo "$START_DEFAULT $NOW --head-norm none --box-weight 5" ;;
    min_r1_batch_8) echo "$START_DEFAULT $NOW --batch-size 8" ;;
    min_r1_batch_8_lr_2x) echo "$START_DEFAULT $NOW --batch-size 8 --lr 8e-3" ;;
    min_r1_task_exdet) echo "$START_DEFAULT $NOW --task exdet" ;;
    min_r1_copy_paste) echo "$START_DEFAULT $NOW --copy-paste 0.5 --plain-last-epochs 2" ;;
    min_r1_copy_paste_1) echo "$START_DEFAULT $NOW --copy-paste 1.0 --plain-last-epochs 2" ;;
    *) echo "unknown row $1" >&2; exit 2 ;;
  esac
}

[ -f "$DATA/annotations/train.json" ] || python scripts/make_hard_shapes.py --out "$DATA" --train 600 --val 150 --seed 0
mkdir -p "$DOCS"
for seed in $SEEDS; do
  for row in $ROWS; do
    copy="$DOCS/${row}_seed$seed.jsonl"
    if finished "$copy" "$LAST_EPOCH"; then echo "$copy: finished, skipped"; continue; fi
    run="$OUT/${row}_seed$seed"
    # shellcheck disable=SC2046  # the row's flags are words
    train_until "$STOP_AFTER" "$run" --batch-size 16 $(row_flags "$row") --seed "$seed" $(resume_or_clear "$run") \
      --train-ann "$DATA/annotations/train.json" --train-images "$DATA/train" \
      --val-ann "$DATA/annotations/val.json" --val-images "$DATA/val" --out "$run" \
      --input-size 256 --epochs 15 --workers "$WORKERS" --device "$DEVICE" --eval-interval 1
    cp "$run/metrics.jsonl" "$copy"
  done
done
