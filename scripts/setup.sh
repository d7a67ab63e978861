#!/usr/bin/env bash
# Install featurelab and everything the course needs into the current Python environment (a venv or conda
# env is recommended), and register the Jupyter kernel the notebooks use. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c "import torch" 2>/dev/null; then
  # The course's own machines have a CPU build of this version on local disk. With a GPU, install the torch
  # build for your CUDA first (https://pytorch.org/get-started/locally/); this step then does nothing.
  "$PY" -m pip install -q "torch==2.13.0"
fi
"$PY" -m pip install -q -e ".[test]"
# The kernel goes into the active environment (--sys-prefix), not the user's global kernels: two clones or
# venvs each keep their own "python3" kernel instead of silently taking each other's.
"$PY" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (featurelab)" >/dev/null
echo "featurelab installed: $("$PY" -c 'import featurelab, torch; print(featurelab.__version__, "with torch", torch.__version__)')"
