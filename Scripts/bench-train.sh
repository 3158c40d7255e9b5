#!/usr/bin/env bash
# Training benchmark: xray-cnn and churn-mlp on 1 and 2 ranks (1 BLAS thread
# per rank, one rank per core). Prints one JSON line per model: samples/s,
# ms per step split into compute / data wait / allreduce, 2-vs-1-rank scaling
# efficiency, and training FLOP/s as a fraction of the sgemm rate measured
# in the same run (per core, times the ranks). Usage: Scripts/bench-train.sh [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/bootstrap.sh release >&2
tandem="$PWD/.build/release/tandem"
steps="${1:-40}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 TANDEM_PROGRESS=plain
work="$PWD/.build/bench-train"
mkdir -p "$work"
shared="${TANDEM_SHARED_DATA:-$(cd .. && pwd)/shared/data}"

# The full X-ray training set when it is there, else the bundled sample.
if [[ ! -f "$work/xray.h5" ]]; then
  src="$shared/chest-xray/train-224"; [[ -d "$src" ]] || src=Data/sample/chest-xray
  "$tandem" ingest images "$src" --size 128 --out "$work/xray.h5" >&2
fi
[[ -f "$work/churn.h5" ]] || "$tandem" ingest csv Data/sample/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv \
  --label Churn --id customerID --out "$work/churn.h5" >&2

sgemm=$(taskset -c 0 "$tandem" bench sgemm)
results=()
for model in xray-cnn churn-mlp; do
  dataset=$([[ $model == xray-cnn ]] && echo xray.h5 || echo churn.h5)
  for ranks in 1 2; do
    dir="$work/$model-$ranks"
    rm -rf "$dir"; mkdir -p "$dir"
    cat > "$dir/run.toml" <<TOML
model = "$model"
dataset = "$work/$dataset"
output = "$dir/runs"
epochs = 1000
[training]
max_steps = $steps
TOML
    mpirun -np "$ranks" --bind-to core "$tandem" train --config "$dir/run.toml" > "$dir/log.txt"
    results+=("$model" "$ranks" "$(ls -d "$dir"/runs/*/)metrics.jsonl")
  done
done

python3 - "$sgemm" "${results[@]}" <<'PY'
import json, sys
sgemm = json.loads(sys.argv[1])["sgemmGFLOPs"]
args = sys.argv[2:]
runs = {}
for i in range(0, len(args), 3):
    model, ranks, path = args[i], int(args[i + 1]), args[i + 2]
    steps = [json.loads(l) for l in open(path) if '"type":"step"' in l]
    steps = steps[3:]  # warm-up: first allocations and page faults
    def mean(f): return sum(f(s) for s in steps) / len(steps)
    # A step lasts as long as its slowest rank.
    wall = mean(lambda s: max(r["computeMs"] + r["dataWaitMs"] + r["allreduceMs"] for r in s["ranks"]))
    comp = mean(lambda s: max(r["computeMs"] for r in s["ranks"]))
    wait = mean(lambda s: max(r["dataWaitMs"] for r in s["ranks"]))
    red = mean(lambda s: max(r["allreduceMs"] for r in s["ranks"]))
    runs[(model, ranks)] = dict(stepMs=wall, computeMs=comp, dataWaitMs=wait, allreduceMs=red)
# FLOP per sample per training step: xray-cnn as REFERENCE_MODELS.md quotes it;
# churn-mlp (46 features, 5,121 parameters) at 6 per parameter (2 forward, 4 backward).
flops = {"xray-cnn": 354e6, "churn-mlp": 6 * 5121}
batch = {"xray-cnn": 64, "churn-mlp": 256}
for model in ["xray-cnn", "churn-mlp"]:
    out = {"benchmark": "train", "model": model, "globalBatch": batch[model], "sgemmGFLOPsPerCore": round(sgemm, 2)}
    for ranks in [1, 2]:
        r = runs[(model, ranks)]
        rate = batch[model] / (r["stepMs"] / 1e3)
        out[f"ranks{ranks}"] = {
            "samplesPerSecond": round(rate, 1),
            "stepMs": round(r["stepMs"], 3), "computeMs": round(r["computeMs"], 3),
            "dataWaitMs": round(r["dataWaitMs"], 3), "allreduceMs": round(r["allreduceMs"], 3),
            "allreduceAndWaitFraction": round((r["stepMs"] - r["computeMs"]) / r["stepMs"], 4),
            "dataWaitFraction": round(r["dataWaitMs"] / r["stepMs"], 4),
            "fractionOfSgemm": round(rate * flops[model] / 1e9 / (ranks * sgemm), 4),
        }
    out["scalingEfficiency2v1"] = round(out["ranks2"]["samplesPerSecond"] / (2 * out["ranks1"]["samplesPerSecond"]), 4)
    print(json.dumps(out))
PY
