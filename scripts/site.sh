#!/usr/bin/env bash
# Set up, then build the course website from the committed, executed notebooks (nothing is executed) with
# Jupyter Book. Extra arguments go to `featurelab site` (e.g. --out DIR, or --run runs/course to add that run's
# claim table to the report page). Open runs/site/_build/html/index.html, or serve it:
#   python -m http.server -d runs/site/_build/html 8000
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
"${PYTHON:-python3}" -m pip install -q -e ".[site]"
exec "${PYTHON:-python3}" -m featurelab.cli site "$@"
