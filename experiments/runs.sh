# Sourced by the experiment scripts: runs that survive the end of a working period.
#   finished FILE EPOCHS   true when the metrics.jsonl FILE (a copy in docs/) holds the record of epoch EPOCHS
#   resume_or_clear RUN    prints --resume when RUN/last.pt exists (the run continues where it stopped); otherwise
#                          removes what an unfinished RUN left (events, metrics) so that it starts clean

finished() {
  [ -f "$1" ] && python - "$1" "$2" <<'PY'
import json
import sys

epochs = [json.loads(line).get("epoch") for line in open(sys.argv[1]) if line.strip()]
sys.exit(0 if int(sys.argv[2]) in epochs else 1)
PY
}

resume_or_clear() {
  if [ -f "$1/last.pt" ]; then echo --resume; else rm -rf "$1"; fi
}
