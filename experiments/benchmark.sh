#!/usr/bin/env bash
# Performance figures of the README (section Performance): training step, heatmap loss, target encoding, data loading and
# inference, each against its baseline, on whatever device is present (CUDA if any, else CPU).
# On CPU the training batch is 2 and the inference throughput batch 8, so that a run ends in under an hour.
# Override any variable from the environment, e.g. ARCHS=resnet18 SECTIONS=loss,targets THREADS=1.
# On a machine whose cores other processes share, export OMP_WAIT_POLICY=PASSIVE (see the comment on CPU_CHUNK_ELEMENTS in centernet/losses/penalty_reduced.py).
set -euo pipefail
cd "$(dirname "$0")/.."

ARCHS=${ARCHS:-resnet18 dla34}
SECTIONS=${SECTIONS:-train,loss,targets,data,inference}
DEVICE=${DEVICE:-auto}
REPEATS=${REPEATS:-5}
THREADS=${THREADS:-}  # intra-op threads; empty: PyTorch's default (all cores)
NO_COMPILE=${NO_COMPILE:-}  # 1: skip the torch.compile variants (compiling DLA-34 on 2 cores takes long)
OUT=${OUT:-runs/benchmark}
mkdir -p "$OUT"

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset}" \
  | tee "$OUT/benchmark.txt"
# KINETO_LOG_LEVEL=5 silences the profiler's log lines (the profiler measures peak memory on CPU)
# shellcheck disable=SC2086
KINETO_LOG_LEVEL=5 PYTHONUNBUFFERED=1 python scripts/benchmark.py --arch $ARCHS --input-size 512 \
  --device "$DEVICE" --sections "$SECTIONS" --repeats "$REPEATS" --warmup 2 \
  ${THREADS:+--threads "$THREADS"} ${NO_COMPILE:+--no-compile} 2>&1 \
  | grep --line-buffered -v '^USDT:' | tee -a "$OUT/benchmark.txt"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/benchmark.txt"
