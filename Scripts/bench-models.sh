#!/usr/bin/env bash
# Quality of the recommended pneumonia recipes (Data/recipes/pneumonia.toml and
# pneumonia-type.toml) on the real chest X-rays (../shared/data, train-224,
# ingested at each recipe's `# ingest-size` and split by patient). Trains each
# recipe on 2 MPI ranks per seed, evaluates on the held-out test split with
# the threshold tuned on validation, and again on shifted copies of the test
# split (contrast, gamma, brightness, blur, sharpening, zoom, shift,
# rotation, half resolution, noise: `tandem evaluate --shifts`).
# Prints one JSON line per (task, seed), then one per task with the medians
# over the seeds. Usage: Scripts/bench-models.sh [SEEDS] (default "1 2 3");
# EPOCHS=N overrides the recipes' epochs for a quick look, TASKS="pneumonia"
# runs one recipe.
set -euo pipefail
cd "$(dirname "$0")/.."
source Scripts/bench/common.sh
root="$PWD"
seeds="${1:-1 2 3}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 TANDEM_PROGRESS=plain
work="$SCRATCH/bench-models"
rm -rf "$work/runs"; mkdir -p "$work"
tandem="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
cd "$work"

for task in ${TASKS:-pneumonia pneumonia-type}; do
  recipe="$root/Data/recipes/$task.toml"
  size=$(sed -n 's/^# ingest-size = \([0-9]*\)$/\1/p' "$recipe")
  [[ -f "xray-$size.h5" ]] || "$tandem" ingest images "$SHARED/chest-xray/train-224" --size "$size" --out "xray-$size.h5" >&2
  for seed in $seeds; do
    sed -e "s/^seed = .*/seed = $seed/" -e "s#^dataset = .*#dataset = \"xray-$size.h5\"#" \
        -e 's/^store = .*/store = ""/' -e "s#^output = .*#output = \"runs\"#" "$recipe" > "$task-$seed.toml"
    [[ -n "${EPOCHS:-}" ]] && sed -i "s/^epochs = .*/epochs = $EPOCHS/" "$task-$seed.toml"
    start=$(date +%s)
    mpirun -np 2 "$tandem" train --config "$task-$seed.toml" > "$task-$seed-train.log"
    seconds=$(( $(date +%s) - start ))
    run=$(sed -n 's/^results: \([^ ]*\)\/ .*/\1/p' "$task-$seed-train.log")
    "$tandem" evaluate "$run" --split test --shifts --no-register > "$task-$seed-evaluate.log"
    python3 - "$run" "$task" "$seed" "$seconds" <<'PY'
import json, sys
run, task, seed, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
e = json.load(open(f"{run}/evaluation-test.json"))
s = json.load(open(f"{run}/summary.json"))
m, v = e["metrics"], e["validation"]
(tn, fp), (fn, tp) = m["confusion"]
r4 = lambda x: round(x, 4)
print(json.dumps({"benchmark": "models", "task": task, "seed": seed, "model": e["model"], "trainSeconds2Ranks": seconds,
                  "epochsRun": len(s["validation"]), "selectedEpoch": s.get("selectedEpoch"), "classNames": e["classNames"],
                  "threshold": r4(e["threshold"]), "validationRecall": r4(v["recall"]),
                  "test": {"count": m["count"], "accuracy": r4(m["accuracy"]), "recall": r4(m["recall"]),
                           "specificity": r4(tn / max(tn + fp, 1)), "rocAUC": r4(m["rocAUC"]), "confusion": m["confusion"]},
                  "temperature": r4(e["temperature"]), "ece": r4(e["expectedCalibrationError"]),
                  "eceCalibrated": r4(e["calibratedExpectedCalibrationError"]),
                  "shifts": {x["shift"]: {"accuracy": r4(x["accuracy"]), "recall": r4(x["recall"]),
                                          "specificity": r4(x["specificity"]), "rocAUC": r4(x["rocAUC"])} for x in e["shifts"]}}))
PY
  done | tee "$task.jsonl"
  python3 - "$task.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda xs: round(statistics.median(xs), 4)
test = {k: med([r["test"][k] for r in rows]) for k in ("accuracy", "recall", "specificity", "rocAUC")}
shifts = {name: {k: med([r["shifts"][name][k] for r in rows]) for k in ("accuracy", "recall", "specificity", "rocAUC")}
          for name in rows[0]["shifts"]}
worst = {k: min(s[k] for s in shifts.values()) for k in ("accuracy", "recall", "specificity", "rocAUC")}
print(json.dumps({"benchmark": "models-median", "task": rows[0]["task"], "seeds": [r["seed"] for r in rows], "test": test,
                  "worstShift": worst, "shifts": shifts, "trainSecondsMax": max(r["trainSeconds2Ranks"] for r in rows)}))
PY
done
