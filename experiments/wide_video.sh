#!/usr/bin/env bash
# The demo on a 1280x720 clip at the frame's aspect ratio (512x288, the default for 16:9 video) against a
# letterboxed square (512x512), CPU, batch 4, one checkpoint (README, "Evaluate, demo, export"). Needs the cores to
# itself: it times the demo.
#
#   CHECKPOINT=runs/learning_speed/default_seed0/best.pt bash experiments/wide_video.sh   # docs/cpu_speed/wide_video.log
set -euo pipefail
cd "$(dirname "$0")/.."

CHECKPOINT=${CHECKPOINT:-runs/learning_speed/default_seed0/best.pt}
LOG=${LOG:-docs/cpu_speed/wide_video.log}
CLIP=${CLIP:-runs/wide_video/wide.avi}

mkdir -p "$(dirname "$LOG")" "$(dirname "$CLIP")"
[ -f "$CLIP" ] || python scripts/make_shapes_video.py --out "$CLIP" --frames 60 --width 1280 --height 720
{ echo "checkpoint: $CHECKPOINT; clip: 60 frames of 1280x720 (scripts/make_shapes_video.py --frames 60 --width 1280 --height 720)"
  echo "commit: $(git rev-parse --short HEAD), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"; } | tee "$LOG"
for size in "512 288" "512 512"; do
  # shellcheck disable=SC2086  # the size is two words
  centernet demo --checkpoint "$CHECKPOINT" --input "$CLIP" --device cpu --batch-size 4 --input-size $size \
    2>/dev/null | tee -a "$LOG"
  echo "load average after --input-size $size: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$LOG"
done
