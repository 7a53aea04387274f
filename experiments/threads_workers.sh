#!/usr/bin/env bash
# Data-loader workers against intra-op threads on this machine's cores (README, Performance): the default recipe
# (ResNet-18, 256 px, batch 16, --amp auto) trained for 2 epochs on the harder shapes set without validation, for
# each pair of WORKERS_LIST x THREADS_LIST (threads set by OMP_NUM_THREADS); the second epoch's seconds are compared.
# Needs the cores to itself.
#
#   bash experiments/threads_workers.sh       # writes docs/cpu_speed/threads_workers.log
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${DATA:-data/hard}
OUT=${OUT:-runs/threads_workers}
WORKERS_LIST=${WORKERS_LIST:-0 1 2}
THREADS_LIST=${THREADS_LIST:-1 2}
LOG=${LOG:-docs/cpu_speed/threads_workers.log}

[ -f "$DATA/annotations/train.json" ] || python scripts/make_hard_shapes.py --out "$DATA" --train 600 --val 150 --seed 0
mkdir -p "$(dirname "$LOG")"
echo "commit $(git rev-parse --short HEAD), $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$LOG"
for workers in $WORKERS_LIST; do
  for threads in $THREADS_LIST; do
    run="$OUT/workers${workers}_threads$threads"
    rm -rf "$run"  # a scratch run: only its seconds are kept, in the log
    OMP_NUM_THREADS=$threads centernet train --train-ann "$DATA/annotations/train.json" --train-images "$DATA/train" \
      --out "$run" --input-size 256 --epochs 2 --batch-size 16 --workers "$workers" --device cpu > /dev/null 2>&1
    python - "$run/metrics.jsonl" "$workers" "$threads" <<'PY' | tee -a "$LOG"
import json
import sys

records = [json.loads(line) for line in open(sys.argv[1])]
print(f"workers {sys.argv[2]} threads {sys.argv[3]}: epoch 2 {records[-1]['epoch_seconds']:.2f} s "
      f"(epoch 1 {records[0]['epoch_seconds']:.2f} s), load average {records[-1]['load_average'][0]:.2f}")
PY
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$LOG"
