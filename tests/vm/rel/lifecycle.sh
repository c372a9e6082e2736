#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/rel/lifecycle.sh [MOD...]   (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/rel vmslot tools/vm.sh --timeout 1500 -- tests/vm/rel/lifecycle.sh c rs
#
# Lifecycle races (issue 9), per MOD, each part in fresh namespaces (tests/vm/dp/common.sh,
# NAT, rr, three real servers running dpgen):
#   a) insmod; flood; rmmod, $REL_ROUNDS times (same namespaces): services configured, spoofed UDP flows
#      (udpflood, new entries all the time, sources in 198.18.0.0/15, blackholed by the
#      director) and short TCP connections flowing while the module is unloaded (if it
#      refuses with services configured, as C does while a scheduler is in use: ipvsadm -C,
#      then unload, traffic still flowing);
#   b) the director's namespace is deleted mid-flood;
#   c) sysctl writes during traffic: conn_reuse_mode, expire_nodest_conn and conntrack
#      rewritten every 50 ms for $REL_SYSCTL_SECS while short TCP connections (port reuse)
#      and UDP flows run;
#   d) real-server churn: with expire_nodest_conn=1, one real server deleted or re-added
#      every 100 ms for $REL_CHURN_SECS under $REL_FLOWS persistent UDP flows (a request
#      every 2 s each) and 100 persistent TCP connections.
# Every step must return within $REL_STEP_TIMEOUT (90) s, traffic must have been flowing for
# a step to mean anything, and each part's kernel log must be clean (tools/dmesg-check.sh,
# plus no netdevice leak); tools/vm.sh fails the run on any kernel report as well.
# Quick by default (about 2 min per module under TCG); REL_LONG=1: 10 rounds, 10000 flows,
# 5 min of churn, 2 min of sysctl writes. Each setting can be given on its own too.
# TAP: $VM_OUT/rel-lifecycle.tap; timings as TAP comments.
. "$(dirname "$0")/../dp/common.sh"
TAP=$OUT/rel-lifecycle.tap
: >"$TAP"
[ -s "$OUT/dp-lifecycle.tap" ] || rm -f "$OUT/dp-lifecycle.tap"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
if [ "${REL_LONG:-0}" = 1 ]; then
	ROUNDS=${REL_ROUNDS:-10}; FLOWS=${REL_FLOWS:-10000}; CHURN=${REL_CHURN_SECS:-300}; SYSW=${REL_SYSCTL_SECS:-120}
else
	ROUNDS=${REL_ROUNDS:-2}; FLOWS=${REL_FLOWS:-1000}; CHURN=${REL_CHURN_SECS:-12}; SYSW=${REL_SYSCTL_SECS:-10}
fi
STEP_TIMEOUT=${REL_STEP_TIMEOUT:-90}
UVIP=10.0.100.11
TVIP=10.0.100.12
FLOOD=$WORK/udpflood
vs=net.ipv4.vs
ulimit -n 65536

build_flood() {
	local cc
	for cc in cc gcc clang clang-19; do
		command -v "$cc" >/dev/null 2>&1 && "$cc" -O2 -Wall -o "$FLOOD" "$(dirname "$0")/udpflood.c" && return 0
	done
	return 1
}

dmesg_lines() { dmesg | wc -l; }

log_clean() {
	local name=$1 from=$2 f=$WORK/dmesg-part
	dmesg | tail -n +"$from" >"$f"
	if "$TOP/tools/dmesg-check.sh" "$f" >"$f.check" 2>&1 && ! grep -q 'unregister_netdevice: waiting' "$f"; then
		tap_ok "$name: kernel log clean"
	else
		tap_fail "$name: kernel log clean" "$(head -n 20 "$f.check")" "$(grep 'unregister_netdevice' "$f" | head -n 3)"
	fi
}

# timed NAME CMD...: TAP ok if CMD returns within the step timeout (any status, in TIMED_RC).
timed() {
	local name=$1 t0=$SECONDS
	shift
	TIMED_RC=0
	TIMED_OUT=$(timeout -k 5 "$STEP_TIMEOUT" "$@" 2>&1) || TIMED_RC=$?
	if [ "$TIMED_RC" = 124 ] || [ "$TIMED_RC" = 137 ]; then
		tap_fail "$name: returns within ${STEP_TIMEOUT}s" "$*: killed after ${STEP_TIMEOUT}s" "$TIMED_OUT"
		return 1
	fi
	tap_ok "$name: returns within ${STEP_TIMEOUT}s ($((SECONDS - t0))s, status $TIMED_RC)"
}

loaded() { grep -qE '^(ip_vs|ipvs_rs) ' /proc/modules; }

services_up() {
	local i
	ip netns exec "$DP_DIR" ipvsadm -R <<-EOF || return 1
		-A -u $UVIP:$DP_PORT -s rr
		-A -t $TVIP:$DP_PORT -s rr
	EOF
	for i in 1 2 3; do
		ip netns exec "$DP_DIR" ipvsadm -R <<-EOF || return 1
			-a -u $UVIP:$DP_PORT -r $(rip 4 "$i"):$DP_PORT -m
			-a -t $TVIP:$DP_PORT -r $(rip 4 "$i"):$DP_PORT -m
		EOF
	done
}

# traffic_up DIR SECS KIND...: background traffic for SECS seconds; KIND: flood (spoofed
# UDP flows, paced), tcpshort (short TCP connections), udpflows (FLOWS persistent UDP
# flows), tcpflows (100 persistent TCP connections). A persistent flow ends when it fails
# (dpgen: no answer, or answered by another real server than its first) and a new one
# takes its place. Sets TRAFFIC_PIDS.
TRAFFIC_PIDS=()
TRAFFIC_T0=0
traffic_up() {
	local d=$1 secs=$2 k
	shift 2
	TRAFFIC_PIDS=()
	TRAFFIC_T0=$SECONDS
	for k in "$@"; do
		case $k in
		flood)
			ip netns exec "$DP_CL" "$FLOOD" -d "$UVIP" -p "$DP_PORT" -n $((secs * 1000)) -r 1000 \
				-b "198.18.$((RANDOM % 250)).1" >"$d/flood.out" 2>&1 & ;;
		tcpshort)
			ip netns exec "$DP_CL" "$DPGEN" client -t -d "$TVIP" -s "$(src_base 4)" -k 4 -n 65536 \
				-c 20 -C 3 -r 1 -D $((secs * 1000)) -l 64 -w 3000 -e 1000000 -q >"$d/tcpshort.client" 2>&1 & ;;
		udpflows)
			ip netns exec "$DP_CL" "$DPGEN" client -u -d "$UVIP" -s "$(src_base 4)" -k "$DP_NSRC" -n 65536 \
				-c "$FLOWS" -C 1 -r 1000000 -I 2000 -D $((secs * 1000)) -l 64 -w 3000 -e 1000000 -q \
				>"$d/udpflows.client" 2>&1 & ;;
		tcpflows)
			ip netns exec "$DP_CL" "$DPGEN" client -t -d "$TVIP" -s "$(src_base 4)" -k "$DP_NSRC" -n 65536 \
				-c 100 -C 2 -r 1000000 -I 500 -D $((secs * 1000)) -l 64 -w 3000 -e 1000000 -q \
				>"$d/tcpflows.client" 2>&1 & ;;
		esac
		TRAFFIC_PIDS+=($!)
	done
}

traffic_down() {
	[ ${#TRAFFIC_PIDS[@]} -gt 0 ] || return 0
	kill "${TRAFFIC_PIDS[@]}" 2>/dev/null
	wait "${TRAFFIC_PIDS[@]}" 2>/dev/null
	TRAFFIC_PIDS=()
}

# entries: lines of the director's /proc/net/ip_vs_conn (header aside).
entries() { echo $(($(ip netns exec "$DP_DIR" cat /proc/net/ip_vs_conn 2>/dev/null | wc -l) - 1)); }

in_packets() {
	ip netns exec "$DP_DIR" ipvsadm -L -n --stats --exact 2>/dev/null |
		awk '/^(TCP|UDP) / { n += $4 } END { print n + 0 }'
}

# flowing NAME: TAP line; ok once there are entries and InPkts grow over 3 s.
flowing() {
	local name=$1 n a b i reads=""
	for i in $(seq 20); do
		n=$(entries)
		reads+=" $((SECONDS - TRAFFIC_T0))s:$n"
		[ "$n" -lt 50 ] || break
		sleep 1
	done
	a=$(in_packets)
	sleep 3
	b=$(in_packets)
	local t=$((SECONDS - TRAFFIC_T0)) p alive=0
	note "$name: entries read (seconds after the traffic started: entries):$reads, done at ${t}s"
	for p in "${TRAFFIC_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
	if [ "$n" -gt 0 ] && [ "$b" -gt "$a" ]; then
		tap_ok "$name: traffic flowing ($n entries, InPkts $a -> $b in 3 s, ${t}s after the traffic started)"
	else
		tap_fail "$name: traffic flowing" "$n entries, InPkts $a -> $b in 3 s, ${t}s after the traffic started, $alive of ${#TRAFFIC_PIDS[@]} generators running"
	fi
}

unload() {
	bash -c "$(declare -f unload_ipvs); unload_ipvs $1" 2>&1
}

# unload_under_load NAME MODULE: unload with services and traffic; if the module stays
# (C while a scheduler is in use), ipvsadm -C and unload again.
unload_under_load() {
	local name=$1 module=$2
	timed "$name: unload $module with services and traffic" bash -c "$(declare -f unload_ipvs); unload_ipvs $module" || return 1
	if loaded; then
		note "$name: $module stays with services configured: $(echo "$TIMED_OUT" | tr '\n' ';')"
		timed "$name: ipvsadm -C under traffic" ip netns exec "$DP_DIR" ipvsadm -C
		timed "$name: unload $module after ipvsadm -C, traffic flowing" bash -c "$(declare -f unload_ipvs); unload_ipvs $module"
	fi
	if loaded; then
		tap_fail "$name: $module unloaded" "$TIMED_OUT"
		return 1
	fi
	tap_ok "$name: $module unloaded"
}

setup() { # LABEL: namespaces, servers, services of a part
	topo_up "$1" && ip -n "$DP_DIR" route add blackhole 198.18.0.0/15 && servers_up "$1" && services_up
}

teardown() { # LABEL
	traffic_down
	servers_down
	topo_down "$1"
}

part_a() { # insmod; flood; rmmod (the namespaces stay, the module comes and goes)
	local label=$1 module=$2 d=$3 name r from
	if ! topo_up "rl-$label" || ! ip -n "$DP_DIR" route add blackhole 198.18.0.0/15 || ! servers_up "rl-$label"; then
		tap_fail "lifecycle $label a: namespaces and servers"
		teardown "rl-$label"
		return
	fi
	for r in $(seq "$ROUNDS"); do
		name="lifecycle $label a$r"
		from=$(($(dmesg_lines) + 1))
		if ! load_ipvs "$module" || ! ipvs_is "$module" || ! services_up; then
			tap_fail "$name: load $module and configure services"
			loaded && unload "$module" >/dev/null
			continue
		fi
		# The generators outlive the part (traffic_down stops them): with 60 s, the debug
		# kernel's run of 2026-12-02 read the table only after they had ended (rs a1:
		# 60000 entries, InPkts still), and the unload was no longer under traffic.
		traffic_up "$d" 1800 flood tcpshort
		flowing "$name"
		unload_under_load "$name" "$module"
		loaded && unload "$module" >/dev/null
		traffic_down
		log_clean "$name" "$from"
	done
	teardown "rl-$label"
}

part_b() { # netns deletion mid-flood
	local label=$1 module=$2 d=$3 from
	local name="lifecycle $label b"
	from=$(($(dmesg_lines) + 1))
	if ! load_ipvs "$module" || ! ipvs_is "$module" || ! setup "rl-$label"; then
		tap_fail "$name: load, namespaces, servers and services"
	else
		traffic_up "$d" 1800 flood tcpshort udpflows # (see part a)
		flowing "$name"
		timed "$name: ip netns del of the director mid-flood" ip netns del "$DP_DIR"
		sleep 3
		timed "$name: ipvsadm answers in another namespace afterwards" ip netns exec "$DP_RT" ipvsadm -L -n
		[ "$TIMED_RC" = 0 ] || tap_fail "$name: ipvsadm -L -n in another namespace" "$TIMED_OUT"
	fi
	teardown "rl-$label"
	if loaded; then
		timed "$name: unload $module afterwards" bash -c "$(declare -f unload_ipvs); unload_ipvs $module"
	fi
	sleep 1
	log_clean "$name" "$from"
}

part_c() { # sysctl writes during traffic
	local label=$1 module=$2 d=$3 from writes bad m e ct res
	local name="lifecycle $label c"
	from=$(($(dmesg_lines) + 1))
	if ! load_ipvs "$module" || ! ipvs_is "$module" || ! setup "rl-$label"; then
		tap_fail "$name: load, namespaces, servers and services"
	else
		# Generators outlive the part (traffic_down stops them): in make check under load C's
		# part took 112 s, and generators sized SYSW + 60 s had ended before "traffic flowing
		# (after)"; on a machine loaded with helpers' builds it took 388 s and SYSW + 240 s ran
		# out too. The flood's rate is fixed (1000/s), so a longer bound adds nothing but time.
		traffic_up "$d" $((SYSW + 1800)) tcpshort udpflows flood
		flowing "$name"
		# One shell in the director's namespace writing /proc/sys directly (a process per
		# write is too slow under TCG): "WRITES FAILED LAST_VALUES".
		# shellcheck disable=SC2016 # a bash program, expanded by the inner bash
		res=$(ip netns exec "$DP_DIR" bash -c '
			f=$(mktemp -u); mkfifo "$f"; exec 9<>"$f"; rm -f "$f"
			end=$((SECONDS + $1)); w=0; bad=0
			while [ "$SECONDS" -lt "$end" ]; do
				m=$((RANDOM % 4)); e=$((RANDOM % 2)); ct=$((RANDOM % 2))
				echo $m >/proc/sys/net/ipv4/vs/conn_reuse_mode || bad=$((bad + 1))
				echo $e >/proc/sys/net/ipv4/vs/expire_nodest_conn || bad=$((bad + 1))
				echo $ct >/proc/sys/net/ipv4/vs/conntrack || bad=$((bad + 1))
				w=$((w + 1))
				read -r -t 0.05 -u 9
			done
			echo "$w $bad $m $e $ct"' _ "$SYSW")
		read -r writes bad m e ct <<<"$res"
		if [ -n "$writes" ] && [ "$writes" -gt 0 ] && [ "$bad" = 0 ] &&
			[ "$(ip netns exec "$DP_DIR" sysctl -n $vs.conn_reuse_mode $vs.expire_nodest_conn $vs.conntrack | xargs)" = "$m $e $ct" ]; then
			tap_ok "$name: $writes x3 sysctl writes during traffic in ${SYSW}s, all accepted, last values read back"
		else
			tap_fail "$name: sysctl writes during traffic" "writes, failed, last values: $res; read back: $(ip netns exec "$DP_DIR" sysctl -n $vs.conn_reuse_mode $vs.expire_nodest_conn $vs.conntrack | xargs)"
		fi
		flowing "$name (after)"
		traffic_down
		timed "$name: ipvsadm -C" ip netns exec "$DP_DIR" ipvsadm -C
	fi
	teardown "rl-$label"
	loaded && timed "$name: unload $module" bash -c "$(declare -f unload_ipvs); unload_ipvs $module"
	sleep 1
	log_clean "$name" "$from"
}

part_d() { # real-server churn under persistent flows with expire_nodest_conn=1
	local label=$1 module=$2 d=$3 from ops rc res w0 w1
	local name="lifecycle $label d"
	from=$(($(dmesg_lines) + 1))
	if ! load_ipvs "$module" || ! ipvs_is "$module" || ! setup "rl-$label"; then
		tap_fail "$name: load, namespaces, servers and services"
	else
		ip netns exec "$DP_DIR" sysctl -qw $vs.expire_nodest_conn=1
		traffic_up "$d" $((CHURN + 1800)) udpflows tcpflows # stopped by traffic_down (see part c)
		flowing "$name"
		# shellcheck disable=SC2016 # an awk program
		w0=$(ip netns exec "$DP_DIR" awk '$1 == "expired_nodest_work" { print $2 }' /proc/net/ip_vs_reuse 2>/dev/null)
		# One ipvsadm -R in the director's namespace, fed a delete or a re-add every 100 ms
		# (a process per change is too slow under TCG): real server 1 + (k / 2) % 3 leaves
		# on even steps k and comes back on odd ones. Prints "STEPS IPVSADM_STATUS".
		# shellcheck disable=SC2016 # a bash program, expanded by the inner bash
		res=$(ip netns exec "$DP_DIR" bash -c '
			f=$(mktemp -u); mkfifo "$f"; exec 9<>"$f"; rm -f "$f"
			kf=$(mktemp); end=$((SECONDS + $1)); k=0
			{
				while [ "$SECONDS" -lt "$end" ]; do
					i=$((1 + (k / 2) % 3))
					if [ $((k % 2)) = 0 ]; then op=-d; m=; else op=-a; m=-m; fi
					echo "$op -u $2:$4 -r 10.0.1.1$i:$4 $m"
					echo "$op -t $3:$4 -r 10.0.1.1$i:$4 $m"
					k=$((k + 1))
					echo "$k" >"$kf"
					read -r -t 0.1 -u 9
				done
			} | ipvsadm -R
			echo "$(cat "$kf") ${PIPESTATUS[1]}"; rm -f "$kf"' _ "$CHURN" "$UVIP" "$TVIP" "$DP_PORT")
		read -r ops rc <<<"$res"
		if [ "$rc" = 0 ] && [ "${ops:-0}" -ge $((CHURN * 5)) ]; then
			tap_ok "$name: $ops real-server deletes/re-adds (x2 services) in ${CHURN}s under $FLOWS UDP flows and 100 TCP connections"
		else
			tap_fail "$name: real-server churn every 100 ms" "steps, ipvsadm -R status: $res (want at least $((CHURN * 5)) steps, status 0)"
		fi
		flowing "$name (after)"
		# shellcheck disable=SC2016 # an awk program
		w1=$(ip netns exec "$DP_DIR" awk '$1 == "expired_nodest_work" { print $2 }' /proc/net/ip_vs_reuse 2>/dev/null)
		[ -z "$w0" ] || note "$name: entries expired by the nodest work: $((w1 - w0))"
		traffic_down
		timed "$name: ipvsadm -C" ip netns exec "$DP_DIR" ipvsadm -C
	fi
	teardown "rl-$label"
	loaded && timed "$name: unload $module" bash -c "$(declare -f unload_ipvs); unload_ipvs $module"
	sleep 1
	log_clean "$name" "$from"
}

run_module() {
	local label=$1 module=$2 d=$WORK/rel-lifecycle-$1 p t
	mkdir -p "$d"
	for p in a b c d; do
		t=$SECONDS
		"part_$p" "$label" "$module" "$d"
		note "lifecycle $label $p: $((SECONDS - t))s"
	done
}

start=$SECONDS
if ! build_dpgen || ! build_flood; then
	tap_fail "lifecycle: build dpgen and udpflood"
	finish
	exit
fi
note "lifecycle: rounds=$ROUNDS flows=$FLOWS churn=${CHURN}s sysctl=${SYSW}s"
declare -A seen=()
for m in "$@"; do
	seen[$m]=$((${seen[$m]:-0} + 1))
	label=$m
	[ "${seen[$m]}" = 1 ] || label=$m-${seen[$m]}
	t=$SECONDS
	run_module "$label" "$m"
	note "lifecycle $label: $((SECONDS - t))s"
	publish "rel-lifecycle-$label"
done
note "lifecycle ($*): $((SECONDS - start))s"
finish
