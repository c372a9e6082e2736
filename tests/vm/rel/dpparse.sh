#!/usr/bin/env bash
# shellcheck disable=SC2086 # $PYD is a command of two words (python, script), split on purpose
# Usage (in the guest, as root): tests/vm/rel/dpparse.sh [MOD...]     (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/dpparse-vm tools/vm.sh --timeout 1500 -- tests/vm/rel/dpparse.sh c rs
#
# How the hooks read packet headers (issue 9, findings 3 and 7), the same checks against C
# ip_vs and ipvs_rs, in the data-path topology of tests/vm/dp/common.sh (one set of
# namespaces per MOD), with an IPv4 and an IPv6 NAT service configured (so every hook is
# registered):
#   big tcp v4/v6  BIG TCP: an extra veth pair client <-> director with gso/gro(_ipv4)_max_size
#                  185000; a 20 MB TCP transfer from the client to a plain listener on the
#                  director (not a virtual service). The kernel sends GSO packets above 64 KB
#                  with IPv4 total length 0 / IPv6 payload length 0 + a jumbo hop-by-hop
#                  option. The transfer must complete, the director's veth must have received
#                  skbs larger than 64 KB (seen by an AF_PACKET tap; else the check proves
#                  nothing and fails), and ipvs_rs must have dropped nothing
#                  (/proc/net/ip_vs_drops).
#   exthdr req 312 / reply 312
#                  UDP requests (from a client socket) or the real servers' replies carrying
#                  312 bytes of IPv6 destination options, through a NAT service: all
#                  answered, from the VIP. (Such packets from a socket are linear.)
#   exthdr nonlinear req / reply
#                  the same with 1000 bytes of destination options in packets whose linear
#                  area holds only the IPv6 header (written into a tun device with a
#                  virtio-net header, hdr_len 40; 4 KB packets, so MTU 9000 on the path):
#                  a request from the tun side to the VIP must be NATed to a real server
#                  and its reply de-NATed back (ipvs_rs before the fix read a 192-byte window
#                  and left both to the stack); a real server on the tun side (fd0a::2) must
#                  have its replies to a client de-NATed.
#   drops          ipvs_rs only: /proc/net/ip_vs_drops has no malformed drop (none was sent).
# One TAP line per check ("dpparse MOD ..."), in $VM_OUT/rel-dpparse.tap; files in
# $VM_OUT/rel-dpparse-<run>/.
. "$(dirname "$0")/../dp/common.sh"
rm -f "$TAP"
TAP=$OUT/rel-dpparse.tap
: >"$TAP"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
PYD="$PY $(cd "$(dirname "$0")" && pwd)/dpparse.py"
CELL=10
BIG=185000
BYTES=20000000

# rx_stats NS DEV: "packets bytes" received.
rx_stats() {
	ip netns exec "$1" cat "/sys/class/net/$2/statistics/rx_packets" "/sys/class/net/$2/statistics/rx_bytes" | tr '\n' ' '
}

# malformed: ipvs_rs's malformed drops in the director's namespace (0 under C).
malformed() {
	if ipvs_is rs; then
		# shellcheck disable=SC2016 # an awk program
		ip netns exec "$DP_DIR" awk '$1 == "malformed" { print $2 }' /proc/net/ip_vs_drops
	else
		echo 0
	fi
}

# mtu_up: MTU 9000 on every link of the topology (tun0's 4 KB packets and their replies).
mtu_up() {
	local ns
	for ns in "$DP_CL" "$DP_DIR" "${DP_RS[@]}"; do
		ip -n "$ns" link set eth0 mtu 9000 || return 1
	done
	ip -n "$DP_RT" -batch - <<-EOF
		link set cl mtu 9000
		link set dir mtu 9000
		link set r1 mtu 9000
		link set r2 mtu 9000
		link set r3 mtu 9000
		link set br0 mtu 9000
	EOF
}

tun_up() {
	ip -n "$DP_DIR" tuntap add dev tun0 mode tun vnet_hdr || return 1
	ip -n "$DP_DIR" link set tun0 mtu 9000 up || return 1
	ip -n "$DP_DIR" addr add fd0a::1/64 dev tun0 nodad
}

big_tcp_up() {
	ip link add big0 netns "$DP_CL" type veth peer name big0 netns "$DP_DIR" || return 1
	ip -n "$DP_CL" addr add 10.9.0.2/24 dev big0 || return 1
	ip -n "$DP_CL" addr add fd09::2/64 dev big0 nodad || return 1
	ip -n "$DP_DIR" addr add 10.9.0.1/24 dev big0 || return 1
	ip -n "$DP_DIR" addr add fd09::1/64 dev big0 nodad || return 1
	ip netns exec "$DP_CL" $PYD big-tcp big0 $BIG || return 1
	ip netns exec "$DP_DIR" $PYD big-tcp big0 $BIG || return 1
	# TCP sizes its GSO packets from the pacing rate plus gso_max_size >> (min RTT in us >>
	# tcp_tso_rtt_log, 9): on the debug kernel under TCG the RTT is milliseconds and no skb
	# above 4 KB was sent at all. 20: the whole gso_max_size for any RTT below a second.
	ip netns exec "$DP_CL" sysctl -qw net.ipv4.tcp_tso_rtt_log=20 || return 1
	ip -n "$DP_CL" link set big0 up && ip -n "$DP_DIR" link set big0 up
}

# big_tcp MOD FAM ADDR D: one transfer, one TAP line.
big_tcp() {
	local m=$1 fam=$2 addr=$3 d=$4 r0 r1 m0 m1 got t0 t1 avg p0 b0 p1 b1 sp n largest big
	m0=$(malformed)
	r0=$(rx_stats "$DP_DIR" big0)
	# The director's veth as a packet tap sees each skb whole: proof that BIG TCP was used.
	ip netns exec "$DP_DIR" $PYD sniff big0 150 >"$d/sniff-$fam.txt" 2>&1 &
	sp=$!
	for _ in $(seq 50); do grep -q ready "$d/sniff-$fam.txt" && break; sleep 0.2; done
	t0=$(date +%s)
	got=$(timeout 120 ip netns exec "$DP_CL" $PYD tcp-bulk "$addr" 7000 $BYTES 2>&1)
	t1=$(date +%s)
	kill -TERM "$sp" 2>/dev/null
	wait "$sp"
	r1=$(rx_stats "$DP_DIR" big0)
	m1=$(malformed)
	read -r p0 b0 <<<"$r0"
	read -r p1 b1 <<<"$r1"
	avg=$(((b1 - b0) / ((p1 - p0) > 0 ? (p1 - p0) : 1)))
	read -r n largest big < <(tail -n 1 "$d/sniff-$fam.txt")
	echo "$fam: got '$got' in $((t1 - t0)) s; rx $((p1 - p0)) skbs $((b1 - b0)) bytes (avg $avg); sniffed $n, largest $largest, $big above 64 KB; malformed $m0 -> $m1" >>"$d/big-tcp.txt"
	if [ "$got" = $BYTES ] && [ "${big:-0}" -gt 0 ] 2>/dev/null && [ "$m1" = "$m0" ]; then
		tap_ok "dpparse $m big tcp $fam: $BYTES bytes to a local listener in $((t1 - t0)) s, $big skbs above 64 KB (largest $largest), no drop"
	else
		tap_fail "dpparse $m big tcp $fam: transfer '$got' (want $BYTES), ${big:-?} skbs above 64 KB (largest ${largest:-?}; want some), malformed drops $m0 -> $m1 (want no change)"
	fi
}

# exthdr MOD WHAT PORT OPTLEN: five requests, one TAP line.
exthdr() {
	local m=$1 what=$2 port=$3 optlen=$4 v got
	v=$(vip 6 $CELL)
	got=$(timeout 60 ip netns exec "$DP_CL" $PYD udp-ask "$v" "$port" "$optlen" 5 2>&1)
	if [ "$got" = "5 $v" ]; then
		tap_ok "dpparse $m exthdr $what: 5 of 5 answered from the VIP"
	else
		tap_fail "dpparse $m exthdr $what: got '$got', want '5 $v' (answers, reply sources)"
	fi
}

run_one() {
	local m=$1 label=$2 d=$OUT/rel-dpparse-$2 pids=() i v4 v6 got
	rm -rf "$d"
	mkdir -p "$d"
	if ! load_ipvs "$m"; then
		tap_fail "dpparse $m: load"
		return
	fi
	if ! topo_up "$label" || ! big_tcp_up || ! mtu_up || ! tun_up; then
		tap_fail "dpparse $m: topology"
		unload_ipvs "$m"
		return
	fi
	v4=$(vip 4 $CELL)
	v6=$(vip 6 $CELL)
	ip netns exec "$DP_DIR" ipvsadm -A -u "$v4:$DP_PORT" -s rr
	ip netns exec "$DP_DIR" ipvsadm -A -u "[$v6]:9000" -s rr
	ip netns exec "$DP_DIR" ipvsadm -A -u "[$v6]:9001" -s rr
	ip netns exec "$DP_DIR" ipvsadm -A -u "[$v6]:9002" -s rr
	ip netns exec "$DP_DIR" ipvsadm -a -u "[$v6]:9002" -r "[fd0a::2]:9002" -m
	for i in 1 2 3; do
		ip netns exec "$DP_DIR" ipvsadm -a -u "$v4:$DP_PORT" -r "$(rip 4 $i):$DP_PORT" -m
		ip netns exec "$DP_DIR" ipvsadm -a -u "[$v6]:9000" -r "[$(rip 6 $i)]:9000" -m
		ip netns exec "$DP_DIR" ipvsadm -a -u "[$v6]:9001" -r "[$(rip 6 $i)]:9001" -m
		ip netns exec "${DP_RS[i - 1]}" $PYD udp-echo 9000 0 >"$d/echo-$i-9000.log" 2>&1 &
		pids+=($!)
		ip netns exec "${DP_RS[i - 1]}" $PYD udp-echo 9001 312 >"$d/echo-$i-9001.log" 2>&1 &
		pids+=($!)
	done
	ip netns exec "$DP_DIR" $PYD tcp-sink 7000 >"$d/sink.log" 2>&1 &
	pids+=($!)
	sleep 2

	big_tcp "$m" v4 10.9.0.1 "$d"
	big_tcp "$m" v6 fd09::1 "$d"
	exthdr "$m" "req 312" 9000 312
	exthdr "$m" "reply 312" 9001 0
	got=$(timeout 60 ip netns exec "$DP_DIR" $PYD tun-ask tun0 fd0a::2 "$v6" 9000 1000 3100 5 2>&1)
	if [ "$got" = "5 $v6.9000" ]; then
		tap_ok "dpparse $m exthdr nonlinear req: 5 of 5 NATed and answered from the VIP"
	else
		tap_fail "dpparse $m exthdr nonlinear req: got '$got', want '5 $v6.9000' (answers, reply sources)"
	fi
	timeout 60 ip netns exec "$DP_DIR" $PYD tun-answer tun0 1000 5 >"$d/tun-answer.txt" 2>&1 &
	sleep 1
	exthdr "$m" "nonlinear reply" 9002 0
	wait $!
	ip netns exec "$DP_DIR" ipvsadm -L -n -c >"$d/conns.txt" 2>&1
	ip netns exec "$DP_DIR" ipvsadm -L -n --stats --exact >"$d/stats.txt" 2>&1
	if ipvs_is rs; then
		ip netns exec "$DP_DIR" cat /proc/net/ip_vs_drops >"$d/drops.txt" 2>&1
		if grep -qx 'malformed 0' "$d/drops.txt"; then
			tap_ok "dpparse $m drops: no malformed drop"
		else
			tap_fail "dpparse $m drops: $(tr '\n' ' ' <"$d/drops.txt") (want malformed 0)"
		fi
	fi

	kill "${pids[@]}" 2>/dev/null
	wait "${pids[@]}" 2>/dev/null
	ip netns exec "$DP_DIR" ipvsadm -C
	topo_down "$label"
	unload_ipvs "$m" || tap_fail "dpparse $m: unload"
}

for idx in $(seq $#); do
	m=${!idx}
	run_one "$m" "$(run_label "$idx" "$m" "${1}" "${2:-}")"
done
finish
