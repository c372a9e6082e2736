#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/dp/run-all.sh [MOD...]     (default: c rs)
# From the host:  VM_OUT=/tmp/dp tools/vm.sh --timeout 3600 -- tests/vm/dp/run-all.sh c rs
#
# The data-path scenarios against each MOD (c = C ip_vs + schedulers, rs = ipvs_rs.ko):
#   selftest.sh  the kernel's selftests/net/netfilter/ipvs.sh, per mode (DR, NAT, TUN)
#   matrix.sh    {NAT,DR,TUN} x {TCP,UDP} x {IPv4,IPv6} x {rr,wrr,lc,wlc,sh,mh}, compared
#   expire.sh    connection states and timeouts in ipvsadm -L -n -c
#   stress.sh    namespace deletion and module unload under load
#   dstcache.sh  the per-destination route cache: device down/up, route changes, the trash,
#                namespace deletion and unload with cached routes (the netdevice notifier)
#   sched.sh     the fourteen schedulers with traffic, C and ipvs_rs choosing the same servers
#   quiescent.sh expire_quiescent_template 0/1: where a persistent client goes after weight 0
#   onepacket.sh one-packet scheduling (-o): every UDP datagram scheduled, no entry left
#   tunnels.sh   IPIP, mixed-family, GUE and GRE encapsulations on the wire, against C
#   knobs.sh     schedule_icmp and pmtu_disc with crafted ICMP errors and DF datagrams
#   sctp.sh      SCTP services (NAT with the CRC32c rewrite, DR, TUN) with real associations
#   xtipvs.sh    the ipvs xtables match (-m ipvs) with traffic, iptables-legacy and -nft
# Each writes $VM_OUT/dp-<name>.tap; this prints their TAP lines as they come and a summary,
# and exits non-zero if any check failed or a script produced no passing result.
# `run-all.sh c c` shows which comparisons are deterministic.
set -u
DP=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || set -- c rs
OUT=${VM_OUT:-/tmp}
rc=0
total_ok=0
total_fail=0
start=$SECONDS
for t in selftest matrix expire stress dstcache sched quiescent onepacket tunnels knobs sctp xtipvs; do
	t0=$SECONDS
	"$DP/$t.sh" "$@" || rc=1
	tap=$OUT/dp-$t.tap
	ok=$(grep -c '^ok - ' "$tap" 2>/dev/null)
	bad=$(grep -c '^not ok - ' "$tap" 2>/dev/null)
	total_ok=$((total_ok + ${ok:-0}))
	total_fail=$((total_fail + ${bad:-0}))
	echo "# dp/run-all: $t: ${ok:-0} ok, ${bad:-0} not ok in $((SECONDS - t0))s"
	if [ "${ok:-0}" = 0 ]; then
		echo "# dp/run-all: $t produced no passing results"
		rc=1
	fi
done
echo "# dp/run-all ($*): $total_ok ok, $total_fail not ok in $((SECONDS - start))s"
[ "$total_fail" = 0 ] || rc=1
exit $rc
