#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/sync/fuzz.sh [MOD...]   (MOD: c or rs; default: c rs)
# From the host:  make sync-fuzz   (FLAVOR=debug make sync-fuzz: on the debug kernel)
#
# Hostile sync datagrams into a backup, differential: the same $SYNC_FUZZ_COUNT (2000)
# datagrams of syncfuzz.py (seed $SYNC_FUZZ_SEED) go into the backup daemon (sync id 9, on
# eth0 of director B in common.sh's topology; a DR service 10.77.0.100:80 over 10.77.0.21 and
# .22 exists, so that some entries bind to a real server) of each MOD in turn; then, once the
# entries of 2 minutes and less are gone (C's /proc/net/ip_vs_conn skips entries that expire
# during a read), the connection entries each backup made are listed (without their expiry
# times) and compared. Checks (TAP "sync-fuzz ..."): the backup survives (daemon listed,
# kernel log clean); rs: every datagram was received and accounted (/proc/net/ip_vs_sync);
# rs made exactly the entries C made; on the debug kernel, kmemleak finds nothing after the
# unload (the kernel log is checked by tools/vm.sh). Files: $VM_OUT/sync-fuzz-<MOD>/.
. "$(dirname "$0")/common.sh"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
COUNT=${SYNC_FUZZ_COUNT:-2000}
SEED=${SYNC_FUZZ_SEED:-$(date +%s)}
SETTLE=${SYNC_FUZZ_SETTLE:-130}
"$PY" "$SY/syncfuzz.py" gen "$SEED" "$COUNT" "$WORK/datagrams.txt"
note "sync-fuzz: $COUNT datagrams, seed $SEED"

run_fuzz() {
	local m=$1 l=fz d=$WORK/sync-fuzz-$1
	mkdir -p "$d"
	kmemleak_clear
	load_ipvs "$m" || { tap_fail "sync-fuzz $m: load $m"; return; }
	sy_down "$l"
	sy_up "$l"
	in_ns "sy-db-$l" ipvsadm -A -t 10.77.0.100:80 -s rr -p 300
	in_ns "sy-db-$l" ipvsadm -a -t 10.77.0.100:80 -r 10.77.0.21:80 -g
	in_ns "sy-db-$l" ipvsadm -a -t 10.77.0.100:80 -r 10.77.0.22:80 -g
	check "sync-fuzz $m: backup daemon starts" \
		in_ns "sy-db-$l" ipvsadm --start-daemon backup --mcast-interface eth0 --syncid 9
	sleep 1
	in_ns "sy-da-$l" "$PY" "$SY/syncfuzz.py" send 224.0.0.81 8848 10.9.0.11 "$WORK/datagrams.txt" >"$d/send.txt" 2>&1
	sleep "$SETTLE"
	in_ns "sy-db-$l" ipvsadm -L -n -c 2>/dev/null | awk '$1 ~ /^(TCP|UDP|SCTP|AH|ESP|IP)$/ { $2 = ""; print }' |
		sort >"$d/entries.txt"
	in_ns "sy-db-$l" cat /proc/net/ip_vs_sync >"$d/sync.txt" 2>/dev/null
	if in_ns "sy-db-$l" ipvsadm -L --daemon | grep -q "^backup sync daemon"; then
		tap_ok "sync-fuzz $m: the backup survived $COUNT hostile datagrams ($(wc -l <"$d/entries.txt") entries)"
	else
		tap_fail "sync-fuzz $m: the backup survived $COUNT hostile datagrams"
	fi
	if [ "$m" = rs ]; then
		local got
		got=$(awk '$1 == "backup_msgs_received" { print $2 }' "$d/sync.txt")
		if [ "${got:-0}" -ge $((COUNT * 99 / 100)) ]; then
			tap_ok "sync-fuzz rs: $got of $COUNT datagrams received and accounted: $(tr '\n' ' ' <"$d/sync.txt")"
		else
			tap_fail "sync-fuzz rs: the datagrams were received and accounted" "$(cat "$d/sync.txt")"
		fi
	fi
	in_ns "sy-db-$l" ipvsadm --stop-daemon backup
	sy_down "$l"
	check "sync-fuzz $m: $m unloads" unload_ipvs "$m"
	kmemleak_check "sync-fuzz $m"
	publish "sync-fuzz-$m"
}

for m in "$@"; do
	run_fuzz "$m"
done
if [ -f "$OUT/sync-fuzz-c/entries.txt" ] && [ -f "$OUT/sync-fuzz-rs/entries.txt" ]; then
	if cmp -s "$OUT/sync-fuzz-c/entries.txt" "$OUT/sync-fuzz-rs/entries.txt"; then
		tap_ok "sync-fuzz: rs made the entries C made ($(wc -l <"$OUT/sync-fuzz-c/entries.txt"), seed $SEED)"
	else
		tap_fail "sync-fuzz: rs made the entries C made (seed $SEED)" \
			"$(diff "$OUT/sync-fuzz-c/entries.txt" "$OUT/sync-fuzz-rs/entries.txt" | head -n 20)"
	fi
fi
finish
