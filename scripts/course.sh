#!/usr/bin/env bash
# Set up, then run every available notebook at scale small and write the reproduction report.
# Extra arguments go to `featurelab run` (e.g. --seed 7, or --scale full on a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Fashion-MNIST: the Debian package dataset-fashion-mnist, data/fashion_mnist/, or a checksum-verified download.
export FEATURELAB_DOWNLOAD=${FEATURELAB_DOWNLOAD:-1}
status=0
"${PYTHON:-python3}" -m featurelab.cli run --all --out runs/course "$@" || status=$?
echo
echo "Reproduction report: runs/course/report.md (executed notebooks and summary.json beside it)."
exit $status
