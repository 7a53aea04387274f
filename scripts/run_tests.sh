#!/usr/bin/env bash
# The test command: install the package with its dev extras, lint, run the whole suite on CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
ruff check .
python -m pytest -q "$@"
