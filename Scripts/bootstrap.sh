#!/usr/bin/env bash
# Installs what Tandem needs when it is missing (idempotent, quiet when all is
# there), then builds. Usage: Scripts/bootstrap.sh [debug|release]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libopenmpi-dev openmpi-bin libopenblas-dev libhdf5-dev hdf5-tools pkg-config
          libjpeg-dev libturbojpeg0-dev libpng-dev python3-pip
          chromium)  # chromium: the report test renders pages in a headless browser
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# h5py lets tests prove that Tandem's files read back without Tandem; PyYAML
# lets them parse the Kubernetes manifests in Cluster/.
if ! python3 -c 'import h5py, numpy, yaml' 2>/dev/null; then
  echo "bootstrap: installing h5py, numpy, pyyaml"
  python3 -m pip install -q h5py numpy pyyaml 2>/dev/null || python3 -m pip install -q --break-system-packages h5py numpy pyyaml
fi

command -v swift >/dev/null || { echo "bootstrap: swift is not on PATH (Swift 6 toolchain needed)" >&2; exit 1; }
swift build -c "${1:-release}" 2>&1 | { grep -v -E "^warning: 'main'|^\[[0-9]+/[0-9]+\]|^Building|^Compiling|^Write" || true; }
test -x ".build/${1:-release}/tandem" || { echo "bootstrap: build failed" >&2; exit 1; }
# Where a CUDA toolkit is installed, the CUDA backend too (opened at run time
# for device = "cuda"; without a toolkit this says so and the build is as before).
Scripts/build-cuda.sh
