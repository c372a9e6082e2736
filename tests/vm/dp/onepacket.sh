#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/dp/onepacket.sh [MOD...]     (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/dp tools/vm.sh --timeout 900 -- tests/vm/dp/onepacket.sh c rs
#
# One-packet scheduling (ipvsadm -o, IP_VS_SVC_F_ONEPACKET, e.g. for DNS): every UDP datagram
# is scheduled on its own and leaves no connection entry (C: ip_vs_conn_new() with
# IP_VS_CONN_F_ONE_PACKET does not hash the entry, and ip_vs_conn_put() expires it at once).
# Per family, a DR UDP service (rr) over rs1 and rs2, with and without -o; one client socket
# (one source port) sends $ROUNDS requests, each waiting for its answer (DR: the real server
# answers from the VIP). Checks, TAP "onepacket MOD vN ops|plain: ...":
#   - every request is answered;
#   - with -o: both real servers answered (rr over single datagrams), and ipvsadm -Lnc lists
#     no entry for the service; without -o: one real server answered, and one entry is
#     listed (the reference the -o case is compared with);
#   - the destinations' connection counters are back to 0 with -o.
# Files: $VM_OUT/dp-onepacket-<run>/.
. "$(dirname "$0")/common.sh"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
ROUNDS=${DP_OPS_ROUNDS:-10}

run_module() {
	local label=$1 module=$2 d=$WORK/dp-onepacket-$1 fam kind vip src cell rc counts answered entries conns opt any n
	mkdir -p "$d"
	if ! load_ipvs "$module" || ! ipvs_is "$module"; then
		tap_fail "onepacket $label: load $module"
		unload_ipvs "$module" 2>/dev/null
		return
	fi
	if ! topo_up "$label" || ! rs_routes DR || ! servers_up "$label"; then
		tap_fail "onepacket $label: namespaces and servers"
		servers_down
		topo_down "$label"
		unload_ipvs "$module"
		return
	fi
	n=0
	for fam in 4 6; do
		for kind in ops plain; do
			n=$((n + 1))
			vip=$(vip "$fam" "$((240 + n))")
			src=$(src_base "$fam")
			cell=$((90 + n))
			opt='' any=''
			if [ "$kind" = ops ]; then opt=-o any=-a; fi
			ip netns exec "$DP_DIR" ipvsadm -R >"$d/v$fam-$kind.err" 2>&1 <<-EOF
				-A -u $(hostport "$fam" "$vip" "$DP_PORT") -s rr $opt
				-a -u $(hostport "$fam" "$vip" "$DP_PORT") -r $(hostport "$fam" "$(rip "$fam" 1)" "$DP_PORT") -g -w 1
				-a -u $(hostport "$fam" "$vip" "$DP_PORT") -r $(hostport "$fam" "$(rip "$fam" 2)" "$DP_PORT") -g -w 1
			EOF
			rc=0
			ip netns exec "$DP_CL" "$DPGEN" client "-$fam" -u -d "$vip" -s "$src" -k 1 -n 1 -c 1 -C "$cell" \
				-r "$ROUNDS" -w 3000 -R 3 ${any:+"$any"} >"$d/v$fam-$kind.client" 2>&1 || rc=$?
			counts=$(server_counts "$label" "$cell" udp)
			answered=$(awk '{ n = 0; for (i = 1; i <= NF; i++) if ($i > 0) n++; print n }' <<<"$counts")
			ip netns exec "$DP_DIR" ipvsadm -L -n -c >"$d/v$fam-$kind.conns" 2>&1
			entries=$(grep -cF -- "$(hostport "$fam" "$vip" "$DP_PORT")" "$d/v$fam-$kind.conns")
			ip netns exec "$DP_DIR" ipvsadm -L -n >"$d/v$fam-$kind.list" 2>&1
			# ActiveConn + InActConn of every destination of the service.
			conns=$(awk -v v="$(hostport "$fam" "$vip" "$DP_PORT")" '
				$1 == "UDP" { in_svc = ($2 == v); next }
				in_svc && $1 == "->" { n += $(NF - 1) + $NF }
				END { print n + 0 }' "$d/v$fam-$kind.list")
			if [ "$rc" = 0 ]; then
				tap_ok "onepacket $label v$fam $kind: $ROUNDS requests from one port answered"
			else
				tap_fail "onepacket $label v$fam $kind: $ROUNDS requests from one port answered" \
					"exit $rc" "$(tail -n 3 "$d/v$fam-$kind.client")"
			fi
			if [ "$kind" = ops ]; then
				if [ "$answered" = 2 ] && [ "$entries" = 0 ] && [ "$conns" = 0 ]; then
					tap_ok "onepacket $label v$fam ops: every datagram scheduled (servers $counts), no entry left, counters 0"
				else
					tap_fail "onepacket $label v$fam ops: every datagram scheduled, no entry left, counters 0" \
						"servers answering: $answered ($counts), entries: $entries, counters: $conns" \
						"$(cat "$d/v$fam-$kind.conns" "$d/v$fam-$kind.list")"
				fi
			else
				if [ "$answered" = 1 ] && [ "$entries" = 1 ]; then
					tap_ok "onepacket $label v$fam plain: one server, one entry (servers $counts)"
				else
					tap_fail "onepacket $label v$fam plain: one server, one entry" \
						"servers answering: $answered ($counts), entries: $entries" "$(cat "$d/v$fam-$kind.conns")"
				fi
			fi
		done
	done
	ip netns exec "$DP_DIR" ipvsadm -C
	servers_down
	topo_down "$label"
	unload_ipvs "$module" || tap_fail "onepacket $label: unload $module"
}

if ! build_dpgen; then
	tap_fail "onepacket: build dpgen"
	finish
	exit
fi
declare -A seen=()
for m in "$@"; do
	seen[$m]=$((${seen[$m]:-0} + 1))
	label=$m
	[ "${seen[$m]}" = 1 ] || label=$m-${seen[$m]}
	run_module "$label" "$m"
	publish "dp-onepacket-$label"
done
finish
