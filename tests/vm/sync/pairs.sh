#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/sync/pairs.sh
# From the host:  VM_OUT=/tmp/sync tools/vm.sh --timeout 1200 -- tests/vm/sync/pairs.sh
#
# The four pairings of connection sync, C→C, C→rs, rs→rs and rs→C, one after the other on
# the same $SYNC_CONNS (20) byte-checked TCP streams (common.sh's topology: a client, directors
# A and B, two real servers behind a persistent DR service; each stream echoes 64 random bytes
# every 200 ms). ip_vs and ipvs_rs exclude each other in one kernel, so a pairing across
# modules records the master's datagrams (syncrec.py, on the client's interface) and replays
# them into the other module's backup after the module swap; the VIP is away meanwhile and
# the streams stall, retransmitting.
#   1. C→C    C master on A, C backup on B (recorded); B lists the connections; the VIP moves
#             to B and the streams go on through it.
#   2. C→rs   the VIP leaves B, C is replaced by ipvs_rs; an rs backup on A gets the C
#             master's recorded datagrams; A lists the connections; the VIP moves to A and
#             the streams go on.
#   3. rs→rs  rs master on A, rs backup on B (recorded); B lists the connections; the VIP
#             moves to B and the streams go on.
#   4. rs→C   the VIP leaves B, ipvs_rs is replaced by C; a C backup on A gets the rs master's
#             recorded datagrams; A lists the connections; the VIP moves to A and the streams
#             go on; a new connection keeps the streams' real server (persistence).
# Then every stream must have kept every byte; `ipvsadm -L --daemon` must be the same under
# both modules. TAP "sync-pairs ..."; files $VM_OUT/sync-pairs/.
. "$(dirname "$0")/common.sh"

N=${SYNC_CONNS:-20}
REC="$SY/syncrec.py"
l="pr"
d=$WORK/sync-pairs
mkdir -p "$d"
STOP=$d/stop

# moving DESC: the streams move again: within 60 s (TCP retransmits with backoff after a stall)
# every one of them is alive and together
# they echo 3 more rounds each.
moving() {
	local b0 b1 alive i
	read -r _ alive b0 <"$STOP.progress"
	for i in $(seq 120); do
		sleep 0.5
		read -r _ alive b1 <"$STOP.progress"
		if [ "$alive" = "$N" ] && [ $((b1 - b0)) -ge $((N * 64 * 3)) ]; then
			tap_ok "sync-pairs $1: all $N streams go on ($(((i + 1) / 2)) s)"
			return 0
		fi
	done
	tap_fail "sync-pairs $1: all $N streams go on" "alive $alive, $((b1 - b0)) bytes in 60 s" \
		"$(tail -n 3 "$d/client.out")"
}

# listed DESC DIRECTOR: the backup lists the N connections and the template.
listed() {
	local secs
	if secs=$(sy_wait_conns "$2" "$l" "$N"); then
		tap_ok "sync-pairs $1: the backup lists the $N connections and the template (${secs} s)"
	else
		tap_fail "sync-pairs $1: the backup lists the $N connections and the template" "$secs" \
			"$(sy_conns "$2" "$l" | head -n 5)"
	fi
}

# services: the DR service on both directors.
services() {
	if ! sy_service da "$l" || ! sy_service db "$l"; then
		tap_fail "sync-pairs: the DR service on both directors ($1)"
	fi
}

# swap FROM TO OWNER: the VIP leaves OWNER (so that nothing answers the streams while IPVS is
# gone), module FROM goes, TO comes, with the service on both directors.
swap() {
	in_ns "sy-$3-$l" ip addr del "$VIP/32" dev eth0
	in_ns "sy-da-$l" ipvsadm --stop-daemon master 2>/dev/null
	in_ns "sy-db-$l" ipvsadm --stop-daemon backup 2>/dev/null
	in_ns "sy-da-$l" ipvsadm --stop-daemon backup 2>/dev/null
	# C holds a module reference per service (ip_vs_use_count_inc()).
	in_ns "sy-da-$l" ipvsadm -C
	in_ns "sy-db-$l" ipvsadm -C
	check "sync-pairs: $1 unloads" unload_ipvs "$1"
	check "sync-pairs: $2 loads" load_ipvs "$2"
	services "$2"
}

# record SECS: the master's datagrams as the client's interface sees them, into $d/rec-$2.
record() {
	in_ns "sy-cl-$l" "$PY" "$REC" record 224.0.0.81 8848 10.9.0.2 "$d/rec-$2.txt" "$1" >"$d/rec-$2.out" 2>&1
	local n
	n=$(grep -c . "$d/rec-$2.txt" 2>/dev/null)
	[ "${n:-0}" -gt 0 ] || tap_fail "sync-pairs $2: the master's datagrams were recorded" "$(cat "$d/rec-$2.out")"
}

# move_to TO FROM: the VIP moves from FROM to TO (gratuitously: the client is told).
move_to() { sy_move_vip "$2" "$1" "$l"; }

load_ipvs c || { tap_fail "sync-pairs: load c"; finish; exit; }
sy_down "$l"
sy_up "$l"
sy_servers_up "$l"
services c

# 1. C→C.
check "sync-pairs c→c: master daemon starts on A" \
	in_ns "sy-da-$l" ipvsadm --start-daemon master --mcast-interface eth0 --syncid 9
check "sync-pairs c→c: backup daemon starts on B" \
	in_ns "sy-db-$l" ipvsadm --start-daemon backup --mcast-interface eth0 --syncid 9
in_ns "sy-da-$l" ipvsadm -L --daemon >"$d/daemon-c.txt" 2>&1
in_ns "sy-db-$l" ipvsadm -L --daemon >>"$d/daemon-c.txt" 2>&1
rm -f "$STOP" "$STOP.progress"
in_ns "sy-cl-$l" "$PY" "$SY/stream.py" client "$VIP" 80 "$N" "$STOP" "$d/client.txt" >"$d/client.out" 2>&1 &
client=$!
record 10 c
listed "c→c" db
sy_conns da "$l" | awk '{ print $2, $3, $4 }' | sort >"$d/conns-master.txt"
move_to db da
moving "c→c: failover to B"

# 2. C→rs.
swap c rs db
check "sync-pairs c→rs: rs backup daemon starts on A" \
	in_ns "sy-da-$l" ipvsadm --start-daemon backup --mcast-interface eth0 --syncid 9
sleep 1
in_ns "sy-db-$l" "$PY" "$REC" replay 224.0.0.81 8848 10.9.0.12 "$d/rec-c.txt" >"$d/replay-c.out" 2>&1
listed "c→rs" da
if [ "$(sy_conns da "$l" | awk '{ print $2, $3, $4 }' | sort)" = "$(cat "$d/conns-master.txt")" ]; then
	tap_ok "sync-pairs c→rs: the rs backup's entries are the C master's (client, virtual, real server)"
else
	tap_fail "sync-pairs c→rs: the rs backup's entries are the C master's" \
		"$(sy_conns da "$l" | awk '{ print $2, $3, $4 }' | sort | diff "$d/conns-master.txt" - | head -n 10)"
fi
move_to da db
moving "c→rs: failover to A"

# 3. rs→rs.
in_ns "sy-da-$l" ipvsadm --stop-daemon backup
check "sync-pairs rs→rs: master daemon starts on A" \
	in_ns "sy-da-$l" ipvsadm --start-daemon master --mcast-interface eth0 --syncid 9
check "sync-pairs rs→rs: backup daemon starts on B" \
	in_ns "sy-db-$l" ipvsadm --start-daemon backup --mcast-interface eth0 --syncid 9
in_ns "sy-da-$l" ipvsadm -L --daemon >"$d/daemon-rs.txt" 2>&1
in_ns "sy-db-$l" ipvsadm -L --daemon >>"$d/daemon-rs.txt" 2>&1
# The connections came from a backup (phase 2, with in_pkts = sync_threshold): the master
# sends them when their count reaches the threshold again modulo the period (C's rule), their
# template at every packet. A period of 10 (C's sysctl) makes that 10 packets, not 50.
in_ns "sy-da-$l" sysctl -qw net.ipv4.vs.sync_threshold="3 10"
record 12 rs
listed "rs→rs" db
sy_conns da "$l" | awk '{ print $2, $3, $4 }' | sort >"$d/conns-master-rs.txt"
in_ns "sy-da-$l" cat /proc/net/ip_vs_sync >"$d/sync-a.txt" 2>/dev/null
in_ns "sy-db-$l" cat /proc/net/ip_vs_sync >"$d/sync-b.txt" 2>/dev/null
move_to db da
moving "rs→rs: failover to B"

# 4. rs→C.
swap rs c db
check "sync-pairs rs→c: C backup daemon starts on A" \
	in_ns "sy-da-$l" ipvsadm --start-daemon backup --mcast-interface eth0 --syncid 9
sleep 1
in_ns "sy-db-$l" "$PY" "$REC" replay 224.0.0.81 8848 10.9.0.12 "$d/rec-rs.txt" >"$d/replay-rs.out" 2>&1
listed "rs→c" da
if [ "$(sy_conns da "$l" | awk '{ print $2, $3, $4 }' | sort)" = "$(cat "$d/conns-master-rs.txt")" ]; then
	tap_ok "sync-pairs rs→c: the C backup's entries are the rs master's (client, virtual, real server)"
else
	tap_fail "sync-pairs rs→c: the C backup's entries are the rs master's" \
		"$(sy_conns da "$l" | awk '{ print $2, $3, $4 }' | sort | diff "$d/conns-master-rs.txt" - | head -n 10)"
fi
move_to da db
moving "rs→c: failover to A"

touch "$STOP"
wait "$client"
rc=$?
if [ "$rc" = 0 ] && grep -q "^total $N ok $N$" "$d/client.txt"; then
	tap_ok "sync-pairs: all $N streams kept every byte through the four failovers"
else
	tap_fail "sync-pairs: all $N streams kept every byte through the four failovers" \
		"$(grep -v ' ok ' "$d/client.txt" | head -n 5)" "$(tail -n 3 "$d/client.out")"
fi
want=$(awk '$1 == "conn" { print $4 }' "$d/client.txt" | sort -u | head -n 1)
got=$(in_ns "sy-cl-$l" "$PY" "$SY/stream.py" once "$VIP" 80 2>&1)
if [ -n "$want" ] && [ "$got" = "$want" ]; then
	tap_ok "sync-pairs rs→c: persistence holds (a new connection reaches $got)"
else
	tap_fail "sync-pairs rs→c: persistence holds" "want '$want', got '$got'"
fi
if cmp -s "$d/daemon-c.txt" "$d/daemon-rs.txt" && grep -q "^master sync daemon (mcast=eth0, syncid=9" "$d/daemon-rs.txt"; then
	tap_ok "sync-pairs: rs lists its daemons as C does ($(head -n 1 "$d/daemon-rs.txt"))"
else
	tap_fail "sync-pairs: rs lists its daemons as C does" "$(diff "$d/daemon-c.txt" "$d/daemon-rs.txt")"
fi
in_ns "sy-da-$l" ipvsadm --stop-daemon backup
in_ns "sy-da-$l" ipvsadm -C
in_ns "sy-db-$l" ipvsadm -C
sy_servers_down
sy_down "$l"
check "sync-pairs: c unloads" unload_ipvs c
publish sync-pairs
finish
