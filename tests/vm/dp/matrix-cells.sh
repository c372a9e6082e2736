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
#   cell-K.skip    why the cell did not run: an earlier cell of its method/protocol/family got
#                  no connection through at all (broken.txt), so its failure is reported and
#                  the time of the others saved
#   timing.txt     "K T0 T1 T2 T3 T4": the start, and the ends of ipvsadm -R, the client, the
#                  list, and the connection table ($EPOCHREALTIME)
# Services stay configured to the end; then `stats` writes stats.txt, `ipvsadm -L -n --stats
# --exact`, once the estimator (which folds the per-CPU counters into what ipvsadm shows,
# every 2 s) has caught up with what the clients counted, or after 15 s.
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
	for _ in $(seq 15); do
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
	# The last FINs and ACKs are on their way to the director when the client returns.
	t2=$EPOCHREALTIME
	nap 0.2
	ipvsadm -L -n "$pf" "$svc" >"$f.list" 2>>"$f.err"
	t3=$EPOCHREALTIME
	# The connection table: /proc/net/ip_vs_conn, which `ipvsadm -L -n -c` formats (ipvsadm
	# takes ~10x as long as the kernel for 30000 entries under TCG; FULL=2 cells take both).
	[ "$full" = 0 ] || cat /proc/net/ip_vs_conn >"$f.proc" 2>>"$f.err"
	[ "$full" != 2 ] || ipvsadm -L -n -c >"$f.lnc" 2>>"$f.err"
	t4=$EPOCHREALTIME
	echo "$k $t0 $t1 $t2 $t3 $t4" >>"$out/timing.txt"
	result=
	while read -r line; do [[ $line == result* ]] && result=$line; done <"$f.client"
	if ! [[ $result =~ \ ok=([0-9]+) ]] || [ "${BASH_REMATCH[1]}" = 0 ]; then
		broken[$group]="$mode $proto v$fam"
		echo "$group ${broken[$group]}" >>"$out/broken.txt"
	fi
done <"$plan"

