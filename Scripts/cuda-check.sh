#!/usr/bin/env bash
# The CUDA backend's check on a GPU machine, in one command (CUDA/README.md).
#
#   Scripts/cuda-check.sh [REFERENCE-DIR]
#
# Builds the backend and harness (Scripts/build-cuda.sh), writes the CPU
# path's references with `tandem diagnose cuda-reference` where tandem is
# built (else REFERENCE-DIR must hold them: a GPU machine without Swift gets
# them from one with it), runs the harness on xray-cnn, xray-cnn-gn,
# xray-cnn-deep and churn-mlp, then the xray-cnn throughput against PyTorch
# CUDA when torch is importable, rounds interleaved. Prints JSON lines;
# exits with the harness's status.
set -euo pipefail
cd "$(dirname "$0")/.."
reference=${1:-.build/cuda-reference}
Scripts/build-cuda.sh
if [[ ! -f $reference/xray-cnn-deep/reference.txt ]]; then
  tandem=.build/release/tandem
  [[ -x $tandem ]] || { echo "cuda-check: no references in $reference and no built tandem to write them" >&2; exit 2; }
  "$tandem" diagnose cuda-reference --out "$reference" >/dev/null
fi
status=0
.build/cuda/check "$reference/xray-cnn" "$reference/xray-cnn-gn" "$reference/xray-cnn-deep" "$reference/churn-mlp" || status=$?
if ((status == 0)) && python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  for round in 1 2 3; do
    .build/cuda/check --bench 50 --bench-batch 64 "$reference/xray-cnn" | grep '"bench"'
    python3 CUDA/bench/torch_xray.py 50
  done
fi
exit "$status"
