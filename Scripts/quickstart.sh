#!/usr/bin/env bash
# From a fresh Debian machine with Swift: install what is missing, build,
# ingest the bundled sample data, and train xray-cnn and churn-mlp on 2 MPI
# workers. Needs no network beyond Debian's packages and no files outside
# this repository. Everything it writes goes under work/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/bootstrap.sh release
tandem="$PWD/.build/release/tandem"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p work && cd work

echo "== MPI check (2 ranks)"
mpirun -np 2 "$tandem" diagnose mpi

echo "== Ingest the bundled sample"
"$tandem" ingest csv ../Data/sample/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv \
  --label Churn --id customerID --out churn.h5 --force
"$tandem" ingest images ../Data/sample/chest-xray --size 128 --out xray-sample.h5 --force

cat > churn-mlp.toml <<'TOML'
model = "churn-mlp"
dataset = "churn.h5"
output = "runs"
seed = 1
epochs = 10
TOML
cat > xray-cnn.toml <<'TOML'
model = "xray-cnn"
dataset = "xray-sample.h5"
task = "pneumonia"
output = "runs"
seed = 1
epochs = 3
TOML

echo "== churn-mlp on 2 MPI workers"
mpirun -np 2 "$tandem" train --config churn-mlp.toml
echo "== xray-cnn on 2 MPI workers (240 bundled X-rays; the full set is in ../shared/data)"
mpirun -np 2 "$tandem" train --config xray-cnn.toml

echo "== Re-run the churn-mlp run from its snapshot alone, on 1 worker: the same bits come back"
churn_run=$(ls -d runs/churn-mlp-* | tail -1)
snapshot=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["snapshotID"])' "$churn_run/summary.json")
mpirun -np 1 "$tandem" rerun "$snapshot" --store store

echo "== Evaluate the churn model, register and promote it, score customers on 2 workers, verify the audit log"
"$tandem" evaluate "$churn_run" --json > churn-evaluation.json   # docs/json.md
version=$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); m = d["evaluation"]["metrics"]
print(d["registered"]["version"]); print("test: accuracy %.4f, ROC AUC %.4f, recall %.4f; registered churn version %d" % (
    m["accuracy"], m["roc_auc"], m["recall"], d["registered"]["version"]), file=sys.stderr)' churn-evaluation.json)
"$tandem" models promote "churn@$version" || echo "(promotion refused by the quality gates; production unchanged)"
mpirun -np 2 "$tandem" predict --model "churn@$version" --input ../Data/sample/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv --out churn-predictions.csv
"$tandem" audit verify --model churn --sample 200
"$tandem" report "$churn_run" --out churn-report.html
echo
echo "Runs are in $PWD/runs/: each has config.toml, metrics.jsonl (per step, epoch and checkpoint),"
echo "checkpoints/, model.h5 and summary.json. Snapshots, stored datasets and the run registry are"
echo "in $PWD/store/. Open $PWD/churn-report.html in a browser for the run's curves and evaluation;"
echo "try '$tandem runs list --store $PWD/store' and '$tandem snapshot show $snapshot --store $PWD/store'."
