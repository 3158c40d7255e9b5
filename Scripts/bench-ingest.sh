#!/usr/bin/env bash
# CSV ingest benchmark, one JSON line on stdout: `tandem ingest csv` of a
# Telco-shaped CSV of ROWS rows (the real file's rows resampled with a fixed
# seed, numbers jittered, ids unique; made once under SCRATCH) against pandas
# `read_csv` of the same file, interleaved round by round in one run, medians
# of ROUNDS. Peak RSS of each side from /usr/bin/time; the output file's size
# beside tandem's (the target: peak at most twice the output).
# Environment: ROWS (default 1000000), ROUNDS (default 3), SCRATCH (default
# .build), TANDEM_BIN, PYTHON (a python with pandas; default: the peers venv
# that Scripts/bench-peers.sh makes, else pandas is installed into it).
set -euo pipefail
cd "$(dirname "$0")/.."
source Scripts/bench/common.sh
ROWS="${ROWS:-1000000}"
ROUNDS="${ROUNDS:-3}"
TELCO="$(telco_csv)"
PYTHON="$(peer_python pandas pandas)"
DATA="$SCRATCH/bench-ingest"
mkdir -p "$DATA"
CSV="$DATA/telco-$ROWS.csv"
[[ -f "$CSV" ]] || { python3 Scripts/bench/telco_rows.py "$TELCO" "$ROWS" "$CSV.tmp" && mv "$CSV.tmp" "$CSV"; }
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
cat > "$OUT/read.py" <<'EOF'
import sys, time, pandas
start = time.perf_counter()
frame = pandas.read_csv(sys.argv[1])
print(f"{time.perf_counter() - start:.4f} {len(frame)}")
EOF

tandem_s=(); pandas_s=(); tandem_kb=0; pandas_kb=0
for ((round = 0; round < ROUNDS; round++)); do
  rm -f "$OUT/t.h5"
  /usr/bin/time -f "%e %M" -o "$OUT/time" "$BIN" ingest csv "$CSV" --label Churn --id customerID --out "$OUT/t.h5" >/dev/null
  read -r seconds kb < "$OUT/time"
  tandem_s+=("$seconds"); (( kb > tandem_kb )) && tandem_kb=$kb
  /usr/bin/time -f "%e %M" -o "$OUT/time" "$PYTHON" "$OUT/read.py" "$CSV" > "$OUT/pandas"
  read -r seconds _ < "$OUT/pandas"
  read -r _ kb < "$OUT/time"
  pandas_s+=("$seconds"); (( kb > pandas_kb )) && pandas_kb=$kb
done
t="$(median "${tandem_s[@]}")"; p="$(median "${pandas_s[@]}")"
csv_mb="$(du -m "$CSV" | cut -f1)"; out_mb="$(du -m "$OUT/t.h5" | cut -f1)"
awk -v rows="$ROWS" -v t="$t" -v p="$p" -v tkb="$tandem_kb" -v pkb="$pandas_kb" -v csv="$csv_mb" -v out="$out_mb" \
  -v rounds="$ROUNDS" -v cores="$(nproc)" 'BEGIN {
  printf "{\"bench\":\"ingest-csv\",\"rows\":%d,\"csv_mb\":%d,\"rounds\":%d,\"cores\":%d,", rows, csv, rounds, cores
  printf "\"tandem_s\":%.3f,\"pandas_read_csv_s\":%.3f,\"tandem_over_pandas\":%.2f,", t, p, t / p
  printf "\"tandem_rows_per_s\":%.0f,\"tandem_peak_mb\":%.0f,\"output_mb\":%d,\"peak_over_output\":%.2f,\"pandas_peak_mb\":%.0f}\n",
    rows / t, tkb / 1024, out, tkb / 1024 / out, pkb / 1024 }'
