#!/usr/bin/env bash
# Fine-tuning vs training from scratch on a small "new" task (README, "Fine-tune a trained detector").
#
# The harder shapes set (scripts/make_hard_shapes.py --train 600 --val 150 --seed 0; classes ellipse 1,
# rectangle 3, triangle 7, star 12, cross 20) is split into two tasks that share one class and no training image
# (scripts/subset_coco.py): the "old" task (ellipse, rectangle, triangle) on the first OLD_IMAGES training
# images, the "new" task (triangle, star, cross) on the rest; each is validated on the whole validation split,
# restricted to its classes. The old task is trained from scratch; the new one twice with the same options and
# epochs: from scratch, and from the old task's best.pt with --init-from (triangle carried over, star and cross
# new). Objects of the other task's classes are unannotated in each task's files, i.e. background.
#
#   bash experiments/finetune.sh                       # ResNet-18, 256 px, 15 epochs each, CPU
#   DEVICE=cuda EPOCHS=30 bash experiments/finetune.sh
#   TRAIN=40 VAL=10 OLD_IMAGES=30 INPUT=64 OLD_EPOCHS=1 EPOCHS=1 DATA=/tmp/hard_tiny OUT=/tmp/finetune_tiny \
#       bash experiments/finetune.sh                   # a smoke run of the script
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${DATA:-data/hard}
OUT=${OUT:-runs/finetune}
DEVICE=${DEVICE:-cpu}
WORKERS=${WORKERS:-2}
TRAIN=${TRAIN:-600}
VAL=${VAL:-150}
OLD_IMAGES=${OLD_IMAGES:-450}  # the new task keeps the remaining TRAIN - OLD_IMAGES training images: small data
INPUT=${INPUT:-256}
OLD_EPOCHS=${OLD_EPOCHS:-15}
EPOCHS=${EPOCHS:-15}
BATCH=${BATCH:-16}
OLD_CLASSES=(ellipse rectangle triangle)
NEW_CLASSES=(triangle star cross)

[ -f "$DATA/annotations/train.json" ] || python scripts/make_hard_shapes.py --out "$DATA" --train "$TRAIN" \
                                                 --val "$VAL" --seed 0
tasks="$OUT/annotations"
python scripts/subset_coco.py "$DATA/annotations/train.json" "$tasks/old_train.json" --classes "${OLD_CLASSES[@]}" \
  --images ":$OLD_IMAGES"
python scripts/subset_coco.py "$DATA/annotations/val.json" "$tasks/old_val.json" --classes "${OLD_CLASSES[@]}"
python scripts/subset_coco.py "$DATA/annotations/train.json" "$tasks/new_train.json" --classes "${NEW_CLASSES[@]}" \
  --images "$OLD_IMAGES:"
python scripts/subset_coco.py "$DATA/annotations/val.json" "$tasks/new_val.json" --classes "${NEW_CLASSES[@]}"

train() {  # train TASK RUN EPOCHS [options...]
  local task=$1 run=$2 epochs=$3
  shift 3
  rm -rf "$OUT/$run"
  centernet train --train-ann "$tasks/${task}_train.json" --train-images "$DATA/train" \
    --val-ann "$tasks/${task}_val.json" --val-images "$DATA/val" --out "$OUT/$run" \
    --input-size "$INPUT" --epochs "$epochs" --batch-size "$BATCH" --workers "$WORKERS" --device "$DEVICE" \
    --eval-interval 5 "$@"
}

last_ap() {  # the COCO mAP@[.5:.95] of a run's last evaluation
  python - "$OUT/$1/metrics.jsonl" <<'PY'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
print(f"{[record for record in records if 'AP' in record][-1]['AP']:.4f}")
PY
}

train old old_scratch "$OLD_EPOCHS"
train new new_scratch "$EPOCHS"
train new new_finetuned "$EPOCHS" --init-from "$OUT/old_scratch/best.pt"

new_images=$((TRAIN - OLD_IMAGES))
echo "old task (${OLD_CLASSES[*]}), $OLD_IMAGES images, $OLD_EPOCHS epochs from scratch: mAP $(last_ap old_scratch)"
echo "new task (${NEW_CLASSES[*]}), $new_images images, $EPOCHS epochs from scratch: mAP $(last_ap new_scratch)"
echo "new task (${NEW_CLASSES[*]}), $new_images images, $EPOCHS epochs fine-tuned from the old task:" \
     "mAP $(last_ap new_finetuned)"
