#!/usr/bin/env bash
# Shapes quickstart, end to end on a CPU: install, make data, train ResNet-18 from scratch with the default recipe,
# evaluate COCO mAP, render a demo video. The README's quickstart figures are what this script printed.
# The shapes are easy and small (64 px images): no scale, shift or colour augmentation (copy-paste, the default, stays
# on), 24 epochs.
# Override any variable from the environment (EPOCHS=8 for a two-minute run; AMP=off CHANNELS_LAST=no for the
# float32 path this script took before 0.2, with OUT=runs/quickstart_fp32 to keep both; TRAIN_FLAGS="--head-norm none
# --head-conv 64" for the heads of before 0.2).
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${DATA:-data/shapes}
OUT=${OUT:-runs/quickstart}
DEVICE=${DEVICE:-cpu}
ARCH=${ARCH:-resnet18}
EPOCHS=${EPOCHS:-24}
AMP=${AMP:-auto}  # --amp of train, evaluate and demo
CHANNELS_LAST=${CHANNELS_LAST:-yes}  # yes: --channels-last, no: --no-channels-last
read -r -a EXTRA <<< "${TRAIN_FLAGS:-}"  # more `centernet train` options
PRECISION=(--amp "$AMP" "$([ "$CHANNELS_LAST" = no ] && echo --no-channels-last || echo --channels-last)")

python -m pip install --quiet --disable-pip-version-check -e .

python scripts/make_shapes.py --out "$DATA" --train 1000 --val 100 --image-size 64 --seed 0
python scripts/make_shapes_video.py --out "$DATA/demo.avi" --frames 60

rm -rf "$OUT"
start=$(date +%s)
centernet train --arch "$ARCH" \
  --train-ann "$DATA/annotations/train.json" --train-images "$DATA/train" \
  --val-ann "$DATA/annotations/val.json" --val-images "$DATA/val" \
  --out "$OUT" --input-size 64 --epochs "$EPOCHS" --batch-size 16 --eval-interval 8 --workers 0 --device "$DEVICE" \
  --scale 0 --shift 0 --color-jitter 0 --pca-lighting 0 "${PRECISION[@]}" ${EXTRA[@]+"${EXTRA[@]}"}
seconds=$(( $(date +%s) - start ))

centernet evaluate --checkpoint "$OUT/best.pt" --ann "$DATA/annotations/val.json" --images "$DATA/val" \
  --out "$OUT/detections.json" --metrics "$OUT/metrics_val.json" --workers 1 --device "$DEVICE" "${PRECISION[@]}"

centernet demo --checkpoint "$OUT/best.pt" --input "$DATA/demo.avi" --output "$OUT/demo.avi" \
  --json "$OUT/demo.jsonl" --strip "$OUT/demo_strip.png" --device "$DEVICE" "${PRECISION[@]}"

python - "$OUT/metrics_val.json" "$seconds" "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)" <<'PY'
import json, sys
metrics, seconds, load = json.load(open(sys.argv[1])), int(sys.argv[2]), sys.argv[3]
print(f"quickstart: COCO mAP@[.5:.95] = {metrics['AP']:.3f} (AP50 {metrics['AP50']:.3f}, AP75 {metrics['AP75']:.3f}) "
      f"after {seconds} s of training ({seconds / 60:.1f} min; load average now {load})")
PY
