#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/bench/run.sh [MOD...]    (MOD: c or rs; default: c rs)
# From the host: `make bench` (tools/bench.sh), or
#   VM_OUT=/tmp/bench vmslot tools/vm.sh --timeout 4000 -- tests/vm/bench/run.sh c rs
#
# The benchmark of issue 10 in one boot. Four phases; in each, for every round, each MOD in turn
# (and "direct", no load balancer, where the metric has such a limit) is loaded, measured and
# unloaded, so that C ip_vs and ipvs_rs alternate and drift of the host hits both alike (even
# rounds take the modules in reverse order, so that neither always goes first):
#   svc   new TCP connections/s through a NAT VIP (benchgen conn: $BENCH_CONN_THREADS threads,
#         short connections, successes and failures counted) with 1 and then more services
#         ($BENCH_SVCS), net.ipv4.vs.conntrack 0 and 1; the control plane on the way: adding
#         the N-th service (median of 5 add/delete), `ipvsadm -R` of the largest N from empty,
#         `ipvsadm -Ln` and `-Ln --stats` of it, `ipvsadm -C` of it (and of the one below it).
#   flow  established flows: UDP 18-byte datagrams/s of one flow (counted at the receiver) and
#         TCP bulk MB/s of one connection, through NAT and DR, and direct.
#   tab   connection table: spoofed one-datagram UDP flows (udpflood, sources 198.18.0.0/15,
#         which the director blackholes) to $BENCH_ENTRIES entries (or what $BENCH_TAB_SECS
#         allow), bytes per entry (Slab of /proc/meminfo, before and after), entries created/s,
#         UDP pps of one real flow at 1k entries and at the full table, entries expired/s.
#   reuse the port-reuse scenario (tests/vm/reuse/run.sh) on $BENCH_REUSE_CELLS: connect p50
#         and p99 per cell.
# Every step that may hang has a timeout ($BENCH_STEP_TIMEOUT): a module that is too slow gets
# its metric recorded as missing with the reason, never a number.
#
# Environment (defaults; BENCH_SMOKE=1 changes them to a seconds-long run):
#   BENCH_ROUNDS 3 (smoke 1)          BENCH_SECS seconds per rate measurement, 5 (smoke 1)
#   BENCH_SVCS "1 1000 10000 50000" (smoke "1 100")   BENCH_ENTRIES 1000000 (smoke 10000)
#   BENCH_TAB_SECS 30 (smoke 8): the flood stops then; entries expire BENCH_TAB_SECS + 30 s
#                  (smoke + 15 s)
#                  after creation
#   BENCH_STEP_TIMEOUT 180 (smoke 60) BENCH_CONN_THREADS 4
#   BENCH_PHASES "svc flow tab reuse" BENCH_REUSE_CELLS "m1-e0-ct1-fin m1-e0-ct1-rst"
#   BENCH_PERF=1: a guest-wide cpu-clock profile (perf record -a) during every UDP pps
#                 measurement, the 1-vCPU connection rate, the restore and the flush of the
#                 largest table; its top
#                 symbols go to perf-METRIC-MOD-rROUND.txt beside the samples (where the time
#                 goes, C against ipvs_rs)
# Results in $VM_OUT/bench (smoke: $VM_OUT/bench-smoke): samples.tsv (metric, module, round,
# value or NA, note), plan.txt (the metrics asked for), logs; smoke: $VM_OUT/bench-smoke.tap,
# one line per metric (ok iff every module produced it in every round).
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/dp/common.sh
. "$here/../dp/common.sh"
[ -s "$TAP" ] || rm -f "$TAP"

[ $# -gt 0 ] || set -- c rs
check_modules "$@"
MODS=("$@")

SMOKE=${BENCH_SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
	ROUNDS=${BENCH_ROUNDS:-1}; SECS=${BENCH_SECS:-1}; SVCS=${BENCH_SVCS:-1 100}
	ENTRIES=${BENCH_ENTRIES:-10000}; TAB_SECS=${BENCH_TAB_SECS:-8}; TAB_MARGIN=15
	STEP_TIMEOUT=${BENCH_STEP_TIMEOUT:-60}
	REUSE_CELLS_B=${BENCH_REUSE_CELLS:-m1-e0-ct1-fin}; REUSE_PHASES_B=${REUSE_PHASES:-10,10,5}
	RES=$OUT/bench-smoke
	TAP=$OUT/bench-smoke.tap
else
	ROUNDS=${BENCH_ROUNDS:-3}; SECS=${BENCH_SECS:-5}; SVCS=${BENCH_SVCS:-1 1000 10000 50000}
	ENTRIES=${BENCH_ENTRIES:-1000000}; TAB_SECS=${BENCH_TAB_SECS:-30}; TAB_MARGIN=30
	STEP_TIMEOUT=${BENCH_STEP_TIMEOUT:-180}
	REUSE_CELLS_B=${BENCH_REUSE_CELLS:-m1-e0-ct1-fin m1-e0-ct1-rst}; REUSE_PHASES_B=${REUSE_PHASES:-30,30,15}
	RES=$OUT/bench
	TAP=
fi
THREADS=${BENCH_CONN_THREADS:-4}
PHASES=${BENCH_PHASES:-svc flow tab reuse}
read -r -a SVC_LEVELS <<<"$SVCS"
SVC_MAX=${SVC_LEVELS[${#SVC_LEVELS[@]} - 1]}
rm -rf "$RES"
mkdir -p "$RES"
SAMPLES=$RES/samples.tsv
: >"$SAMPLES"
SRV_PIDS=()
GEN=$WORK/benchgen
FLOOD=$WORK/udpflood
PORT=8080
VIP_CONN=10.0.100.1   # TCP NAT, rr over rs1..3 (phase svc)
VIP_NAT=10.0.100.2    # TCP+UDP NAT to rs1 (phase flow)
VIP_DR=10.0.100.3     # TCP+UDP DR to rs1 (phase flow)
VIP_TAB=10.0.100.4    # UDP NAT rr over rs1..3 (phase tab)

log() { printf '# bench %s: %s\n' "$(date +%T)" "$*"; }
ns_ms() { date +%s%N; }
# sample METRIC MODULE ROUND VALUE [NOTE]; missing METRIC MODULE ROUND REASON
sample() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5:-}" >>"$SAMPLES"; log "$1 $2 r$3 = $4 ${5:-}"; }
missing() { printf '%s\t%s\t%s\tNA\t%s\n' "$1" "$2" "$3" "$4" >>"$SAMPLES"; log "$1 $2 r$3 MISSING: $4"; }

# The plan: every metric this run asks for, with the modules that must produce it.
plan() {
	local n ct c
	{
		if [[ " $PHASES " == *" svc "* ]]; then
			for n in "${SVC_LEVELS[@]}"; do
				for ct in 0 1; do echo "connrate_ct${ct}_svc$n mods"; echo "connfail_ct${ct}_svc$n mods"; done
				[ "$n" = 1 ] || echo "ctl_add_nth_svc$n mods"
			done
			echo "connrate_direct direct"
			[ "${SVC_LEVELS[0]}" != 1 ] || { echo "connrate_1cpu_ct0_svc1 mods"; echo "connrate_1cpu_direct direct"; }
			echo "ctl_ipvsadm_v mods"
			# (The largest table's steps need more than the one service.)
			if [ "$SVC_MAX" != 1 ]; then
				echo "ctl_restore_svc$SVC_MAX mods"
				echo "ctl_dump_svc$SVC_MAX mods"
				echo "ctl_dump_stats_svc$SVC_MAX mods"
				echo "ctl_flush_svc$SVC_MAX mods"
			fi
		fi
		if [[ " $PHASES " == *" flow "* ]]; then
			for n in udp_pps tcp_bulk; do echo "${n}_nat mods"; echo "${n}_dr mods"; echo "${n}_direct direct"; done
		fi
		if [[ " $PHASES " == *" tab "* ]]; then
			for n in entries bytes_per_entry create_rate expire_rate udp_pps_1k udp_pps_full; do echo "tab_$n mods"; done
		fi
		if [[ " $PHASES " == *" reuse "* ]]; then
			for c in $REUSE_CELLS_B; do echo "reuse_p50_$c mods"; echo "reuse_p99_$c mods"; done
		fi
	} >"$RES/plan.txt"
}

build() {
	local cc
	for cc in cc gcc clang clang-19; do
		command -v "$cc" >/dev/null 2>&1 || continue
		"$cc" -O2 -Wall -o "$FLOOD" "$here/../rel/udpflood.c" &
		"$cc" -O2 -Wall -pthread -o "$GEN" "$here/benchgen.c" && wait $! && return 0
	done
	return 1
}

# The topology and the servers stay up for the whole run (creating namespaces costs ~10 s under
# TCG); each measurement block loads its module (nothing for "direct"), configures the director,
# measures, flushes and unloads. topo_start / topo_stop once.
topo_start() {
	local i
	topo_up bench || { log "topology failed"; return 1; }
	ip -n "$DP_DIR" route add blackhole 198.18.0.0/15
	SRV_PIDS=()
	for i in 1 2 3; do
		rm -f "$WORK/srv-$i.out"
		ip netns exec "${DP_RS[i - 1]}" "$GEN" server -p "$PORT" -j 8 >"$WORK/srv-$i.out" 2>&1 &
		SRV_PIDS+=($!)
	done
	for i in 1 2 3; do
		wait_for_line "$WORK/srv-$i.out" listening || { log "server $i did not start: $(cat "$WORK/srv-$i.out")"; return 1; }
	done
}
topo_stop() {
	local pid
	for pid in "${SRV_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${SRV_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	SRV_PIDS=()
	topo_down bench
}
# up LABEL MOD / down LABEL MOD around one block (MOD c, rs or direct).
up() {
	local mod=$2 pid
	for pid in "${SRV_PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null || { log "a server died: $(cat "$WORK"/srv-*.out)"; return 1; }
	done
	rs_routes NAT
	[ "$mod" = direct ] && return 0
	if ! load_ipvs "$mod" || ! ipvs_is "$mod"; then log "cannot load $mod"; return 1; fi
}
down() {
	local mod=$2 t0
	rs_routes NAT
	[ "$mod" = direct ] && return 0
	t0=$(ns_ms)
	timeout -k 5 "$STEP_TIMEOUT" nsenter --net="/run/netns/$DP_DIR" ipvsadm -C >/dev/null 2>&1 || log "flush after the block failed or timed out"
	unload_ipvs "$mod" || log "unload $mod failed"
	log "flushed and unloaded $mod in $((($(ns_ms) - t0) / 1000000)) ms"
}
wait_for_line() {
	local n=0
	until grep -q "$2" "$1" 2>/dev/null; do
		[ $n -lt 100 ] || return 1
		sleep 0.1
		n=$((n + 1))
	done
}

# In a namespace's network namespace only: `ip netns exec` also makes a mount namespace and
# mounts /sys, which under TCG costs about a second, more than some timed steps.
dir() { nsenter --net="/run/netns/$DP_DIR" "$@"; }
dirnet() { dir "$@"; }
# timed_step CMD...: runs CMD (output to $WORK/step.out) under the step timeout and sets
# STEP_MS (wall time) and STEP_RC (124: timed out).
timed_step() {
	local t0
	t0=$(ns_ms)
	timeout -k 5 "$STEP_TIMEOUT" "$@" >"$WORK/step.out" 2>&1
	STEP_RC=$?
	STEP_MS=$((($(ns_ms) - t0) / 1000000))
}

# perf_start / perf_stop NAME: with BENCH_PERF=1, a guest-wide cpu-clock profile between the
# two; its symbols go to $RES/perf-NAME.txt (the host's tests/vm/bench/perf-syms.py names
# ipvs_rs's, sums them by function and keeps the top of the list).
PERF_PID=
# insns_snap NAME: with BENCH_INSNS=1, the QEMU plugin's block counts now, as
# $VM_OUT/insns/NAME.tb (tools/qemu-tbcount.c; at most 600 s of guest time, which under
# -icount passes quickly while the guest idles: a missing snapshot is logged).
insns_snap() {
	[ "${BENCH_INSNS:-0}" = 1 ] || return 0
	local i
	# Renamed into place, so the plugin never reads it half written.
	echo "$1" >"$VM_OUT/tb-trigger.new"
	mv -f "$VM_OUT/tb-trigger.new" "$VM_OUT/tb-trigger"
	for i in $(seq 6000); do
		[ -e "$VM_OUT/tb-trigger" ] || return 0
		sleep 0.1
	done
	log "insns: no snapshot $1 (is the plugin loaded?)"
	rm -f "$VM_OUT/tb-trigger"
}
perf_start() {
	PERF_PID=
	insns_snap start
	[ "${BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null || return 0
	perf record -q -a -e cpu-clock -F 999 -o "$WORK/perf.data" >/dev/null 2>&1 &
	PERF_PID=$!
	sleep 0.5
}
perf_stop() {
	if [ "${BENCH_INSNS:-0}" = 1 ]; then
		insns_snap "$1"
		mv "$VM_OUT/insns/start.tb" "$VM_OUT/insns/$1.start.tb" 2>/dev/null
		# The symbols (and the modules' addresses) of this measurement.
		cat /proc/kallsyms >"$VM_OUT/insns/$1.kallsyms"
	fi
	[ -n "$PERF_PID" ] || return 0
	local i
	kill -INT "$PERF_PID" 2>/dev/null
	# perf record may take a while to write out under TCG, or hang: at most 20 s.
	for i in $(seq 100); do
		kill -0 "$PERF_PID" 2>/dev/null || break
		sleep 0.2
	done
	kill -KILL "$PERF_PID" 2>/dev/null
	wait "$PERF_PID" 2>/dev/null
	{
		echo "# $1: perf record -a -e cpu-clock; top symbols"
		timeout -k 5 120 perf report -i "$WORK/perf.data" --stdio --no-children --sort sym 2>/dev/null |
			grep -v '^#' | grep -v "^$" | head -n 5000
	} >"$RES/perf-$1.txt"
	PERF_PID=
}
step_reason() {
	if [ "$STEP_RC" = 124 ] || [ "$STEP_RC" = 137 ]; then
		echo "timed out after ${STEP_TIMEOUT}s"
	else
		echo "exit $STEP_RC: $(head -c 200 "$WORK/step.out" | tr '\n\t' '  ')"
	fi
}

# Service I (1-based) of the filler services: 172.16.0.0/12 + I, port 80, one NAT destination.
fillers() {
	awk -v a="$1" -v b="$2" 'BEGIN { for (i = a; i <= b; i++) {
		s = sprintf("172.%d.%d.%d:80", 16 + int(i / 65536), int(i / 256) % 256, i % 256)
		printf "-A -t %s -s rr\n-a -t %s -r 10.0.1.11:8080 -m\n", s, s } }'
}
vip_conn_rules() {
	printf -- '-A -t %s:%s -s rr\n' "$VIP_CONN" "$PORT"
	for i in 1 2 3; do printf -- '-a -t %s:%s -r %s:%s -m\n' "$VIP_CONN" "$PORT" "$(rip 4 $i)" "$PORT"; done
}

# connrate METRIC_SUFFIX MOD ROUND ADDR: one benchgen conn run for $SECS s per conntrack value.
connrates() {
	local n=$1 mod=$2 r=$3 ct out ok fail rate
	for ct in 0 1; do
		dir sysctl -qw net.ipv4.vs.conntrack=$ct
		out=$(timeout -k 5 $((SECS + 30)) nsenter --net="/run/netns/$DP_CL" "$GEN" conn -d "$VIP_CONN" -p "$PORT" \
			-T "$SECS" -j "$THREADS" -s 10.1.0.1 -k 64 2>&1)
		if [[ $out =~ ok=([0-9]+)\ fail=([0-9]+)\ secs=[0-9.]+\ rate=([0-9.]+) ]]; then
			ok=${BASH_REMATCH[1]} fail=${BASH_REMATCH[2]} rate=${BASH_REMATCH[3]}
			if [ "$ok" -gt 0 ]; then
				sample "connrate_ct${ct}_svc$n" "$mod" "$r" "$rate" "${out#conn }"
			else
				missing "connrate_ct${ct}_svc$n" "$mod" "$r" "no connection succeeded: ${out#conn }"
			fi
			sample "connfail_ct${ct}_svc$n" "$mod" "$r" "$fail"
		else
			missing "connrate_ct${ct}_svc$n" "$mod" "$r" "generator: $(echo "$out" | head -c 200)"
			missing "connfail_ct${ct}_svc$n" "$mod" "$r" "generator failed"
		fi
	done
	dir sysctl -qw net.ipv4.vs.conntrack=0
	[ "$n" = 1 ] && connrate_1cpu connrate_1cpu_ct0_svc1 "$mod" "$r" "$VIP_CONN"
}

# connrate_1cpu METRIC MOD ROUND ADDR: the connection rate (conntrack 0) with the guest's
# second vCPU offline, so that the scaling from 1 to 2 vCPUs (connrate_ct0_svc1 over this)
# can be set against C's (issue 10: rs must scale at least as C does). The vCPU comes back
# online whatever happens.
connrate_1cpu() {
	local m=$1 mod=$2 r=$3 a=$4 out cpu=/sys/devices/system/cpu/cpu1/online
	if [ ! -w "$cpu" ] || ! echo 0 >"$cpu" 2>/dev/null; then
		missing "$m" "$mod" "$r" "cannot take cpu1 offline"
		return 0
	fi
	perf_start
	out=$(timeout -k 5 $((SECS + 30)) nsenter --net="/run/netns/$DP_CL" "$GEN" conn -d "$a" -p "$PORT" \
		-T "$SECS" -j "$THREADS" -s 10.1.0.1 -k 64 2>&1)
	perf_stop "$m-$mod-r$r"
	echo 1 >"$cpu"
	if [[ $out =~ ok=([0-9]+)\ fail=([0-9]+)\ secs=[0-9.]+\ rate=([0-9.]+) ]] && [ "${BASH_REMATCH[1]}" -gt 0 ]; then
		sample "$m" "$mod" "$r" "${BASH_REMATCH[3]}" "1 vCPU: ${out#conn }"
	else
		missing "$m" "$mod" "$r" "1 vCPU, generator: $(echo "$out" | head -c 200)"
	fi
}

# add_nth N MOD ROUND: with N-1 services, the time of adding the N-th over netlink (nladd.py:
# from the request to its ack, no process start; median of 5, each deleted again).
add_nth() {
	local n=$1 mod=$2 r=$3 out
	out=$(timeout -k 5 "$STEP_TIMEOUT" nsenter --net="/run/netns/$DP_DIR" "$PY" "$here/nladd.py" 172.31.255.200:80 5 2>&1)
	if [[ $out =~ add_us=([0-9,]+) ]]; then
		sample "ctl_add_nth_svc$n" "$mod" "$r" "$(tr ',' '\n' <<<"${BASH_REMATCH[1]}" | sort -n | sed -n 3p | awk '{ printf "%.3f", $1 / 1000 }')" "ms, of 5: ${BASH_REMATCH[1]} us"
	else
		missing "ctl_add_nth_svc$n" "$mod" "$r" "nladd.py: $(echo "$out" | tail -n 2 | head -c 200)"
	fi
}

# service_count: services in the director (lines of /proc/net/ip_vs that are services).
service_count() { dir awk 'NR > 3 && /^(TCP|UDP|FWM|SCTP)/ { n++ } END { print n + 0 }' /proc/net/ip_vs; }

phase_svc() {
	local label=$1 mod=$2 r=$3 n have=1 i ok=1
	if [ "$mod" = direct ]; then
		up "$label" direct || return 1
		local out
		out=$(timeout -k 5 $((SECS + 30)) nsenter --net="/run/netns/$DP_CL" "$GEN" conn -d "$(rip 4 1)" -p "$PORT" \
			-T "$SECS" -j "$THREADS" -s 10.1.0.1 -k 64 2>&1)
		if [[ $out =~ ok=([0-9]+)\ .*rate=([0-9.]+) ]] && [ "${BASH_REMATCH[1]}" -gt 0 ]; then
			sample connrate_direct direct "$r" "${BASH_REMATCH[2]}" "${out#conn }"
		else
			missing connrate_direct direct "$r" "generator: $(echo "$out" | head -c 200)"
		fi
		connrate_1cpu connrate_1cpu_direct direct "$r" "$(rip 4 1)"
		return 0
	fi
	up "$label" "$mod" || return 1
	vip_conn_rules | dir ipvsadm -R || { log "VIP service failed"; return 1; }
	# What starting ipvsadm costs (-v: one GET_INFO request), the floor under every timed
	# ipvsadm step below.
	timed_step nsenter --net="/run/netns/$DP_DIR" ipvsadm -v
	if [ "$STEP_RC" = 0 ]; then
		sample ctl_ipvsadm_v "$mod" "$r" "$(awk -v m="$STEP_MS" 'BEGIN { printf "%.3f", m / 1000 }')" "s, the process start under every ipvsadm step"
	else
		missing ctl_ipvsadm_v "$mod" "$r" "$(step_reason)"
	fi
	for n in "${SVC_LEVELS[@]}"; do
		if [ "$n" = "$SVC_MAX" ] && [ "$n" != 1 ]; then
			# The largest table is restored from empty, timed (the flush before it is timed
			# too when there were more than the VIP).
			timed_step nsenter --net="/run/netns/$DP_DIR" ipvsadm -C
			if [ "$have" -gt 1 ]; then
				if [ "$STEP_RC" = 0 ]; then
					sample "ctl_flush_svc$have" "$mod" "$r" "$(awk -v m="$STEP_MS" 'BEGIN { printf "%.3f", m / 1000 }')" s
				else
					missing "ctl_flush_svc$have" "$mod" "$r" "$(step_reason)"
					ok=0
				fi
			fi
			{ vip_conn_rules; fillers 1 $((n - 1)); } >"$WORK/restore.txt"
			[ "$(service_count)" = 0 ] || ok=0
			perf_start
			timed_step sh -c "nsenter --net='/run/netns/$DP_DIR' ipvsadm -R <'$WORK/restore.txt'"
			perf_stop "ctl_restore_svc$n-$mod-r$r"
			if [ "$ok" = 1 ] && [ "$STEP_RC" = 0 ]; then
				sample "ctl_restore_svc$n" "$mod" "$r" "$(awk -v m="$STEP_MS" 'BEGIN { printf "%.3f", m / 1000 }')" s
			else
				missing "ctl_restore_svc$n" "$mod" "$r" "$( [ "$ok" = 1 ] && step_reason || echo 'the flush before it failed')"
			fi
		elif [ "$n" -gt "$have" ]; then
			fillers "$have" $((n - 1)) >"$WORK/restore.txt"
			timed_step sh -c "nsenter --net='/run/netns/$DP_DIR' ipvsadm -R <'$WORK/restore.txt'"
			log "$mod: services $have..$n restored in $STEP_MS ms (rc $STEP_RC)"
		fi
		have=$(service_count)
		if [ "$have" != "$n" ]; then
			local why
			why="the director has $have services, not $n ($(if [ "$STEP_RC" = 0 ]; then echo 'ipvsadm -R'; else step_reason; fi))"
			for i in 0 1; do missing "connrate_ct${i}_svc$n" "$mod" "$r" "$why"; missing "connfail_ct${i}_svc$n" "$mod" "$r" "$why"; done
			[ "$n" = 1 ] || missing "ctl_add_nth_svc$n" "$mod" "$r" "$why"
			if [ "$n" = "$SVC_MAX" ]; then
				for i in dump dump_stats flush; do missing "ctl_${i}_svc$n" "$mod" "$r" "$why"; done
			fi
			# A module that cannot hold N services will not hold more.
			for i in "${SVC_LEVELS[@]}"; do
				[ "$i" -gt "$n" ] || continue
				for ct in 0 1; do missing "connrate_ct${ct}_svc$i" "$mod" "$r" "skipped: $why"; missing "connfail_ct${ct}_svc$i" "$mod" "$r" "skipped: $why"; done
				missing "ctl_add_nth_svc$i" "$mod" "$r" "skipped: $why"
			done
			if [ "$n" != "$SVC_MAX" ]; then
				for i in restore dump dump_stats flush; do missing "ctl_${i}_svc$SVC_MAX" "$mod" "$r" "skipped: $why"; done
			fi
			return 0
		fi
		# The N-th service: N-1 present, add one.
		if [ "$n" != 1 ]; then
			dir ipvsadm -D -t "$(fillers $((n - 1)) $((n - 1)) | awk 'NR == 1 { print $3 }')"
			add_nth "$n" "$mod" "$r"
			fillers $((n - 1)) $((n - 1)) | dir ipvsadm -R
		fi
		connrates "$n" "$mod" "$r"
	done
	# The largest table: dumps and the flush.
	if [ "$SVC_MAX" != 1 ]; then
		local what
		for what in dump:-Ln dump_stats:"-Ln --stats"; do
			# shellcheck disable=SC2086  # the options are words
			timed_step sh -c "nsenter --net='/run/netns/$DP_DIR' ipvsadm ${what#*:} | wc -l"
			if [ "$STEP_RC" = 0 ] && [ "$(tail -n 1 "$WORK/step.out")" -gt "$SVC_MAX" ]; then
				sample "ctl_${what%%:*}_svc$SVC_MAX" "$mod" "$r" "$(awk -v m="$STEP_MS" 'BEGIN { printf "%.3f", m / 1000 }')" "s, $(tail -n 1 "$WORK/step.out") lines"
			else
				missing "ctl_${what%%:*}_svc$SVC_MAX" "$mod" "$r" "$(step_reason)"
			fi
		done
		perf_start
		timed_step nsenter --net="/run/netns/$DP_DIR" ipvsadm -C
		perf_stop "ctl_flush_svc$SVC_MAX-$mod-r$r"
		if [ "$STEP_RC" = 0 ] && [ "$(service_count)" = 0 ]; then
			sample "ctl_flush_svc$SVC_MAX" "$mod" "$r" "$(awk -v m="$STEP_MS" 'BEGIN { printf "%.3f", m / 1000 }')" s
		else
			missing "ctl_flush_svc$SVC_MAX" "$mod" "$r" "$(step_reason), $(service_count) services left"
		fi
	fi
}

# udp_in: datagrams received by the real servers (Udp InDatagrams of rs1..3).
udp_in() {
	local ns n=0 v
	for ns in "${DP_RS[@]}"; do
		# shellcheck disable=SC2016 # an awk program (run through nsenter)
		v=$(nsenter --net="/run/netns/$ns" awk '/^Udp:/ && $2 ~ /^[0-9]+$/ { print $2; exit }' /proc/net/snmp)
		n=$((n + v))
	done
	echo "$n"
}
# udp_pps METRIC MOD ROUND ADDR: one flow of 18-byte datagrams for $SECS s, received per second.
udp_pps() {
	local m=$1 mod=$2 r=$3 a=$4 b0 b1 out secs
	b0=$(udp_in)
	perf_start
	out=$(timeout -k 5 $((SECS + 30)) nsenter --net="/run/netns/$DP_CL" "$GEN" udp -d "$a" -p "$PORT" -T "$SECS" -j 1 2>&1)
	perf_stop "$m-$mod-r$r"
	sleep 0.5
	b1=$(udp_in)
	if [[ $out =~ sent=([0-9]+)\ secs=([0-9.]+) ]] && [ $((b1 - b0)) -gt 0 ]; then
		secs=${BASH_REMATCH[2]}
		sample "$m" "$mod" "$r" "$(awk -v n=$((b1 - b0)) -v s="$secs" 'BEGIN { printf "%.1f", n / s }')" "received $((b1 - b0)) of ${BASH_REMATCH[1]} sent in ${secs}s"
	else
		missing "$m" "$mod" "$r" "received $((b1 - b0)); generator: $(echo "$out" | head -c 200)"
	fi
}
tcp_bulk() {
	local m=$1 mod=$2 r=$3 a=$4 out
	out=$(timeout -k 5 $((SECS + 60)) nsenter --net="/run/netns/$DP_CL" "$GEN" bulk -d "$a" -p "$PORT" -T "$SECS" 2>&1)
	if [[ $out =~ bytes=([0-9]+)\ secs=([0-9.]+)\ mbytes_per_s=([0-9.]+) ]] && [ "${BASH_REMATCH[1]}" -gt 0 ]; then
		sample "$m" "$mod" "$r" "${BASH_REMATCH[3]}" "${out#bulk }"
	else
		missing "$m" "$mod" "$r" "generator: $(echo "$out" | head -c 200)"
	fi
}

phase_flow() {
	local label=$1 mod=$2 r=$3 p
	up "$label" "$mod" || return 1
	if [ "$mod" = direct ]; then
		udp_pps udp_pps_direct direct "$r" "$(rip 4 1)"
		tcp_bulk tcp_bulk_direct direct "$r" "$(rip 4 1)"
		return 0
	fi
	for p in t u; do
		dir ipvsadm -A -$p "$VIP_NAT:$PORT" -s rr
		dir ipvsadm -a -$p "$VIP_NAT:$PORT" -r "$(rip 4 1):$PORT" -m
		dir ipvsadm -A -$p "$VIP_DR:$PORT" -s rr
		dir ipvsadm -a -$p "$VIP_DR:$PORT" -r "$(rip 4 1):$PORT" -g
	done
	udp_pps udp_pps_nat "$mod" "$r" "$VIP_NAT"
	tcp_bulk tcp_bulk_nat "$mod" "$r" "$VIP_NAT"
	rs_routes DR
	udp_pps udp_pps_dr "$mod" "$r" "$VIP_DR"
	tcp_bulk tcp_bulk_dr "$mod" "$r" "$VIP_DR"
	rs_routes NAT
}

# entries: connection entries of the director (InActConn + ActConn of every destination).
entries() {
	dirnet ipvsadm -L -n 2>/dev/null | awk '/->/ && $NF ~ /^[0-9]+$/ { n += $(NF) + $(NF - 1) } END { print n + 0 }'
}
slab_kb() { awk '/^Slab:/ { print $2 }' /proc/meminfo; }

phase_tab() {
	local label=$1 mod=$2 r=$3 i out n0 n1 s0 s1 t0 t1 tfirst tlast reason=
	up "$label" "$mod" || return 1
	# Entries live $TAB_SECS + $TAB_MARGIN s: the flood stops after $TAB_SECS, the full table is measured,
	# then they expire (at about the pace they were made).
	dir ipvsadm -R <<-EOF
		-A -u $VIP_TAB:$PORT -s rr
		-a -u $VIP_TAB:$PORT -r $(rip 4 1):$PORT -m
		-a -u $VIP_TAB:$PORT -r $(rip 4 2):$PORT -m
		-a -u $VIP_TAB:$PORT -r $(rip 4 3):$PORT -m
		--set 0 0 $((TAB_SECS + TAB_MARGIN))
	EOF
	t0=$(ns_ms)
	nsenter --net="/run/netns/$DP_CL" "$FLOOD" -d "$VIP_TAB" -p "$PORT" -n 1000 -b 198.18.0.1 -P 1000 >"$WORK/flood1.out" 2>&1
	for i in $(seq 20); do n0=$(entries); [ "$n0" -lt 1000 ] || break; sleep 0.5; done
	udp_pps tab_udp_pps_1k "$mod" "$r" "$VIP_TAB"
	n0=$(entries)
	sync; echo 2 >/proc/sys/vm/drop_caches 2>/dev/null
	s0=$(slab_kb)
	t0=$(ns_ms)
	timeout -k 5 $((TAB_SECS + TAB_MARGIN)) nsenter --net="/run/netns/$DP_CL" "$FLOOD" -d "$VIP_TAB" -p "$PORT" -n "$ENTRIES" \
		-b 198.19.0.1 -P 60000 -T "$TAB_SECS" >"$WORK/flood.out" 2>&1
	# Let the last datagrams through.
	n1=$(entries)
	for i in $(seq 10); do sleep 0.5; out=$(entries); [ "$out" -gt "$n1" ] || break; n1=$out; done
	t1=$(ns_ms)
	sync; echo 2 >/proc/sys/vm/drop_caches 2>/dev/null
	s1=$(slab_kb)
	log "$mod: flood: $(cat "$WORK/flood.out"), entries $n0 -> $n1 in $(((t1 - t0) / 1000000)) ms, Slab $s0 -> $s1 kB"
	if [ "$n1" -gt "$n0" ]; then
		sample tab_entries "$mod" "$r" "$n1" "$(tr '\n' ' ' <"$WORK/flood.out")"
		sample tab_create_rate "$mod" "$r" "$(awk -v n=$((n1 - n0)) -v t=$((t1 - t0)) 'BEGIN { printf "%.1f", n / (t / 1e9) }')" "$((n1 - n0)) entries"
		sample tab_bytes_per_entry "$mod" "$r" "$(awk -v n=$((n1 - n0)) -v s=$((s1 - s0)) 'BEGIN { printf "%.1f", s * 1024 / n }')" "Slab delta $((s1 - s0)) kB over $((n1 - n0)) entries"
		udp_pps tab_udp_pps_full "$mod" "$r" "$VIP_TAB"
	else
		reason="the flood made no entries: $(head -c 200 "$WORK/flood.out")"
		for i in entries create_rate bytes_per_entry udp_pps_full expire_rate; do missing "tab_$i" "$mod" "$r" "$reason"; done
		return 0
	fi
	# Expiry of the flood's entries: from the first poll that sees fewer than the flood made
	# (the 1k made before it are gone by then) to the one that sees at most the two real flows.
	# The window starts at the poll before (timers fire in batches: the timer wheel's
	# granularity at these timeouts is seconds), so the rate is a lower bound.
	tfirst=; tlast=
	local limit=$(( $(date +%s) + TAB_SECS + TAB_MARGIN + TAB_SECS + STEP_TIMEOUT )) tpoll tprev
	tprev=$(ns_ms)
	while [ "$(date +%s)" -lt "$limit" ]; do
		tpoll=$(ns_ms)
		n=$(entries)
		if [ -z "$tfirst" ] && [ "$n" -lt $((n1 - n0)) ]; then tfirst=$tprev; fi
		if [ "$n" -le 3 ]; then tlast=$(ns_ms); break; fi
		tprev=$tpoll
		sleep 0.2
	done
	if [ -n "$tfirst" ] && [ -n "$tlast" ] && [ "$tlast" -gt "$tfirst" ]; then
		sample tab_expire_rate "$mod" "$r" "$(awk -v n=$((n1 - n0)) -v t=$((tlast - tfirst)) 'BEGIN { printf "%.1f", n / (t / 1e9) }')" "$((n1 - n0)) entries gone in $(((tlast - tfirst) / 1000000)) ms (made in $(((t1 - t0) / 1000000)) ms; window from the last poll that saw them all)"
	else
		missing tab_expire_rate "$mod" "$r" "entries did not expire in time ($(entries) left)"
	fi
}

phase_reuse() {
	local r=$1 d=$RES/reuse-r$1 mods
	mkdir -p "$d"
	round_mods "$r"
	VM_OUT=$d REUSE_CELLS="$REUSE_CELLS_B" REUSE_PHASES="$REUSE_PHASES_B" KO="$KO" \
		timeout -k 10 $((STEP_TIMEOUT * 4)) "$TOP/tests/vm/reuse/run.sh" "${mods[@]}" >"$d/run.log" 2>&1
	log "reuse round $r: exit $? ($(grep -c '^ok' "$d/reuse.tap" 2>/dev/null) ok, $(grep -c '^not ok' "$d/reuse.tap" 2>/dev/null) not ok)"
	"$PY" - "$d/reuse/matrix.json" "$r" "$REUSE_CELLS_B" "${MODS[@]}" >>"$SAMPLES" <<-'EOF'
		import json, sys
		path, r, cells, mods = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4:]
		try:
		    runs = json.load(open(path))["runs"]
		except Exception as e:
		    runs, why = {}, "no matrix.json: %s" % e
		else:
		    why = "cell missing in matrix.json"
		for m in mods:
		    for c in cells:
		        s = runs.get(m, {}).get(c, {}).get("summary")
		        for q in ("p50", "p99"):
		            v = s and s.get("connect_%s_ms" % q)
		            if v is None:
		                print("reuse_%s_%s\t%s\t%s\tNA\t%s" % (q, c, m, r, why if not s else "no connect time"))
		            else:
		                print("reuse_%s_%s\t%s\t%s\t%.3f\tms; errors %s, stalls %s" % (q, c, m, r, v, s.get("errors"), s.get("stalls")))
	EOF
}

# run_phase PHASE ARGS...: phase_PHASE ARGS... (named calls, so that shellcheck sees them).
run_phase() {
	local phase=$1
	shift
	case $phase in
	svc) phase_svc "$@" ;;
	flow) phase_flow "$@" ;;
	tab) phase_tab "$@" ;;
	*) log "unknown phase $phase"; return 127 ;;
	esac
}

# round_mods ROUND: the modules in the order round ROUND measures them, in $mods: as given
# in odd rounds, reversed in even ones, so that whatever drifts within a round (the host, the
# guest's memory, caches) does not always favour the same module.
round_mods() {
	local i
	mods=()
	if [ $(($1 % 2)) = 1 ]; then
		mods=("${MODS[@]}")
	else
		for ((i = ${#MODS[@]} - 1; i >= 0; i--)); do mods+=("${MODS[$i]}"); done
	fi
}

plan
echo "$ROUNDS" >"$RES/rounds"
log "modules ${MODS[*]}, $ROUNDS round(s), phases $PHASES, ${SECS}s per rate, services $SVCS, entries $ENTRIES, step timeout ${STEP_TIMEOUT}s"
if ! build; then
	log "cannot build benchgen/udpflood"
	while read -r m who; do
		for mod in "${MODS[@]}" direct; do
			[ "$who" = direct ] && [ "$mod" != direct ] && continue
			[ "$who" = mods ] && [ "$mod" = direct ] && continue
			missing "$m" "$mod" 1 "benchgen.c or udpflood.c did not compile"
		done
	done <"$RES/plan.txt"
fi
if [ -x "$GEN" ] && ! topo_start; then
	log "the topology did not come up: nothing measured"
	topo_stop
elif [ -x "$GEN" ]; then
	for phase in $PHASES; do
		for r in $(seq "$ROUNDS"); do
			if [ "$phase" = reuse ]; then
				phase_reuse "$r"
				continue
			fi
			round_mods "$r"
			[ "$phase" = tab ] || mods+=(direct)
			for mod in "${mods[@]}"; do
				log "phase $phase round $r: $mod"
				t=$SECONDS
				if ! run_phase "$phase" "$phase-$mod" "$mod" "$r"; then
					log "phase $phase round $r: $mod: setup failed"
				fi
				down "$phase-$mod" "$mod"
				log "phase $phase round $r: $mod done in $((SECONDS - t))s"
			done
		done
	done
	topo_stop
fi

# Anything planned that no sample (value or NA) covers is missing: say so.
"$PY" "$here/report.py" --plan "$RES/plan.txt" --mods "${MODS[*]}" --rounds "$ROUNDS" \
	${TAP:+--tap "$TAP"} "$SAMPLES" >"$RES/table.txt" 2>&1
rc=$?
cat "$RES/table.txt"
exit $rc
