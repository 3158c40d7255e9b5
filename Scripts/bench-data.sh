#!/usr/bin/env bash
# Data benchmark, one JSON line on stdout:
#   ingest throughput of `tandem ingest images` (images/s, all cores), and
#   random batch reads through DatasetReader (batches of 64: batches/s, MB/s
#   of stored uint8 pixels, mean and p99 ms per batch, normalised floats out).
# Uses ../shared/data/chest-xray/train-224 (5,216 images) when present
# ($TANDEM_SHARED_DATA overrides), else the bundled Data/sample (240 images).
# Environment: TANDEM_BIN (a built tandem), SCRATCH (build folder, default
# .build), SIZE (default 128), BATCHES (default 2000).
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH="${SCRATCH:-.build}"
BIN="${TANDEM_BIN:-$SCRATCH/release/tandem}"
if [[ ! -x "$BIN" ]]; then
  swift build -c release --scratch-path "$SCRATCH" --product tandem >&2
fi
SHARED="${TANDEM_SHARED_DATA:-$(cd .. && pwd)/shared/data}"
SOURCE="$SHARED/chest-xray/train-224"
[[ -d "$SOURCE" ]] || SOURCE="Data/sample/chest-xray"
SIZE="${SIZE:-128}"
BATCHES="${BATCHES:-2000}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# The summary line: "wrote PATH: N images in S s (R images/s), content sha256 H".
summary="$("$BIN" ingest images "$SOURCE" --out "$WORK/bench.h5" --size "$SIZE" | tail -n 1)"
images="$(sed -E 's/.*: ([0-9]+) images in .*/\1/' <<<"$summary")"
seconds="$(sed -E 's/.* images in ([0-9.]+) s .*/\1/' <<<"$summary")"
rate="$(sed -E 's/.*\(([0-9]+) images\/s\).*/\1/' <<<"$summary")"
read_json="$("$BIN" bench read "$WORK/bench.h5" --batch 64 --batches "$BATCHES")"
# Drop bench read's own "file" field (a temporary path) and splice in the ingest figures.
read_fields="$(sed -E 's/^\{//; s/"file":"[^"]*",?//' <<<"$read_json")"
echo "{\"bench\":\"data\",\"source\":\"$SOURCE\",\"cores\":$(nproc),\"size\":$SIZE,\"images\":$images,\"ingest_s\":$seconds,\"ingest_images_per_s\":$rate,$read_fields"
