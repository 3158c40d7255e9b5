#!/usr/bin/env bash
# Image data at scale, one JSON line on stdout: the 5,216 training X-rays and
# COPIES (default 20) replicas of them under new names (hard links where the
# filesystem allows, so the disk holds them once) are each ingested at 128 x
# 128 and trained on for STEPS steps of xray-cnn on one rank; it reports
# images/s of each ingest, peak RSS of each training, and the data wait as a
# share of the step. Memory that does not grow with the dataset and a data
# wait near zero are the targets. Environment: COPIES, STEPS (default 40),
# SCRATCH (default .build), TANDEM_BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
source Scripts/bench/common.sh
COPIES="${COPIES:-20}"
STEPS="${STEPS:-40}"
SOURCE="$SHARED/chest-xray/train-224"
[[ -d "$SOURCE" ]] || SOURCE="Data/sample/chest-xray"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tandem-scale-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
python3 - "$SOURCE" "$WORK/replicated" "$COPIES" <<'EOF'
import os, shutil, sys
source, target, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
for label in sorted(os.listdir(source)):
    os.makedirs(os.path.join(target, label))
    for name in sorted(os.listdir(os.path.join(source, label))):
        stem, ext = os.path.splitext(name)
        for k in range(copies):
            # The suffix keeps personN_bacteria_M at the front: patients and subtypes parse as before.
            new = os.path.join(target, label, f"{stem}-r{k:02d}{ext}")
            try:
                os.link(os.path.join(source, label, name), new)
            except OSError:
                shutil.copyfile(os.path.join(source, label, name), new)
EOF

fields=()
for set in small large; do
  folder=$([[ $set == small ]] && echo "$SOURCE" || echo "$WORK/replicated")
  summary="$("$BIN" ingest images "$folder" --size 128 --out "$WORK/$set.h5" | tail -n 1)"
  images="$(sed -E 's/.*: ([0-9]+) images in .*/\1/' <<<"$summary")"
  rate="$(sed -E 's/.*\(([0-9]+) images\/s\).*/\1/' <<<"$summary")"
  mkdir -p "$WORK/$set"
  printf 'model = "xray-cnn"\ndataset = "%s"\noutput = "%s"\nstore = ""\nepochs = 100\n[training]\nmax_steps = %d\ncheckpoint_every = 0\n' \
    "$WORK/$set.h5" "$WORK/$set/runs" "$STEPS" > "$WORK/$set/run.toml"
  /usr/bin/time -f "%M" -o "$WORK/$set/rss" "$BIN" train --config "$WORK/$set/run.toml" >/dev/null
  wait_share="$(python3 - "$WORK/$set"/runs/*/metrics.jsonl <<'EOF'
import json, sys
steps = [l for l in map(json.loads, open(sys.argv[1])) if l["type"] == "step"][5:]  # warm-up excluded
compute = sum(r["computeMs"] for s in steps for r in s["ranks"])
wait = sum(r["dataWaitMs"] for s in steps for r in s["ranks"])
print(f"{wait / (compute + wait):.5f}")
EOF
)"
  fields+=("\"${set}_images\":$images,\"${set}_ingest_images_per_s\":$rate,\"${set}_train_peak_mb\":$(( $(cat "$WORK/$set/rss") / 1024 )),\"${set}_data_wait_share\":$wait_share")
done
echo "{\"bench\":\"scale\",\"copies\":$COPIES,\"steps\":$STEPS,\"cores\":$(nproc),$(IFS=,; echo "${fields[*]}")}"
