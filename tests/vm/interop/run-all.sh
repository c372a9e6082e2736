#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/interop/run-all.sh [MOD...]     (default: c rs)
# From the host:  VM_OUT=/tmp/interop tools/vm.sh --timeout 1800 -- tests/vm/interop/run-all.sh c rs
#
# The node-interop replays against each MOD (c = C ip_vs + schedulers, rs = ipvs_rs.ko), in
# one boot, each MOD's results compared with the first MOD's:
#   kubeproxy.sh   kube-proxy in IPVS mode (replayed through pyroute2): startup sysctls, the
#                  scheduler probe, ClusterIP/NodePort services on kube-ipvs0 with traffic,
#                  ClientIP affinity, flags under mask 0xffffffff, the moby-style dump,
#                  graceful termination
#   keepalived.sh  the real keepalived's checker: health checks removing / inhibiting a real
#                  server and putting it back, with traffic
#   xt-ipvs.sh     Docker swarm's and kube-router's `-m ipvs` rules and fwmark services
# Each writes $VM_OUT/interop-<name>.tap; this prints their TAP lines as
# they come and a summary, and exits non-zero if any check failed or a script produced no
# passing result. `run-all.sh c c` shows which comparisons are deterministic.
set -u
IOP=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || set -- c rs
OUT=${VM_OUT:-/tmp}
rc=0
total_ok=0
total_fail=0
start=$SECONDS
for t in kubeproxy keepalived xt-ipvs; do
	t0=$SECONDS
	"$IOP/$t.sh" "$@" || rc=1
	tap=$OUT/interop-$t.tap
	ok=$(grep -c '^ok - ' "$tap" 2>/dev/null)
	bad=$(grep -c '^not ok - ' "$tap" 2>/dev/null)
	total_ok=$((total_ok + ${ok:-0}))
	total_fail=$((total_fail + ${bad:-0}))
	echo "# interop/run-all: $t: ${ok:-0} ok, ${bad:-0} not ok in $((SECONDS - t0))s"
	if [ "${ok:-0}" = 0 ]; then
		echo "# interop/run-all: $t produced no passing results"
		rc=1
	fi
done
echo "# interop/run-all ($*): $total_ok ok, $total_fail not ok in $((SECONDS - start))s"
[ "$total_fail" = 0 ] || rc=1
exit $rc
