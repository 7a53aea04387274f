#!/usr/bin/env bash
# The README's CPU latency table (section Architectures): each architecture's default layout at 512x512, batch 1,
# on every inference path (float32 / bf16 autocast, contiguous / channels_last, onnxruntime on the float32 ONNX
# export), median of 5 after 2 warm-ups, in one run; then scripts/readme_tables.py turns the log into the table.
# Needs the cores to itself.
#
#   bash experiments/cpu_latency.sh           # writes docs/cpu_speed/inference.log (about 10 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."

ARCHS=${ARCHS:-resnet18 resnet18_dcn resnet50_dcn resnet101_dcn dla34 dla34_plain}
LOG=${LOG:-docs/cpu_speed/inference.log}

mkdir -p "$(dirname "$LOG")"
command="python scripts/benchmark.py --sections inference --arch $ARCHS --input-size 512 --inference-batch 1 --device cpu --repeats 5 --warmup 2"
{ echo "command: $command"; echo "commit: $(git rev-parse --short HEAD), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"; } | tee "$LOG"
# KINETO_LOG_LEVEL=5 silences the profiler's log lines
KINETO_LOG_LEVEL=5 PYTHONUNBUFFERED=1 $command 2>&1 | grep --line-buffered -v '^USDT:\|gpuGetDeviceCount\|No CUDA runtime' | tee -a "$LOG"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$LOG"
python scripts/readme_tables.py --docs "$(dirname "$LOG")" --table cpu_latency
