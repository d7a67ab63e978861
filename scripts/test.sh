#!/usr/bin/env bash
# Set up, then run the whole test suite: unit tests, structure lint, nbval over the committed notebooks
# (default seed) and papermill over every notebook with a second seed — two notebooks at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${PYTHON:-python3}" -m pytest -n 2 --dist loadscope \
  --nbval-lax --nbval-current-env --nbval-cell-timeout 300 --nbval-sanitize-with tests/nbval_sanitize.cfg \
  tests notebooks "$@"
