#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/sync/load.sh [MOD...]   (MOD: c or rs; default: c rs)
# From the host:  make sync-load   (or VM_OUT=/tmp/sync tools/vm.sh --timeout 2400 -- tests/vm/sync/load.sh)
#
# Connection sync under load, and a failover in the middle of it, C→C against rs→rs
# (common.sh's topology, one kernel): the client opens $SYNC_LOAD_CONNS (10000) TCP connections
# at once through a persistent DR service (256 client addresses: 256 templates); each one
# exchanges $SYNC_LOAD_ROUNDS (20) byte-checked request/response rounds, one every
# $SYNC_LOAD_INTERVAL_MS (3000) ms. Every 2 s the master's and the backup's connection counts
# (ActiveConn + InActConn of `ipvsadm -L -n`) are sampled; $SYNC_LOAD_MOVE_S (30) s after the
# start the VIP moves to the backup, and the rounds still to come go through it: a connection
# the backup does not know is reset by its stack (a non-SYN packet schedules nothing) and fails.
# Checks (TAP "sync-load MOD: ..."): before the move the backup had at least 99% of the
# master's connections; after it, C (the baseline) reports what it lost, and rs loses no more
# connections than C did in the same run (none when run alone). The samples go to
# $VM_OUT/sync-load-<MOD>/samples.txt and a comparison line per module to $VM_OUT/sync-load.txt.
. "$(dirname "$0")/common.sh"
DPGEN=$WORK/dpgen

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
N=${SYNC_LOAD_CONNS:-10000}
ROUNDS=${SYNC_LOAD_ROUNDS:-20}
INTERVAL=${SYNC_LOAD_INTERVAL_MS:-3000}
MOVE=${SYNC_LOAD_MOVE_S:-30}
ulimit -n 65536

build_dpgen() {
	[ -x "$DPGEN" ] && return 0
	local cc
	for cc in cc gcc clang clang-19; do
		command -v "$cc" >/dev/null 2>&1 && "$cc" -O2 -Wall -o "$DPGEN" "$SY/../dp/dpgen.c" && return 0
	done
	return 1
}

# total D L: ActiveConn + InActConn over the real servers of director D.
total() {
	in_ns "sy-$1-$2" ipvsadm -L -n 2>/dev/null | awk '$1 == "->" && $2 ~ /^10\./ { n += $5 + $6 } END { print n + 0 }'
}

run_load() {
	local m=$1 l=ld d=$WORK/sync-load-$1 n t0 i a b best=0 best_t=-
	mkdir -p "$d"
	load_ipvs "$m" || { tap_fail "sync-load $m: load $m"; return; }
	sy_down "$l"
	sy_up "$l"
	in_ns "sy-cl-$l" ip route add local 10.9.128.0/17 dev lo
	for n in da db r1 r2; do in_ns "sy-$n-$l" ip route add 10.9.128.0/17 via 10.9.0.2; done
	for n in r1 r2; do
		in_ns "sy-$n-$l" "$DPGEN" server -i "${n#r}" -p 8080 -s "$d/stats-$n" >/dev/null 2>&1 &
	done
	for n in da db; do
		in_ns "sy-$n-$l" ipvsadm -A -t "$VIP:8080" -s rr -p 300
		in_ns "sy-$n-$l" ipvsadm -a -t "$VIP:8080" -r 10.9.0.21:8080 -g
		in_ns "sy-$n-$l" ipvsadm -a -t "$VIP:8080" -r 10.9.0.22:8080 -g
	done
	in_ns "sy-da-$l" ipvsadm --start-daemon master --mcast-interface eth0 --syncid 5
	in_ns "sy-db-$l" ipvsadm --start-daemon backup --mcast-interface eth0 --syncid 5
	sleep 1
	t0=$SECONDS
	in_ns "sy-cl-$l" "$DPGEN" client -4 -t -d "$VIP" -p 8080 -s 10.9.128.1 -k 256 -n "$N" -c "$N" \
		-r "$ROUNDS" -I "$INTERVAL" -w 20000 -R 3 -q >"$d/client.txt" 2>&1 &
	local client=$! moved='' pre_a=0 pre_b=0 limit=$((MOVE + ROUNDS * INTERVAL / 1000 + 180))
	: >"$d/samples.txt"
	while [ $((SECONDS - t0)) -lt "$limit" ]; do
		sleep 2
		a=$(total da "$l")
		b=$(total db "$l")
		echo "t=$((SECONDS - t0)) master $a backup $b${moved:+ (after the move)}" >>"$d/samples.txt"
		if [ -z "$moved" ] && [ "$b" -gt "$best" ]; then best=$b best_t=$((SECONDS - t0)); fi
		if [ -z "$moved" ] && [ $((SECONDS - t0)) -ge "$MOVE" ]; then
			pre_a=$a pre_b=$b
			sy_move_vip da db "$l"
			moved=$((SECONDS - t0))
			echo "t=$moved the VIP moves to the backup" >>"$d/samples.txt"
		fi
		kill -0 "$client" 2>/dev/null || break
	done
	kill "$client" 2>/dev/null
	wait "$client"
	local rc=$? ok fail
	ok=$(sed -n 's/^result ok=\([0-9]*\) fail=\([0-9]*\).*/\1/p' "$d/client.txt")
	fail=$(sed -n 's/^result ok=\([0-9]*\) fail=\([0-9]*\).*/\2/p' "$d/client.txt")
	in_ns "sy-db-$l" cat /proc/net/ip_vs_sync >"$d/sync-b.txt" 2>/dev/null
	in_ns "sy-da-$l" cat /proc/net/ip_vs_sync >"$d/sync-a.txt" 2>/dev/null
	echo "$m: before the move (t=${moved:-never} s) master $pre_a, backup $pre_b (peak $best at t=$best_t s); after it ${ok:-?} of $N connections finished their $ROUNDS rounds, ${fail:-?} failed (client exit $rc); samples: $(tr '\n' ';' <"$d/samples.txt")" >>"$OUT/sync-load.txt"
	if [ -n "$moved" ] && [ "$pre_a" -gt 0 ] && [ $((pre_b * 100)) -ge $((pre_a * 99)) ]; then
		tap_ok "sync-load $m: before the move the backup had $pre_b of the master's $pre_a connections (t=$moved s)"
	else
		tap_fail "sync-load $m: before the move the backup had at least 99% of the master's connections" \
			"moved at ${moved:-never}: backup $pre_b, master $pre_a" "$(tail -n 5 "$d/samples.txt")" \
			"$(cat "$d/sync-a.txt" "$d/sync-b.txt" 2>/dev/null)"
	fi
	if [ -z "$ok" ] || [ -z "$fail" ] || [ $((ok + fail)) -ne "$N" ]; then
		tap_fail "sync-load $m: the client reported on its $N connections" "$(tail -n 3 "$d/client.txt")"
	elif [ "$m" = c ]; then
		tap_ok "sync-load c: failover under load: $fail of $N connections lost (the baseline)"
		c_lost=$fail
	elif [ "$fail" -le "${c_lost:-0}" ]; then
		tap_ok "sync-load $m: failover under load: $fail of $N connections lost (C: ${c_lost:-not run})"
	else
		tap_fail "sync-load $m: failover under load loses no more than C" "$fail of $N lost, C ${c_lost:-not run}" \
			"$(grep -v '^server' "$d/client.txt" | tail -n 5)" "$(cat "$d/sync-a.txt" "$d/sync-b.txt" 2>/dev/null)"
	fi
	in_ns "sy-da-$l" ipvsadm --stop-daemon master
	in_ns "sy-db-$l" ipvsadm --stop-daemon backup
	pkill -f "dpgen server -i" 2>/dev/null
	sy_down "$l"
	check "sync-load $m: $m unloads" unload_ipvs "$m"
	publish "sync-load-$m"
}

build_dpgen || { tap_fail "sync-load: dpgen builds"; finish; exit; }
: >"$OUT/sync-load.txt"
for m in "$@"; do
	run_load "$m"
done
cat "$OUT/sync-load.txt"
finish
