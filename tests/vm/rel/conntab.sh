#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/rel/conntab.sh [MOD...]     (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/rel vmslot tools/vm.sh --timeout 1500 -- tests/vm/rel/conntab.sh c rs
#
# A large connection table read through /proc (issue 9, finding 8), per MOD: a UDP NAT
# service (rr, three real servers, UDP timeout 900 s) gets $REL_CONNTAB_N (200000) one-datagram
# flows (or as many as go in $REL_CONNTAB_SECS, 300 s, at least half) from spoofed sources (udpflood, raw socket in the client namespace, sources in
# 198.18.0.0/15, which the director blackholes), then
#   - the entry count (the destinations' InActConn, summed, from `ipvsadm -L -n`) is the
#     number of lines of /proc/net/ip_vs_conn and of ip_vs_conn_sync (minus the header),
#     read with cat (128 KiB reads), each entry once; for ipvs_rs also with 512-byte reads
#     (tens of thousands of walks resumed by position), which must list the same entries
#     (Expires aside; C restarts its walk from the table's start at each read, so that read
#     is not tried on C);
#   - another namespace (the router's) sees only the header;
#   - each read ends within $REL_READ_TIMEOUT (900) s, and the module unloads (flushing
#     the table) within $REL_STEP_TIMEOUT (120) s;
#   - no soft lockup, RCU stall or other kernel report (the whole log, by tools/vm.sh, and
#     each module's part here).
# Timings (flood, reads, unload) are TAP comments. TAP: $VM_OUT/rel-conntab.tap.
. "$(dirname "$0")/../dp/common.sh"
TAP=$OUT/rel-conntab.tap
: >"$TAP"
[ -s "$OUT/dp-conntab.tap" ] || rm -f "$OUT/dp-conntab.tap"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
# Quick default 50k entries (C's reader re-walks the table at every read(): 200k take ~3 min
# per read under TCG); REL_LONG=1: 200k, the figure of the issue's measurements.
if [ "${REL_LONG:-0}" = 1 ]; then N=${REL_CONNTAB_N:-200000}; else N=${REL_CONNTAB_N:-50000}; fi
STEP_TIMEOUT=${REL_STEP_TIMEOUT:-120}
# Reading the whole table: C walks it from its start at each read(), minutes under TCG.
READ_TIMEOUT=${REL_READ_TIMEOUT:-900}
# The flood stops after this long (TCG): then the flows sent so far count.
FLOOD_SECS=${REL_CONNTAB_SECS:-300}
VIP=10.0.100.7
FLOOD=$WORK/udpflood

build_flood() {
	local cc
	for cc in cc gcc clang clang-19; do
		command -v "$cc" >/dev/null 2>&1 && "$cc" -O2 -Wall -o "$FLOOD" "$(dirname "$0")/udpflood.c" && return 0
	done
	return 1
}

# entries: the connection entries of the director's namespace, from the destinations'
# counters (every flow is an inactive UDP entry).
entries() {
	ip netns exec "$DP_DIR" ipvsadm -L -n 2>/dev/null | awk '/->/ && $NF ~ /^[0-9]+$/ { n += $NF } END { print n + 0 }'
}

log_clean() {
	local name=$1 from=$2 f=$WORK/dmesg-part
	dmesg | tail -n +"$from" >"$f"
	if "$TOP/tools/dmesg-check.sh" "$f" >"$f.check" 2>&1; then
		tap_ok "$name: kernel log clean (no soft lockup, stall or report)"
	else
		tap_fail "$name: kernel log clean" "$(head -n 20 "$f.check")"
	fi
}

ms() { date +%s%3N; }

run_module() {
	local label=$1 module=$2 d=$WORK/rel-conntab-$1 name="conntab $1" from t0 t1 n i lines lines_sync small rc sent
	mkdir -p "$d"
	from=$(($(dmesg | wc -l) + 1))
	if ! load_ipvs "$module" || ! ipvs_is "$module"; then
		tap_fail "$name: load $module"
		return
	fi
	if ! topo_up "rel-$label"; then
		tap_fail "$name: namespaces"
		unload_ipvs "$module"
		return
	fi
	ip -n "$DP_DIR" route add blackhole 198.18.0.0/15
	ip netns exec "$DP_DIR" ipvsadm -R <<-EOF
		-A -u $VIP:$DP_PORT -s rr
		-a -u $VIP:$DP_PORT -r $(rip 4 1):$DP_PORT -m
		-a -u $VIP:$DP_PORT -r $(rip 4 2):$DP_PORT -m
		-a -u $VIP:$DP_PORT -r $(rip 4 3):$DP_PORT -m
		--set 0 0 900
	EOF
	t0=$(ms)
	ip netns exec "$DP_CL" "$FLOOD" -d "$VIP" -p "$DP_PORT" -n "$N" -T "$FLOOD_SECS" >"$d/flood.out" 2>&1
	rc=$?
	sent=$(awk '/^sent/ { print $2 }' "$d/flood.out")
	# Let the last datagrams through the namespaces.
	n=0
	for i in $(seq 30); do
		n=$(entries)
		[ "$n" -lt "${sent:-0}" ] || break
		sleep 1
	done
	t1=$(ms)
	note "$name: $(cat "$d/flood.out") in $((t1 - t0)) ms, $n entries"
	if [ "$rc" = 0 ] && [ "${sent:-0}" -ge $((N / 2)) ] && [ "$n" -ge $((sent * 95 / 100)) ]; then
		tap_ok "$name: $sent spoofed UDP flows (of $N asked, ${FLOOD_SECS}s at most) make $n entries (>= 95%)"
	else
		tap_fail "$name: spoofed UDP flows make entries" "udpflood status $rc, sent ${sent:-?} of $N asked (at least half wanted), $n entries"
	fi

	t0=$(ms)
	timeout -k 5 "$READ_TIMEOUT" ip netns exec "$DP_DIR" cat /proc/net/ip_vs_conn >"$d/conn.txt"
	rc=$?
	t1=$(ms)
	lines=$(($(wc -l <"$d/conn.txt") - 1))
	note "$name: cat /proc/net/ip_vs_conn: $lines lines in $((t1 - t0)) ms"
	if [ "$module" = rs ]; then
		t0=$(ms)
		timeout -k 5 "$READ_TIMEOUT" ip netns exec "$DP_DIR" dd if=/proc/net/ip_vs_conn bs=512 status=none >"$d/conn-512.txt"
		t1=$(ms)
		small=$(($(wc -l <"$d/conn-512.txt") - 1))
		note "$name: 512-byte reads of /proc/net/ip_vs_conn: $small lines in $((t1 - t0)) ms"
	else
		# C walks the table from its start at every read() (ip_vs_conn_array()): thousands
		# of small reads of a large table take hours under TCG. Not compared.
		cp "$d/conn.txt" "$d/conn-512.txt"
		small=$lines
	fi
	t0=$(ms)
	timeout -k 5 "$READ_TIMEOUT" ip netns exec "$DP_DIR" cat /proc/net/ip_vs_conn_sync >"$d/conn-sync.txt"
	lines_sync=$(($(wc -l <"$d/conn-sync.txt") - 1))
	note "$name: cat /proc/net/ip_vs_conn_sync: $lines_sync lines in $(($(ms) - t0)) ms"
	n=$(entries)
	if [ "$rc" = 0 ] && [ "$lines" = "$n" ] && [ "$small" = "$n" ] && [ "$lines_sync" = "$n" ]; then
		tap_ok "$name: /proc/net/ip_vs_conn lists every entry ($lines lines = $n entries; ip_vs_conn_sync too$([ "$module" = rs ] && echo ', and 512-byte reads'))"
	else
		tap_fail "$name: /proc/net/ip_vs_conn lists every entry" \
			"cat status $rc: $lines lines, 512-byte reads: $small, ip_vs_conn_sync: $lines_sync; $n entries"
	fi
	# The same entries, each once, whatever the read size (the Expires column moves).
	cut -c1-57 "$d/conn.txt" | sort >"$d/a"
	cut -c1-57 "$d/conn-512.txt" | sort >"$d/b"
	if [ "$(uniq -d "$d/a" | wc -l)" = 0 ]; then
		tap_ok "$name: each entry listed once"
	else
		tap_fail "$name: each entry listed once" "duplicates: $(uniq -d "$d/a" | head -n 3)"
	fi
	if [ "$module" = rs ]; then
		if cmp -s "$d/a" "$d/b"; then
			tap_ok "$name: 512-byte reads (resumed at each read) list the same entries as 128 KiB reads"
		else
			tap_fail "$name: 512-byte reads list the same entries as 128 KiB reads" "$(diff "$d/a" "$d/b" | head -n 6)"
		fi
	fi
	rm -f "$d/a" "$d/b"
	head -n 3 "$d/conn.txt" >"$d/conn-head.txt"
	rm -f "$d/conn.txt" "$d/conn-512.txt" "$d/conn-sync.txt"

	equals "$name: another namespace sees only the header of ip_vs_conn" 1 \
		sh -c "ip netns exec $DP_RT cat /proc/net/ip_vs_conn | wc -l"
	equals "$name: another namespace sees only the header of ip_vs_conn_sync" 1 \
		sh -c "ip netns exec $DP_RT cat /proc/net/ip_vs_conn_sync | wc -l"

	# Unload with the whole table in place: the flush walks every entry.
	t0=$(ms)
	if [ "$module" = c ]; then
		timeout -k 5 "$STEP_TIMEOUT" ip netns exec "$DP_DIR" ipvsadm -C
	fi
	timeout -k 5 "$STEP_TIMEOUT" bash -c "$(declare -f unload_ipvs); unload_ipvs $module"
	rc=$?
	t1=$(ms)
	if [ "$rc" = 0 ] && ! grep -qE '^(ip_vs|ipvs_rs) ' /proc/modules; then
		tap_ok "$name: unload with $n entries in the table ($((t1 - t0)) ms)"
	else
		tap_fail "$name: unload with $n entries in the table" "status $rc after $((t1 - t0)) ms"
		grep -qE '^(ip_vs|ipvs_rs) ' /proc/modules && unload_ipvs "$module"
	fi
	topo_down "rel-$label"
	sleep 1
	log_clean "$name" "$from"
}

start=$SECONDS
if ! build_flood; then
	tap_fail "conntab: build udpflood"
	finish
	exit
fi
declare -A seen=()
for m in "$@"; do
	seen[$m]=$((${seen[$m]:-0} + 1))
	label=$m
	[ "${seen[$m]}" = 1 ] || label=$m-${seen[$m]}
	t=$SECONDS
	run_module "$label" "$m"
	note "conntab $label: $((SECONDS - t))s"
	publish "rel-conntab-$label"
done
note "conntab ($*): $((SECONDS - start))s, N=$N"
finish
