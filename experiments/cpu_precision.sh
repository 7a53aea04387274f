#!/usr/bin/env bash
# CPU precision (README, Performance): the default recipe of `centernet train` (--amp auto: bf16 autocast on a CPU
# with native bf16, channels_last) against the same recipe in float32 with the contiguous layout (--amp off
# --no-channels-last, the default before 0.2), on the harder shapes set (scripts/make_hard_shapes.py --train 600
# --val 150 --seed 0): ResNet-18 from random init, 256 px, 15 epochs, batch 16, 2 workers, CPU, the same seeds.
# Each timed run needs the cores to itself.
#
#   bash experiments/cpu_precision.sh                     # both rows, seeds 0 and 1 (about 40 minutes on 2 cores)
#   ROWS=bf16 SEEDS=0 bash experiments/cpu_precision.sh
#
# Each run's metrics.jsonl is copied to docs/cpu_speed/ROW_seedS.jsonl, and the commit it ran at to ROW_seedS.commit. A row whose copy there has all its epochs
# is skipped; a run interrupted with a last.pt resumes. The table is printed at the end
# (scripts/readme_tables.py).
set -euo pipefail
cd "$(dirname "$0")/.."
source experiments/runs.sh

DATA=${DATA:-data/hard}
OUT=${OUT:-runs/cpu_precision}
DOCS=${DOCS:-docs/cpu_speed}
ROWS=${ROWS:-fp32 bf16}
SEEDS=${SEEDS:-0 1}
EPOCHS=${EPOCHS:-15}

row_flags() {  # the flags of a row
  case "$1" in
    fp32) echo "--amp off --no-channels-last" ;;
    bf16) echo "" ;;  # the defaults
    *) echo "unknown row $1" >&2; exit 2 ;;
  esac
}

[ -f "$DATA/annotations/train.json" ] || python scripts/make_hard_shapes.py --out "$DATA" --train 600 --val 150 --seed 0
mkdir -p "$DOCS"
for seed in $SEEDS; do
  for row in $ROWS; do
    copy="$DOCS/${row}_seed$seed.jsonl"
    if finished "$copy" "$EPOCHS"; then echo "$copy: finished, skipped"; continue; fi
    run="$OUT/${row}_seed$seed"
    # shellcheck disable=SC2046  # the row's flags are words
    centernet train $(row_flags "$row") --seed "$seed" $(resume_or_clear "$run") \
      --train-ann "$DATA/annotations/train.json" --train-images "$DATA/train" \
      --val-ann "$DATA/annotations/val.json" --val-images "$DATA/val" --out "$run" \
      --input-size 256 --epochs "$EPOCHS" --batch-size 16 --workers 2 --device cpu --eval-interval 5
    cp "$run/metrics.jsonl" "$copy"
    git rev-parse --short HEAD > "$DOCS/${row}_seed$seed.commit"
  done
done
python scripts/readme_tables.py --docs "$DOCS" --table cpu_precision
