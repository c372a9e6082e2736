#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/dp/dstcache.sh [MOD...]   (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/dp tools/vm.sh --timeout 1500 -- tests/vm/dp/dstcache.sh c rs
#
# The per-destination route cache (C: dest->dest_dst, ip_vs_xmit.c) and the netdevice notifier
# that releases it (C: ip_vs_dst_event(), ip_vs_forget_dev()), per MOD in fresh namespaces of
# the common.sh topology. Six UDP cells, one service each with rs1..rs3 (rr): NAT, DR and TUN,
# IPv4 and IPv6; every cell has background flows (a request every 300 ms) so that routes stay
# cached while the steps below run, and each check sends a probe (24 flows, 2 rounds, their
# own source ports) whose result is compared with what C does:
#   base  every cell answers;
#   b1    the director's eth0 goes down: traffic stops (NAT IPv4, DR IPv6 probed); up again
#         (addresses and default routes restored): every cell answers again;
#   b2    an unreachable route to rs1 (IPv4 /32 and IPv6 /128) on the director: in every cell
#         the flows of rs1 fail and only them (a stale cached route would keep them working);
#         the route removed: every cell answers again;
#   c     rs2 is deleted from the NAT IPv4 cell while its flows run (it goes to the trash, its
#         connections keep using it), then added back (revived from the trash): a probe
#         answers fully and rs2 gets new flows; then rs3 is deleted from the DR IPv4 and NAT
#         IPv6 cells and left in the trash, its connections still flowing (their cached
#         routes live in trashed destinations);
#   a     the director's namespace is deleted with all that traffic: with
#         net.core.netdev_unregister_timeout_secs=3 the kernel logs "unregister_netdevice:
#         waiting for eth0 to become free" while a cached route still holds the device; the
#         log must not have it within 20 s, and the namespace cleanup (cleanup_net(), a
#         kworker named "...+netns" while it runs) must be done by then;
#   d     the module unloads within 60 s (a namespace cleanup stuck on a device would block
#         it for ever) and the kernel log is clean (tools/dmesg-check.sh).
# Measured: C and ipvs_rs without a route cache (2026-11-29, aa33215) pass every check; the
# first route cache (094d8cc) failed a and d with or without its notifier: 5 references on
# eth0 stayed. Cause (2026-11-30): at NETDEV_DOWN addrconf moves IPv6 uncached routes (DR and
# TUN's KNOWN_NH clones) to blackhole_netdev before a notifier of default priority runs, so
# "cached route's dev == eth0" no longer matched, while the route's fib6_info (rt->from) kept
# eth0. C's notifier runs before addrconf (ADDRCONF_NOTIFY_PRIORITY + 5); ipvs_rs's now too,
# and the route cache is back (all checks pass for both).
#
# TAP: $VM_OUT/dp-dstcache.tap, one line per check "dstcache MOD STEP: ...". Files (probe
# outputs, stats): $VM_OUT/dp-dstcache-<run>/.
. "$(dirname "$0")/common.sh"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
ulimit -n 65536
TEARDOWN_WAIT=${DP_DSTCACHE_WAIT:-20}
UNLOAD_WAIT=${DP_DSTCACHE_UNLOAD_WAIT:-60}

# Cells: NAME FAMILY VIP FORWARDING SOURCE-BASE. NAT flows come from the upper half of the
# client pool, which the real servers route back via the director; DR and TUN flows from the
# lower half, answered directly via rt.
CELLS=(nat4 dr4 tun4 nat6 dr6 tun6)
declare -A C_FAM=([nat4]=4 [dr4]=4 [tun4]=4 [nat6]=6 [dr6]=6 [tun6]=6)
declare -A C_VIP=([nat4]=10.0.100.11 [dr4]=10.0.100.12 [tun4]=10.0.100.13
	[nat6]=fd00:100::11 [dr6]=fd00:100::12 [tun6]=fd00:100::13)
declare -A C_FWD=([nat4]=-m [dr4]=-g [tun4]=-i [nat6]=-m [dr6]=-g [tun6]=-i)
declare -A C_SRC=([nat4]=10.1.0.129 [dr4]=10.1.0.1 [tun4]=10.1.0.1
	[nat6]=fd00:c1::101 [dr6]=fd00:c1::1 [tun6]=fd00:c1::1)
declare -A C_ID=([nat4]=1 [dr4]=2 [tun4]=3 [nat6]=4 [dr6]=5 [tun6]=6)

dir_ipvsadm() { ip netns exec "$DP_DIR" ipvsadm "$@"; }
svc() { hostport "${C_FAM[$1]}" "${C_VIP[$1]}" "$DP_PORT"; }
dst() { hostport "${C_FAM[$1]}" "$(rip "${C_FAM[$1]}" "$2")" "$DP_PORT"; }

# The real servers: NAT replies (to the upper half of the client pool) via the director,
# everything else via rt.
rs_split_routes() {
	local ns
	rs_routes DR || return 1
	for ns in "${DP_RS[@]}"; do
		ip -n "$ns" -batch - <<-EOF || return 1
			route replace 10.1.0.128/25 via 10.0.1.1
			route replace fd00:c1::100/120 via fd00:1::1
		EOF
	done
}

services_up() {
	local c i
	for c in "${CELLS[@]}"; do
		dir_ipvsadm -A -u "$(svc "$c")" -s rr || return 1
		for i in 1 2 3; do
			dir_ipvsadm -a -u "$(svc "$c")" -r "$(dst "$c" "$i")" "${C_FWD[$c]}" || return 1
		done
	done
}

# Background flows: 6 per cell, a request every 300 ms, for up to 10 minutes.
BG_PIDS=()
background_up() {
	local c
	BG_PIDS=()
	for c in "${CELLS[@]}"; do
		ip netns exec "$DP_CL" "$DPGEN" client "-${C_FAM[$c]}" -u -d "${C_VIP[$c]}" -s "${C_SRC[$c]}" -k 6 \
			-n 6 -c 6 -C "$((100 + C_ID[$c]))" -r 1000000 -I 300 -D 600000 -l 64 -w 1000 -e 1000000 \
			-P "$((30000 + 10 * C_ID[$c]))" -q >"$D/bg-$c.client" 2>&1 &
		BG_PIDS+=($!)
	done
}
background_down() {
	[ ${#BG_PIDS[@]} = 0 ] && return
	kill "${BG_PIDS[@]}" 2>/dev/null
	wait "${BG_PIDS[@]}" 2>/dev/null
	BG_PIDS=()
}

# probe CELL STEP PORTBASE: 24 flows (8 sources x 3 ports from PORTBASE + 10 x cell number),
# 2 rounds; prints dpgen's result line (output in $D/STEP-CELL.client). The requests carry the
# cell id probe_cell CELL PORTBASE (each step has its own PORTBASE).
probe_cell() { echo $((200 + ($2 - 40000) / 100 + C_ID[$1])); }
probe() {
	local c=$1 step=$2 pbase=$3 cout=$D/$2-$1.client
	ip netns exec "$DP_CL" "$DPGEN" client "-${C_FAM[$c]}" -u -d "${C_VIP[$c]}" -s "${C_SRC[$c]}" -k 8 \
		-n 24 -c 24 -C "$(probe_cell "$c" "$pbase")" -r 2 -l 64 -w 800 -R 2 -e 1000 \
		-P "$((pbase + 10 * C_ID[$c]))" -q >"$cout" 2>&1
	grep '^result ' "$cout" | tail -n 1
}
ok_count() { sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$1"; }
fail_count() { sed -n 's/.* fail=\([0-9]*\).*/\1/p' <<<"$1"; }

# all_cells_answer NAME STEP PORTBASE: one TAP line; every cell's probe fully answered.
all_cells_answer() {
	local name=$1 step=$2 pbase=$3 c r bad=() summary=()
	for c in "${CELLS[@]}"; do
		r=$(probe "$c" "$step" "$pbase")
		summary+=("$c:$(ok_count "$r")/24")
		[ "$(ok_count "$r")" = 24 ] && [ "$(fail_count "$r")" = 0 ] || bad+=("$c: ${r:-no result} ($(grep -v '^result ' "$D/$step-$c.client" | head -n 3 | tr '\n' ';'))")
	done
	if [ ${#bad[@]} = 0 ]; then
		tap_ok "$name (${summary[*]})"
	else
		tap_fail "$name" "${bad[@]}" "state when it failed: $(diagnose "$step")"
	fi
}

# diagnose STEP: what the director and the real servers hold when a probe failed, into
# $D/diag-STEP (neighbours, routes, IPVS drops and counters, each real server's IPv6 counters
# and its reach of the director: NAT replies go back through it), and a one-line summary.
diagnose() {
	local f=$D/diag-$1 ns
	{
		echo "== director: ip_vs_drops"; ip netns exec "$DP_DIR" cat /proc/net/ip_vs_drops
		echo "== director: neighbours"; ip -n "$DP_DIR" neigh; ip -n "$DP_DIR" -6 neigh
		echo "== director: IPv6 routes"; ip -n "$DP_DIR" -6 route
		echo "== director: IPv6 addresses"; ip -n "$DP_DIR" -6 addr show dev eth0
		echo "== director: nstat"; ip netns exec "$DP_DIR" nstat -asz | awk '$2 != 0'
		echo "== director: IPVS"; ip netns exec "$DP_DIR" ipvsadm -L -n --stats --exact
		for ns in "${DP_RS[@]}"; do
			echo "== $ns: neighbours"; ip -n "$ns" -6 neigh
			echo "== $ns: route to the NAT clients"; ip -n "$ns" -6 route get fd00:c1::101
			echo "== $ns: IPv6 counters"; ip netns exec "$ns" nstat -asz | awk '$1 ~ /^(Ip6|Udp6|Icmp6)/ && $2 != 0'
			echo "== $ns: ping the director"; ip netns exec "$ns" ping -6 -q -c 1 -W 1 fd00:1::1
		done
	} >"$f" 2>&1
	echo "$(grep -c 'FAILED\|INCOMPLETE' "$f") neighbour entries FAILED/INCOMPLETE, $(grep -c ' 0% packet loss' "$f")/3 real servers ping the director (all in $f)"
}

# The director's eth0 as topo_up configures it (link down flushes its IPv6 addresses and the
# routes through it).
director_eth0_up() {
	ip -n "$DP_DIR" -batch - <<-EOF
		link set eth0 up
		addr replace 10.0.1.1/24 dev eth0
		addr replace fd00:1::1/64 dev eth0 nodad
		route replace default via 10.0.1.254
		route replace ::/0 via fd00:1::fe
	EOF
}

# director_neighbours: wait (at most ~10 s) until the director reaches the router and every
# real server over IPv4 and IPv6 with ping, and every real server the director. After eth0
# comes back, or a route does, the neighbour entries are gone; resolving them under TCG on a
# loaded machine took longer than the probe's retries (C lost a real server's IPv6 flows in
# one make check). Ping goes through the kernel's routing, not IPVS's: a stale route IPVS kept
# would still fail the probe after.
# The real servers first forget the director: one that answered a request while eth0 was
# down has the director's neighbour entry FAILED, and an IPv6 host (forwarding off) skips
# routes whose gateway is FAILED (rt6_check_neigh()): its NAT replies then took the default
# route via rt, bypassing the director, until the router probe 60 s later (the CI failures of
# 2026-12-01/02: the diagnosis showed "fd00:c1::101 via fd00:1::fe" and "fd00:1::1 FAILED"
# on that server, its counters answering every request).
director_neighbours() {
	local a i ns
	for ns in "${DP_RS[@]}"; do
		ip -n "$ns" neigh flush to 10.0.1.1
		ip -n "$ns" -6 neigh flush to fd00:1::1
		for a in 10.0.1.1 fd00:1::1; do
			for i in $(seq 10); do
				ip netns exec "$ns" ping -q -c 1 -W 1 "$a" >/dev/null 2>&1 && break
			done
		done
	done
	for a in 10.0.1.254 fd00:1::fe "$(rip 4 1)" "$(rip 4 2)" "$(rip 4 3)" "$(rip 6 1)" "$(rip 6 2)" "$(rip 6 3)"; do
		for i in $(seq 10); do
			ip netns exec "$DP_DIR" ping -q -c 1 -W 1 "$a" >/dev/null 2>&1 && break
		done
	done
}

# cleanup_running: the namespace teardown work (cleanup_net(), the only work of the "netns"
# workqueue) is running: a kworker's comm reads "kworker/...+netns" while it runs a work of
# that workqueue (wq_worker_comm()).
cleanup_running() { grep -qs '+netns$' /proc/[0-9]*/comm; }
cleanup_workers() {
	local f
	for f in /proc/[0-9]*/comm; do
		grep -qs '+netns$' "$f" && echo "${f%/comm}: $(cat "$f") $(head -n 8 "${f%/comm}/stack" 2>/dev/null | tr '\n' ';')"
	done
}

run_module() {
	local label=$1 m=$2 name="dstcache $1" r c from from_a fails t0 i srv timeout0 pid
	D=$WORK/dp-dstcache-$label
	mkdir -p "$D"
	from=$(($(dmesg_lines) + 1))
	if ! load_ipvs "$m" || ! ipvs_is "$m"; then
		tap_fail "$name: load $m" "$(grep -E '^(ip_vs|ipvs_rs) ' /proc/modules)"
		unload_ipvs "$m" 2>/dev/null
		return
	fi
	if ! topo_up "$label" || ! rs_split_routes || ! servers_up "$label" || ! services_up; then
		tap_fail "$name: namespaces, servers and services"
		servers_down
		topo_down "$label"
		unload_ipvs "$m"
		return
	fi
	background_up
	sleep 2
	all_cells_answer "$name base: NAT, DR and TUN, IPv4 and IPv6 answer" base 40000

	# b1) eth0 down, then up.
	ip -n "$DP_DIR" link set eth0 down
	fails=()
	for c in nat4 dr6; do
		r=$(probe "$c" b1-down 41000)
		[ "$(ok_count "$r")" = 0 ] || fails+=("$c: ${r:-no result}")
	done
	if [ ${#fails[@]} = 0 ]; then
		tap_ok "$name b1: director eth0 down: nothing answers (NAT IPv4, DR IPv6)"
	else
		tap_fail "$name b1: director eth0 down: nothing answers (NAT IPv4, DR IPv6)" "${fails[@]}"
	fi
	director_eth0_up
	director_neighbours
	all_cells_answer "$name b1: director eth0 up again: every cell answers" b1-up 42000

	# b2) A route change: rs1 unreachable from the director, then reachable again.
	ip -n "$DP_DIR" route add unreachable "$(rip 4 1)/32"
	ip -n "$DP_DIR" -6 route add unreachable "$(rip 6 1)/128"
	fails=()
	for c in "${CELLS[@]}"; do
		r=$(probe "$c" b2-unreach 43000)
		# rr over three servers: the flows scheduled to rs1 (a third) fail, the others answer.
		[ "$(ok_count "$r")" = 16 ] && [ "$(fail_count "$r")" = 8 ] || fails+=("$c: ${r:-no result}")
	done
	if [ ${#fails[@]} = 0 ]; then
		tap_ok "$name b2: rs1 unreachable from the director: its flows fail (8 of 24) in every cell"
	else
		tap_fail "$name b2: rs1 unreachable from the director: its flows fail (8 of 24) in every cell" "${fails[@]}"
	fi
	ip -n "$DP_DIR" route del unreachable "$(rip 4 1)/32"
	ip -n "$DP_DIR" -6 route del unreachable "$(rip 6 1)/128"
	director_neighbours
	all_cells_answer "$name b2: route to rs1 back: every cell answers" b2-back 44000

	# c) rs2 deleted from nat4 with flows running, then re-added from the trash.
	dir_ipvsadm -d -u "$(svc nat4)" -r "$(dst nat4 2)"
	sleep 2
	dir_ipvsadm -a -u "$(svc nat4)" -r "$(dst nat4 2)" -m
	r=$(probe nat4 c-readd 45000)
	srv=$(server_counts "$label" "$(probe_cell nat4 45000)" udp)
	dir_ipvsadm -L -n --stats --exact >"$D/stats-c.txt" 2>&1
	if [ "$(ok_count "$r")" = 24 ] && [ "$(echo "$srv" | awk '{ print $2 }')" -gt 0 ] 2>/dev/null; then
		tap_ok "$name c: rs2 deleted from NAT IPv4 under traffic, re-added: 24/24 answer, rs2 serves (per server: $srv)"
	else
		tap_fail "$name c: rs2 deleted from NAT IPv4 under traffic, re-added: 24/24 answer, rs2 serves" \
			"probe: ${r:-no result}" "flows per server: $srv"
	fi
	# Leave rs3 in the trash of two cells, its connections still flowing.
	dir_ipvsadm -d -u "$(svc dr4)" -r "$(dst dr4 3)"
	dir_ipvsadm -d -u "$(svc nat6)" -r "$(dst nat6 3)"
	sleep 3
	ip netns exec "$DP_DIR" cat /proc/net/ip_vs_conn >"$D/conn-before-a.txt" 2>&1
	dir_ipvsadm -L -n --stats --exact >"$D/stats-a.txt" 2>&1

	# a) Delete the director's namespace with all that traffic.
	timeout0=$(sysctl -n net.core.netdev_unregister_timeout_secs)
	sysctl -qw net.core.netdev_unregister_timeout_secs=3
	from_a=$(($(dmesg_lines) + 1))
	ip netns del "$DP_DIR"
	t0=$SECONDS
	for i in $(seq "$TEARDOWN_WAIT"); do
		sleep 1
		dmesg | tail -n +"$from_a" | grep -q 'unregister_netdevice: waiting' && break
		[ "$i" -ge 3 ] && ! cleanup_running && break
	done
	dmesg | tail -n +"$from_a" >"$D/dmesg-a.txt"
	if grep -q 'unregister_netdevice: waiting' "$D/dmesg-a.txt"; then
		tap_fail "$name a: ip netns del of the director: no device left waiting for its references" \
			"$(grep 'unregister_netdevice' "$D/dmesg-a.txt" | head -n 3)"
	else
		tap_ok "$name a: ip netns del of the director: no device left waiting for its references ($((SECONDS - t0)) s watched)"
	fi
	if cleanup_running; then
		tap_fail "$name a: namespace cleanup done within ${TEARDOWN_WAIT}s" "$(cleanup_workers)"
	else
		tap_ok "$name a: namespace cleanup done within ${TEARDOWN_WAIT}s ($((SECONDS - t0)) s)"
	fi
	sysctl -qw net.core.netdev_unregister_timeout_secs="$timeout0"
	background_down
	servers_down
	topo_down "$label"

	# d) Unload (blocked for ever if a namespace cleanup is stuck: do not wait on it then).
	t0=$SECONDS
	unload_ipvs "$m" >"$D/unload.txt" 2>&1 &
	pid=$!
	for i in $(seq "$UNLOAD_WAIT"); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 1
	done
	if kill -0 "$pid" 2>/dev/null; then
		tap_fail "$name d: unload $m within ${UNLOAD_WAIT}s" "still unloading (stuck): $(for p in $(pgrep -x rmmod); do head -n 6 "/proc/$p/stack"; done 2>/dev/null | tr '\n' ';')"
		UNLOAD_STUCK=1
	elif wait "$pid" && ! grep -qE '^(ip_vs|ipvs_rs) ' /proc/modules; then
		tap_ok "$name d: unload $m ($((SECONDS - t0)) s)"
	else
		tap_fail "$name d: unload $m within ${UNLOAD_WAIT}s" "$(cat "$D/unload.txt")" "$(grep -E '^(ip_vs|ipvs_rs) ' /proc/modules)"
	fi
	dmesg | tail -n +"$from" >"$D/dmesg.txt"
	if "$TOP/tools/dmesg-check.sh" "$D/dmesg.txt" >"$D/dmesg.check" 2>&1 && ! grep -q 'unregister_netdevice: waiting' "$D/dmesg.txt"; then
		tap_ok "$name d: kernel log clean"
	else
		tap_fail "$name d: kernel log clean" "$(head -n 20 "$D/dmesg.check")" "$(grep 'unregister_netdevice' "$D/dmesg.txt" | head -n 3)"
	fi
}

start=$SECONDS
if ! command -v ping >/dev/null; then
	# director_neighbours needs it (tools/deps.sh installs iputils-ping).
	tap_fail "dstcache: ping is installed"
	finish
	exit
fi
if ! build_dpgen; then
	tap_fail "dstcache: build dpgen"
	finish
	exit
fi
UNLOAD_STUCK=0
declare -A seen=()
for m in "$@"; do
	seen[$m]=$((${seen[$m]:-0} + 1))
	label=$m
	[ "${seen[$m]}" = 1 ] || label=$m-${seen[$m]}
	t=$SECONDS
	run_module "$label" "$m"
	publish "dp-dstcache-$label"
	note "dstcache $label: $((SECONDS - t))s"
	if [ "$UNLOAD_STUCK" = 1 ]; then
		note "dstcache: a module unload is stuck; the runs after it would only hang"
		break
	fi
done
note "dstcache ($*): $((SECONDS - start))s"
finish
