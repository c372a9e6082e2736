#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/sync/pair.sh [MOD...]     (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/sync tools/vm.sh --timeout 1200 -- tests/vm/sync/pair.sh c rs
#
# Two directors of the same module in one kernel (C→C, the baseline, and rs→rs), in the
# topology of common.sh: director A runs the master sync daemon, B the backup (ipvsadm
# --start-daemon, syncid 9, on eth0); the client holds $SYNC_CONNS (20) long-lived TCP
# connections through the persistent DR service, each echoing 64 random bytes every 200 ms.
# Checks (TAP "sync-pair MOD: ..."):
#   - both daemons start and `ipvsadm -L --daemon` lists them (and, for rs, as C lists them);
#   - the backup lists every connection ESTABLISHED, bound to its real server, and the
#     persistence template, within 20 s (C: the 3rd packet, then a 2 s flush);
#   - failover: the VIP moves to B mid-stream; every connection goes on for 5 s more with
#     every byte echoed, through B;
#   - persistence holds on B: a new connection from the client reaches the same real server;
#   - the daemons stop; the module unloads; the kernel log stays clean.
# Files: $VM_OUT/sync-pair-<MOD>/.
. "$(dirname "$0")/common.sh"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
N=${SYNC_CONNS:-20}

run_pair() {
	local m=$1 l=$1 d=$WORK/sync-pair-$1 t secs
	mkdir -p "$d"
	note "sync-pair $m: $m master → $m backup, $N connections"
	load_ipvs "$m" || { tap_fail "sync-pair $m: load $m"; return; }
	sy_down "$l"
	sy_up "$l"
	sy_servers_up "$l"
	if sy_service da "$l" && sy_service db "$l"; then
		tap_ok "sync-pair $m: the DR service on both directors"
	else
		tap_fail "sync-pair $m: the DR service on both directors"
	fi
	check "sync-pair $m: master daemon starts on A" \
		in_ns "sy-da-$l" ipvsadm --start-daemon master --mcast-interface eth0 --syncid 9
	check "sync-pair $m: backup daemon starts on B" \
		in_ns "sy-db-$l" ipvsadm --start-daemon backup --mcast-interface eth0 --syncid 9
	in_ns "sy-da-$l" ipvsadm -L --daemon >"$d/daemon-a.txt" 2>&1
	in_ns "sy-db-$l" ipvsadm -L --daemon >"$d/daemon-b.txt" 2>&1
	if grep -q "^master sync daemon (mcast=eth0, syncid=9" "$d/daemon-a.txt" &&
		grep -q "^backup sync daemon (mcast=eth0, syncid=9" "$d/daemon-b.txt"; then
		tap_ok "sync-pair $m: ipvsadm -L --daemon lists both daemons"
	else
		tap_fail "sync-pair $m: ipvsadm -L --daemon lists both daemons" "$(cat "$d/daemon-a.txt" "$d/daemon-b.txt")"
	fi
	refuse "sync-pair $m: a second master is refused (EEXIST)" \
		in_ns "sy-da-$l" ipvsadm --start-daemon master --mcast-interface eth0 --syncid 9

	# The streams.
	rm -f "$d/stop"
	in_ns "sy-cl-$l" "$PY" "$SY/stream.py" client "$VIP" 80 "$N" "$d/stop" "$d/client.txt" >"$d/client.out" 2>&1 &
	local client=$!
	sleep 3
	if secs=$(sy_wait_conns db "$l" "$N"); then
		tap_ok "sync-pair $m: the backup lists the $N connections and the template (${secs} s)"
	else
		tap_fail "sync-pair $m: the backup lists the $N connections and the template" "$secs" \
			"$(sy_conns db "$l" | head -n 5)" "$(cat /proc/net/ip_vs_sync 2>/dev/null)"
	fi
	sy_conns da "$l" | sort >"$d/conns-a.txt"
	sy_conns db "$l" | sort >"$d/conns-b.txt"
	in_ns "sy-db-$l" cat /proc/net/ip_vs_sync >"$d/sync-b.txt" 2>/dev/null
	in_ns "sy-da-$l" cat /proc/net/ip_vs_sync >"$d/sync-a.txt" 2>/dev/null
	# The same connections, bound to the same real servers, on both directors.
	if [ "$(awk '{ print $2, $3, $4 }' "$d/conns-a.txt" | sort)" = "$(awk '{ print $2, $3, $4 }' "$d/conns-b.txt" | sort)" ]; then
		tap_ok "sync-pair $m: the backup's entries are the master's (client, virtual, real server)"
	else
		tap_fail "sync-pair $m: the backup's entries are the master's" \
			"$(diff "$d/conns-a.txt" "$d/conns-b.txt" | head -n 10)"
	fi

	# Failover, mid-stream.
	sy_move_vip da db "$l"
	t=$SECONDS
	sleep 5
	touch "$d/stop"
	wait "$client"
	local rc=$?
	if [ "$rc" = 0 ] && grep -q "^total $N ok $N$" "$d/client.txt"; then
		tap_ok "sync-pair $m: failover: all $N connections kept, every byte echoed ($((SECONDS - t)) s after the move)"
	else
		tap_fail "sync-pair $m: failover: all $N connections kept" "$(grep -v ' ok ' "$d/client.txt" | head -n 5)" \
			"$(tail -n 3 "$d/client.out")"
	fi
	# B carried them: its entries saw traffic after the move (its stats count packets).
	local inpkts
	inpkts=$(in_ns "sy-db-$l" ipvsadm -L -n --stats --exact 2>/dev/null |
		awk '$1 == "->" && $2 ~ /^10\.9\.0\.2/ { n += $4 } END { print n + 0 }')
	if [ "$inpkts" -gt 0 ]; then
		tap_ok "sync-pair $m: director B forwarded the streams after the move ($inpkts packets)"
	else
		tap_fail "sync-pair $m: director B forwarded the streams after the move" \
			"$(in_ns "sy-db-$l" ipvsadm -L -n --stats --exact 2>&1)"
	fi
	# Persistence: a new connection reaches the streams' real server.
	local want got
	want=$(awk '$1 == "conn" { print $4 }' "$d/client.txt" | sort -u | head -n 1)
	got=$(in_ns "sy-cl-$l" "$PY" "$SY/stream.py" once "$VIP" 80 2>&1)
	if [ -n "$want" ] && [ "$got" = "$want" ]; then
		tap_ok "sync-pair $m: persistence holds on the backup (new connection to $got)"
	else
		tap_fail "sync-pair $m: persistence holds on the backup" "want '$want', got '$got'"
	fi

	check "sync-pair $m: master daemon stops" in_ns "sy-da-$l" ipvsadm --stop-daemon master
	check "sync-pair $m: backup daemon stops" in_ns "sy-db-$l" ipvsadm --stop-daemon backup
	equals "sync-pair $m: no daemon listed after the stop" "" in_ns "sy-da-$l" ipvsadm -L --daemon
	sy_servers_down
	sy_down "$l"
	check "sync-pair $m: $m unloads" unload_ipvs "$m"
	publish "sync-pair-$m"
}

for m in "$@"; do
	run_pair "$m"
done
# The daemon listings must be C's.
if [ -f "$OUT/sync-pair-c/daemon-a.txt" ] && [ -f "$OUT/sync-pair-rs/daemon-a.txt" ]; then
	if cmp -s "$OUT/sync-pair-c/daemon-a.txt" "$OUT/sync-pair-rs/daemon-a.txt" &&
		cmp -s "$OUT/sync-pair-c/daemon-b.txt" "$OUT/sync-pair-rs/daemon-b.txt"; then
		tap_ok "sync-pair: rs lists its daemons as c does"
	else
		tap_fail "sync-pair: rs lists its daemons as c does" \
			"$(diff "$OUT/sync-pair-c/daemon-a.txt" "$OUT/sync-pair-rs/daemon-a.txt")" \
			"$(diff "$OUT/sync-pair-c/daemon-b.txt" "$OUT/sync-pair-rs/daemon-b.txt")"
	fi
fi
finish
