#!/usr/bin/env bash
# Usage: ip netns exec DIRECTOR_NS tests/vm/dp/matrix-cells.sh run PLAN OUTDIR CLIENT_NS DPGEN ROUNDS
#        ip netns exec DIRECTOR_NS tests/vm/dp/matrix-cells.sh stats PLAN OUTDIR
#
# The cell loop of matrix.sh, run inside the director's network namespace so that ipvsadm is
# one process per call (under TCG every process costs ~50-150 ms; `ip netns exec` per call
# doubled a cell's overhead). PLAN has one line per cell: "K MODE PROTO FAMILY SCHED N FULL
# CONC VIP SERVICE" (FULL: 1 = also keep the connection table, 2 = and `ipvsadm -L -n -c`;
# CONC: connections at a time). Per cell K, in OUTDIR:
#   cell-K.rules   the service (ipvsadm -R input)    cell-K.client  dpgen client's report
#   cell-K.err     errors of both                    cell-K.list    ipvsadm -L -n of the service
#   cell-K.proc    full cells: /proc/net/ip_vs_conn (matrix-report.py keeps the service's part)
#   cell-K.lnc     FULL=2 cells: ipvsadm -L -n -c
#   cell-K.listing full cells: how the table was listed (list_table below)
#   cell-K.skip    why the cell did not run: an earlier cell of its method/protocol/family got
#                  no connection through at all (broken.txt), so its failure is reported and
#                  the time of the others saved
#   timing.txt     "K T0 T1 T2 T3 T4": the start, and the ends of ipvsadm -R, the client, the
#                  list (once the service has no active TCP entry), and the connection
#                  table ($EPOCHREALTIME)
# Services stay configured to the end; then `stats` writes stats.txt, `ipvsadm -L -n --stats
# --exact`, once the estimator (which folds the per-CPU counters into what ipvsadm shows,
# every 2 s) has caught up with what the clients counted, or after 60 s.
set -u
cmd=$1 plan=$2 out=$3
exec {never}<> <(:)
nap() { read -r -t "$1" -u "$never" _ || true; } # sleep without a process

if [ "$cmd" = stats ]; then
	# Every service's Conns must add up to at least the connections its client completed
	# (expect.txt: "PROTO SERVICE COUNT", from the client reports).
	: >"$out/expect.txt"
	while read -r k mode proto fam sched n full conc vip svc; do
		[ -f "$out/cell-$k.client" ] || continue
		while read -r line; do
			[[ $line =~ ^result\ ok=([0-9]+) ]] && echo "${proto^^} $svc ${BASH_REMATCH[1]}" >>"$out/expect.txt"
		done <"$out/cell-$k.client"
	done <"$plan"
	for _ in $(seq 60); do
		ipvsadm -L -n --stats --exact >"$out/stats.txt" 2>&1
		awk 'NR == FNR { want[$1 " " $2] = $3; next }
			/^(TCP|UDP) / { got[$1 " " $2] = $3 }
			END { for (s in want) if (got[s] + 0 < want[s]) exit 1 }' "$out/expect.txt" "$out/stats.txt" && break
		nap 1
	done
	ipvsadm -L -n >"$out/list-all.txt" 2>&1
	exit 0
fi

client_ns=$4 dpgen=$5 rounds=$6
# How long to wait for a cell's TCP entries to leave ESTABLISHED after its client returns.
SETTLE=${DP_SETTLE:-10}
# How long to wait for a stable connection table before listing it: longer than the longest
# timeout an earlier cell's entries can be expiring under (TIME_WAIT, 120 s, fixed in C; the
# others the matrix sets to an hour, see matrix.sh).
STABLE_WAIT=${DP_STABLE_WAIT:-150}

# list_table F MODE PROTO FAMILY VIP PORT FULL: F.proc (/proc/net/ip_vs_conn) and, FULL=2,
# F.lnc (ipvsadm -L -n -c), taken while the table is stable and the cell's entries settled;
# F.listing says how it went: "tries=N seconds=S stable=0|1 settled=0|1 entries=E unsettled=U".
#
# The file is read a page per read(), each read walking the (global) table from its start to
# the reader's position: an entry that goes away meanwhile before that position makes the
# reader skip one further on (C lists 2924-2959 of 3000 entries on a kernel slow enough for
# earlier cells' entries to start expiring). So the listing counts only if no entry went away
# while it was taken: every destination's ActiveConn and InActConn (`ipvsadm -L -n`, all
# services; only expiry changes them here, no traffic flows) are the same before and after
# it. Otherwise it is taken again, until STABLE_WAIT s are over while entries go away (SETTLE s
# if the table changes otherwise): the report fails a listing that never was stable. The cell's entries must also have reached their last state (NAT TCP
# TIME_WAIT, DR/TUN TCP FIN_WAIT, UDP), else it is taken again, at most SETTLE s: the states
# are compared exactly, and a module whose entries stay elsewhere shows it in the comparison.
list_table() {
	local f=$1 mode=$2 proto=$3 fam=$4 vip=$5 port=$6 full=$7 key final tries=0 start=$SECONDS
	local stable settled counts entries unsettled shrank
	if [ "$fam" = 4 ]; then
		local a b c d
		IFS=. read -r a b c d <<<"$vip"
		printf -v key ' %02X%02X%02X%02X %04X ' "$a" "$b" "$c" "$d" "$port"
	else
		# vip() spells the matrix's IPv6 VIPs fd00:100::N; the kernel prints them in full.
		printf -v key ' fd00:0100:0000:0000:0000:0000:0000:%04x %04X ' "$((16#${vip##*::}))" "$port"
	fi
	case $proto/$mode in
	udp/*) final=UDP ;;
	tcp/NAT) final=TIME_WAIT ;;
	*) final=FIN_WAIT ;;
	esac
	while :; do
		tries=$((tries + 1))
		ipvsadm -L -n >"$f.before" 2>>"$f.err"
		cat /proc/net/ip_vs_conn >"$f.proc" 2>>"$f.err"
		[ "$full" != 2 ] || ipvsadm -L -n -c >"$f.lnc" 2>>"$f.err"
		ipvsadm -L -n >"$f.after" 2>>"$f.err"
		stable=0
		cmp -s "$f.before" "$f.after" && stable=1
		counts=$(awk -v key="$key" -v st="$final" 'index($0, key) { n++; if ($8 != st) u++ }
			END { print n + 0, u + 0 }' "$f.proc")
		entries=${counts% *} unsettled=${counts#* }
		settled=0
		[ "$unsettled" = 0 ] && settled=1
		if [ $stable = 1 ] && [ $settled = 1 ]; then break; fi
		# Waiting long is for entries expiring (fewer of them after than before); a table
		# that changes otherwise is not waited for longer than SETTLE s.
		shrank=0
		if [ $stable = 0 ] && awk '$1 == "->" && $2 ~ /^[0-9[]/ { n[FILENAME] += $5 + $6 }
			END { exit !(n[ARGV[2]] < n[ARGV[1]]) }' "$f.before" "$f.after"; then
			shrank=1
		fi
		if [ $shrank = 0 ] && [ $((SECONDS - start)) -ge "$SETTLE" ]; then break; fi
		[ $((SECONDS - start)) -lt "$STABLE_WAIT" ] || break
		nap 1
	done
	echo "tries=$tries seconds=$((SECONDS - start)) stable=$stable settled=$settled entries=$entries unsettled=$unsettled" >"$f.listing"
	rm -f "$f.before" "$f.after"
}
declare -A broken=()
if [ -f "$out/broken.txt" ]; then
	while read -r group why; do broken[$group]=$why; done <"$out/broken.txt"
fi
while read -r k mode proto fam sched n full conc vip svc; do
	f=$out/cell-$k
	group=$mode/$proto/$fam
	if [ -n "${broken[$group]:-}" ]; then
		echo "no connection of ${broken[$group]} got through" >"$f.skip"
		continue
	fi
	pf=-t
	[ "$proto" = udp ] && pf=-u
	case $mode in NAT) fl=-m ;; DR) fl=-g ;; TUN) fl=-i ;; esac
	if [ "$fam" = 4 ]; then src=10.1.0.1; rip=10.0.1.1; else src=fd00:c1::1; rip=[fd00:1::1; fi
	{
		echo "-A $pf $svc -s $sched"
		for i in 1 2 3; do
			r=$rip$i
			[ "$fam" = 4 ] || r=$r]
			echo "-a $pf $svc -r $r:${svc##*:} $fl -w $i"
		done
	} >"$f.rules"
	t0=$EPOCHREALTIME
	ipvsadm -R <"$f.rules" >"$f.err" 2>&1 || echo "ipvsadm -R failed" >>"$f.err"
	t1=$EPOCHREALTIME
	ip netns exec "$client_ns" "$dpgen" client -"$fam" "$pf" -d "$vip" -s "$src" -k "${DP_NSRC:-64}" \
		-n "$n" -c "$conc" -C "$k" -r "$rounds" -w 3000 -e 10 >"$f.client" 2>>"$f.err"
	# The last FINs and ACKs are on their way to the director when the client returns: wait
	# (at most $SETTLE s) until no TCP entry of the service is active any more (a connection
	# is active until the director sees a FIN), so that ActiveConn/InActConn, compared
	# exactly between modules, do not depend on how far those packets got.
	t2=$EPOCHREALTIME
	settle_end=$((SECONDS + SETTLE))
	while :; do
		ipvsadm -L -n "$pf" "$svc" >"$f.list" 2>>"$f.err"
		[ "$proto" = tcp ] || break
		active=$(awk '$1 == "->" && $2 ~ /^[0-9[]/ { n += $5 } END { print n + 0 }' "$f.list")
		if ! { [ "$active" != 0 ] && [ $SECONDS -lt $settle_end ]; }; then break; fi
		nap 0.3
	done
	t3=$EPOCHREALTIME
	# The connection table: /proc/net/ip_vs_conn, which `ipvsadm -L -n -c` formats (ipvsadm
	# takes ~10x as long as the kernel for 30000 entries under TCG; FULL=2 cells take both).
	[ "$full" = 0 ] || list_table "$f" "$mode" "$proto" "$fam" "$vip" "${svc##*:}" "$full"
	t4=$EPOCHREALTIME
	echo "$k $t0 $t1 $t2 $t3 $t4" >>"$out/timing.txt"
	result=
	while read -r line; do [[ $line == result* ]] && result=$line; done <"$f.client"
	if ! [[ $result =~ \ ok=([0-9]+) ]] || [ "${BASH_REMATCH[1]}" = 0 ]; then
		broken[$group]="$mode $proto v$fam"
		echo "$group ${broken[$group]}" >>"$out/broken.txt"
	fi
done <"$plan"

