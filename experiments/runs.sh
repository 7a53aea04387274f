# Sourced by the experiment scripts: runs that survive the end of a working period.
#   finished FILE EPOCHS   true when the metrics.jsonl FILE (a copy in docs/) holds the record of epoch EPOCHS
#   resume_or_clear RUN    prints --resume when RUN/last.pt exists (the run continues where it stopped); otherwise
#                          removes what an unfinished RUN left (events, metrics) so that it starts clean
#   train_until N RUN ARGS  `centernet train ARGS` (whose --out is RUN), stopped (SIGTERM) once RUN/metrics.jsonl
#                          holds N evaluations (its last.pt is then the checkpoint of that epoch; --resume goes on);
#                          N = 0: to the end

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

evaluations() {  # the lines of RUN/metrics.jsonl (0 before the first)
  cat "$1/metrics.jsonl" 2>/dev/null | wc -l
}

train_until() {
  local stop=$1 run=$2
  shift 2
  if [ "$stop" -eq 0 ]; then centernet train "$@"; return; fi
  centernet train "$@" &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(evaluations "$run")" -ge "$stop" ]; then
      # the trainer writes last.pt after the metrics line; not SIGINT: a script's background job ignores it
      while kill -0 "$pid" 2>/dev/null && ! [ "$run/last.pt" -nt "$run/metrics.jsonl" ]; do sleep 1; done
      kill -TERM "$pid" 2>/dev/null; break
    fi
    sleep 2
  done
  wait "$pid" || [ "$(evaluations "$run")" -ge "$stop" ]
}
