#!/usr/bin/env bash
# Hosts on a real network on one machine: Linux network namespaces, each with
# its own address on a bridge, its own host name and its own working
# directory. mpirun reaches them through this script as its rsh agent, and
# the ranks talk TCP between the namespaces only (root needed).
#
#   Cluster/local/netns-hosts.sh up [N]         make hosts h0 .. h(N-1) (default 3): 10.77.0.1, .2, ...,
#                                               and DIR/hostfile naming them
#   Cluster/local/netns-hosts.sh down           remove them and the bridge
#   Cluster/local/netns-hosts.sh exec HOST CMD  run CMD on HOST (in its namespace, host name and directory)
#   Cluster/local/netns-hosts.sh agent HOST CMD what mpirun calls to start its daemon on HOST
#   Cluster/local/netns-hosts.sh link HOST up|down   plug or unplug HOST's cable
#   Cluster/local/netns-hosts.sh mpirun ARGS... mpirun on h0 over every host, TCP on the bridge only
#   Cluster/local/netns-hosts.sh each CMD...    one rank of CMD on every host, in that host's directory
#
# Example, three hosts, one rank each:
#   Cluster/local/netns-hosts.sh up 3
#   Cluster/local/netns-hosts.sh mpirun -np 3 "$PWD/.build/release/tandem" diagnose mpi
#   Cluster/local/netns-hosts.sh down
#
# Environment: NETNS_HOSTS_PREFIX (namespace and interface prefix, default
# tnd), NETNS_HOSTS_DIR (the hosts' working directories DIR/h0 ..., default
# /tmp/tandem-netns), NETNS_HOSTS_SUBNET (the first three octets, default 10.77.0).
set -euo pipefail

prefix=${NETNS_HOSTS_PREFIX:-tnd}
root=${NETNS_HOSTS_DIR:-/tmp/tandem-netns}
subnet=${NETNS_HOSTS_SUBNET:-10.77.0}
bridge=$prefix-br
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")

hosts() { ip netns list | sed -n "s/^$prefix-\(h[0-9]*\).*/\1/p" | sort -V; }

in_host() {  # HOST CMD...: CMD in HOST's namespace, with its own host name, in its directory
  local host=$1; shift
  ip netns list | grep -q "^$prefix-$host\b" || { echo "netns-hosts: no host $host (netns-hosts.sh up first)" >&2; exit 1; }
  mkdir -p "$root/$host"
  exec ip netns exec "$prefix-$host" unshare --uts sh -c 'hostname "$0"; cd "$1"; shift; exec "$@"' "$host" "$root/$host" "$@"
}

case "${1:-}" in
  up)
    n=${2:-3}
    [[ $(id -u) -eq 0 ]] || { echo "netns-hosts: network namespaces need root" >&2; exit 1; }
    ip link add "$bridge" type bridge 2>/dev/null || true
    ip addr replace "$subnet.254/24" dev "$bridge"
    ip link set "$bridge" up
    for ((k = 0; k < n; k++)); do
      ns=$prefix-h$k
      ip netns add "$ns" 2>/dev/null || true
      if ! ip netns exec "$ns" ip link show eth0 >/dev/null 2>&1; then
        ip link add "$prefix-h$k" type veth peer name "$prefix-h${k}x"
        ip link set "$prefix-h${k}x" netns "$ns"
        ip netns exec "$ns" ip link set "$prefix-h${k}x" name eth0
      fi
      ip link set "$prefix-h$k" master "$bridge" up
      ip netns exec "$ns" ip link set lo up
      ip netns exec "$ns" ip addr replace "$subnet.$((k + 1))/24" dev eth0
      ip netns exec "$ns" ip link set eth0 up
      mkdir -p "$root/h$k"
    done
    # A hostfile for mpirun and tandem launch: one slot per host.
    for host in $(hosts); do echo "$host slots=1"; done > "$root/hostfile"
    ;;
  down)
    for host in $(hosts); do
      ip netns pids "$prefix-$host" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
      ip link del "$prefix-$host" 2>/dev/null || true
      ip netns del "$prefix-$host"
    done
    ip link del "$bridge" 2>/dev/null || true
    ;;
  exec) shift; in_host "$@" ;;
  agent)
    # Open MPI calls its rsh agent as: AGENT [ssh options] HOST COMMAND...
    shift
    while [[ ${1:-} == -* ]]; do shift; done
    host=$1; shift
    # Separate machines have separate /tmp: give each daemon its own session directory.
    mkdir -p "$root/$host/.session"
    in_host "$host" env OMPI_MCA_orte_tmpdir_base="$root/$host/.session" sh -c "$*"
    ;;
  link)
    ip link set "$prefix-$2" "$3"
    ;;
  mpirun | each)
    mode=$1; shift
    hostfile=$root/hostfile
    for host in $(hosts); do echo "$host slots=1"; done > "$hostfile"
    mpi=(mpirun --hostfile "$hostfile" --mca plm_rsh_agent "$self agent"
         --mca btl tcp,self --mca btl_tcp_if_include "$subnet.0/24" --mca oob_tcp_if_include "$subnet.0/24"
         --mca odls_base_sigkill_timeout 30 --bind-to none
         --mca oob_tcp_keepalive_time 5 --mca oob_tcp_keepalive_intvl 2 --mca oob_tcp_keepalive_probes 3)
    if [[ $mode == mpirun ]]; then in_host h0 "${mpi[@]}" "$@"; fi
    # each: one rank per host, each started in that host's own working directory.
    apps=()
    for host in $(hosts); do
      ((${#apps[@]})) && apps+=(:)
      apps+=(-np 1 --host "$host" -wdir "$root/$host" "$@")
    done
    in_host h0 "${mpi[@]}" "${apps[@]}"
    ;;
  *)
    sed -n '2,24p' "$0" >&2
    exit 64
    ;;
esac
