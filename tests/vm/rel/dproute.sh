#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/rel/dproute.sh [MOD...]   (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/rel tools/vm.sh --timeout 1500 -- tests/vm/rel/dproute.sh c rs
#
# Routing corner cases of the data path (issue 9, findings 4, 5, 6 and 9), per MOD in fresh
# namespaces of the tests/vm/dp topology (client -- rt == director, rs1..3), UDP probes by
# udpx.py. Every check states what C 6.12 does; each is run against every MOD and, when C was
# run, ipvs_rs's outcome is also compared with C's.
#
#  loopback  NAT to 127.0.0.1 / ::1 (a listener bound to loopback on the director). From the
#            client namespace: C refuses ("stopping DNAT to loopback address", ip_vs_nat_xmit
#            (_v6)), the listener gets 0 of 3 datagrams; ipvs_rs also counts them in
#            /proc/net/ip_vs_drops nat_loopback. From a local client on the director (not
#            "from world") the NAT is allowed: the listener gets the datagram.
#  reroute   A NAT reply of a real server on the director itself leaves through LOCAL_OUT,
#            where C re-routes it after the SNAT (ip_vs_route_me_harder(): not at LOCAL_IN).
#            IPv6 with an ECMP route to the clients (via rt, or via rs3, which does not
#            forward): the path of the SNATed reply is that of (VIP -> client), which
#            `ip -6 route get CLIENT from VIP` tells (automatic flow labels off on the
#            director: the ECMP hash covers the label); without the re-route it is that of
#            (real server -> client). 16 clients: the set answered must be exactly the set
#            whose (VIP -> client) route goes via rt. (The test kernel has no policy routing
#            or IPv4 multipath, so an IPv4 re-route cannot change the path here.)
#  frag      A NAT UDP service whose real server answers 4000 bytes over 1500-byte links: the
#            reply reaches the director in fragments. C gathers IPv4 fragments at FORWARD
#            (ip_vs_gather_frags()), IPv6 ones are reassembled by nf_defrag_ipv6: the client
#            must get the 4000 bytes from VIP:port, never from the real server's address.
#  localrs   A real server on the director answering from the VIP (DR to a local address, a
#            fwmark service whose mark rule matches the reply too, `--ports`): C does not
#            schedule such a reply (ip_vs_schedule(): "Do not schedule replies from local real
#            server"), it goes out as is. The client must get the answer from the VIP, and the
#            table must hold one entry, not a second one for the reply.
#
# TAP: $VM_OUT/rel-dproute.tap, one line per check "dproute MOD CHECK FAMILY: ...". Files:
# $VM_OUT/rel-dproute/<run>/.
. "$(dirname "$0")/../dp/common.sh"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
# common.sh named our TAP file after the dp/ directory: ours is rel-dproute.tap.
[ -s "$TAP" ] || rm -f "$TAP"
TAP=$OUT/rel-dproute.tap
: >"$TAP"
UDPX=("$PY" "$(cd "$(dirname "$0")" && pwd)/udpx.py")
D=$WORK/rel-dproute
mkdir -p "$D"

# Per-run results, "CHECK FAMILY RESULT" lines in $D/<label>/results, compared with C's.
result() { echo "$1 $2 $3" >>"$RUN/results"; }

# bg NS CMD...: run CMD in namespace NS in the background (pid appended to BG_PIDS).
BG_PIDS=()
bg() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@" &
	BG_PIDS+=($!)
}
bg_down() {
	local p
	for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	BG_PIDS=()
}
# serve NS ADDR PORT REPLY COUNTFILE: a udpx server, up before returning.
serve() {
	rm -f "$5"
	bg "$1" "${UDPX[@]}" serve "$2" "$3" --reply "$4" --count "$5"
	wait_for_file "$5" 100
}
count_of() { cat "$1" 2>/dev/null || echo '?'; }
# shellcheck disable=SC2016 # an awk program
drops() { ip netns exec "$DP_DIR" awk -v n="$1" '$1 == n { print $2 }' /proc/net/ip_vs_drops 2>/dev/null; }
dir_ipvsadm() { ip netns exec "$DP_DIR" ipvsadm "$@"; }

# --- finding 4: NAT to a loopback address --------------------------------------------------
check_loopback() {
	local m=$1 f=$2 vip lo cnt got want drops0 drops1 local_src
	if [ "$f" = 4 ]; then vip=10.0.100.41 lo=127.0.0.1 local_src=10.0.1.1; else vip=fd00:100::41 lo=::1 local_src=fd00:1::1; fi
	cnt=$RUN/lo$f.count
	serve "$DP_DIR" "$lo" 9999 0 "$cnt" || { tap_fail "dproute $m loopback IPv$f: listener on $lo"; return; }
	dir_ipvsadm -A -u "$(hostport "$f" "$vip" 9999)" -s rr
	dir_ipvsadm -a -u "$(hostport "$f" "$vip" 9999)" -r "$(hostport "$f" "$lo" 9999)" -m
	drops0=$(drops nat_loopback)
	ip netns exec "$DP_CL" "${UDPX[@]}" ask "$vip" 9999 --src "$(if [ "$f" = 4 ]; then echo 10.0.0.2; else echo fd00::2; fi)" \
		--tries 3 --wait 1 >"$RUN/lo$f.client" 2>&1
	got=$(count_of "$cnt")
	result loopback-remote "$f" "$got"
	if [ "$got" = 0 ]; then
		tap_ok "dproute $m loopback IPv$f: remote client's 3 datagrams not NATed to $lo (C: 0 delivered)"
	else
		tap_fail "dproute $m loopback IPv$f: remote client's 3 datagrams not NATed to $lo (C: 0 delivered)" \
			"the listener on $lo got $got"
	fi
	if [ "$m" = rs ]; then
		drops1=$(drops nat_loopback)
		if [ -n "$drops1" ] && [ "$((drops1 - ${drops0:-0}))" = 3 ]; then
			tap_ok "dproute $m loopback IPv$f: 3 drops counted as nat_loopback"
		else
			tap_fail "dproute $m loopback IPv$f: 3 drops counted as nat_loopback" \
				"nat_loopback ${drops0:-none} -> ${drops1:-none}" "$(ip netns exec "$DP_DIR" cat /proc/net/ip_vs_drops 2>&1)"
		fi
	fi
	# A local client (not from world): NAT to loopback is allowed.
	ip netns exec "$DP_DIR" "${UDPX[@]}" ask "$vip" 9999 --src "$local_src" --tries 1 --wait 1 >>"$RUN/lo$f.client" 2>&1
	want=$((got + 1))
	got=$(count_of "$cnt")
	result loopback-local "$f" "$([ "$got" = "$want" ] && echo delivered || echo "not delivered")"
	if [ "$got" = "$want" ]; then
		tap_ok "dproute $m loopback IPv$f: a local client's datagram is NATed to $lo"
	else
		tap_fail "dproute $m loopback IPv$f: a local client's datagram is NATed to $lo" "listener count $got, want $want"
	fi
}

# --- finding 5: the re-route of a local real server's NAT reply at LOCAL_OUT -----------------
check_reroute() {
	local m=$1 vip=fd00:100::51 rsaddr=fd00:1::1 i srcs=() src line via want=() got=() cnt
	for i in $(seq 1 16); do srcs+=("fd00:c1::1$(printf '%02x' "$i")"); done
	ip -n "$DP_DIR" -6 route add fd00:c1::100/120 nexthop via fd00:1::fe dev eth0 nexthop via fd00:1::13 dev eth0 ||
		{ tap_fail "dproute $m reroute IPv6: ECMP route"; return; }
	# ip6_route_me_harder() hashes the reply's flow label: without automatic labels it is 0,
	# as in `ip route get`, which then tells the path of (VIP -> client).
	ip netns exec "$DP_DIR" sysctl -qw net.ipv6.auto_flowlabels=0
	cnt=$RUN/rr.count
	serve "$DP_DIR" "$rsaddr" 7001 32 "$cnt" || { tap_fail "dproute $m reroute IPv6: local real server"; return; }
	dir_ipvsadm -A -u "[$vip]:7000" -s rr
	dir_ipvsadm -a -u "[$vip]:7000" -r "[$rsaddr]:7001" -m
	ip netns exec "$DP_CL" "${UDPX[@]}" ask "$vip" 7000 --src "$(IFS=,; echo "${srcs[*]}")" --tries 3 --wait 2 \
		>"$RUN/rr.client" 2>&1
	for src in "${srcs[@]}"; do
		via=$(ip -n "$DP_DIR" -6 route get "$src" from "$vip" | grep -o 'via [^ ]*')
		[ "$via" = "via fd00:1::fe" ] && want+=("$src")
		line=$(grep "^$src " "$RUN/rr.client")
		[ "$line" = "$src from $vip 7000 32" ] && got+=("$src")
		echo "$src route-from-vip:${via#via } route-from-rs:$(ip -n "$DP_DIR" -6 route get "$src" from "$rsaddr" ipproto udp | grep -o 'via [^ ]*' | cut -d' ' -f2) client:${line#"$src "}" >>"$RUN/rr.paths"
	done
	result reroute 6 "$(IFS=,; echo "${got[*]}")"
	if [ "${#want[@]}" -gt 0 ] && [ "${got[*]}" = "${want[*]}" ]; then
		tap_ok "dproute $m reroute IPv6: a local real server's SNATed replies take the route of VIP -> client (${#got[@]}/16 via rt)"
	else
		tap_fail "dproute $m reroute IPv6: a local real server's SNATed replies take the route of VIP -> client" \
			"answered: ${got[*]:-none}" "expected (route from VIP via rt): ${want[*]:-none}" "$(cat "$RUN/rr.paths")" \
			"server got $(count_of "$cnt") datagrams"
	fi
}

# --- finding 6: fragmented NAT replies -----------------------------------------------------
check_frag() {
	local m=$1 f=$2 vip rsaddr cl line cnt
	if [ "$f" = 4 ]; then vip=10.0.100.61 rsaddr=10.0.1.11 cl=10.0.0.2; else vip=fd00:100::61 rsaddr=fd00:1::11 cl=fd00::2; fi
	cnt=$RUN/frag$f.count
	serve "${DP_RS[0]}" "$rsaddr" 7600 4000 "$cnt" || { tap_fail "dproute $m frag IPv$f: real server"; return; }
	dir_ipvsadm -A -u "$(hostport "$f" "$vip" 7600)" -s rr
	dir_ipvsadm -a -u "$(hostport "$f" "$vip" 7600)" -r "$(hostport "$f" "$rsaddr" 7600)" -m
	ip netns exec "$DP_CL" "${UDPX[@]}" ask "$vip" 7600 --src "$cl" --tries 3 --wait 2 >"$RUN/frag$f.client" 2>&1
	line=$(cat "$RUN/frag$f.client")
	result frag "$f" "${line#"$cl "}"
	if [ "$line" = "$cl from $vip 7600 4000" ]; then
		tap_ok "dproute $m frag IPv$f: a fragmented 4000-byte NAT reply reaches the client from the VIP"
	else
		tap_fail "dproute $m frag IPv$f: a fragmented 4000-byte NAT reply reaches the client from the VIP" \
			"client: $line" "server got $(count_of "$cnt") requests" \
			"$(ip netns exec "$DP_DIR" nstat -az 2>/dev/null | grep -E 'Reasm|FragOK|FragCreates' | tr -s ' ' | tr '\n' ';')"
	fi
}

# --- finding 9: replies from a local real server are not scheduled --------------------------
check_localrs() {
	local m=$1 f=$2 vip rsaddr cl ipt line n cnt
	if [ "$f" = 4 ]; then vip=10.0.100.71 rsaddr=10.0.1.1 cl=10.0.0.2 ipt=iptables; else vip=fd00:100::71 rsaddr=fd00:1::1 cl=fd00::2 ipt=ip6tables; fi
	for chain in PREROUTING OUTPUT; do
		ip netns exec "$DP_DIR" "$ipt" -t mangle -A "$chain" -p udp -m multiport --ports 7700 -j MARK --set-mark 0x77 ||
			{ tap_fail "dproute $m localrs IPv$f: $ipt mangle rule"; return; }
	done
	cnt=$RUN/lrs$f.count
	serve "$DP_DIR" "$vip" 7700 32 "$cnt" || { tap_fail "dproute $m localrs IPv$f: local real server"; return; }
	# shellcheck disable=SC2046 # -6 or no word
	dir_ipvsadm -A -f 119 $([ "$f" = 6 ] && echo -6) -s rr
	# (ipvsadm takes an IPv6 address without a port unbracketed.)
	# shellcheck disable=SC2046 # -6 or no word
	dir_ipvsadm -a -f 119 $([ "$f" = 6 ] && echo -6) -r "$rsaddr" -g
	ip netns exec "$DP_CL" "${UDPX[@]}" ask "$vip" 7700 --src "$cl" --tries 1 --wait 2 >"$RUN/lrs$f.client" 2>&1
	line=$(cat "$RUN/lrs$f.client")
	dir_ipvsadm -L -n -c >"$RUN/lrs$f.conns" 2>&1
	n=$(grep -c "^UDP .*$(if [ "$f" = 4 ]; then echo "$vip:7700"; else echo "\[$vip\]:7700"; fi)" "$RUN/lrs$f.conns")
	result localrs "$f" "${line#"$cl "} entries=$n"
	if [ "$line" = "$cl from $vip 7700 32" ] && [ "$n" = 1 ]; then
		tap_ok "dproute $m localrs IPv$f: a local real server's reply goes out as is, one entry (C does not schedule it)"
	else
		tap_fail "dproute $m localrs IPv$f: a local real server's reply goes out as is, one entry (C does not schedule it)" \
			"client: $line (server got $(count_of "$cnt"))" "$n entries with $vip:7700:" "$(cat "$RUN/lrs$f.conns")"
	fi
	# shellcheck disable=SC2046 # -6 or no word
	dir_ipvsadm -D -f 119 $([ "$f" = 6 ] && echo -6)
	for chain in PREROUTING OUTPUT; do
		ip netns exec "$DP_DIR" "$ipt" -t mangle -D "$chain" -p udp -m multiport --ports 7700 -j MARK --set-mark 0x77
	done
}

run_module() {
	local label=$1 m=$2 f from
	RUN=$D/$label
	mkdir -p "$RUN"
	: >"$RUN/results"
	from=$(($(dmesg | wc -l) + 1))
	if ! load_ipvs "$m" || ! ipvs_is "$m"; then
		tap_fail "dproute $label: load $m"
		unload_ipvs "$m" 2>/dev/null
		return
	fi
	if topo_up "$label"; then
		for f in 4 6; do check_loopback "$label" "$f"; done
		check_reroute "$label"
		for f in 4 6; do check_frag "$label" "$f"; done
		for f in 4 6; do check_localrs "$label" "$f"; done
	else
		tap_fail "dproute $label: namespaces"
	fi
	bg_down
	ip netns exec "$DP_DIR" cat /proc/net/ip_vs_drops >"$RUN/drops" 2>&1
	dir_ipvsadm -C 2>/dev/null
	# C caches a route per real server; for a local IPv6 real server it lives on lo but
	# holds eth0's inet6_dev, and C drops it only when lo goes down (ip_vs_dst_event()):
	# deleting the namespace as is leaves eth0 "waiting to become free" forever (seen in
	# C's run of this scenario). Take the links down first.
	ip -n "$DP_DIR" link set eth0 down
	ip -n "$DP_DIR" link set lo down
	sleep 1
	topo_down "$label"
	# Never block the next run on a stuck unload (a namespace that cannot be torn down).
	unload_ipvs "$m" &
	local i
	for i in $(seq 90); do
		grep -qE '^(ip_vs|ipvs_rs) ' /proc/modules || break
		sleep 1
	done
	if grep -qE '^(ip_vs|ipvs_rs) ' /proc/modules; then
		tap_fail "dproute $label: $m unloads" "$(dmesg | tail -n 5)"
	fi
	dmesg | tail -n +"$from" >"$RUN/dmesg"
}

declare -A seen=()
labels=()
for m in "$@"; do
	seen[$m]=$((${seen[$m]:-0} + 1))
	label=$m
	[ "${seen[$m]}" = 1 ] || label=$m-${seen[$m]}
	labels+=("$label")
	run_module "$label" "$m"
done

# ipvs_rs against C, check by check (the reroute check compares client sets: the ECMP hash
# key is random per boot, the same for both runs of one boot).
if [ -f "$D/c/results" ]; then
	for label in "${labels[@]}"; do
		[ "$label" = c ] && continue
		while read -r check fam res; do
			other=$(awk -v c="$check" -v f="$fam" '$1 == c && $2 == f { $1 = ""; $2 = ""; sub(/^  /, ""); print }' "$D/$label/results")
			if [ "$other" = "$res" ]; then
				tap_ok "dproute $label $check IPv$fam: same as C ($res)"
			else
				tap_fail "dproute $label $check IPv$fam: same as C" "C: $res" "$label: ${other:-missing}"
			fi
		done <"$D/c/results"
	done
fi
publish rel-dproute
finish
