#!/usr/bin/env bash
# From a fresh Debian machine with Swift: install what is missing, build, and
# train the reference models. Needs no network beyond Debian's packages and no
# files outside this repository.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/bootstrap.sh release
tandem=.build/release/tandem

echo "== MPI check (2 ranks)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun -np 2 "$tandem" diagnose mpi

echo "== churn-mlp, one process, generated separable data"
"$tandem" train --model churn-mlp --synthetic 4096 --steps 60 | awk 'NR == 1 || /step [0-9]+\/60 / && ($2 ~ /^(1|20|40|60)\//)'

echo "== xray-cnn, one process, generated images (disc or none)"
"$tandem" train --model xray-cnn --synthetic 512 --steps 24 | awk 'NR == 1 || $2 ~ /^(1|8|16|24)\//'
