#!/usr/bin/env bash
# The test command: install the package with its dev and export extras (the export tests run onnx and
# onnxruntime), lint, run the whole suite on CPU. TrackEval (the tracking benchmark's evaluator) goes in without its
# declared dependencies: its metrics need only numpy and scipy, and the opencv-python it names would sit beside our
# opencv-python-headless and break cv2.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e ".[dev,export]"
python -m pip install --quiet --disable-pip-version-check --no-deps "trackeval==1.3.0" "tabulate>=0.9"
ruff check .
python -m pytest -q "$@"
