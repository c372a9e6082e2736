# shellcheck shell=bash
# Sourced by the tests/vm/rel/ scripts (guest side, as root): hostile input and faults.
# dp/common.sh (TAP helpers, topology, dpgen) plus what the reliability scenarios share: the
# TAP file rel-<script>.tap, kernel-log and kmemleak checks, a topology where NAT, DR and TUN
# services coexist, and the spoofed source ranges (198.18.0.0/15, 2001:2::/48) that the
# director and the router blackhole.
# shellcheck source=tests/vm/dp/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../dp/common.sh"

# shellcheck disable=SC2034 # used by the scripts that source this file
REL=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -s "$TAP" ] || rm -f "$TAP"
TAP=$OUT/rel-$(basename "$0" .sh).tap
: >"$TAP"
# shellcheck disable=SC2034 # used by the scripts that source this file
LONG=${REL_LONG:-0}
SPOOF4=198.18.0.0/15
SPOOF6=2001:2::/48

dmesg_lines() { dmesg | wc -l; }

# debugfs (kmemleak, fault injection) may not be mounted by the guest's init.
if [ -d /sys/kernel/debug ] && ! mountpoint -q /sys/kernel/debug; then
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
fi

# log_clean NAME SINCE_LINE: TAP line; the kernel log from line SINCE_LINE on is clean
# (tools/dmesg-check.sh, and no netdevice leak).
log_clean() {
	local name=$1 from=$2 f=$WORK/dmesg-part
	dmesg | tail -n +"$from" >"$f"
	if "$TOP/tools/dmesg-check.sh" "$f" >"$f.check" 2>&1 && ! grep -q 'unregister_netdevice: waiting' "$f"; then
		tap_ok "$name: kernel log clean"
	else
		tap_fail "$name: kernel log clean" "$(head -n 30 "$f.check")" "$(grep 'unregister_netdevice' "$f" | head -n 3)"
	fi
}

# rel_topo_up LABEL: topo_up, then routes in the real servers so that NAT, DR and TUN services
# coexist without policy routing (the test kernel has no CONFIG_IP_MULTIPLE_TABLES): replies
# go via the director (NAT), except to the client addresses reserved for DR and TUN traffic
# ($DRTUN_SRC4/6: 10.1.0.128/25, fd00:c1::1:0/112), which go via the router; and blackholes for
# the spoofed ranges in the director and the router.
# shellcheck disable=SC2034 # used by the scripts that source this file
DRTUN_SRC4=10.1.0.129
# shellcheck disable=SC2034 # used by the scripts that source this file
DRTUN_SRC6=fd00:c1::1:1
rel_topo_up() {
	local ns
	topo_up "$1" || return 1
	rs_routes NAT || return 1
	for ns in "${DP_RS[@]}"; do
		ip -n "$ns" -batch - <<-EOF || return 1
			route add 10.1.0.128/25 via 10.0.1.254
			route add fd00:c1::1:0/112 via fd00:1::fe
		EOF
	done
	for ns in "$DP_DIR" "$DP_RT"; do
		ip -n "$ns" -batch - <<-EOF || return 1
			route add blackhole $SPOOF4
			route add blackhole $SPOOF6
		EOF
	done
}

# drops_total: the sum of /proc/net/ip_vs_drops in the director's namespace ("-" if absent).
drops_total() {
	ip netns exec "$DP_DIR" cat /proc/net/ip_vs_drops 2>/dev/null | awk '{ n += $2; seen = 1 } END { if (seen) print n + 0; else print "-" }'
}

# conn_tuples FILE: the director's connections as "tcp|udp CIP CPORT VIP VPORT RIP RPORT".
conn_tuples() {
	ip netns exec "$DP_DIR" ipvsadm -L -n -c 2>/dev/null |
		awk 'function hp(s,  i) { i = match(s, /:[0-9]+$/); return substr(s, 1, i - 1) " " substr(s, i + 1) }
			$1 == "TCP" || $1 == "UDP" { a = hp($4); b = hp($5); c = hp($6); gsub(/[][]/, "", a)
				gsub(/[][]/, "", b); gsub(/[][]/, "", c); print tolower($1), a, b, c }' >"$1"
}

# accounting_up IN4 IN6 FWD4 FWD6: nftables counters in the director's namespace for the drop
# balance (see pktfuzz.sh). At INPUT and FORWARD priority -300 (before IPVS: 98/99 and 99/100)
# the packets matching IN4/IN6 and FWD4/FWD6 (nft matches: "ip saddr X", ...) are counted and
# tagged with a magic skb->priority; INPUT and FORWARD at 300 count the tagged packets that
# went on, OUTPUT at -500 the tagged packets IPVS transmitted (it sends through LOCAL_OUT, the
# same skb: NAT-rewritten and tunnelled packets keep the tag). Matching on the tag rather than
# on addresses keeps packets IPVS rewrote in the count (ICMP errors about NAT connections get
# new outer addresses at FORWARD: matched by address, they looked like drops).
# OUTPUT -500 is where IPVS hands the packet to the stack (NF_HOOK(LOCAL_OUT) after its own
# checks), before nf_defrag_ipv6 (-400, which IPVS enables for IPv6 services) and conntrack
# (-200): what LOCAL_OUT's defragmenter keeps or drops after that is the stack's, not IPVS's,
# and is reported apart (out_post at 300; see balance_end). INPUT 97 and 101 bracket IPVS's
# LOCAL_IN hooks (98, 99) for the report.
BAL_TAG=4950:5653
accounting_up() {
	ip netns exec "$DP_DIR" nft -f - <<-EOF
		table inet fz {
			counter in_pre {}
			counter in_post {}
			counter fwd_pre {}
			counter fwd_post {}
			counter out_ipvs {}
			counter out_post {}
			counter in_97 {}
			counter in_101 {}
			chain in_pre {
				type filter hook input priority -300;
				$1 meta priority set $BAL_TAG counter name in_pre
				$2 meta priority set $BAL_TAG counter name in_pre
			}
			chain in_post { type filter hook input priority 300; meta priority $BAL_TAG counter name in_post; }
			chain fwd_pre {
				type filter hook forward priority -300;
				$3 meta priority set $BAL_TAG counter name fwd_pre
				$4 meta priority set $BAL_TAG counter name fwd_pre
			}
			chain fwd_post { type filter hook forward priority 300; meta priority $BAL_TAG counter name fwd_post; }
			chain in_97 { type filter hook input priority 97; meta priority $BAL_TAG counter name in_97; }
			chain in_101 { type filter hook input priority 101; meta priority $BAL_TAG counter name in_101; }
			chain out_pre { type filter hook output priority -500; meta priority $BAL_TAG counter name out_ipvs; }
			chain out_post { type filter hook output priority 300; meta priority $BAL_TAG counter name out_post; }
		}
	EOF
}

# balance_snapshot: one reading of the drop-balance counters, "DROPS IN_PRE IN_POST FWD_PRE
# FWD_POST OUT" (DROPS "-" without /proc/net/ip_vs_drops), all from one netns exec: the nft
# counters in one dump and the drop counters right after.
balance_snapshot() {
	# shellcheck disable=SC2016 # the inner sh expands $(cat ...)
	ip netns exec "$DP_DIR" sh -c 'nft list counters table inet fz; echo "drops $(cat /proc/net/ip_vs_drops 2>/dev/null |
		awk "{ n += \$2; seen = 1 } END { if (seen) print n + 0; else print \"-\" }")"' 2>/dev/null |
		awk '$1 == "counter" { name = $2 } $1 == "packets" { c[name] = $2 } $1 == "drops" { d = $2 }
			END { print d, c["in_pre"] + 0, c["in_post"] + 0, c["fwd_pre"] + 0, c["fwd_post"] + 0, c["out_ipvs"] + 0,
				c["out_post"] + 0, c["in_97"] + 0, c["in_101"] + 0 }'
}

# balance_stable: a snapshot taken when nothing is in flight any more: the counters are read
# until two readings 300 ms apart agree (at most 20 readings). A packet between two hooks
# while the counters are read would otherwise count as a drop (make check: frag_overlap's
# "1 dropped, 0 counted" was a late reply to a fuzzed packet crossing the reads).
balance_stable() {
	local a b i
	a=$(balance_snapshot)
	for i in $(seq 20); do
		sleep 0.3
		b=$(balance_snapshot)
		[ "$a" = "$b" ] && break
		a=$b
	done
	echo "$b"
}

# balance_start / balance_end FILE: the drop balance between the two calls. balance_end sets
# BAL_OBSERVED (packets IPVS dropped or freed: (in_pre - in_post) + (fwd_pre - fwd_post) -
# out_ipvs) and BAL_COUNTED (growth of the sum of /proc/net/ip_vs_drops, "-" without it), and
# writes both with the raw counters to FILE, then what LOCAL_OUT kept after IPVS handed packets
# over, the INPUT counters around IPVS's hooks and the director's nstat counters that moved
# (reassembly, ICMP errors: where uncounted packets went). Both ends are stable snapshots
# (balance_stable).
bal_nstat() { ip netns exec "$DP_DIR" nstat -asz 2>/dev/null | awk '$1 !~ /^#/ && NF >= 2 { print $1, $2 }'; }
balance_start() {
	BAL_NSTAT0=$(bal_nstat)
	read -r -a BAL0 <<<"$(balance_stable)"
}
balance_end() {
	local c1 in_pre in_post fwd_pre fwd_post out b
	read -r -a b <<<"$(balance_stable)"
	c1=${b[0]}
	in_pre=$((b[1] - BAL0[1])) in_post=$((b[2] - BAL0[2]))
	fwd_pre=$((b[3] - BAL0[3])) fwd_post=$((b[4] - BAL0[4]))
	out=$((b[5] - BAL0[5]))
	BAL_OBSERVED=$((in_pre - in_post + fwd_pre - fwd_post - out))
	if [ "${BAL0[0]}" = - ] || [ "$c1" = - ]; then BAL_COUNTED=-; else BAL_COUNTED=$((c1 - BAL0[0])); fi
	{
		echo "input $in_pre in, $in_post on; forward $fwd_pre in, $fwd_post on; IPVS transmitted $out;" \
			"dropped by IPVS $BAL_OBSERVED; /proc/net/ip_vs_drops grew by $BAL_COUNTED"
		ip netns exec "$DP_DIR" cat /proc/net/ip_vs_drops 2>&1
		echo "after IPVS (not IPVS's): LOCAL_OUT kept or dropped $((out - (b[6] - BAL0[6]))) of $out transmitted;" \
			"INPUT at 97 $((b[7] - BAL0[7])), at 101 $((b[8] - BAL0[8]))"
		echo "nstat moved: $(printf '%s\n' "$BAL_NSTAT0" | awk 'NR == FNR { a[$1] = $2; next }
			($2 - a[$1]) != 0 { printf "%s %+d ", $1, $2 - a[$1] }' - <(bal_nstat))"
	} >"$1"
}
