# shellcheck shell=bash
# Sourced by the tests/vm/sync/ scripts (guest side, as root): ctl/common.sh (TAP helpers,
# load_ipvs/unload_ipvs c|rs, $WORK) plus two directors on one LAN. See tests/vm/sync/README.md.
#
# Topology (namespaces suffixed with the run label L):
#
#   sy-lan-L  bridge br0 (multicast snooping off) joining, by veth:
#   sy-cl-L   client      eth0 10.9.0.2/24
#   sy-da-L   director A  eth0 10.9.0.11/24   (starts as the sync master, owns the VIP)
#   sy-db-L   director B  eth0 10.9.0.12/24   (sync backup)
#   sy-r1-L   real server eth0 10.9.0.21/24, VIP on lo (DR: arp_ignore/arp_announce)
#   sy-r2-L   real server eth0 10.9.0.22/24, VIP on lo
#
# The VIP 10.9.0.100 is a /32 on the owning director's eth0; moving it ("failover") deletes
# it there, adds it on the other director and points the client's neighbour entry at the new
# owner. Both directors have the same persistent DR service VIP:80 over both real servers;
# the real servers run stream.py's echo server on port 80. The sync daemons use eth0 and
# C's default group and port (224.0.0.81:8848).
# shellcheck source=tests/vm/ctl/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../ctl/common.sh"

SY=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Our TAP file: sync-<script>.tap.
[ -s "$TAP" ] || rm -f "$TAP"
TAP=$OUT/sync-$(basename "$0" .sh).tap
: >"$TAP"
VIP=10.9.0.100


# sy_up L: the topology of run label L.
sy_up() {
	local l=$1 n addr
	ip netns add "sy-lan-$l"
	in_ns "sy-lan-$l" ip link add br0 type bridge mcast_snooping 0
	in_ns "sy-lan-$l" ip link set br0 up
	for n in cl:10.9.0.2 da:10.9.0.11 db:10.9.0.12 r1:10.9.0.21 r2:10.9.0.22; do
		addr=${n#*:}
		n=${n%%:*}
		ip netns add "sy-$n-$l"
		ip link add "p-$n" netns "sy-lan-$l" type veth peer name eth0 netns "sy-$n-$l"
		in_ns "sy-lan-$l" ip link set "p-$n" master br0 up
		in_ns "sy-$n-$l" ip link set lo up
		in_ns "sy-$n-$l" ip addr add "$addr/24" dev eth0
		in_ns "sy-$n-$l" ip link set eth0 up
	done
	for n in r1 r2; do
		in_ns "sy-$n-$l" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
			net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
		in_ns "sy-$n-$l" ip addr add "$VIP/32" dev lo
	done
	# Multicast out of eth0 (the sync daemons pick the interface themselves; the route keeps
	# the recorder and the replayer of mixed.sh on eth0 too).
	for n in da db cl; do
		in_ns "sy-$n-$l" ip route add 224.0.0.0/4 dev eth0
	done
	in_ns "sy-da-$l" ip addr add "$VIP/32" dev eth0
}

sy_down() {
	local l=$1 n
	for n in lan cl da db r1 r2; do ip netns del "sy-$n-$l" 2>/dev/null; done
	return 0
}

# servers_up L: the echo servers (named r1, r2) on port 80.
sy_servers_up() {
	local l=$1 n
	for n in r1 r2; do
		in_ns "sy-$n-$l" "$PY" "$SY/stream.py" server 80 "$n" >/dev/null 2>&1 &
	done
	sleep 1
}

sy_servers_down() {
	pkill -f "stream.py server 80" 2>/dev/null
	return 0
}

# service D L: the persistent DR service on director D (da|db).
sy_service() {
	local d=$1 l=$2
	in_ns "sy-$d-$l" ipvsadm -A -t "$VIP:80" -s rr -p 300 &&
		in_ns "sy-$d-$l" ipvsadm -a -t "$VIP:80" -r 10.9.0.21:80 -g &&
		in_ns "sy-$d-$l" ipvsadm -a -t "$VIP:80" -r 10.9.0.22:80 -g
}

# move_vip FROM TO L: the VIP leaves director FROM for TO; the client learns TO's address.
sy_move_vip() {
	local from=$1 to=$2 l=$3 mac
	in_ns "sy-$from-$l" ip addr del "$VIP/32" dev eth0 2>/dev/null
	in_ns "sy-$to-$l" ip addr add "$VIP/32" dev eth0
	mac=$(in_ns "sy-$to-$l" cat /sys/class/net/eth0/address)
	in_ns "sy-cl-$l" ip neigh replace "$VIP" lladdr "$mac" dev eth0 nud reachable
}

# conns D L: director D's connection entries, "STATE CLIENT VIRTUAL DEST" per line (ipvsadm
# -L -n -c), templates (client port 0) included.
sy_conns() {
	in_ns "sy-$1-$2" ipvsadm -L -n -c 2>/dev/null | awk '$1 == "TCP" { print $3, $4, $5, $6 }'
}

# sy_wait_conns D L N [VIRTUAL]: until director D lists N ESTABLISHED connections and a
# template (to VIRTUAL, a regular expression, if given), at most 20 s; prints the seconds it
# took, or what it saw and fails.
sy_wait_conns() {
	local d=$1 l=$2 n=$3 v=${4:-.} i est tpl
	for i in $(seq 0 40); do
		est=$(sy_conns "$d" "$l" | awk -v v="$v" '$1 == "ESTABLISHED" && $4 != "" && $3 ~ v { n++ } END { print n + 0 }')
		tpl=$(sy_conns "$d" "$l" | awk -v v="$v" '$2 ~ /:0$/ && $3 ~ v { n++ } END { print n + 0 }')
		if [ "$est" -ge "$n" ] && [ "$tpl" -ge 1 ]; then
			echo $((i / 2))
			return 0
		fi
		sleep 0.5
	done
	echo "after 20 s: $est ESTABLISHED, $tpl templates"
	return 1
}
