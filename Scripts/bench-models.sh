#!/usr/bin/env bash
# Quality of the two pneumonia models on the real chest X-rays (../shared/data,
# train-224, ingested at 128 x 128 and split by patient): xray-cnn for
# normal vs pneumonia with the threshold tuned on the validation split for
# recall >= 0.95, and xray-cnn for bacterial vs viral (pneumonia cases only),
# tuned for accuracy. Trains each on 2 MPI ranks, evaluates on the test split,
# and prints one JSON line per model. Usage: Scripts/bench-models.sh [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/bootstrap.sh release >&2
tandem="$PWD/.build/release/tandem"
epochs="${1:-8}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 TANDEM_PROGRESS=plain
work="$PWD/.build/bench-models"
rm -rf "$work/runs" "$work/store"; mkdir -p "$work"; cd "$work"
shared="${TANDEM_SHARED_DATA:-$(cd ../../.. && pwd)/shared/data}"
[[ -f xray.h5 ]] || "$tandem" ingest images "$shared/chest-xray/train-224" --size 128 --out xray.h5 >&2

for task in pneumonia pneumonia-type; do
  cat > "$task.toml" <<TOML
model = "xray-cnn"
dataset = "xray.h5"
task = "$task"
seed = 1
epochs = $epochs
TOML
  start=$(date +%s)
  mpirun -np 2 "$tandem" train --config "$task.toml" > "$task-train.log"
  seconds=$(( $(date +%s) - start ))
  run=$(sed -n 's/^results: \([^ ]*\)\/ .*/\1/p' "$task-train.log")
  "$tandem" evaluate "$run" --split test > "$task-evaluate.log"
  python3 - "$run/evaluation-test.json" "$task" "$epochs" "$seconds" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
m, v = e["metrics"], e["validation"]
print(json.dumps({"benchmark": "models", "task": sys.argv[2], "epochs": int(sys.argv[3]), "trainSeconds2Ranks": int(sys.argv[4]),
                  "classNames": e["classNames"], "threshold": round(e["threshold"], 4), "thresholdPolicy": e["thresholdPolicy"],
                  "validation": {"recall": round(v["recall"], 4), "accuracy": round(v["accuracy"], 4), "count": v["count"]},
                  "test": {"count": m["count"], "accuracy": round(m["accuracy"], 4), "recall": round(m["recall"], 4),
                           "precision": round(m["precision"], 4), "rocAUC": round(m["rocAUC"], 4), "f1": round(m["f1"], 4),
                           "falseNegatives": m["confusion"][1][0], "confusion": m["confusion"]},
                  "expectedCalibrationError": round(e["expectedCalibrationError"], 4)}))
PY
done
