# shellcheck shell=bash
# Sourced by the tests/vm/dp/ scripts (guest side, as root): ctl/common.sh (TAP helpers,
# load_ipvs/unload_ipvs c|rs, $WORK scratch space) plus the data-path topology, the traffic
# generator and the ipvsadm snapshots they share. See tests/vm/dp/README.md.
#
# Topology (one set of network namespaces per run label, e.g. "c", "c-2", "rs"):
#
#   client ---- rt (router) ==br0== director (VIP pool on lo, IPVS)
#                             ||=== rs1, rs2, rs3 (VIP pool on lo, tunl0/ip6tnl0 up)
#
#   client   eth0 10.0.0.2/24 fd00::2/64; source pool 10.1.0.0/24 fd00:c1::/64 (AnyIP on lo:
#            connection i comes from pool address 1 + i % $DP_NSRC, so that sh/mh see many
#            clients)
#   rt       cl 10.0.0.1 fd00::1; br0 10.0.1.254 fd00:1::fe; routes the VIP pool to the director
#   director eth0 10.0.1.1 fd00:1::1; VIP pool 10.0.100.0/24 fd00:100::/64 (AnyIP on lo)
#   rsN      eth0 10.0.1.1N fd00:1::1N; the VIP pool on lo too (DR, TUN); default route via
#            the director under NAT, via rt under DR and TUN (replies bypass the director)
#
# Each real server runs `dpgen server` (TCP and UDP, IPv4 and IPv6, port $DP_PORT) that echoes
# requests with its id and a checksum. Every cell of a test uses its own VIP out of the pool,
# so that connection entries of one cell never match the packets of another.
# shellcheck source=tests/vm/ctl/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../ctl/common.sh"

DP=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DP_PORT=8080
DP_NSRC=${DP_NSRC:-64}
DPGEN=$WORK/dpgen
# Our TAP file: dp-<script>.tap (lib.sh named it after the script alone and created it).
[ -s "$TAP" ] || rm -f "$TAP"
TAP=$OUT/dp-$(basename "$0" .sh).tap
: >"$TAP"

# The kernel log's line count: a scenario checks the lines after it (tools/dmesg-check.sh).
dmesg_lines() { dmesg | wc -l; }

# ipvs_is c|rs: that implementation, and only it, is loaded.
ipvs_is() {
	local c=0 rs=0
	grep -q '^ip_vs ' /proc/modules && c=1
	grep -q '^ipvs_rs ' /proc/modules && rs=1
	case $1 in
	c) [ "$c$rs" = 10 ] ;;
	rs) [ "$c$rs" = 01 ] ;;
	*) return 1 ;;
	esac
}

# build_dpgen: compile dpgen.c for this guest (once per script).
build_dpgen() {
	[ -x "$DPGEN" ] && return 0
	local cc
	for cc in cc gcc clang clang-19; do
		if command -v "$cc" >/dev/null 2>&1; then
			"$cc" -O2 -Wall -o "$DPGEN" "$DP/dpgen.c" && return 0
		fi
	done
	echo "build_dpgen: no working C compiler" >&2
	return 1
}

# Address plan (see the top of this file). vip FAMILY CELL: the cell's VIP.
vip() {
	if [ "$1" = 4 ]; then echo "10.0.100.$(($2 % 250 + 1))"; else printf 'fd00:100::%x\n' "$(($2 + 1))"; fi
}
rip() { if [ "$1" = 4 ]; then echo "10.0.1.1$2"; else echo "fd00:1::1$2"; fi; }
src_base() { if [ "$1" = 4 ]; then echo 10.1.0.1; else echo fd00:c1::1; fi; }
# hostport FAMILY ADDR PORT: ipvsadm's spelling of an address and port.
hostport() { if [ "$1" = 4 ]; then echo "$2:$3"; else echo "[$2]:$3"; fi; }

# topo_up LABEL: create the namespaces of run LABEL and set DP_CL DP_RT DP_DIR DP_RS (array).
topo_up() {
	local p=dp_${1//-/_} i ns
	DP_CL=${p}_cl
	DP_RT=${p}_rt
	DP_DIR=${p}_dir
	DP_RS=("${p}_r1" "${p}_r2" "${p}_r3")
	topo_down "$1"
	{
		for ns in "$DP_CL" "$DP_RT" "$DP_DIR" "${DP_RS[@]}"; do echo "netns add $ns"; done
	} | ip -batch - || return 1
	{
		echo "link add eth0 netns $DP_CL type veth peer name cl netns $DP_RT"
		echo "link add eth0 netns $DP_DIR type veth peer name dir netns $DP_RT"
		for i in 1 2 3; do
			echo "link add eth0 netns ${DP_RS[i - 1]} type veth peer name r$i netns $DP_RT"
		done
	} | ip -batch - || return 1
	# No DAD (addresses usable at once), no redirects (the director forwards NAT replies out
	# of the interface they came in on: the real servers must keep sending them to it).
	local common="net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0"
	# shellcheck disable=SC2086
	{
		# Room for the TIME_WAIT sockets of every connection of a test (the default, half
		# the established hash, 8192 here, overflows: a socket that finds no room closes at
		# once, the next connection may reuse its port while IPVS still has the entry, and
		# the server's retransmitted FIN is answered with RST).
		ip netns exec "$DP_CL" sysctl -qw $common net.ipv6.conf.eth0.accept_dad=0 \
			net.ipv4.conf.eth0.rp_filter=0 net.ipv4.tcp_max_tw_buckets=1000000
		ip netns exec "$DP_RT" sysctl -qw $common net.ipv4.ip_forward=1 \
			net.ipv6.conf.all.forwarding=1 net.ipv4.conf.all.send_redirects=0 \
			net.ipv4.conf.default.send_redirects=0
		ip netns exec "$DP_DIR" sysctl -qw $common net.ipv6.conf.eth0.accept_dad=0 \
			net.ipv4.conf.eth0.rp_filter=0 net.ipv4.ip_forward=1 \
			net.ipv6.conf.all.forwarding=1 net.ipv4.conf.all.send_redirects=0 \
			net.ipv4.conf.default.send_redirects=0 net.ipv4.conf.eth0.send_redirects=0
		for ns in "${DP_RS[@]}"; do
			ip netns exec "$ns" sysctl -qw $common net.ipv6.conf.eth0.accept_dad=0 \
				net.ipv4.conf.eth0.rp_filter=0 net.ipv4.conf.tunl0.rp_filter=0 \
				net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.eth0.arp_ignore=1 \
				net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.eth0.arp_announce=2 \
				net.ipv4.conf.all.accept_redirects=0 net.ipv4.conf.default.accept_redirects=0 \
				net.ipv4.conf.eth0.accept_redirects=0 net.ipv6.conf.all.accept_redirects=0 \
				net.ipv6.conf.default.accept_redirects=0 net.ipv6.conf.eth0.accept_redirects=0
		done
	} || return 1
	ip -n "$DP_CL" -batch - <<-EOF || return 1
		link set lo up
		link set eth0 up
		addr add 10.0.0.2/24 dev eth0
		addr add fd00::2/64 dev eth0 nodad
		route add default via 10.0.0.1
		route add ::/0 via fd00::1
		route add local 10.1.0.0/24 dev lo
		route add local fd00:c1::/64 dev lo
	EOF
	ip -n "$DP_RT" -batch - <<-EOF || return 1
		link set lo up
		link add br0 type bridge mcast_snooping 0
		link set br0 up
		link set dir master br0
		link set r1 master br0
		link set r2 master br0
		link set r3 master br0
		link set dir up
		link set r1 up
		link set r2 up
		link set r3 up
		link set cl up
		addr add 10.0.0.1/24 dev cl
		addr add fd00::1/64 dev cl nodad
		addr add 10.0.1.254/24 dev br0
		addr add fd00:1::fe/64 dev br0 nodad
		route add 10.1.0.0/24 via 10.0.0.2
		route add fd00:c1::/64 via fd00::2
		route add 10.0.100.0/24 via 10.0.1.1
		route add fd00:100::/64 via fd00:1::1
	EOF
	ip -n "$DP_DIR" -batch - <<-EOF || return 1
		link set lo up
		link set eth0 up
		addr add 10.0.1.1/24 dev eth0
		addr add fd00:1::1/64 dev eth0 nodad
		route add default via 10.0.1.254
		route add ::/0 via fd00:1::fe
		route add local 10.0.100.0/24 dev lo
		route add local fd00:100::/64 dev lo
	EOF
	for i in 1 2 3; do
		ip -n "${DP_RS[i - 1]}" -batch - <<-EOF || return 1
			link set lo up
			link set eth0 up
			link set tunl0 up
			link set ip6tnl0 up
			addr add 10.0.1.1$i/24 dev eth0
			addr add fd00:1::1$i/64 dev eth0 nodad
			route add local 10.0.100.0/24 dev lo
			route add local fd00:100::/64 dev lo
		EOF
	done
	rs_routes NAT
}

# rs_routes NAT|DR|TUN: the real servers' default routes for a forwarding method.
rs_routes() {
	local ns gw4=10.0.1.254 gw6=fd00:1::fe
	if [ "$1" = NAT ]; then gw4=10.0.1.1; gw6=fd00:1::1; fi
	for ns in "${DP_RS[@]}"; do
		ip -n "$ns" -batch - <<-EOF || return 1
			route replace default via $gw4
			route replace ::/0 via $gw6
		EOF
	done
}

# topo_down LABEL: delete run LABEL's namespaces (and so everything in them).
topo_down() {
	local p=dp_${1//-/_} ns
	for ns in "${p}_cl" "${p}_rt" "${p}_dir" "${p}_r1" "${p}_r2" "${p}_r3"; do
		[ -e "/run/netns/$ns" ] && ip netns del "$ns"
	done
	return 0
}

# servers_up LABEL: start dpgen servers in the real servers (stats in $WORK/srv-LABEL-N).
DP_SERVER_PIDS=()
servers_up() {
	local i
	DP_SERVER_PIDS=()
	for i in 1 2 3; do
		ip netns exec "${DP_RS[i - 1]}" "$DPGEN" server -i "$i" -p "$DP_PORT" -s "$WORK/srv-$1-$i" &
		DP_SERVER_PIDS+=($!)
	done
	# Listening before the first client connects: each writes its (empty) stats at start.
	for i in 1 2 3; do
		wait_for_file "$WORK/srv-$1-$i" 50 || return 1
	done
}

servers_down() {
	local pid
	for pid in "${DP_SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${DP_SERVER_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	DP_SERVER_PIDS=()
}

# wait_for_file FILE TENTHS: wait until FILE exists, at most TENTHS tenths of a second.
wait_for_file() {
	local n=0
	while [ ! -e "$1" ]; do
		[ "$n" -lt "$2" ] || return 1
		sleep 0.1
		n=$((n + 1))
	done
}

# server_counts LABEL CELL PROTO: "c1 c2 c3", the connections each server saw in CELL.
server_counts() {
	local i f out=()
	for i in 1 2 3; do
		f=$WORK/srv-$1-$i
		rm -f "$f"
		kill -USR1 "${DP_SERVER_PIDS[i - 1]}"
	done
	for i in 1 2 3; do
		f=$WORK/srv-$1-$i
		wait_for_file "$f" 50 || { out+=(?); continue; }
		out+=("$(awk -v c="$2" -v p="$3" '$1 == c && $2 == p { n = $3 } END { print n + 0 }' "$f")")
	done
	echo "${out[*]}"
}
