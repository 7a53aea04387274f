#!/usr/bin/env bash
# Tracking on our benchmark (scripts/make_tracking_shapes.py: shapes crossing, hiding each other, leaving and
# entering under a panning camera, 300 frames of 320x256, MOTChallenge ground truth): a detector trained on
# make_shapes.py's shapes at 256 px (ResNet-18 from random init, the default recipe, 12 epochs, CPU), then
# `centernet demo --track` on the video, scored by scripts/track_eval.py (TrackEval's HOTA, CLEAR and Identity metrics)
# against a naive tracker on the same detections, and our tracker on the ground truth with 10% of its boxes dropped.
# TrackEval goes in without its declared dependencies (see scripts/track_eval.py): scripts/run_tests.sh installs it.
# The demo runs a second time without --track at --score-threshold 0.1 (every detection a tracker may see) for the
# rows run on the same detections: ours again, and Roboflow's ByteTrack where PYTHON has the `trackers` package
# (a separate environment: `python -m venv --system-site-packages ENV; ENV/bin/pip install supervision;
# ENV/bin/pip install --no-deps trackers==2.6.1 rich pydeprecate`, then PYTHON=ENV/bin/python).
#
#   bash experiments/tracking.sh        # docs/tracking/ (metrics.json, eval.log, demo.log, the detector's metrics)
set -euo pipefail
cd "$(dirname "$0")/.."
source experiments/runs.sh

DATA=${DATA:-data/tracking}
SHAPES=${SHAPES:-data/shapes256}
OUT=${OUT:-runs/tracking}
DOCS=${DOCS:-docs/tracking}
EPOCHS=${EPOCHS:-12}
DEVICE=${DEVICE:-cpu}
PYTHON=${PYTHON:-python}

[ -f "$DATA/gt/gt.txt" ] || python scripts/make_tracking_shapes.py --out "$DATA" --frames 300 --seed 0
[ -f "$SHAPES/annotations/train.json" ] || python scripts/make_shapes.py --out "$SHAPES" --train 1000 --val 100 \
  --image-size 256 --seed 0
mkdir -p "$DOCS"
detector="$OUT/detector"
if ! finished "$DOCS/detector.jsonl" "$EPOCHS"; then
  # shellcheck disable=SC2046  # --resume or nothing
  centernet train $(resume_or_clear "$detector") --train-ann "$SHAPES/annotations/train.json" \
    --train-images "$SHAPES/train" --val-ann "$SHAPES/annotations/val.json" --val-images "$SHAPES/val" \
    --out "$detector" --input-size 256 --epochs "$EPOCHS" --batch-size 16 --workers 2 --device "$DEVICE" \
    --eval-interval 4
  cp "$detector/metrics.jsonl" "$DOCS/detector.jsonl"
fi
"$PYTHON" -c "import trackeval" 2>/dev/null || { echo "tracking.sh: TrackEval is missing: python -m pip install --no-deps trackeval==1.3.0 tabulate" >&2; exit 1; }
echo "commit: $(git rev-parse --short HEAD), load average before: $(cut -d' ' -f1-3 /proc/loadavg)" > "$DOCS/demo.log"
centernet demo --checkpoint "$detector/best.pt" --input "$DATA/video.avi" --device "$DEVICE" --track \
  --json "$OUT/tracked.jsonl" --mot-out "$OUT/tracks.txt" --tracks-out "$DOCS/tracks.json" \
  | tee -a "$DOCS/demo.log"
centernet demo --checkpoint "$detector/best.pt" --input "$DATA/video.avi" --device "$DEVICE" --score-threshold 0.1 \
  --json "$OUT/raw.jsonl" > /dev/null
"$PYTHON" scripts/track_eval.py --gt "$DATA/gt/gt.txt" --json "$OUT/tracked.jsonl" --raw "$OUT/raw.jsonl" \
  --out "$DOCS/metrics.json" > "$DOCS/eval.log"
{ echo "commit: $(git rev-parse --short HEAD), the detector's: $(grep -o '"commit": "[0-9a-f]*"' "$DOCS/detector.jsonl" | tail -1)"
  echo "command: $PYTHON scripts/track_eval.py --gt $DATA/gt/gt.txt --json $OUT/tracked.jsonl --raw $OUT/raw.jsonl --out $DOCS/metrics.json"
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  cat "$DOCS/eval.log"; } > "$DOCS/eval.log.tmp" && mv "$DOCS/eval.log.tmp" "$DOCS/eval.log" && cat "$DOCS/eval.log"
