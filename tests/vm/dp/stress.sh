#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/dp/stress.sh [MOD...]     (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/dp tools/vm.sh --timeout 900 -- tests/vm/dp/stress.sh c rs
#
# Teardown under load, per MOD, twice in fresh namespaces (common.sh, NAT): $DP_STRESS_UDP
# (2000) UDP flows, each a request every 2 s, and $DP_STRESS_TCP (200) TCP connections, each a
# request every 0.5 s, through a UDP and a TCP service (rr, three real servers), then
#   a) the director's namespace is deleted while that traffic flows;
#   b) (new namespaces, same traffic) the module is unloaded while it flows, with the
#      services still configured (unload_ipvs: ipvs_rs, or the C schedulers then ip_vs;
#      C refuses to unload a scheduler a service uses: what happens is reported, and both
#      outcomes pass if rmmod returns), and if it is still loaded, after `ipvsadm -C`
#      (connections still in the table, traffic still flowing), when it must unload.
# Every step must return within $DP_STRESS_TIMEOUT (60) s (a hang fails, and vm.sh's timeout
# catches a hung kernel), the kernel log must stay clean (tools/dmesg-check.sh, plus no
# "unregister_netdevice: waiting" netdevice leak), and the traffic must have been flowing
# (entries in `ipvsadm -L -n -c`, growing InPkts) for the steps to mean anything.
# One TAP line per check: "stress MOD ...". Files: $VM_OUT/dp-stress-<run>/.
. "$(dirname "$0")/common.sh"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
N_UDP=${DP_STRESS_UDP:-2000}
N_TCP=${DP_STRESS_TCP:-200}
STEP_TIMEOUT=${DP_STRESS_TIMEOUT:-60}
UVIP=10.0.100.1
TVIP=10.0.100.2
ulimit -n 65536

# traffic_up LABEL: services and clients; sets TRAFFIC_PIDS.
TRAFFIC_PIDS=()
traffic_up() {
	local d=$1 i
	ip netns exec "$DP_DIR" ipvsadm -R <<-EOF
		-A -u $UVIP:$DP_PORT -s rr
		-A -t $TVIP:$DP_PORT -s rr
	EOF
	for i in 1 2 3; do
		ip netns exec "$DP_DIR" ipvsadm -R <<-EOF
			-a -u $UVIP:$DP_PORT -r $(rip 4 "$i"):$DP_PORT -m
			-a -t $TVIP:$DP_PORT -r $(rip 4 "$i"):$DP_PORT -m
		EOF
	done
	TRAFFIC_PIDS=()
	ip netns exec "$DP_CL" "$DPGEN" client -u -d "$UVIP" -s "$(src_base 4)" -k "$DP_NSRC" -n "$N_UDP" \
		-c "$N_UDP" -C 1 -r 1000000 -I 2000 -D 300000 -l 64 -w 3000 -e 1000000 -q >"$d/udp.client" 2>&1 &
	TRAFFIC_PIDS+=($!)
	ip netns exec "$DP_CL" "$DPGEN" client -t -d "$TVIP" -s "$(src_base 4)" -k "$DP_NSRC" -n "$N_TCP" \
		-c "$N_TCP" -C 2 -r 1000000 -I 500 -D 300000 -l 64 -w 3000 -e 1000000 -q >"$d/tcp.client" 2>&1 &
	TRAFFIC_PIDS+=($!)
}

traffic_down() {
	kill "${TRAFFIC_PIDS[@]}" 2>/dev/null
	wait "${TRAFFIC_PIDS[@]}" 2>/dev/null
	TRAFFIC_PIDS=()
}

# in_packets: the services' InPkts, summed (ipvsadm --stats lags by up to the estimator's 2 s).
in_packets() {
	ip netns exec "$DP_DIR" ipvsadm -L -n --stats --exact 2>/dev/null |
		awk '/^(TCP|UDP) / { n += $4 } END { print n + 0 }'
}

# traffic_flowing NAME DIR: a TAP line; ok once every flow has its entry and InPkts grow.
traffic_flowing() {
	local name=$1 d=$2 n=0 want=$((N_UDP + N_TCP)) a b i
	# Up to 40 s for every flow to start (TCG), but not when nothing gets through at all.
	for i in $(seq 40); do
		n=$(ip netns exec "$DP_DIR" ipvsadm -L -n -c 2>/dev/null | grep -cE '^(TCP|UDP) ')
		[ "$n" -lt "$want" ] || break
		[ "$n" != 0 ] || [ "$i" -lt 10 ] || break
		sleep 1
	done
	a=$(in_packets)
	sleep 5
	b=$(in_packets)
	ip netns exec "$DP_DIR" ipvsadm -L -n --stats --exact >"$d/stats-$name.txt" 2>&1
	if [ "$n" -ge "$want" ] && [ "$b" -gt "$a" ]; then
		tap_ok "$name: $N_UDP UDP flows and $N_TCP TCP connections live ($n entries, InPkts $a -> $b in 5 s)"
	else
		tap_fail "$name: $N_UDP UDP flows and $N_TCP TCP connections live" \
			"$n entries in ipvsadm -L -n -c (want $want), InPkts $a -> $b in 5 s"
	fi
}

# log_clean NAME SINCE_LINE: TAP line; the kernel log from line SINCE_LINE on is clean.
log_clean() {
	local name=$1 from=$2 f=$WORK/dmesg-part
	dmesg | tail -n +"$from" >"$f"
	if "$TOP/tools/dmesg-check.sh" "$f" >"$f.check" 2>&1 && ! grep -q 'unregister_netdevice: waiting' "$f"; then
		tap_ok "$name: kernel log clean"
	else
		tap_fail "$name: kernel log clean" "$(head -n 20 "$f.check")" "$(grep 'unregister_netdevice' "$f" | head -n 3)"
	fi
}


# timed NAME CMD...: run CMD with the step timeout; TAP ok if it returned (any status), and
# its status in $TIMED_RC, output in $TIMED_OUT.
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

# unload_with_report MODULE: unload_ipvs, saying which modules went.
unload_with_report() {
	local m
	unload_ipvs "$1"
	for m in ipvs_rs ip_vs_twos ip_vs_ovf ip_vs_fo ip_vs_lblcr ip_vs_lblc ip_vs_nq ip_vs_sed ip_vs_dh \
		ip_vs_mh ip_vs_sh ip_vs_wlc ip_vs_lc ip_vs_wrr ip_vs_rr ip_vs; do
		if grep -q "^$m " /proc/modules; then echo "still loaded: $m ($(awk -v m="$m" '$1 == m { print "used by " $3 " " $4 }' /proc/modules))"; fi
	done
}

run_module() {
	local label=$1 module=$2 d=$WORK/dp-stress-$1 start=$SECONDS from name
	mkdir -p "$d"
	from=$(($(dmesg_lines) + 1))
	name="stress $label"
	if ! load_ipvs "$module" || ! ipvs_is "$module"; then
		tap_fail "$name: load $module" "$(grep -E '^(ip_vs|ipvs_rs) ' /proc/modules)"
		unload_ipvs "$module" 2>/dev/null
		return
	fi

	# a) Delete the director's namespace under load.
	if topo_up "$label" && servers_up "$label"; then
		traffic_up "$d"
		traffic_flowing "$name a" "$d"
		timed "$name a: ip netns del of the director with live connections" ip netns del "$DP_DIR"
		# The namespace is torn down asynchronously: give it time to finish (or to hang).
		sleep 5
		timed "$name a: ipvsadm answers in another namespace afterwards" ip netns exec "$DP_RT" ipvsadm -L -n
		[ "$TIMED_RC" = 0 ] || tap_fail "$name a: ipvsadm -L -n in another namespace" "$TIMED_OUT"
		traffic_down
		servers_down
		topo_down "$label"
	else
		tap_fail "$name a: namespaces and servers"
	fi
	log_clean "$name a" "$from"

	# b) Unload the module under load.
	from=$(($(dmesg_lines) + 1))
	if topo_up "$label" && servers_up "$label"; then
		traffic_up "$d"
		traffic_flowing "$name b" "$d"
		if timed "$name b: unload $module with services configured and traffic flowing" bash -c "$(declare -f unload_ipvs unload_with_report); unload_with_report $module"; then
			if grep -qE '^(ip_vs|ipvs_rs) ' /proc/modules; then
				note "$name b: with services configured, $module stays: $(echo "$TIMED_OUT" | tr '\n' ';')"
				echo "refused: $TIMED_OUT" >"$d/unload-with-services"
				timed "$name b: ipvsadm -C with traffic flowing" ip netns exec "$DP_DIR" ipvsadm -C
				sleep 2
				timed "$name b: unload $module after ipvsadm -C, traffic flowing" bash -c "$(declare -f unload_ipvs unload_with_report); unload_with_report $module"
				if grep -qE '^(ip_vs|ipvs_rs) ' /proc/modules; then
					tap_fail "$name b: $module unloaded after ipvsadm -C" "$TIMED_OUT"
				else
					tap_ok "$name b: $module unloaded after ipvsadm -C"
				fi
			else
				note "$name b: with services configured and traffic flowing, $module unloaded"
				echo "unloaded" >"$d/unload-with-services"
				tap_ok "$name b: $module unloaded"
			fi
		fi
		sleep 3
		traffic_down
		servers_down
		topo_down "$label"
	else
		tap_fail "$name b: namespaces and servers"
	fi
	# Whatever happened above: leave nothing loaded for the next run.
	grep -qE '^(ip_vs|ipvs_rs) ' /proc/modules && unload_ipvs "$module" >/dev/null 2>&1
	sleep 2
	log_clean "$name b" "$from"
	note "$name: $((SECONDS - start))s"
}

start=$SECONDS
if ! build_dpgen; then
	tap_fail "stress: build dpgen"
	finish
	exit
fi
declare -A seen=()
labels=()
for m in "$@"; do
	seen[$m]=$((${seen[$m]:-0} + 1))
	label=$m
	[ "${seen[$m]}" = 1 ] || label=$m-${seen[$m]}
	labels+=("$label")
	run_module "$label" "$m"
	publish "dp-stress-$label"
done
for label in "${labels[@]}"; do
	note "stress $label: unload with services configured: $(cat "$WORK/dp-stress-$label/unload-with-services" 2>/dev/null || echo 'not reached')"
done
note "stress ($*): $((SECONDS - start))s"
finish
