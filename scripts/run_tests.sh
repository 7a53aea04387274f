#!/usr/bin/env bash
# The test command: install the package with its dev and export extras (the export tests run onnx and
# onnxruntime), lint, run the whole suite on CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e ".[dev,export]"
ruff check .
python -m pytest -q "$@"
