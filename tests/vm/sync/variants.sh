#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/sync/variants.sh [MOD...]   (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/sync tools/vm.sh --timeout 1200 -- tests/vm/sync/variants.sh c rs
#
# The sync protocol's other forms, master and backup of the same module in one kernel
# (common.sh's topology, with IPv6 addresses fd09::X/64 next to the IPv4 ones and a second
# persistent DR service on [fd09::100]:80):
#   v0    sync_version=0 on the master (the original format: IPv4 only, no timeout): the
#         backup lists $SYNC_CONNS_V (5) IPv4 streams and their template;
#   ipv6  daemons on the IPv6 group ff02::81 (version 1) and IPv6 connections: the backup
#         lists the IPv6 streams and their template, and after the VIP6 moves to it they go on
#         with every byte echoed.
# Checks (TAP "sync-variants MOD: ..."); files $VM_OUT/sync-variants-<MOD>/.
. "$(dirname "$0")/common.sh"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
N=${SYNC_CONNS_V:-5}
VIP6=fd09::100

v6_up() {
	local l=$1 n a
	for n in cl:2 da:11 db:12 r1:21 r2:22; do
		a=${n#*:}
		n=${n%%:*}
		in_ns "sy-$n-$l" ip addr add "fd09::$a/64" dev eth0 nodad
	done
	for n in r1 r2; do
		in_ns "sy-$n-$l" ip addr add "$VIP6/128" dev lo
	done
	in_ns "sy-da-$l" ip addr add "$VIP6/128" dev eth0 nodad
	for n in da db; do
		in_ns "sy-$n-$l" ipvsadm -A -t "[$VIP6]:80" -s rr -p 300 &&
			in_ns "sy-$n-$l" ipvsadm -a -t "[$VIP6]:80" -r "[fd09::21]:80" -g &&
			in_ns "sy-$n-$l" ipvsadm -a -t "[$VIP6]:80" -r "[fd09::22]:80" -g || return 1
	done
}

# streams L NAME HOST: N streams to HOST:80 in the background (STREAM_PID).
streams() {
	rm -f "$d/stop-$2"
	in_ns "sy-cl-$1" "$PY" "$SY/stream.py" client "$3" 80 "$N" "$d/stop-$2" "$d/client-$2.txt" >"$d/client-$2.out" 2>&1 &
	STREAM_PID=$!
}

run_variants() {
	local m=$1 l=va secs mac
	d=$WORK/sync-variants-$m
	mkdir -p "$d"
	load_ipvs "$m" || { tap_fail "sync-variants $m: load $m"; return; }
	sy_down "$l"
	sy_up "$l"
	sy_servers_up "$l"
	if sy_service da "$l" && sy_service db "$l" && v6_up "$l"; then
		tap_ok "sync-variants $m: IPv4 and IPv6 DR services on both directors"
	else
		tap_fail "sync-variants $m: IPv4 and IPv6 DR services on both directors"
	fi

	# Version 0.
	in_ns "sy-da-$l" sysctl -qw net.ipv4.vs.sync_version=0
	in_ns "sy-da-$l" ipvsadm --start-daemon master --mcast-interface eth0 --syncid 7
	in_ns "sy-db-$l" ipvsadm --start-daemon backup --mcast-interface eth0 --syncid 7
	streams "$l" v0 "$VIP"
	sleep 2
	if secs=$(sy_wait_conns db "$l" "$N" '^10\.9\.0\.100:'); then
		tap_ok "sync-variants $m: sync_version=0: the backup lists the $N connections and the template (${secs} s)"
	else
		tap_fail "sync-variants $m: sync_version=0: the backup lists the $N connections and the template" "$secs" \
			"$(sy_conns db "$l" | head -n 5)"
	fi
	sy_conns db "$l" | sort >"$d/conns-v0-b.txt"
	touch "$d/stop-v0"
	wait "$STREAM_PID"
	in_ns "sy-da-$l" ipvsadm --stop-daemon master
	in_ns "sy-db-$l" ipvsadm --stop-daemon backup
	in_ns "sy-da-$l" sysctl -qw net.ipv4.vs.sync_version=1

	# IPv6 group, IPv6 connections.
	check "sync-variants $m: master daemon on the IPv6 group ff02::81" \
		in_ns "sy-da-$l" ipvsadm --start-daemon master --mcast-interface eth0 --syncid 7 --mcast-group ff02::81
	check "sync-variants $m: backup daemon on the IPv6 group ff02::81" \
		in_ns "sy-db-$l" ipvsadm --start-daemon backup --mcast-interface eth0 --syncid 7 --mcast-group ff02::81
	in_ns "sy-da-$l" ipvsadm -L --daemon >"$d/daemon6-a.txt" 2>&1
	in_ns "sy-db-$l" ipvsadm -L --daemon >"$d/daemon6-b.txt" 2>&1
	streams "$l" v6 "$VIP6"
	sleep 2
	if secs=$(sy_wait_conns db "$l" "$N" '^\[fd09::100\]:'); then
		tap_ok "sync-variants $m: IPv6: the backup lists the $N connections and the template (${secs} s)"
	else
		tap_fail "sync-variants $m: IPv6: the backup lists the $N connections and the template" "$secs" \
			"$(sy_conns db "$l" | head -n 5)" "$(cat "$d/daemon6-a.txt" "$d/daemon6-b.txt")"
	fi
	sy_conns db "$l" | sort >"$d/conns-v6-b.txt"
	in_ns "sy-da-$l" ip addr del "$VIP6/128" dev eth0
	in_ns "sy-db-$l" ip addr add "$VIP6/128" dev eth0 nodad
	mac=$(in_ns "sy-db-$l" cat /sys/class/net/eth0/address)
	in_ns "sy-cl-$l" ip -6 neigh replace "$VIP6" lladdr "$mac" dev eth0 nud reachable
	sleep 4
	touch "$d/stop-v6"
	wait "$STREAM_PID"
	if grep -q "^total $N ok $N$" "$d/client-v6.txt"; then
		tap_ok "sync-variants $m: IPv6: failover: all $N connections kept, every byte echoed"
	else
		tap_fail "sync-variants $m: IPv6: failover: all $N connections kept" \
			"$(grep -v ' ok ' "$d/client-v6.txt" | head -n 5)" "$(tail -n 3 "$d/client-v6.out")"
	fi
	in_ns "sy-da-$l" ipvsadm --stop-daemon master
	in_ns "sy-db-$l" ipvsadm --stop-daemon backup
	sy_servers_down
	sy_down "$l"
	check "sync-variants $m: $m unloads" unload_ipvs "$m"
	publish "sync-variants-$m"
}

for m in "$@"; do
	run_variants "$m"
done
if [ -f "$OUT/sync-variants-c/daemon6-a.txt" ] && [ -f "$OUT/sync-variants-rs/daemon6-a.txt" ]; then
	if cmp -s "$OUT/sync-variants-c/daemon6-a.txt" "$OUT/sync-variants-rs/daemon6-a.txt" &&
		cmp -s "$OUT/sync-variants-c/daemon6-b.txt" "$OUT/sync-variants-rs/daemon6-b.txt"; then
		tap_ok "sync-variants: rs lists its IPv6-group daemons as c does"
	else
		tap_fail "sync-variants: rs lists its IPv6-group daemons as c does" \
			"$(diff "$OUT/sync-variants-c/daemon6-a.txt" "$OUT/sync-variants-rs/daemon6-a.txt")" \
			"$(diff "$OUT/sync-variants-c/daemon6-b.txt" "$OUT/sync-variants-rs/daemon6-b.txt")"
	fi
fi
finish
