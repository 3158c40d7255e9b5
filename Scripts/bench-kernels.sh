#!/usr/bin/env bash
# Kernel benchmark: sgemm, each xray-cnn convolution (forward and backward)
# and the whole xray-cnn training step, measured in one run on one core, so
# the step can be quoted as a fraction of the sgemm rate measured beside it.
# Prints one JSON line. Usage: Scripts/bench-kernels.sh [--blas-threads N]
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/bootstrap.sh release >&2
source Scripts/bench/common.sh
use_openblas_core_for_cpu
# Pin to one core so the figure is per core, as the targets are stated.
if command -v taskset >/dev/null; then pin=(taskset -c 0); else pin=(); fi
exec "${pin[@]}" "$BIN" bench kernels "$@"
