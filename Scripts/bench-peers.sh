#!/usr/bin/env bash
# Tandem against PyTorch (its PyPI wheel, on the CPU) on both training
# workloads, interleaved round by round in one run; one JSON line per
# workload on stdout, medians of ROUNDS, samples/s of training steps after a
# warm-up and Tandem's rate over PyTorch's:
#   churn-mlp, batch 256, on a ROWS-row Telco-shaped table (made as
#     bench-ingest.sh makes it, ingested with `tandem ingest csv`): Tandem on
#     1 and 2 ranks (exact reduction) against PyTorch, 1 process, 1 thread;
#   xray-cnn, batch 64, the X-ray training set at 128 x 128 (`tandem ingest
#     images`): Tandem on 2 ranks against PyTorch, 1 process x 2 threads and
#     DDP 2 processes x 1 thread (gloo), channels_last both.
# Both sides train the same model, optimizer and learning rate on the train
# split of the same HDF5 file (Scripts/bench/peers_torch.py). PyTorch is timed
# in-process with time.perf_counter around the steps. Tandem's rate is its
# wall clock: summary.json's seconds of a run of WARMUP+STEPS steps minus
# those of a run of WARMUP steps, which cancels the warm-up, the validation
# and the checkpoint at the run's end; the rate its own per-step timings in
# metrics.jsonl give (compute + data wait + allreduce, slowest rank, as
# bench-train.sh reports) is printed beside it, since those leave out the
# training loop's own work between steps. sgemm on one core (`tandem bench
# sgemm`) each round, and each side's training FLOP/s as a fraction of sgemm
# x the cores it used.
# Usage: Scripts/bench-peers.sh [ROUNDS]   (default 3)
# Environment: ROWS (default 1000000), CHURN_STEPS (2000), CHURN_WARMUP (100),
# XRAY_STEPS (30), XRAY_WARMUP (3), SCRATCH (default .build), TANDEM_BIN,
# TANDEM_SHARED_DATA, PYTHON (a python with torch and h5py; default: the
# peers venv, torch installed into it from PyPI when it cannot be imported).
set -euo pipefail
cd "$(dirname "$0")/.."
source Scripts/bench/common.sh
ROUNDS="${1:-3}"
ROWS="${ROWS:-1000000}"
CHURN_STEPS="${CHURN_STEPS:-2000}"; CHURN_WARMUP="${CHURN_WARMUP:-100}"
XRAY_STEPS="${XRAY_STEPS:-30}"; XRAY_WARMUP="${XRAY_WARMUP:-3}"
# max_steps = 0 would mean no limit.
(( CHURN_STEPS > 0 && CHURN_WARMUP > 0 && XRAY_STEPS > 0 && XRAY_WARMUP > 0 )) \
  || { echo "bench-peers: step and warm-up counts must be at least 1" >&2; exit 64; }
PYTHON="$(peer_python "torch h5py" torch h5py)"
use_openblas_core_for_cpu
TORCH="$PWD/Scripts/bench/peers_torch.py"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 TANDEM_PROGRESS=plain
# The wheel carries CUDA; a GPU on the machine must not take part.
export CUDA_VISIBLE_DEVICES="" GLOO_SOCKET_IFNAME=lo
WORK="$SCRATCH/bench-peers"
mkdir -p "$WORK" "$SCRATCH/bench-ingest"
WORK="$(cd "$WORK" && pwd)"

# Data, made once: the CSV shared with bench-ingest.sh, and the X-ray
# training set when it is there, else the bundled sample.
CSV="$SCRATCH/bench-ingest/telco-$ROWS.csv"
[[ -f "$CSV" ]] || { python3 Scripts/bench/telco_rows.py "$(telco_csv)" "$ROWS" "$CSV.tmp" && mv "$CSV.tmp" "$CSV"; }
CHURN="$WORK/churn-$ROWS.h5"
[[ -f "$CHURN" ]] || "$BIN" ingest csv "$CSV" --label Churn --id customerID --out "$CHURN" >&2
IMAGES="$SHARED/chest-xray/train-224"
[[ -d "$IMAGES" ]] || IMAGES="Data/sample/chest-xray"
XRAY="$WORK/xray-$(basename "$IMAGES")-128.h5"
[[ -f "$XRAY" ]] || "$BIN" ingest images "$IMAGES" --size 128 --out "$XRAY" >&2

# Training samples in DATASET, from `tandem dataset inspect`.
train_count() { "$BIN" dataset inspect "$1" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["dataset"]["splits"]["train"]["samples"])'; }

# Trains MODEL on DATASET, batch BATCH, RANKS ranks, STEPS steps in all, in
# WORK/NAME; prints the run directory.
tandem_run() {
  local model="$1" dataset="$2" batch="$3" ranks="$4" steps="$5" dir="$WORK/$6"
  rm -rf "$dir"; mkdir -p "$dir"
  # No store and no checkpoints but the one at the end: neither is training.
  cat > "$dir/run.toml" <<EOF
model = "$model"
dataset = "$dataset"
output = "$dir/runs"
store = ""
epochs = 1000
[training]
global_batch = $batch
max_steps = $steps
checkpoint_every = 0
[cluster]
reduction = "exact"
EOF
  mpirun -np "$ranks" --bind-to core "$BIN" train --config "$dir/run.toml" > "$dir/log.txt" \
    || { echo "bench-peers: $model on $ranks rank(s) failed; see $dir/log.txt" >&2; return 1; }
  ls -d "$dir"/runs/*/
}

# Prints "WALL STEP-TIMED" samples/s of the LONG run's steps after WARMUP.
tandem_rates() {
  python3 - "$@" <<'EOF'
import json, sys
short, long, warmup, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
seconds = lambda run: json.load(open(run + "/summary.json"))["seconds"]
steps = [l for l in map(json.loads, open(long + "/metrics.jsonl")) if l["type"] == "step"][warmup:]
timed = sum(max(r["computeMs"] + r["dataWaitMs"] + r["allreduceMs"] for r in s["ranks"]) for s in steps) / 1e3
print(batch * len(steps) / (seconds(long) - seconds(short)), batch * len(steps) / timed)
EOF
}

# PyTorch on MODEL: "threads T" is one process with T threads, "ddp N" N
# processes of one thread each, one per core as mpirun --bind-to core places
# Tandem's ranks.
torch_run() {
  local model="$1" dataset="$2" batch="$3" warmup="$4" steps="$5" kind="$6" n="$7"
  if [[ $kind == threads ]]; then
    local cores="0-$((n - 1))"
    OMP_NUM_THREADS="$n" MKL_NUM_THREADS="$n" taskset -c "$cores" \
      "$PYTHON" "$TORCH" "$model" "$dataset" "$batch" "$warmup" "$steps" "$n"
    return
  fi
  local port pids=() r
  port="$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  for ((r = 0; r < n; r++)); do
    RANK="$r" WORLD_SIZE="$n" MASTER_ADDR=127.0.0.1 MASTER_PORT="$port" OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
      taskset -c "$r" "$PYTHON" "$TORCH" "$model" "$dataset" "$batch" "$warmup" "$steps" 1 > "$WORK/ddp-$r.out" &
    pids+=("$!")
  done
  for r in "${pids[@]}"; do wait "$r" || return 1; done
  cat "$WORK/ddp-0.out"
}

# Tandem's wall figure is clean only when no epoch ends (validation) among
# the timed steps.
churn_epoch=$(( ($(train_count "$CHURN") + 255) / 256 ))
xray_epoch=$(( ($(train_count "$XRAY") + 63) / 64 ))
churn_one_epoch=$(( CHURN_WARMUP + CHURN_STEPS <= churn_epoch ))
xray_one_epoch=$(( XRAY_WARMUP + XRAY_STEPS <= xray_epoch ))
(( churn_one_epoch && xray_one_epoch )) || echo "bench-peers: the timed steps cross an epoch end; Tandem's wall rate includes its validation" >&2

results="$WORK/results.txt"
: > "$results"
# Each figure is assigned before it is written, so a failed run stops the
# script instead of recording nothing.
record() { echo "$1 $2" >> "$results"; }
for ((round = 0; round < ROUNDS; round++)); do
  sgemm="$(taskset -c 0 "$BIN" bench sgemm | python3 -c 'import json, sys; print(json.load(sys.stdin)["sgemmGFLOPs"])')"
  record sgemm "$sgemm"
  for ranks in 1 2; do
    short="$(tandem_run churn-mlp "$CHURN" 256 "$ranks" "$CHURN_WARMUP" "churn-$ranks-short")"
    long="$(tandem_run churn-mlp "$CHURN" 256 "$ranks" "$((CHURN_WARMUP + CHURN_STEPS))" "churn-$ranks-long")"
    rates="$(tandem_rates "$short" "$long" "$CHURN_WARMUP" 256)"
    record "churn.tandem$ranks" "${rates% *}"; record "churn.tandem${ranks}_step_timed" "${rates#* }"
  done
  rate="$(torch_run churn-mlp "$CHURN" 256 "$CHURN_WARMUP" "$CHURN_STEPS" threads 1)"; record churn.torch "$rate"
  short="$(tandem_run xray-cnn "$XRAY" 64 2 "$XRAY_WARMUP" xray-2-short)"
  long="$(tandem_run xray-cnn "$XRAY" 64 2 "$((XRAY_WARMUP + XRAY_STEPS))" xray-2-long)"
  rates="$(tandem_rates "$short" "$long" "$XRAY_WARMUP" 64)"
  record xray.tandem2 "${rates% *}"; record xray.tandem2_step_timed "${rates#* }"
  rate="$(torch_run xray-cnn "$XRAY" 64 "$XRAY_WARMUP" "$XRAY_STEPS" threads 2)"; record xray.torch_threads "$rate"
  rate="$(torch_run xray-cnn "$XRAY" 64 "$XRAY_WARMUP" "$XRAY_STEPS" ddp 2)"; record xray.torch_ddp "$rate"
done

python3 - "$results" "$ROUNDS" "$ROWS" "$CHURN_WARMUP" "$CHURN_STEPS" "$churn_one_epoch" \
  "$XRAY_WARMUP" "$XRAY_STEPS" "$xray_one_epoch" "$(train_count "$XRAY")" "$("$PYTHON" -c 'import torch; print(torch.__version__)')" <<'EOF'
import json, sys
path, rounds, rows, churn_warmup, churn_steps, churn_one, xray_warmup, xray_steps, xray_one, images, torch_version = sys.argv[1:]
values = {}
for line in open(path):
    key, value = line.split()
    values.setdefault(key, []).append(float(value))
median = lambda key: sorted(values[key])[len(values[key]) // 2]
sgemm = median("sgemm")
# FLOP per sample per training step, as bench-train.sh counts them: xray-cnn
# 354 M; churn-mlp (46 features, 5,121 parameters) 6 per parameter.
def fraction(rate, flop, cores): return round(rate * flop / 1e9 / (cores * sgemm), 4)
common = {"bench": "peers", "rounds": int(rounds), "torch": torch_version, "sgemm_gflops_per_core": round(sgemm, 2)}
t1, t2, torch = median("churn.tandem1"), median("churn.tandem2"), median("churn.torch")
print(json.dumps({**common, "workload": "churn-mlp", "rows": int(rows), "global_batch": 256,
    "warmup_steps": int(churn_warmup), "timed_steps": int(churn_steps), "timed_in_one_epoch": churn_one == "1",
    "tandem_1rank_rows_per_s": round(t1), "tandem_2ranks_rows_per_s": round(t2), "torch_1thread_rows_per_s": round(torch),
    "tandem_1rank_over_torch": round(t1 / torch, 3), "tandem_2ranks_over_torch": round(t2 / torch, 3),
    "tandem_1rank_step_timed_rows_per_s": round(median("churn.tandem1_step_timed")),
    "tandem_2ranks_step_timed_rows_per_s": round(median("churn.tandem2_step_timed")),
    "tandem_1rank_fraction_of_sgemm": fraction(t1, 6 * 5121, 1), "tandem_2ranks_fraction_of_sgemm": fraction(t2, 6 * 5121, 2),
    "torch_fraction_of_sgemm": fraction(torch, 6 * 5121, 1),
    "rounds_rows_per_s": {k.split(".")[1]: [round(v) for v in values[k]] for k in values if k.startswith("churn.")}}))
t2, threads, ddp = median("xray.tandem2"), median("xray.torch_threads"), median("xray.torch_ddp")
print(json.dumps({**common, "workload": "xray-cnn", "train_images": int(images), "image_size": 128, "global_batch": 64,
    "warmup_steps": int(xray_warmup), "timed_steps": int(xray_steps), "timed_in_one_epoch": xray_one == "1",
    "tandem_2ranks_img_per_s": round(t2, 2), "torch_2threads_img_per_s": round(threads, 2), "torch_ddp_2x1_img_per_s": round(ddp, 2),
    "tandem_over_torch_2threads": round(t2 / threads, 3), "tandem_over_torch_ddp": round(t2 / ddp, 3),
    "tandem_2ranks_step_timed_img_per_s": round(median("xray.tandem2_step_timed"), 2),
    "tandem_fraction_of_sgemm": fraction(t2, 354e6, 2), "torch_2threads_fraction_of_sgemm": fraction(threads, 354e6, 2),
    "torch_ddp_fraction_of_sgemm": fraction(ddp, 354e6, 2),
    "rounds_img_per_s": {k.split(".")[1]: [round(v, 2) for v in values[k]] for k in values if k.startswith("xray.")}}))
EOF
