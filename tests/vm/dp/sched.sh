#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/dp/sched.sh [MOD...]     (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/dp tools/vm.sh --timeout 900 -- tests/vm/dp/sched.sh c rs
#
# All fourteen schedulers of Linux 6.12 with traffic (the forwarding matrix runs the first
# six over every method, protocol and family): per MOD, in fresh namespaces (common.sh), one
# NAT TCP IPv4 service per scheduler, on its own VIP, with the three real servers at weights
# 1, 2 and 3, and $DP_SCHED_N (40) connections from the client pool, one at a time (the
# choice of lc-like schedulers then depends only on what came before). Checks, per scheduler
# and MOD: the service is accepted and every connection is answered. Then, per scheduler,
# the connections each real server got must be the same under C and ipvs_rs (the schedulers
# are deterministic here), except twos, which draws at random: its servers must all be real
# servers of the service and, with 40 connections, at least two of them must be used.
# One TAP line per check: "sched MOD SCHED ...". Files: $VM_OUT/dp-sched-<label>/.
. "$(dirname "$0")/common.sh"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
N=${DP_SCHED_N:-40}
SCHEDS=(rr wrr lc wlc sh mh dh sed nq lblc lblcr fo ovf twos)

# log_clean NAME FROM: a TAP line for the kernel log since line FROM.
log_clean() {
	local name=$1 from=$2 f=$WORK/dmesg-part
	dmesg | tail -n +"$from" >"$f"
	if "$TOP/tools/dmesg-check.sh" "$f" >"$f.check" 2>&1; then
		tap_ok "$name: kernel log clean"
	else
		tap_fail "$name: kernel log clean" "$(head -n 30 "$f.check")"
	fi
}

run_module() {
	local label=$1 module=$2 d=$WORK/dp-sched-$1 from k s vip rc res
	mkdir -p "$d"
	from=$(($(dmesg_lines) + 1))
	if ! load_ipvs "$module" || ! ipvs_is "$module"; then
		tap_fail "sched $label: load $module" "$(grep -E '^(ip_vs|ipvs_rs) ' /proc/modules)"
		unload_ipvs "$module" 2>/dev/null
		return
	fi
	if ! topo_up "$label" || ! servers_up "$label"; then
		tap_fail "sched $label: namespaces and servers"
		servers_down
		topo_down "$label"
		unload_ipvs "$module"
		return
	fi
	for k in "${!SCHEDS[@]}"; do
		s=${SCHEDS[k]}
		vip=$(vip 4 "$((200 + k))")
		if ! ip netns exec "$DP_DIR" ipvsadm -R >"$d/$s.err" 2>&1 <<-EOF; then
			-A -t $vip:$DP_PORT -s $s
			-a -t $vip:$DP_PORT -r $(rip 4 1):$DP_PORT -m -w 1
			-a -t $vip:$DP_PORT -r $(rip 4 2):$DP_PORT -m -w 2
			-a -t $vip:$DP_PORT -r $(rip 4 3):$DP_PORT -m -w 3
		EOF
			tap_fail "sched $label $s: service accepted" "$(cat "$d/$s.err")"
			continue
		fi
		rc=0
		ip netns exec "$DP_CL" "$DPGEN" client -t -d "$vip" -s "$(src_base 4)" -k "$DP_NSRC" -n "$N" -c 1 \
			-C "$((50 + k))" -r 1 -w 3000 -R 3 >"$d/$s.client" 2>&1 || rc=$?
		res=$(grep '^result' "$d/$s.client")
		server_counts "$label" "$((50 + k))" tcp >"$d/$s.counts"
		if [ "$rc" = 0 ]; then
			tap_ok "sched $label $s: $N connections answered ($(cat "$d/$s.counts"))"
		else
			tap_fail "sched $label $s: $N connections answered" "exit $rc: $res" "$(tail -n 3 "$d/$s.client")"
		fi
	done
	ip netns exec "$DP_DIR" ipvsadm -L -n >"$d/list.txt" 2>&1
	ip netns exec "$DP_DIR" ipvsadm -C
	servers_down
	topo_down "$label"
	unload_ipvs "$module" || tap_fail "sched $label: unload $module"
	log_clean "sched $label" "$from"
}

start=$SECONDS
if ! build_dpgen; then
	tap_fail "sched: build dpgen"
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
	publish "dp-sched-$label"
done

# Compare each label with the first one.
ref=${labels[0]}
for label in "${labels[@]:1}"; do
	for s in "${SCHEDS[@]}"; do
		a=$(cat "$WORK/dp-sched-$ref/$s.counts" 2>/dev/null)
		b=$(cat "$WORK/dp-sched-$label/$s.counts" 2>/dev/null)
		if [ "$s" = twos ]; then
			used=$(echo "$b" | awk '{ n = 0; for (i = 1; i <= NF; i++) if ($i > 0) n++; print n }')
			total=$(echo "$b" | awk '{ n = 0; for (i = 1; i <= NF; i++) n += $i; print n }')
			if [ "${total:-0}" = "$N" ] && [ "${used:-0}" -ge 2 ]; then
				tap_ok "sched $label twos: random choice over the real servers ($b; $ref: $a)"
			else
				tap_fail "sched $label twos: random choice over the real servers" "$label: $b" "$ref: $a"
			fi
		elif [ -n "$a" ] && [ "$a" = "$b" ]; then
			tap_ok "sched $label $s: same real servers as $ref ($b)"
		else
			tap_fail "sched $label $s: same real servers as $ref" "$ref: $a" "$label: $b"
		fi
	done
done
note "sched ($*): $((SECONDS - start))s"
finish
