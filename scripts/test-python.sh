#!/usr/bin/env bash
# The Python tier: the layerwise_torch package's tests (python/tests) under Debian's /usr/bin/python3.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-python.sh
# one thread per process: the two-rank tests run two processes on this machine's two cores
OMP_NUM_THREADS=1 /usr/bin/python3 -m pytest -q -p no:cacheprovider python/tests "$@"
