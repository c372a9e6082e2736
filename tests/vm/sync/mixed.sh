#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/sync/mixed.sh [PAIR...]   (PAIR: c:rs or rs:c; default both)
# From the host:  VM_OUT=/tmp/sync tools/vm.sh --timeout 1200 -- tests/vm/sync/mixed.sh
#
# A master of one module and a backup of the other (C→rs, rs→C). ip_vs and ipvs_rs exclude
# each other in one kernel, so the master's datagrams are recorded and replayed: in the
# topology of common.sh, director A runs the MASTER module's master daemon while a recorder
# on director B's interface keeps every sync datagram; the client holds $SYNC_CONNS (20)
# byte-checked TCP streams through the persistent DR service. Then the VIP leaves A (the
# streams stall, retransmitting), the master module is unloaded and the BACKUP module loaded,
# B gets the service and a backup daemon, the recorded datagrams are replayed to it from A's
# interface, and B takes the VIP. Checks (TAP "sync-mixed M→B: ..."): the recorder got
# datagrams; the backup lists every connection (ESTABLISHED, bound to its real server) and
# the template; every stream resumes through B with every byte echoed; persistence holds; the
# backup daemon stops and the module unloads.
# Files: $VM_OUT/sync-mixed-<M>-<B>/.
. "$(dirname "$0")/common.sh"

[ $# -ge 1 ] || set -- c:rs rs:c
N=${SYNC_CONNS:-20}
REC="$SY/syncrec.py"

run_mixed() {
	local mm=${1%%:*} bm=${1#*:} l=mx d t secs
	d=$WORK/sync-mixed-$mm-$bm
	mkdir -p "$d"
	check_modules "$mm" "$bm"
	note "sync-mixed $mm→$bm: $mm master, recorded, replayed into a $bm backup; $N connections"
	load_ipvs "$mm" || { tap_fail "sync-mixed $mm→$bm: load $mm"; return; }
	sy_down "$l"
	sy_up "$l"
	sy_servers_up "$l"
	sy_service da "$l" || tap_fail "sync-mixed $mm→$bm: the DR service on A"
	check "sync-mixed $mm→$bm: $mm master daemon starts on A" \
		in_ns "sy-da-$l" ipvsadm --start-daemon master --mcast-interface eth0 --syncid 9
	in_ns "sy-db-$l" "$PY" "$REC" record 224.0.0.81 8848 10.9.0.12 "$d/rec.txt" 12 >"$d/rec.out" 2>&1 &
	local rec=$!
	sleep 1
	rm -f "$d/stop"
	in_ns "sy-cl-$l" "$PY" "$SY/stream.py" client "$VIP" 80 "$N" "$d/stop" "$d/client.txt" >"$d/client.out" 2>&1 &
	local client=$!
	wait "$rec"
	local nrec
	nrec=$(grep -c . "$d/rec.txt" 2>/dev/null)
	if [ "${nrec:-0}" -gt 0 ]; then
		tap_ok "sync-mixed $mm→$bm: recorded $nrec sync datagrams of the $mm master"
	else
		tap_fail "sync-mixed $mm→$bm: recorded the $mm master's sync datagrams" "$(cat "$d/rec.out")"
	fi
	sy_conns da "$l" | sort >"$d/conns-a.txt"

	# The VIP leaves A; the master module goes, the backup module comes.
	in_ns "sy-da-$l" ip addr del "$VIP/32" dev eth0
	t=$SECONDS
	in_ns "sy-da-$l" ipvsadm --stop-daemon master
	# C holds a module reference per service (ip_vs_use_count_inc()): clear them first.
	in_ns "sy-da-$l" ipvsadm -C
	check "sync-mixed $mm→$bm: $mm unloads" unload_ipvs "$mm"
	load_ipvs "$bm" || { tap_fail "sync-mixed $mm→$bm: load $bm"; return; }
	sy_service db "$l" || tap_fail "sync-mixed $mm→$bm: the DR service on B"
	check "sync-mixed $mm→$bm: $bm backup daemon starts on B" \
		in_ns "sy-db-$l" ipvsadm --start-daemon backup --mcast-interface eth0 --syncid 9
	sleep 1
	in_ns "sy-da-$l" "$PY" "$REC" replay 224.0.0.81 8848 10.9.0.11 "$d/rec.txt" >"$d/replay.out" 2>&1
	if secs=$(sy_wait_conns db "$l" "$N"); then
		tap_ok "sync-mixed $mm→$bm: the $bm backup lists the $N connections and the template (${secs} s)"
	else
		tap_fail "sync-mixed $mm→$bm: the $bm backup lists the $N connections and the template" "$secs" \
			"$(sy_conns db "$l" | head -n 5)" "$(cat "$d/replay.out")"
	fi
	sy_conns db "$l" | sort >"$d/conns-b.txt"
	if [ "$(awk '{ print $2, $3, $4 }' "$d/conns-a.txt" | sort)" = "$(awk '{ print $2, $3, $4 }' "$d/conns-b.txt" | sort)" ]; then
		tap_ok "sync-mixed $mm→$bm: the backup's entries are the master's (client, virtual, real server)"
	else
		tap_fail "sync-mixed $mm→$bm: the backup's entries are the master's" \
			"$(diff "$d/conns-a.txt" "$d/conns-b.txt" | head -n 10)"
	fi
	in_ns "sy-db-$l" ip addr add "$VIP/32" dev eth0
	in_ns "sy-cl-$l" ip neigh replace "$VIP" lladdr "$(in_ns "sy-db-$l" cat /sys/class/net/eth0/address)" \
		dev eth0 nud reachable
	note "sync-mixed $mm→$bm: the VIP was away $((SECONDS - t)) s"
	sleep 12
	touch "$d/stop"
	wait "$client"
	local rc=$?
	if [ "$rc" = 0 ] && grep -q "^total $N ok $N$" "$d/client.txt"; then
		tap_ok "sync-mixed $mm→$bm: failover: all $N connections kept, every byte echoed"
	else
		tap_fail "sync-mixed $mm→$bm: failover: all $N connections kept" \
			"$(grep -v ' ok ' "$d/client.txt" | head -n 5)" "$(tail -n 3 "$d/client.out")"
	fi
	local want got
	want=$(awk '$1 == "conn" { print $4 }' "$d/client.txt" | sort -u | head -n 1)
	got=$(in_ns "sy-cl-$l" "$PY" "$SY/stream.py" once "$VIP" 80 2>&1)
	if [ -n "$want" ] && [ "$got" = "$want" ]; then
		tap_ok "sync-mixed $mm→$bm: persistence holds on the backup (new connection to $got)"
	else
		tap_fail "sync-mixed $mm→$bm: persistence holds on the backup" "want '$want', got '$got'"
	fi
	check "sync-mixed $mm→$bm: backup daemon stops" in_ns "sy-db-$l" ipvsadm --stop-daemon backup
	sy_servers_down
	sy_down "$l"
	check "sync-mixed $mm→$bm: $bm unloads" unload_ipvs "$bm"
	publish "sync-mixed-$mm-$bm"
}

for p in "$@"; do
	run_mixed "$p"
done
finish
