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
#   bash experiments/finetune.sh                       # ResNet-18, 256 px, 15 epochs each, CPU, seeds 0 and 1
#   DEVICE=cuda EPOCHS=30 bash experiments/finetune.sh
#   TRAIN=40 VAL=10 OLD_IMAGES=30 INPUT=64 OLD_EPOCHS=1 EPOCHS=1 DATA=/tmp/hard_tiny OUT=/tmp/finetune_tiny \
#       bash experiments/finetune.sh                   # a smoke run of the script
#
# Each run's metrics.jsonl is copied to DOCS/RUN_seedS.jsonl (old_scratch, new_scratch, new_finetuned); a run whose
# copy there is finished is skipped, and a stopped run resumes from its last.pt.
set -euo pipefail
cd "$(dirname "$0")/.."
source experiments/runs.sh

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
SEEDS=${SEEDS:-0 1}
DOCS=${DOCS:-docs/finetune}
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

train() {  # train TASK RUN SEED EPOCHS [options...]
  local task=$1 run=$2 seed=$3 epochs=$4
  shift 4
  local copy="$DOCS/${run}_seed$seed.jsonl" out="$OUT/${run}_seed$seed"
  if finished "$copy" "$epochs"; then echo "$copy: finished, skipped"; return; fi
  # shellcheck disable=SC2046  # --resume or nothing
  centernet train --train-ann "$tasks/${task}_train.json" --train-images "$DATA/train" \
    --val-ann "$tasks/${task}_val.json" --val-images "$DATA/val" --out "$out" --seed "$seed" \
    --input-size "$INPUT" --epochs "$epochs" --batch-size "$BATCH" --workers "$WORKERS" --device "$DEVICE" \
    --eval-interval 5 "$@" $(resume_or_clear "$out")
  cp "$out/metrics.jsonl" "$copy"
}

last_ap() {  # the COCO mAP@[.5:.95] of a run's last evaluation (its copy in DOCS)
  python - "$DOCS/$1.jsonl" <<'PY'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
print(f"{[record for record in records if 'AP' in record][-1]['AP']:.4f}")
PY
}

mkdir -p "$DOCS"
new_images=$((TRAIN - OLD_IMAGES))
for seed in $SEEDS; do
  train old old_scratch "$seed" "$OLD_EPOCHS"
  train new new_scratch "$seed" "$EPOCHS"
  train new new_finetuned "$seed" "$EPOCHS" --init-from "$OUT/old_scratch_seed$seed/best.pt"
  echo "seed $seed: old task (${OLD_CLASSES[*]}), $OLD_IMAGES images, $OLD_EPOCHS epochs from scratch:" \
       "mAP $(last_ap "old_scratch_seed$seed")"
  echo "seed $seed: new task (${NEW_CLASSES[*]}), $new_images images, $EPOCHS epochs from scratch:" \
       "mAP $(last_ap "new_scratch_seed$seed")"
  echo "seed $seed: new task (${NEW_CLASSES[*]}), $new_images images, $EPOCHS epochs fine-tuned from the old task:" \
       "mAP $(last_ap "new_finetuned_seed$seed")"
done
