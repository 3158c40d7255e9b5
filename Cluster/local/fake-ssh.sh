#!/bin/sh
# Stands in for ssh in Cluster/local/two-hosts.sh (Open MPI's plm_rsh_agent):
# called as `fake-ssh.sh [ssh options] HOST COMMAND...`, it runs COMMAND (an
# Open MPI daemon) on this machine instead of on HOST.
while [ $# -gt 0 ]; do
  case "$1" in
    -*) shift ;;
    *) break ;;
  esac
done
host=$1
shift
# Each host gets its own Open MPI session directory, as separate machines
# have separate /tmp: two daemons of one job sharing one races on it.
tmp="${TMPDIR:-/tmp}/tandem-fake-host-$(id -u)-$host"
mkdir -p "$tmp"
OMPI_MCA_orte_tmpdir_base=$tmp
export OMPI_MCA_orte_tmpdir_base
exec /bin/sh -c "$*"
