#!/usr/bin/env bash
# Builds Tandem's CUDA backend (CUDA/): libtandem_cuda.so, which `tandem`
# opens at run time for `device = "cuda"`, and the harness CUDA/harness/check.
#
#   Scripts/build-cuda.sh            use the toolkit found, or exit 0 saying none was found
#   Scripts/build-cuda.sh --pypi     without a system toolkit, install PyPI's CUDA
#                                    compiler, runtime and cuBLAS into .build/cuda-pypi first
#
# The toolkit: $CUDA_HOME, else /usr/local/cuda, else the nvcc on PATH, else
# .build/cuda-pypi. Output: .build/cuda/ (override with TANDEM_CUDA_OUT).
# TANDEM_CUDA_ARCHS lists the GPU architectures (default: 80 90 100, i.e. A100,
# H100/H200, B200, plus PTX for newer ones).
set -euo pipefail
cd "$(dirname "$0")/.."

pypi=.build/cuda-pypi
if [[ "${1:-}" == "--pypi" ]] && [[ -z "${CUDA_HOME:-}" ]] && [[ ! -x /usr/local/cuda/bin/nvcc ]] \
   && ! command -v nvcc >/dev/null && [[ ! -x $pypi/nvidia/cu13/bin/nvcc ]]; then
  echo "build-cuda: installing PyPI's CUDA 13.0 compiler, runtime and cuBLAS into $pypi"
  # One release line, pinned: nvcc's parts (crt, nvvm) must match each other.
  wheels=(nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-cccl==13.0.85
          nvidia-cuda-runtime==13.0.96 nvidia-cublas==13.0.2.14)
  # Without PyPI (offline) there is nothing to compile with: say so and leave
  # the CPU build as it is; a toolkit that installs but fails to compile fails.
  if ! { python3 -m pip install -q --target "$pypi" "${wheels[@]}" 2>/dev/null \
         || python3 -m pip install -q --break-system-packages --target "$pypi" "${wheels[@]}"; }; then
    echo "build-cuda: could not install PyPI's CUDA toolkit (offline?); the CUDA backend is not built" >&2
    rm -rf "$pypi"
    exit 0
  fi
fi

if [[ -n "${CUDA_HOME:-}" ]]; then home=$CUDA_HOME
elif [[ -x /usr/local/cuda/bin/nvcc ]]; then home=/usr/local/cuda
elif command -v nvcc >/dev/null; then home=$(dirname "$(dirname "$(command -v nvcc)")")
elif [[ -x $pypi/nvidia/cu13/bin/nvcc ]]; then home=$PWD/$pypi/nvidia/cu13
else
  echo "build-cuda: no CUDA toolkit (CUDA_HOME, /usr/local/cuda, nvcc on PATH); the CPU build is unaffected"
  exit 0
fi
nvcc=$home/bin/nvcc
[[ -x $nvcc ]] || { echo "build-cuda: $nvcc is not executable" >&2; exit 1; }

# Toolkits lay out libraries in lib64 (system) or lib (PyPI), and CCCL's
# headers in include or include/cccl.
libdir=$home/lib64; [[ -d $libdir ]] || libdir=$home/lib
includes=(-ICUDA)
[[ -d $home/include/cccl ]] && includes+=(-I"$home/include/cccl")
# PyPI ships libcublas.so.13 without the unversioned name the linker looks for.
cublas=-lcublas
if [[ ! -e $libdir/libcublas.so ]]; then
  cublas=-l:$(cd "$libdir" && ls libcublas.so.* | grep -E '^libcublas\.so\.[0-9]+$' | head -1)
fi

out=${TANDEM_CUDA_OUT:-.build/cuda}
mkdir -p "$out"
archs=(${TANDEM_CUDA_ARCHS:-80 90 100})
gencode=()
for a in "${archs[@]}"; do gencode+=(-gencode "arch=compute_$a,code=sm_$a"); done
gencode+=(-gencode "arch=compute_${archs[-1]},code=compute_${archs[-1]}")

# The runtime is linked statically, cuBLAS dynamically (found at run time
# through the toolkit's directory, recorded as rpath, or the loader's path).
flags=(-O3 -std=c++17 "${includes[@]}" "${gencode[@]}" -Xcompiler -Wall -cudart static -L"$libdir" "$cublas"
       -Xlinker -rpath="$libdir")
echo "build-cuda: $("$nvcc" --version | tail -1) from $home; architectures ${archs[*]}"
"$nvcc" -shared -Xcompiler -fPIC "${flags[@]}" -o "$out/libtandem_cuda.so" CUDA/tandem_cuda.cu
"$nvcc" "${flags[@]}" -Xlinker -rpath='$ORIGIN' -L"$out" -o "$out/check" CUDA/harness/check.cu -ltandem_cuda
# `tandem` looks beside itself (then ../lib): link the backend next to each
# binary built here, as an installation would place it.
for binary in .build/*-linux-gnu/{release,debug}/tandem; do
  [[ -x $binary ]] && ln -sf "$(cd "$out" && pwd)/libtandem_cuda.so" "$(dirname "$binary")/libtandem_cuda.so"
done
echo "build-cuda: $out/libtandem_cuda.so $out/check"
