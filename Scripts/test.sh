#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: unit tests and the
# tests that launch `tandem` under mpirun. Tests run in release mode: the
# training and gradient tests do real arithmetic and are slow unoptimised.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/bootstrap.sh release

# The export tests score exported models with onnxruntime and read them with
# onnx's checker and the safetensors reader, as a user outside Tandem would.
if ! python3 -c 'import onnx, onnxruntime, safetensors' 2>/dev/null; then
  echo "test: installing onnx, onnxruntime, safetensors"
  python3 -m pip install -q onnx onnxruntime safetensors 2>/dev/null \
    || python3 -m pip install -q --break-system-packages onnx onnxruntime safetensors
fi

# The CUDA backend compiles here too, with PyPI's CUDA toolkit where the
# machine has none (no GPU is needed to compile; the tests check the clear
# errors without one, and the harness's reading of the CPU's references).
Scripts/build-cuda.sh --pypi

# The Slurm tests start a one-node cluster of Debian's slurm-wlm (with munge)
# on localhost; the network tests make hosts as network namespaces (iproute2).
if [[ $(id -u) -eq 0 ]]; then
  extra=()
  command -v slurmctld >/dev/null || extra+=(slurm-wlm munge)
  [[ -x /usr/sbin/ip ]] || extra+=(iproute2)
  command -v pkill >/dev/null || extra+=(procps)
  if ((${#extra[@]})); then
    echo "test: installing ${extra[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${extra[@]}" >/dev/null
  fi
fi

# The metrics tests check Prometheus textfiles with promtool, taken from
# Debian's prometheus package without installing it (no server, no service).
if ! command -v promtool >/dev/null && [[ ! -x .build/tools/usr/bin/promtool ]]; then
  echo "test: unpacking promtool from Debian's prometheus package into .build/tools"
  mkdir -p .build/tools
  (cd .build/tools && apt-get download prometheus >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get download prometheus >/dev/null; }) \
    && dpkg-deb -x .build/tools/prometheus_*.deb .build/tools && rm -f .build/tools/prometheus_*.deb .build/tools/usr/bin/prometheus
fi
export PATH="$PATH:$PWD/.build/tools/usr/bin"

# mpirun refuses root unless told; CI and containers run as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Tests that run the CLI use this binary.
export TANDEM_BIN="$PWD/.build/release/tandem"
export TANDEM_SHARED_DATA="${TANDEM_SHARED_DATA:-$(cd .. && pwd)/shared/data}"

# A watchdog over the whole suite: a test that hangs ends the run with a
# message, well inside CI's limit, instead of silence until CI kills it.
# Line-buffered, so the last lines before a stop are never lost in a buffer.
suite_limit="${TANDEM_TEST_LIMIT:-3600}"
set +e
timeout --kill-after=30 "$suite_limit" swift test -c release 2>&1 | { grep --line-buffered -v "^warning: 'main'" || true; }
status=${PIPESTATUS[0]}
set -e
if ((status == 124 || status == 137)); then
  echo "test: the suite ran past ${suite_limit} s and was stopped; the last test started above is the one that hung" >&2
fi
exit "$status"
