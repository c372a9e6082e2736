#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/ctl/run-all.sh [A [B]]     (default: c rs)
# From the host:  VM_OUT=/tmp/ctl tools/vm.sh --timeout 900 -- tests/vm/ctl/run-all.sh c rs
#
# The control-plane comparison of two IPVS implementations (c = C ip_vs, rs = ipvs_rs.ko):
#   ipvsadm-diff.sh  ipvsadm-script.txt line by line (output, exit code, /proc/net/ip_vs)
#   netlink-diff.sh  hand-built generic netlink edge cases (nlclient.py)
#   unpriv.sh        the same without CAP_NET_ADMIN
#   sysctl-diff.sh   the net/ipv4/vs sysctl table: names, modes, values, refused writes
# Each writes $VM_OUT/<name>.tap; this prints their TAP lines as they come and a summary, and
# exits non-zero if any case failed or a script did not finish. `run-all.sh c c` proves that
# the scenarios are deterministic.
set -u
CTL=$(cd "$(dirname "$0")" && pwd)
A=${1:-c}
B=${2:-rs}
OUT=${VM_OUT:-/tmp}
rc=0
total_ok=0
total_fail=0
start=$SECONDS
for t in ipvsadm-diff netlink-diff unpriv sysctl-diff; do
	t0=$SECONDS
	"$CTL/$t.sh" "$A" "$B" || rc=1
	tap=$OUT/$t.tap
	ok=$(grep -c '^ok - ' "$tap" 2>/dev/null)
	bad=$(grep -c '^not ok - ' "$tap" 2>/dev/null)
	total_ok=$((total_ok + ${ok:-0}))
	total_fail=$((total_fail + ${bad:-0}))
	echo "# run-all: $t: ${ok:-0} ok, ${bad:-0} not ok in $((SECONDS - t0))s"
	if [ "${ok:-0}" = 0 ]; then
		echo "# run-all: $t produced no passing results"
		rc=1
	fi
done
echo "# run-all ($A vs $B): $total_ok ok, $total_fail not ok in $((SECONDS - start))s"
[ "$total_fail" = 0 ] || rc=1
exit $rc
