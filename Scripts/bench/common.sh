# Sourced by the Scripts/bench-*.sh that compare Tandem with its peers or
# need the real data; run from the repository root.
#   SCRATCH  build folder (default .build)
#   BIN      the built tandem (TANDEM_BIN, else SCRATCH/release/tandem, built when absent)
#   SHARED   ../shared/data (TANDEM_SHARED_DATA overrides)
SCRATCH="${SCRATCH:-.build}"
BIN="${TANDEM_BIN:-$SCRATCH/release/tandem}"
[[ -x "$BIN" ]] || Scripts/bootstrap.sh release >&2
SHARED="${TANDEM_SHARED_DATA:-$(cd .. && pwd)/shared/data}"

# The real Telco CSV, else the bundled copy.
telco_csv() {
  local csv="$SHARED/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv"
  [[ -f "$csv" ]] || csv="Data/sample/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv"
  echo "$csv"
}

# Prints a python that imports MODULE..., installing PACKAGE... into the peers
# venv (SCRATCH/peers, from PyPI) when it cannot. PYTHON overrides.
#   peer_python "pandas" pandas
#   peer_python "sklearn h5py" scikit-learn h5py
peer_python() {
  local modules="$1"; shift
  local python="${PYTHON:-$SCRATCH/peers/bin/python}"
  if [[ ! -x "$python" ]] || ! "$python" -c "import ${modules// /, }" 2>/dev/null; then
    python3 -m venv "$SCRATCH/peers" >&2
    "$SCRATCH/peers/bin/pip" install -q "$@" >&2
    python="$SCRATCH/peers/bin/python"
  fi
  echo "$python"
}

# The median of its arguments (the upper one of an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# Where OpenBLAS falls back to a kernel without FMA on a CPU newer than it
# knows (0.3.21 runs Prescott on Emerald Rapids), exports the
# OPENBLAS_CORETYPE the CPU runs, which `tandem bench sgemm` names: the sgemm
# ceiling, and numerics = "openblas", are then this CPU's. A value already
# set is kept. Call before anything times OpenBLAS.
use_openblas_core_for_cpu() {
  [[ -z "${OPENBLAS_CORETYPE:-}" ]] || return 0
  local core
  core="$("$BIN" bench sgemm 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin).get("blasCoreForThisCPU", ""))')"
  [[ -z "$core" ]] && return 0
  echo "bench: OpenBLAS falls back to a kernel without FMA here; OPENBLAS_CORETYPE=$core" >&2
  export OPENBLAS_CORETYPE="$core"
}
