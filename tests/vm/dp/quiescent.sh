#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/dp/quiescent.sh [MOD...]     (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/dp tools/vm.sh --timeout 900 -- tests/vm/dp/quiescent.sh c rs
#
# net.ipv4.vs.expire_quiescent_template with traffic (kube-proxy's ClientIP affinity and
# graceful termination): a persistent NAT service (rr, -p 60) over rs1 and rs2. For each
# value of the sysctl, one client address connects once (its template picks a server S),
# S's weight goes to 0 (a terminating pod), and the same client connects again:
#   expire_quiescent_template=0  the template still holds: the second connection goes to S
#   expire_quiescent_template=1  C's ip_vs_check_template() invalidates it: the other server
# and the templates left, as ipvsadm -Lnc lists them: the invalidated one under port 65535.
# TAP "quiescent MOD q=N"; every MOD must behave as above (so as C does).
# Files: $VM_OUT/dp-quiescent-<run>/.
. "$(dirname "$0")/common.sh"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"

# which COUNTS: the index (1-3) of the only server that saw a connection, or "?".
which_server() {
	awk '{ n = 0; w = "?"; for (i = 1; i <= NF; i++) if ($i > 0) { n++; w = i }; print (n == 1 ? w : "?") }' <<<"$1"
}

run_module() {
	local label=$1 module=$2 d=$WORK/dp-quiescent-$1 vip q src first second c1 c2 want rc tpl
	mkdir -p "$d"
	if ! load_ipvs "$module" || ! ipvs_is "$module"; then
		tap_fail "quiescent $label: load $module"
		unload_ipvs "$module" 2>/dev/null
		return
	fi
	if ! topo_up "$label" || ! servers_up "$label"; then
		tap_fail "quiescent $label: namespaces and servers"
		servers_down
		topo_down "$label"
		unload_ipvs "$module"
		return
	fi
	for q in 0 1; do
		vip=$(vip 4 "$((230 + q))")
		src=10.1.0.$((200 + q))
		ip netns exec "$DP_DIR" sysctl -q -w net.ipv4.vs.expire_quiescent_template=$q
		ip netns exec "$DP_DIR" ipvsadm -R >"$d/q$q.err" 2>&1 <<-EOF
			-A -t $vip:$DP_PORT -s rr -p 60
			-a -t $vip:$DP_PORT -r $(rip 4 1):$DP_PORT -m -w 1
			-a -t $vip:$DP_PORT -r $(rip 4 2):$DP_PORT -m -w 1
		EOF
		rc=0
		ip netns exec "$DP_CL" "$DPGEN" client -t -d "$vip" -s "$src" -n 1 -c 1 -C "$((70 + 2 * q))" \
			-r 1 -w 3000 -R 3 >"$d/q$q-1.client" 2>&1 || rc=$?
		c1=$(server_counts "$label" "$((70 + 2 * q))" tcp)
		first=$(which_server "$c1")
		if [ "$rc" != 0 ] || [ "$first" = "?" ]; then
			tap_fail "quiescent $label q=$q: first connection answered by one server" "exit $rc, counts $c1" \
				"$(tail -n 3 "$d/q$q-1.client")"
			continue
		fi
		ip netns exec "$DP_DIR" ipvsadm -e -t "$vip:$DP_PORT" -r "$(rip 4 "$first"):$DP_PORT" -m -w 0
		ip netns exec "$DP_DIR" ipvsadm -L -n -c >"$d/q$q.conns" 2>&1
		rc=0
		ip netns exec "$DP_CL" "$DPGEN" client -t -d "$vip" -s "$src" -n 1 -c 1 -C "$((71 + 2 * q))" \
			-r 1 -w 3000 -R 3 >"$d/q$q-2.client" 2>&1 || rc=$?
		c2=$(server_counts "$label" "$((71 + 2 * q))" tcp)
		second=$(which_server "$c2")
		if [ "$q" = 0 ]; then want=$first; else want=$((3 - first)); fi
		if [ "$rc" = 0 ] && [ "$second" = "$want" ]; then
			tap_ok "quiescent $label q=$q: after weight 0 on rs$first the client goes to rs$second"
		else
			tap_fail "quiescent $label q=$q: after weight 0 on rs$first the client goes to rs$want" \
				"exit $rc, counts first $c1, second $c2" "$(cat "$d/q$q.conns")"
		fi
		# The templates left (ipvsadm -Lnc: "TCP 00:59 ASSURED client:0 virtual destination"):
		# q=0 keeps the client's one template; q=1 has C's ip_vs_check_template() rehash the
		# unusable one with virtual and destination port 65535 (so no lookup finds it while
		# its timer runs out) next to the new template for the other server.
		ip netns exec "$DP_DIR" ipvsadm -L -n -c >"$d/q$q.after" 2>&1
		tpl=$(awk -v s="$src:0" '$4 == s { print $5, $6 }' "$d/q$q.after" | sort | tr '\n' ' ')
		if [ "$q" = 0 ]; then
			want="$vip:$DP_PORT $(rip 4 "$first"):$DP_PORT "
		else
			want=$(printf '%s\n' "$vip:$DP_PORT $(rip 4 "$second"):$DP_PORT" "$vip:65535 $(rip 4 "$first"):65535" |
				sort | tr '\n' ' ')
		fi
		if [ "$tpl" = "$want" ]; then
			tap_ok "quiescent $label q=$q: the client's templates are as C leaves them ($tpl)"
		else
			tap_fail "quiescent $label q=$q: the client's templates are as C leaves them" \
				"want: $want" "got: $tpl" "$(cat "$d/q$q.after")"
		fi
	done
	ip netns exec "$DP_DIR" sysctl -q -w net.ipv4.vs.expire_quiescent_template=0
	ip netns exec "$DP_DIR" ipvsadm -C
	servers_down
	topo_down "$label"
	unload_ipvs "$module" || tap_fail "quiescent $label: unload $module"
}

if ! build_dpgen; then
	tap_fail "quiescent: build dpgen"
	finish
	exit
fi
declare -A seen=()
for m in "$@"; do
	seen[$m]=$((${seen[$m]:-0} + 1))
	label=$m
	[ "${seen[$m]}" = 1 ] || label=$m-${seen[$m]}
	run_module "$label" "$m"
	publish "dp-quiescent-$label"
done
finish
