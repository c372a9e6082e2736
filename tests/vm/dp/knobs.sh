#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/dp/knobs.sh [MOD...]     (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/dp tools/vm.sh --timeout 900 -- tests/vm/dp/knobs.sh c rs
#
# The data-path sysctls that change what happens to a packet no connection explains, with
# traffic, against C:
#   schedule_icmp  an ICMP error from the client side about a reply of the service that no
#                  connection knows (e.g. "fragmentation needed" about a SYN+ACK a DR real
#                  server sent straight to the client): with 0 it is left to the director's
#                  stack; with 1 it schedules a connection as the request would have and is
#                  forwarded to that real server (ip_vs_in_icmp()). Cells: DR TCP IPv4, DR TCP
#                  IPv6, NAT UDP IPv4 (the quoted packet rewritten to the real server), each
#                  with the knob at 0 and at 1; the error is crafted by knobs.py icmperr.
#   nat_icmp_send  a masquerading real server sends packets no connection explains (UDP
#                  datagrams and a TCP RST from its service port to the client's eth0
#                  address, TCP and UDP NAT services): with 0 they are forwarded; with 1 the
#                  datagrams are dropped and answered with "port unreachable" from the
#                  director, the RST still passes (ip_vs_out_hook(), ip_vs_has_real_service()).
#                  IPv4 and IPv6.
#   cache_bypass   a firewall-mark service without real servers, for traffic to an "origin"
#                  address that is not the director's (10.0.2.50 / fd00:2::50 on rs3, routed
#                  via rs3): the director's own UDP flows to it, marked in its output path
#                  (the test kernel has no policy routing, which a transparent cache would
#                  use to take remote clients' packets in; IPVS schedules local clients'
#                  packets at LOCAL_OUT the same way): with 0 the client is refused (port
#                  unreachable); with 1 each flow gets a bypass connection and reaches the
#                  origin, whose dpgen server (id 3) answers (ip_vs_leave(),
#                  ip_vs_bypass_xmit()). IPv4 and IPv6.
#   pmtu_disc      a 1500-byte IPv4 datagram with DF to an IPIP (TUN) service, 20 bytes over
#                  the tunnel's MTU: with 1 (C's default) the director answers "fragmentation
#                  needed" and the real server gets nothing; with 0 the outer packet is sent
#                  without DF, fragmented, and the real server gets the datagram
#                  (ensure_mtu_is_adequate(), ip_vs_tunnel_xmit()).
#   est_cpulist, est_nice  the rate estimator's kernel thread (C: ipvs-e:<gen>:<id>, started
#                  once a namespace has a service) runs on the CPUs of est_cpulist at the nice
#                  level of est_nice, and follows them when they change (C restarts its threads,
#                  ipvs_rs's moves itself within a round of 2 s); checked on the newest
#                  ipvs-e thread after a service is added in a fresh namespace.
# Counted with nft counters in the real servers and the client; the service's connection
# counter from ipvsadm -L -n --stats. Checks, TAP "knobs MOD CELL: ...": each cell's outcome as
# described; with two or more MODs, every MOD's outcomes equal the first MOD's.
# Files: $VM_OUT/dp-knobs-<run>/.
. "$(dirname "$0")/common.sh"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
KNOBS_PY=$DP/knobs.py
N_BIG=3

# counters_up NS: nft counters of ICMP errors, of datagrams to and from port $DP_PORT and of
# TCP RSTs in NS (portunreach: "port unreachable" from the director only, not the client's
# own).
counters_up() {
	ip netns exec "$1" nft -f - <<-EOF
		table inet kn {
			counter k_fragneeded {}
			counter k_toobig {}
			counter k_portunreach {}
			counter k_udpdst {}
			counter k_udpsrc {}
			counter k_rst {}
			chain in {
				type filter hook input priority 0;
				icmp type destination-unreachable icmp code frag-needed counter name k_fragneeded
				icmpv6 type packet-too-big counter name k_toobig
				ip saddr 10.0.1.1 icmp type destination-unreachable icmp code port-unreachable counter name k_portunreach
				ip6 saddr fd00:1::1 icmpv6 type destination-unreachable icmpv6 code port-unreachable counter name k_portunreach
				udp dport $DP_PORT counter name k_udpdst
				udp sport $DP_PORT counter name k_udpsrc
				tcp flags & rst == rst counter name k_rst
			}
		}
	EOF
}
# count NS NAME: packets the counter saw.
count() {
	local name=k_$2
	[ "$2" = udp ] && name=k_udpdst
	ip netns exec "$1" nft list counter inet kn "$name" 2>/dev/null | awk '/packets/ { print $2; exit }'
}
# rs_counts NAME: the counter NAME of rs1..rs3, as "n1 n2 n3".
rs_counts() {
	echo "$(count "${DP_RS[0]}" "$1") $(count "${DP_RS[1]}" "$1") $(count "${DP_RS[2]}" "$1")"
}
# svc_conns FAMILY PROTO VIP: the service's Conns counter (ipvsadm -L -n --stats).
svc_conns() {
	ip netns exec "$DP_DIR" ipvsadm -L -n --stats | awk -v p="$2" -v v="$(hostport "$1" "$3" "$DP_PORT")" \
		'$1 == p && $2 == v { print $3; exit }'
}

# schedule_icmp cell: LABEL NAME FAMILY PROTO METHOD(-g|-m) KNOB CELLNO
sched_icmp_cell() {
	local label=$1 name=$2 fam=$3 proto=$4 method=$5 knob=$6 n=$7 vip client counter before after conns out
	vip=$(vip "$fam" "$((150 + n))")
	client=$(src_base "$fam")
	counter=fragneeded
	[ "$fam" = 4 ] || counter=toobig
	ip netns exec "$DP_DIR" sysctl -q -w net.ipv4.vs.schedule_icmp="$knob"
	ip netns exec "$DP_DIR" ipvsadm -R <<-EOF
		-A -${proto:0:1} $(hostport "$fam" "$vip" "$DP_PORT") -s rr
		-a -${proto:0:1} $(hostport "$fam" "$vip" "$DP_PORT") -r $(hostport "$fam" "$(rip "$fam" 1)" "$DP_PORT") $method -w 1
		-a -${proto:0:1} $(hostport "$fam" "$vip" "$DP_PORT") -r $(hostport "$fam" "$(rip "$fam" 2)" "$DP_PORT") $method -w 1
	EOF
	before=$(rs_counts "$counter")
	# The reply quoted: from the service to the client's port 40000 + n.
	ip netns exec "$DP_CL" "$PY" "$KNOBS_PY" icmperr "$vip" "$vip" "$DP_PORT" "$client" "$((40000 + n))" "$proto" \
		>"$d/$name.send" 2>&1
	sleep 1
	after=$(rs_counts "$counter")
	conns=$(svc_conns "$fam" "${proto^^}" "$vip")
	ip netns exec "$DP_DIR" ipvsadm -L -n -c >"$d/$name.conns" 2>&1
	ip netns exec "$DP_DIR" ipvsadm -D -"${proto:0:1}" "$(hostport "$fam" "$vip" "$DP_PORT")"
	ip netns exec "$DP_DIR" sysctl -q -w net.ipv4.vs.schedule_icmp=0
	# Which real server got the error (the counters' growth) and the service's connections.
	local -a c0 c1
	read -ra c0 <<<"$before"
	read -ra c1 <<<"$after"
	out="rs $((c1[0] - c0[0])) $((c1[1] - c0[1])) $((c1[2] - c0[2])) conns ${conns:-none}"
	echo "$out" >"$d/$name.out"
	if [ "$knob" = 1 ]; then
		if [[ $out == "rs 1 0 0 conns 1" || $out == "rs 0 1 0 conns 1" ]]; then
			tap_ok "knobs $label $name: the error scheduled a connection and reached one real server ($out)"
		else
			tap_fail "knobs $label $name: the error scheduled a connection and reached one real server" \
				"$out" "$(cat "$d/$name.send" "$d/$name.conns")"
		fi
	else
		if [ "$out" = "rs 0 0 0 conns 0" ]; then
			tap_ok "knobs $label $name: the error was left to the director ($out)"
		else
			tap_fail "knobs $label $name: the error was left to the director" "$out" \
				"$(cat "$d/$name.send" "$d/$name.conns")"
		fi
	fi
}

# nat_icmp_send cell: LABEL NAME FAMILY KNOB CELLNO
nat_icmp_cell() {
	local label=$1 name=$2 fam=$3 knob=$4 n=$5 vip rs cl p u0 u1 c0 c1 r0 r1 out want
	vip=$(vip "$fam" "$((150 + n))")
	rs=$(rip "$fam" 1)
	cl=10.0.0.2
	[ "$fam" = 4 ] || cl=fd00::2
	ip netns exec "$DP_DIR" sysctl -q -w net.ipv4.vs.nat_icmp_send="$knob"
	for p in t u; do
		ip netns exec "$DP_DIR" ipvsadm -A -$p "$(hostport "$fam" "$vip" "$DP_PORT")" -s rr
		ip netns exec "$DP_DIR" ipvsadm -a -$p "$(hostport "$fam" "$vip" "$DP_PORT")" \
			-r "$(hostport "$fam" "$rs" "$DP_PORT")" -m
	done
	# The real server's packets go through the director, as under NAT.
	rs_routes NAT
	u0=$(count "${DP_RS[0]}" portunreach)
	c0=$(count "$DP_CL" udpsrc)
	r0=$(count "$DP_CL" rst)
	ip netns exec "${DP_RS[0]}" "$PY" "$KNOBS_PY" udpfrom "$rs" "$DP_PORT" "$cl" 5555 3 >"$d/$name.send" 2>&1
	ip netns exec "${DP_RS[0]}" "$PY" "$KNOBS_PY" tcprst "$rs" "$DP_PORT" "$cl" 5556 >>"$d/$name.send" 2>&1
	sleep 1
	u1=$(count "${DP_RS[0]}" portunreach)
	c1=$(count "$DP_CL" udpsrc)
	r1=$(count "$DP_CL" rst)
	rs_routes DR
	for p in t u; do
		ip netns exec "$DP_DIR" ipvsadm -D -$p "$(hostport "$fam" "$vip" "$DP_PORT")"
	done
	ip netns exec "$DP_DIR" sysctl -q -w net.ipv4.vs.nat_icmp_send=0
	# Port unreachable is rate-limited per host: what counts is whether any came.
	out="portunreach $([ $((u1 - u0)) -gt 0 ] && echo yes || echo no) client-udp $((c1 - c0)) client-rst $((r1 - r0))"
	echo "$out" >"$d/$name.out"
	if [ "$knob" = 1 ]; then
		want="portunreach yes client-udp 0 client-rst 1"
	else
		want="portunreach no client-udp 3 client-rst 1"
	fi
	if [ "$out" = "$want" ]; then
		tap_ok "knobs $label $name: nat_icmp_send=$knob ($out)"
	else
		tap_fail "knobs $label $name: nat_icmp_send=$knob" "got:  $out" "want: $want" "$(cat "$d/$name.send")"
	fi
}

# bypass_up: the origin addresses on rs3, the director's routes to them and its marking of
# what it sends there.
bypass_up() {
	ip -n "${DP_RS[2]}" addr add 10.0.2.50/32 dev lo &&
		ip -n "${DP_RS[2]}" addr add fd00:2::50/128 dev lo &&
		ip -n "$DP_DIR" route add 10.0.2.50/32 via 10.0.1.13 &&
		ip -n "$DP_DIR" route add fd00:2::50/128 via fd00:1::13 &&
		ip netns exec "$DP_DIR" nft -f - <<-EOF
			table inet kmark {
				chain out {
					type route hook output priority mangle;
					ip daddr 10.0.2.50 meta mark set 7
					ip6 daddr fd00:2::50 meta mark set 7
				}
			}
		EOF
}

# bypass cell: LABEL NAME FAMILY KNOB CELLNO
bypass_cell() {
	local label=$1 name=$2 fam=$3 knob=$4 n=$5 origin src six='' rc=0 out want
	origin=10.0.2.50 src=10.0.1.1
	if [ "$fam" = 6 ]; then origin=fd00:2::50 src=fd00:1::1 six=-6; fi
	ip netns exec "$DP_DIR" sysctl -q -w net.ipv4.vs.cache_bypass="$knob"
	ip netns exec "$DP_DIR" ipvsadm -A -f 7 ${six:+"$six"} -s rr
	ip netns exec "$DP_DIR" "$DPGEN" client "-$fam" -u -d "$origin" -p "$DP_PORT" -s "$src" -k 1 \
		-n 3 -c 1 -C "$((60 + n))" -w 2000 -R 1 -e 3 -P "$((41000 + 10 * n))" >"$d/$name.client" 2>&1 || rc=$?
	ip netns exec "$DP_DIR" ipvsadm -L -n -c >"$d/$name.conns" 2>&1
	ip netns exec "$DP_DIR" ipvsadm -D -f 7 ${six:+"$six"}
	ip netns exec "$DP_DIR" sysctl -q -w net.ipv4.vs.cache_bypass=0
	out="exit $([ "$rc" = 0 ] && echo 0 || echo failed) $(grep -E '^(server|result)' "$d/$name.client" |
		sed 's/ retries=.*//; s/ ms=.*//' | tr '\n' ' ')entries $(grep -cF "$origin" "$d/$name.conns")"
	echo "$out" >"$d/$name.out"
	if [ "$knob" = 1 ]; then
		want="exit 0 server 3 3 result ok=3 fail=0 notrun=0 entries 3"
	else
		want="exit failed result ok=0 fail=3 notrun=0 entries 0"
	fi
	if [ "$out" = "$want" ]; then
		tap_ok "knobs $label $name: cache_bypass=$knob ($out)"
	else
		tap_fail "knobs $label $name: cache_bypass=$knob" "got:  $out" "want: $want" "$(tail -n 3 "$d/$name.client")"
	fi
}

# newest_est_thread: "NICE CPUS" of the most recently started ipvs-e thread ("none" if none).
newest_est_thread() {
	local pid
	pid=$(ps -eo pid=,comm= | awk '$2 ~ /^ipvs-e:/ { p = $1 } END { print p }')
	if [ -z "$pid" ]; then
		echo none
		return
	fi
	echo "$(ps -o ni= -p "$pid" | tr -d ' ') $(awk '/^Cpus_allowed_list:/ { print $2 }' "/proc/$pid/status")"
}

# est cell: LABEL. The thread after a service appears, after est_nice=5, after est_cpulist=1
# (each waited for up to 10 s).
est_cell() {
	local label=$1 ns=kest_${1//-/_} out=() want i got
	ip netns del "$ns" 2>/dev/null
	ip netns add "$ns"
	ip netns exec "$ns" ipvsadm -A -t 10.9.9.9:80 -s rr
	for want in "0 0-1" "5 0-1" "5 1"; do
		case $want in
		"5 0-1") ip netns exec "$ns" sysctl -q -w net.ipv4.vs.est_nice=5 ;;
		"5 1") ip netns exec "$ns" sysctl -q -w net.ipv4.vs.est_cpulist=1 ;;
		esac
		for i in $(seq 50); do
			got=$(newest_est_thread)
			[ "$got" = "$want" ] && break
			sleep 0.2
		done
		out+=("$got")
	done
	ip netns del "$ns"
	echo "${out[*]}" >"$d/est.out"
	if [ "${out[*]}" = "0 0-1 5 0-1 5 1" ]; then
		tap_ok "knobs $label est: the estimator thread at nice 0 on CPUs 0-1, then nice 5, then CPU 1 (${out[*]})"
	else
		tap_fail "knobs $label est: the estimator thread follows est_nice and est_cpulist" \
			"got (nice cpus, three times): ${out[*]}" "want: 0 0-1 5 0-1 5 1" "$(ps -eo pid,ni,comm | awk '/ipvs-e/')"
	fi
}

# pmtu_disc cell: LABEL NAME KNOB CELLNO
pmtu_cell() {
	local label=$1 name=$2 knob=$3 n=$4 vip sent frag0 frag1 rs0 rs1 out
	vip=$(vip 4 "$((150 + n))")
	ip netns exec "$DP_DIR" sysctl -q -w net.ipv4.vs.pmtu_disc="$knob"
	ip netns exec "$DP_DIR" ipvsadm -R <<-EOF
		-A -u $vip:$DP_PORT -s rr
		-a -u $vip:$DP_PORT -r $(rip 4 1):$DP_PORT -i -w 1
	EOF
	frag0=$(count "$DP_CL" fragneeded)
	rs0=$(count "${DP_RS[0]}" udp)
	# 1472 bytes of payload: a 1500-byte packet, 20 more with the IPIP header.
	sent=$(ip netns exec "$DP_CL" "$PY" "$KNOBS_PY" bigdf "$vip" "$DP_PORT" "$N_BIG" 1472 2>&1)
	sleep 1
	frag1=$(count "$DP_CL" fragneeded)
	rs1=$(count "${DP_RS[0]}" udp)
	ip netns exec "$DP_DIR" ipvsadm -D -u "$vip:$DP_PORT"
	ip netns exec "$DP_DIR" sysctl -q -w net.ipv4.vs.pmtu_disc=1
	# The client learns the path MTU from the first "fragmentation needed" and refuses the
	# rest itself: what counts is whether any came back.
	out="fragneeded $([ $((frag1 - frag0)) -gt 0 ] && echo yes || echo no) rs1 $((rs1 - rs0))"
	echo "$out ($sent)" >"$d/$name.out"
	if [ "$knob" = 1 ] && [ "$out" = "fragneeded yes rs1 0" ]; then
		tap_ok "knobs $label $name: DF datagrams over the tunnel MTU refused with fragmentation needed ($out; $sent)"
	elif [ "$knob" = 0 ] && [ "$out" = "fragneeded no rs1 $N_BIG" ]; then
		tap_ok "knobs $label $name: DF datagrams over the tunnel MTU fragmented in the tunnel and delivered ($out; $sent)"
	else
		tap_fail "knobs $label $name: pmtu_disc=$knob" "$out ($sent)"
	fi
}

CELLS=(sicmp-dr4-tcp-0 sicmp-dr4-tcp-1 sicmp-dr6-tcp-0 sicmp-dr6-tcp-1 sicmp-nat4-udp-0 sicmp-nat4-udp-1
	natsend4-0 natsend4-1 natsend6-0 natsend6-1 bypass4-0 bypass4-1 bypass6-0 bypass6-1 pmtu-1 pmtu-0 est)

run_module() {
	local label=$1 module=$2 d=$WORK/dp-knobs-$1 ns
	mkdir -p "$d"
	if ! load_ipvs "$module" || ! ipvs_is "$module"; then
		tap_fail "knobs $label: load $module"
		unload_ipvs "$module" 2>/dev/null
		return
	fi
	if ! topo_up "$label" || ! rs_routes DR || ! servers_up "$label" || ! bypass_up; then
		tap_fail "knobs $label: namespaces, servers, the bypass routes"
		servers_down
		topo_down "$label"
		unload_ipvs "$module"
		return
	fi
	for ns in "$DP_CL" "${DP_RS[@]}"; do
		counters_up "$ns" || tap_fail "knobs $label: nft counters in $ns"
	done
	est_cell "$label"
	sched_icmp_cell "$label" sicmp-dr4-tcp-0 4 tcp -g 0 1
	sched_icmp_cell "$label" sicmp-dr4-tcp-1 4 tcp -g 1 2
	sched_icmp_cell "$label" sicmp-dr6-tcp-0 6 tcp -g 0 3
	sched_icmp_cell "$label" sicmp-dr6-tcp-1 6 tcp -g 1 4
	sched_icmp_cell "$label" sicmp-nat4-udp-0 4 udp -m 0 5
	sched_icmp_cell "$label" sicmp-nat4-udp-1 4 udp -m 1 6
	nat_icmp_cell "$label" natsend4-0 4 0 7
	nat_icmp_cell "$label" natsend4-1 4 1 8
	nat_icmp_cell "$label" natsend6-0 6 0 9
	nat_icmp_cell "$label" natsend6-1 6 1 10
	bypass_cell "$label" bypass4-0 4 0 11
	bypass_cell "$label" bypass4-1 4 1 12
	bypass_cell "$label" bypass6-0 6 0 13
	bypass_cell "$label" bypass6-1 6 1 14
	pmtu_cell "$label" pmtu-1 1 15
	pmtu_cell "$label" pmtu-0 0 16
	ip netns exec "$DP_DIR" ipvsadm -C
	servers_down
	topo_down "$label"
	unload_ipvs "$module" || tap_fail "knobs $label: unload $module"
}

if ! build_dpgen; then
	tap_fail "knobs: build dpgen"
	finish
	exit
fi
declare -A seen=()
labels=()
for m in "$@"; do
	seen[$m]=$((${seen[$m]:-0} + 1))
	label=$m
	[ "${seen[$m]}" = 1 ] || label=$m-${seen[$m]}
	run_module "$label" "$m"
	labels+=("$label")
done
if [ "${#labels[@]}" -ge 2 ]; then
	first=${labels[0]}
	for l in "${labels[@]:1}"; do
		for c in "${CELLS[@]}"; do
			a=$WORK/dp-knobs-$first/$c.out
			b=$WORK/dp-knobs-$l/$c.out
			# The pmtu cells' "(sent=.. emsgsize=..)" follows the client's path MTU timing.
			if [ -s "$a" ] && [ -s "$b" ] && [ "$(sed 's/ (.*//' "$a")" = "$(sed 's/ (.*//' "$b")" ]; then
				tap_ok "knobs $c: $l as $first ($(sed 's/ (.*//' "$b"))"
			else
				tap_fail "knobs $c: $l as $first" "$first: $(cat "$a" 2>/dev/null)" "$l: $(cat "$b" 2>/dev/null)"
			fi
		done
	done
fi
for l in "${labels[@]}"; do publish "dp-knobs-$l"; done
finish
