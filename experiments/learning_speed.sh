#!/usr/bin/env bash
# The learning-speed ablation of the README: ResNet-18 from random init on the harder shapes set
# (scripts/make_hard_shapes.py --train 600 --val 150 --seed 0), 256 px input, 15 epochs, batch 16, CPU, every row
# the same budget, evaluated every 5 epochs (the reference and default rows after every epoch). The reference row
# is the original CenterNet's recipe (experiments/recipes.sh); each other row changes one thing of it, and the last
# row is the default of `centernet train`.
#
#   bash experiments/learning_speed.sh                      # every row, seed 0 (about 5 minutes a row on 2 bf16 cores)
#   ROWS="reference default" SEEDS="0 1" bash experiments/learning_speed.sh
#
# Each run's metrics.jsonl is copied to docs/ablation/ROW_seedS.jsonl (a row whose copy there is finished is
# skipped; a run interrupted with a last.pt resumes); at the end the README's table of every run there is printed
# (scripts/readme_tables.py --table ablation: AP ratios against the reference row of the same seed) and the plot of
# mAP against training seconds of the rows evaluated every epoch drawn (docs/ablation/map_vs_seconds.png).
set -euo pipefail
cd "$(dirname "$0")/.."
source experiments/recipes.sh
source experiments/runs.sh

DATA=${DATA:-data/hard}
OUT=${OUT:-runs/learning_speed}
DEVICE=${DEVICE:-cpu}
WORKERS=${WORKERS:-2}
ROWS=${ROWS:-reference lr_schedule ltrb_giou ema elliptical ttf_neck dfl default}
SEEDS=${SEEDS:-0}
EVERY_EPOCH_ROWS=${EVERY_EPOCH_ROWS:-reference default}  # evaluated after every epoch (the README's mAP-vs-seconds plot)

eval_interval() {  # the evaluation interval of a row
  case " $EVERY_EPOCH_ROWS " in
    *" $1 "*) echo 1 ;;
    *) echo 5 ;;
  esac
}

row_flags() {  # the flags of a row
  case "$1" in
    reference) echo "${REFERENCE_RECIPE[@]}" ;;
    lr_schedule) echo "${REFERENCE_RECIPE[@]} ${LR_SCHEDULE[@]}" ;;
    ltrb_giou) echo "${REFERENCE_RECIPE[@]} --box-head ltrb" ;;
    ema) echo "${REFERENCE_RECIPE[@]} --ema" ;;
    elliptical) echo "${REFERENCE_RECIPE[@]} --gaussian elliptical" ;;
    ttf_neck) echo "${REFERENCE_RECIPE[@]} --neck-shortcuts --neck-channels 256 128 64" ;;
    dfl) echo "${REFERENCE_RECIPE[@]} --box-head ltrb --dfl-bins 24" ;;
    default) echo "" ;;
    *) echo "unknown row $1" >&2; exit 2 ;;
  esac
}

[ -f "$DATA/annotations/train.json" ] || python scripts/make_hard_shapes.py --out "$DATA" --train 600 --val 150 --seed 0
mkdir -p docs/ablation
for seed in $SEEDS; do
  for row in $ROWS; do
    copy="docs/ablation/${row}_seed$seed.jsonl"
    if finished "$copy" 15; then echo "$copy: finished, skipped"; continue; fi
    run="$OUT/${row}_seed$seed"
    # shellcheck disable=SC2046  # the row's flags are words
    centernet train $(row_flags "$row") --seed "$seed" $(resume_or_clear "$run") \
      --train-ann "$DATA/annotations/train.json" --train-images "$DATA/train" \
      --val-ann "$DATA/annotations/val.json" --val-images "$DATA/val" --out "$run" \
      --input-size 256 --epochs 15 --batch-size 16 --workers "$WORKERS" --device "$DEVICE" \
      --eval-interval "$(eval_interval "$row")"
    cp "$run/metrics.jsonl" "$copy"
  done
done
# the README's table (every row and seed in docs/ablation) and its plot of validation mAP against training seconds
# of the rows evaluated after every epoch
python scripts/readme_tables.py --table ablation
plotted=()
for row in $EVERY_EPOCH_ROWS; do
  for file in docs/ablation/"${row}"_seed*.jsonl; do [ -f "$file" ] && plotted+=("$file"); done
done
if [ ${#plotted[@]} -gt 0 ]; then
  python scripts/plot_metrics.py --out docs/ablation/map_vs_seconds.png --x seconds \
    --title "hard shapes, 256 px, ResNet-18 from scratch, $DEVICE" "${plotted[@]}"
fi
