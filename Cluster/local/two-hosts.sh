#!/usr/bin/env bash
# Runs Tandem on two emulated hosts on this machine, with no shared filesystem.
#
#   Cluster/local/two-hosts.sh [diagnose|train|all]     (default: all)
#
#   diagnose  mpirun over host-a and host-b: tandem diagnose mpi
#   train     a 10-step churn-mlp run with [cluster] scatter = true; host-a's
#             directory holds the dataset, host-b's only the run file, so
#             rank 0 (host-a) reads each global batch and sends rank 1 its rows
#
# Open MPI sees two nodes: Cluster/local/hostfile names host-a and host-b, and
# Cluster/local/fake-ssh.sh, given as the ssh agent, starts each host's daemon
# here. The ranks talk TCP over loopback (no shared memory between "hosts");
# each host has its own working directory (mpirun -wdir).
#
# Environment:
#   TANDEM_BIN      the Tandem binary (default: the one on PATH)
#   TWO_HOSTS_DIR   where host-a/ and host-b/ are made (default: a new temporary directory)
#   CHURN_CSV       the Telco churn CSV to ingest (default: Data/sample/telco/ in this repository)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mode=${1:-all}
case "$mode" in
  diagnose | train | all) ;;
  *) echo "usage: $0 [diagnose|train|all]" >&2; exit 64 ;;
esac

tandem=${TANDEM_BIN:-$(command -v tandem || true)}
if [[ -z "$tandem" || ! -x "$tandem" ]]; then
  echo "two-hosts: set TANDEM_BIN to the Tandem binary, or put it on PATH" >&2
  exit 1
fi
tandem=$(cd "$(dirname "$tandem")" && pwd)/$(basename "$tandem")
command -v mpirun >/dev/null || { echo "two-hosts: mpirun not found (apt-get install openmpi-bin)" >&2; exit 1; }

work=${TWO_HOSTS_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/tandem-two-hosts.XXXXXX")}
mkdir -p "$work/host-a" "$work/host-b"
work=$(cd "$work" && pwd)
echo "two-hosts: host-a = $work/host-a, host-b = $work/host-b"

# Open MPI refuses to start as root unless told twice.
if [[ $(id -u) -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# These come from the command line below; an inherited shared-memory-only
# setting (OMPI_MCA_btl=self,vader) cannot reach the other "host".
unset OMPI_MCA_btl OMPI_MCA_btl_tcp_if_include OMPI_MCA_oob_tcp_if_include OMPI_MCA_plm_rsh_agent

mpi=(mpirun --hostfile "$here/hostfile"
     --mca plm_rsh_agent "$here/fake-ssh.sh"
     --mca btl self,tcp --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo
     --bind-to none)
# One rank per host, each started in that host's own working directory.
on_both_hosts() {
  "${mpi[@]}" -np 1 --host host-a -wdir "$work/host-a" "$tandem" "$@" \
            : -np 1 --host host-b -wdir "$work/host-b" "$tandem" "$@"
}

if [[ "$mode" == diagnose || "$mode" == all ]]; then
  echo "two-hosts: tandem diagnose mpi on host-a and host-b"
  on_both_hosts diagnose mpi
fi

if [[ "$mode" == train || "$mode" == all ]]; then
  csv=${CHURN_CSV:-$root/Data/sample/telco/WA_Fn-UseC_-Telco-Customer-Churn.csv}
  if [[ ! -f "$work/host-a/churn.h5" ]]; then
    (cd "$work/host-a" && "$tandem" ingest csv "$csv" --label Churn --id customerID --out churn.h5)
  fi
  # Every rank reads the run file, so each host gets a copy; only host-a has the data.
  for host in host-a host-b; do
    cat > "$work/$host/run.toml" <<'TOML'
model = "churn-mlp"
dataset = "churn.h5"        # on host-a only
task = "churn"
output = "runs"
store = "store"
seed = 1
epochs = 1

[training]
max_steps = 10

[cluster]
scatter = true              # no shared filesystem: rank 0 reads and sends each rank its rows
TOML
  done
  echo "two-hosts: tandem train --config run.toml on host-a (rank 0, with data) and host-b (rank 1, without)"
  on_both_hosts train --config run.toml
  # The results are rank 0's, on host-a; host-b read nothing and wrote nothing.
  ls "$work"/host-a/runs/*/model.h5 >/dev/null
  leftovers=$(cd "$work/host-b" && ls -A | grep -vx run.toml || true)
  if [[ -n "$leftovers" ]]; then
    echo "two-hosts: host-b should hold only run.toml, found: $leftovers" >&2
    exit 1
  fi
  echo "two-hosts: ok: results on host-a ($(cd "$work/host-a" && ls -d runs/*)), host-b holds only run.toml"
fi
