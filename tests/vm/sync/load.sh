#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/sync/load.sh [MOD...]   (MOD: c or rs; default: c rs)
# From the host:  make sync-load   (or VM_OUT=/tmp/sync tools/vm.sh --timeout 2400 -- tests/vm/sync/load.sh)
#
# Connection sync under load, C→C against rs→rs (common.sh's topology, one kernel): the
# client opens $SYNC_LOAD_CONNS (10000) TCP connections at once through a persistent DR
# service (256 client addresses: 256 templates), each exchanging 3 request/response rounds
# and then staying open $SYNC_LOAD_HOLD_MS (40 s). While they are held, every 2 s, the
# master's and the backup's connection counts (ActiveConn + InActConn of `ipvsadm -L -n`)
# are sampled; the table says how many of the master's connections the backup had, and when.
# Checks (TAP "sync-load MOD: ..."): every connection succeeded; the backup ends up with at
# least 99% of the master's connections. The samples go to $VM_OUT/sync-load-<MOD>/samples.txt
# and a comparison line per module to $VM_OUT/sync-load.txt.
. "$(dirname "$0")/common.sh"
DPGEN=$WORK/dpgen

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
N=${SYNC_LOAD_CONNS:-10000}
HOLD=${SYNC_LOAD_HOLD_MS:-40000}
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
	in_ns "sy-cl-$l" "$DPGEN" client -4 -t -d "$VIP" -p 8080 -s 10.9.128.1 -k 256 -n "$N" -c "$N" -r 3 \
		-L "$HOLD" -w 20000 -R 3 -q >"$d/client.txt" 2>&1 &
	local client=$!
	: >"$d/samples.txt"
	for i in $(seq 1 40); do
		sleep 2
		a=$(total da "$l")
		b=$(total db "$l")
		echo "t=$((SECONDS - t0)) master $a backup $b" >>"$d/samples.txt"
		if [ "$b" -gt "$best" ]; then best=$b best_t=$((SECONDS - t0)); fi
		kill -0 "$client" 2>/dev/null || break
	done
	wait "$client"
	local rc=$? peak
	peak=$(awk '{ if ($4 > p) p = $4 } END { print p + 0 }' "$d/samples.txt")
	if [ "$rc" = 0 ] && grep -q "result ok=$N fail=0" "$d/client.txt"; then
		tap_ok "sync-load $m: $N connections through the master, every one answered"
	else
		tap_fail "sync-load $m: $N connections through the master" "$(grep result "$d/client.txt")"
	fi
	in_ns "sy-db-$l" cat /proc/net/ip_vs_sync >"$d/sync-b.txt" 2>/dev/null
	in_ns "sy-da-$l" cat /proc/net/ip_vs_sync >"$d/sync-a.txt" 2>/dev/null
	echo "$m: master peak $peak, backup peak $best at t=$best_t s; samples: $(tr '\n' ';' <"$d/samples.txt")" >>"$OUT/sync-load.txt"
	if [ "$peak" -gt 0 ] && [ $((best * 100)) -ge $((peak * 99)) ]; then
		tap_ok "sync-load $m: the backup had $best of the master's $peak connections (t=$best_t s)"
	else
		tap_fail "sync-load $m: the backup had at least 99% of the master's connections" "backup $best, master $peak" \
			"$(tail -n 5 "$d/samples.txt")" "$(cat "$d/sync-a.txt" "$d/sync-b.txt" 2>/dev/null)"
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
