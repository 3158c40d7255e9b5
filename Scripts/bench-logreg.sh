#!/usr/bin/env bash
# churn-logreg against scikit-learn, one JSON line on stdout: Tandem trains
# churn-logreg on the Telco table twice, with SGD (the reference settings,
# EPOCHS epochs) and with the full-batch L-BFGS solver (solver = "lbfgs"),
# and evaluates each on the test split; scikit-learn fits
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
cat > "$WORK/sgd.toml" <<EOF
model = "churn-logreg"
dataset = "$WORK/churn.h5"
output = "$WORK/runs-sgd"
store = ""
epochs = $EPOCHS
EOF
cat > "$WORK/lbfgs.toml" <<EOF
model = "churn-logreg"
dataset = "$WORK/churn.h5"
output = "$WORK/runs-lbfgs"
store = ""
epochs = 1
[training]
solver = "lbfgs"
EOF
# Tandem's fit time is the run's training time (summary.json: the fit, one
# validation pass and the final checkpoint), not the process's start-up.
fit() {
  rm -rf "$WORK/runs-$1"
  "$BIN" train --config "$WORK/$1.toml" >/dev/null
  "$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["seconds"])' "$(ls -d "$WORK/runs-$1"/*/)summary.json"
}
test_auc() {
  "$BIN" evaluate "$(ls -d "$WORK/runs-$1"/*/)" --split test --no-register --json \
    | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["evaluation"]["metrics"]["roc_auc"])'
}
sgd_s=(); lbfgs_s=(); sklearn_s=()
for ((round = 0; round < ROUNDS; round++)); do
  sgd_s+=("$(fit sgd)")
  lbfgs_s+=("$(fit lbfgs)")
  read -r seconds sklearn_auc < <("$PYTHON" "$WORK/fit.py" "$WORK/churn.h5")
  sklearn_s+=("$seconds")
done
awk -v e="$EPOCHS" -v r="$ROUNDS" -v ts="$(median "${sgd_s[@]}")" -v tl="$(median "${lbfgs_s[@]}")" -v ss="$(median "${sklearn_s[@]}")" \
  -v ta="$(test_auc sgd)" -v la="$(test_auc lbfgs)" -v sa="$sklearn_auc" 'BEGIN {
  printf "{\"bench\":\"logreg\",\"epochs\":%d,\"rounds\":%d,\"sklearn_fit_s\":%.3f,\"sklearn_test_auc\":%.4f,", e, r, ss, sa
  printf "\"sgd\":{\"fit_s\":%.3f,\"over_sklearn_time\":%.2f,\"test_auc\":%.4f,\"auc_gap\":%.4f},", ts, ts / ss, ta, sa - ta
  printf "\"lbfgs\":{\"fit_s\":%.3f,\"over_sklearn_time\":%.2f,\"test_auc\":%.4f,\"auc_gap\":%.4f}}\n", tl, tl / ss, la, sa - la }'
