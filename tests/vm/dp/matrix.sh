#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/dp/matrix.sh [MOD...]     (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/dp tools/vm.sh --timeout 1800 -- tests/vm/dp/matrix.sh c rs
#
# Forwarding matrix: {NAT, DR, TUN} x {TCP, UDP} x {IPv4, IPv6} x {rr, wrr, lc, wlc, sh, mh},
# 72 cells, against each MOD in turn, each in fresh namespaces (common.sh: client, router,
# director, three real servers) with the module freshly loaded. A cell is one virtual
# service (its own VIP; destinations weighted 1, 2, 3) and `dpgen client` connections to it
# from 64 client addresses, each with two request/response rounds checked byte for byte:
#   full cells  $DP_CONC (8) connections at a time: the twelve FULL_CELLS, each scheduler
#               twice (two methods, both families, both protocols; every method meets every
#               family and protocol); DP_FULL=all makes every cell full. $DP_N_FULL (3000)
#               connections in the two TCP lc/wlc ones (their comparison is bounded, and the
#               bound needs the volume: see README.md), $DP_N_FULL_EXACT (1500, at most
#               $DP_N_FULL) in the others (compared exactly)
#   TCP lc/wlc  $DP_N_SEQ (151) connections one at a time (deterministic, see below)
#   the others  $DP_N_LIGHT (301) connections, 8 at a time
# Full cells also keep the service's part of the connection table (/proc/net/ip_vs_conn; two
# of them also `ipvsadm -L -n -c`, compared with it).
#
# matrix-cells.sh runs the cells inside the director's namespace; matrix-report.py turns
# the outputs into TAP lines:
#   matrix MOD CELL           every connection round-tripped byte-correct, and the
#                             per-destination counts agree between the client (which server
#                             answered), the servers (what they served) and ipvsadm --stats
#                             (Conns); ActiveConn+InActConn add up to the connections made;
#                             full cells: one table entry per connection
#   matrix MOD vs REF CELL    (second and later MODs) against the first: identical counts,
#                             entry states and (sh, mh) address-to-destination mapping,
#                             except TCP lc/wlc with concurrency: within bounds
#                             (matrix-report.py, README.md)
# plus per MOD: it alone provided IPVS throughout, it unloaded.
# Outputs: $VM_OUT/dp-matrix-<run>/, summary table $VM_OUT/dp-matrix-summary.txt.
. "$(dirname "$0")/common.sh"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"

N_FULL=${DP_N_FULL:-3000}
N_FULL_EXACT=${DP_N_FULL_EXACT:-$((N_FULL < 1500 ? N_FULL : 1500))}
N_LIGHT=${DP_N_LIGHT:-301}
CONC=${DP_CONC:-8}
ROUNDS=2
N_SEQ=${DP_N_SEQ:-151}
FULL_CELLS=(NAT/tcp/4/rr TUN/udp/6/rr DR/tcp/6/wrr NAT/udp/4/wrr TUN/tcp/4/lc DR/udp/6/lc
	NAT/tcp/6/wlc TUN/udp/4/wlc DR/tcp/4/sh NAT/udp/6/sh TUN/tcp/6/mh DR/udp/4/mh)
# Full cells whose connection table is also read through `ipvsadm -L -n -c` and compared
# with /proc/net/ip_vs_conn (early in the run: ipvsadm is slow on a big table).
IPVSADM_C_CELLS=(DR/tcp/4/sh DR/tcp/6/wrr)

# The plan: "K MODE PROTO FAMILY SCHED N FULL CONC VIP SERVICE"; run_module runs it by forwarding
# method (the real servers' routes change with it), full cells first.
PLAN=$WORK/matrix-plan.txt
k=0
for mode in NAT DR TUN; do
	for fam in 4 6; do
		for proto in tcp udp; do
			for sched in rr wrr lc wlc sh mh; do
				full=0
				if [ "${DP_FULL:-}" = all ] || [[ " ${FULL_CELLS[*]} " == *" $mode/$proto/$fam/$sched "* ]]; then
					full=1
					[[ " ${IPVSADM_C_CELLS[*]} " != *" $mode/$proto/$fam/$sched "* ]] || full=2
				fi
				n=$N_LIGHT
				conc=$CONC
				if [ "$full" != 0 ] && [ "$proto" = tcp ] && [[ $sched == *lc ]]; then
					n=$N_FULL
				elif [ "$full" != 0 ]; then
					n=$N_FULL_EXACT
				elif [ "$proto" = tcp ] && [[ $sched == *lc ]]; then
					# TCP lc/wlc: the choice depends on which connections are still
					# established; one connection at a time makes it deterministic
					# (checked exactly); in the full cells, concurrency lets it matter
					# (bounded).
					conc=1
					n=$N_SEQ
				fi
				v=$(vip "$fam" "$k")
				# DP_CELLS: run only some cells ("full": the full cells; else a list of
				# MODE/proto/family/sched); the others are left out of the plan and the report.
				case ${DP_CELLS:-} in
				"") ;;
				full) [ "$full" != 0 ] || { k=$((k + 1)); continue; } ;;
				*) [[ " $DP_CELLS " == *" $mode/$proto/$fam/$sched "* ]] || { k=$((k + 1)); continue; } ;;
				esac
				echo "$k $mode $proto $fam $sched $n $full $conc $v $(hostport "$fam" "$v" "$DP_PORT")"
				k=$((k + 1))
			done
		done
	done
done >"$PLAN"

# run_module LABEL MODULE: every cell against MODULE in fresh namespaces; outputs in
# $WORK/dp-matrix-LABEL (a file "not-run" there says why nothing ran).
run_module() {
	local label=$1 module=$2 d=$WORK/dp-matrix-$1 start=$SECONDS mode full pass i
	mkdir -p "$d"
	if ! load_ipvs "$module" || ! ipvs_is "$module"; then
		echo "$module did not load" >"$d/not-run"
	elif ! topo_up "$label" || ! servers_up "$label"; then
		echo "the namespaces or the servers could not be set up" >"$d/not-run"
	else
		# `ipvsadm -L -n -c` reads /proc/net/ip_vs_conn a page per read(), each time walking
		# the table again to its position: entries that expire meanwhile make it skip others.
		# So the full cells, which keep that listing, run first, with ESTABLISHED, FIN_WAIT
		# and UDP entries living an hour (longer than a matrix run, even on the debug
		# kernel). Under NAT, TCP entries end in TIME_WAIT, 120 s whatever --set says: the
		# two NAT TCP full cells run first and last of the NAT full cells, so that the second
		# one is listed either before the first one's entries expire (a fast kernel) or after
		# they have all gone, with the UDP cells' time in between as the margin.
		# matrix-cells.sh checks that nothing went away while it listed the table, and if
		# something did, waits and lists it again.
		ip netns exec "$DP_DIR" ipvsadm --set 3600 3600 3600
		note "matrix $label: set up in $((SECONDS - start))s"
		for pass in "1 DR" "1 TUN" "1 NAT" "0 NAT" "0 DR" "0 TUN"; do
			read -r full mode <<<"$pass"
			rs_routes "$mode"
			# The first TCP cell, the UDP cells, the other TCP cells (see above).
			awk -v m="$mode" -v f="$full" '$2 == m && ($7 > 0) == f {
					if ($3 == "tcp") tcp[++n] = $0; else udp = udp $0 "\n" }
				END { if (n) print tcp[1]; printf "%s", udp; for (i = 2; i <= n; i++) print tcp[i] }' \
				"$PLAN" >"$WORK/plan-$full-$mode"
			ip netns exec "$DP_DIR" "$DP/matrix-cells.sh" run "$WORK/plan-$full-$mode" "$d" \
				"$DP_CL" "$DPGEN" "$ROUNDS"
			note "matrix $label: $([ "$full" = 1 ] && echo full || echo light) $mode cells done at $((SECONDS - start))s"
		done
		ip netns exec "$DP_DIR" "$DP/matrix-cells.sh" stats "$PLAN" "$d"
		for i in 1 2 3; do
			rm -f "$WORK/srv-$label-$i"
			kill -USR1 "${DP_SERVER_PIDS[i - 1]}"
		done
		for i in 1 2 3; do
			wait_for_file "$WORK/srv-$label-$i" 50 && cp "$WORK/srv-$label-$i" "$d/servers-$i.txt"
		done
		servers_down
		topo_down "$label"
	fi
	if ipvs_is "$module"; then echo yes; else grep -E '^(ip_vs|ipvs_rs) ' /proc/modules; fi >"$d/in-charge"
	if unload_ipvs "$module"; then echo yes; else echo no; fi >"$d/unloaded"
	note "matrix $label: $((SECONDS - start))s"
}

start=$SECONDS
if ! build_dpgen; then
	tap_fail "matrix: build dpgen"
	finish
	exit
fi
note "matrix: dpgen built in $((SECONDS - start))s"
LABELS=()
declare -A seen=()
for m in "$@"; do
	seen[$m]=$((${seen[$m]:-0} + 1))
	if [ "${seen[$m]}" = 1 ]; then LABELS+=("$m"); else LABELS+=("$m-${seen[$m]}"); fi
done
args=()
i=0
for m in "$@"; do
	run_module "${LABELS[i]}" "$m"
	args+=("${LABELS[i]}=$m=$WORK/dp-matrix-${LABELS[i]}")
	i=$((i + 1))
done
# The report: TAP lines and "#" details on stdout, counted here.
t0=$SECONDS
while IFS= read -r line; do
	case $line in
	"ok - "*) tap_ok "${line#ok - }" ;;
	"not ok - "*) _report "$line"; failures=$((failures + 1)) ;;
	*) printf '%s\n' "$line" ;;
	esac
done < <("$PY" "$DP/matrix-report.py" --plan "$PLAN" --summary "$OUT/dp-matrix-summary.txt" "${args[@]}" ||
	echo "not ok - matrix: matrix-report.py failed")
note "matrix: report in $((SECONDS - t0))s"
for label in "${LABELS[@]}"; do publish "dp-matrix-$label"; done
note "matrix ($*): $((SECONDS - start))s; summary in $OUT/dp-matrix-summary.txt"
finish
