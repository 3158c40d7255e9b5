#!/usr/bin/env bash
# churn-logreg against scikit-learn, one JSON line on stdout: Tandem trains
# churn-logreg (SGD, the reference settings, EPOCHS epochs) on the Telco
# table and evaluates it on the test split; scikit-learn fits
# LogisticRegression(lbfgs) on the same train split of the same file (the
# same standardised features, read with h5py) and scores the same test rows.
# Fit times are medians of ROUNDS, interleaved. Environment: EPOCHS (default
# 30), ROUNDS (default 3), SCRATCH (default .build), TANDEM_BIN, PYTHON (a
# python with scikit-learn and h5py; default: the peers venv, made when absent).
set -euo pipefail
cd "$(dirname "$0")/.."
source Scripts/bench/common.sh
EPOCHS="${EPOCHS:-30}"
ROUNDS="${ROUNDS:-3}"
TELCO="$(telco_csv)"
PYTHON="$(peer_python "sklearn h5py" scikit-learn h5py)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$BIN" ingest csv "$TELCO" --label Churn --id customerID --out "$WORK/churn.h5" >/dev/null
cat > "$WORK/fit.py" <<'EOF'
import sys, time, h5py
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
f = h5py.File(sys.argv[1], "r")
x = (f["/features"][:] - f["/feature_mean"][:]) / f["/feature_std"][:]
y, split = f["/labels"][:], f["/split"][:]
start = time.perf_counter()
model = LogisticRegression(solver="lbfgs", max_iter=1000).fit(x[split == 0], y[split == 0])
seconds = time.perf_counter() - start
print(f"{seconds:.4f} {roc_auc_score(y[split == 2], model.predict_proba(x[split == 2])[:, 1]):.6f}")
EOF
cat > "$WORK/run.toml" <<EOF
model = "churn-logreg"
dataset = "$WORK/churn.h5"
output = "$WORK/runs"
store = ""
epochs = $EPOCHS
EOF
tandem_s=(); sklearn_s=()
for ((round = 0; round < ROUNDS; round++)); do
  rm -rf "$WORK/runs"
  "$BIN" train --config "$WORK/run.toml" >/dev/null
  run="$(ls -d "$WORK"/runs/*/)"
  tandem_s+=("$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["seconds"])' "$run/summary.json")")
  read -r seconds sklearn_auc < <("$PYTHON" "$WORK/fit.py" "$WORK/churn.h5")
  sklearn_s+=("$seconds")
done
tandem_auc="$("$BIN" evaluate "$run" --split test --no-register | sed -nE 's/.*ROC AUC ([0-9.]+).*/\1/p')"
awk -v e="$EPOCHS" -v r="$ROUNDS" -v ts="$(median "${tandem_s[@]}")" -v ss="$(median "${sklearn_s[@]}")" \
  -v ta="$tandem_auc" -v sa="$sklearn_auc" 'BEGIN {
  printf "{\"bench\":\"logreg\",\"epochs\":%d,\"rounds\":%d,\"tandem_fit_s\":%.3f,\"sklearn_fit_s\":%.3f,", e, r, ts, ss
  printf "\"tandem_over_sklearn_time\":%.2f,\"tandem_test_auc\":%.4f,\"sklearn_test_auc\":%.4f,\"auc_gap\":%.4f}\n", ts / ss, ta, sa, sa - ta }'
