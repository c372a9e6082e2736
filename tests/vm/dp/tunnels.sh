#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/dp/tunnels.sh [MOD...]     (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/dp tools/vm.sh --timeout 900 -- tests/vm/dp/tunnels.sh c rs
#
# The tunnel encapsulations of ip_vs_tunnel_xmit() / ip_vs_tunnel_xmit_v6(), on the wire:
# IPIP, IPv6-in-IPv6, mixed families (an IPv4 real server of an IPv6 service and the
# reverse), GUE (no checksum, checksum, remote checksum offload) and GRE (with and without
# checksum). The test kernel has no GUE/GRE receiver (no fou, no ip_gre), so the real server
# does not answer: tuncap.py captures what reaches rs1's eth0 from the director and writes each
# packet's encapsulation (outer header fields, GUE/GRE header and checksum fields as sent)
# and its inner packet, leaving out the outer IPv4 id and header checksum.
# Checks, TAP "tunnels MOD CASE: ...": the destination is accepted; N datagrams arrive
# encapsulated, with right lengths and outer IPv4 header checksum; with two or more MODs,
# every MOD's capture of a case equals the first MOD's ("tunnels CASE: MOD as FIRST").
# Files: $VM_OUT/dp-tunnels-<run>/.
. "$(dirname "$0")/common.sh"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
N=3
TUNCAP=$DP/tuncap.py
# CASE svc-family dest-family tun_type tun_flags [KNOB=VALUE]  (tun_type: 0 ipip, 1 gue,
# 2 gre; flags: 1 csum, 2 remcsum; KNOB: a net.ipv4.vs sysctl of the director for this case);
# the GUE port is 6080. ipip4nopmtu: with pmtu_disc=0 the outer header has no DF (the
# datagrams are sent with DF, which the outer header copies with pmtu_disc=1).
CASES=(
	"ipip4 4 4 0 0"
	"ipip4nopmtu 4 4 0 0 pmtu_disc=0"
	"gue4 4 4 1 0"
	"gue4csum 4 4 1 1"
	"gue4remcsum 4 4 1 2"
	"gre4 4 4 2 0"
	"gre4csum 4 4 2 1"
	"ip6in6 6 6 0 0"
	"gue6csum 6 6 1 1"
	"gre6csum 6 6 2 1"
	"mix6over4 6 4 0 0"
	"mix4over6gue 4 6 1 1"
)

run_module() {
	local label=$1 module=$2 d=$WORK/dp-tunnels-$1 c name sf df tt tf knob vip n err cap pid lines bad want
	mkdir -p "$d"
	if ! load_ipvs "$module" || ! ipvs_is "$module"; then
		tap_fail "tunnels $label: load $module"
		unload_ipvs "$module" 2>/dev/null
		return
	fi
	if ! topo_up "$label" || ! rs_routes DR; then
		tap_fail "tunnels $label: namespaces"
		topo_down "$label"
		unload_ipvs "$module"
		return
	fi
	n=0
	for c in "${CASES[@]}"; do
		read -r name sf df tt tf knob <<<"$c"
		n=$((n + 1))
		[ -z "$knob" ] || ip netns exec "$DP_DIR" sysctl -q -w "net.ipv4.vs.$knob"
		vip=$(vip "$sf" "$((200 + n))")
		ip netns exec "$DP_DIR" ipvsadm -A -u "$(hostport "$sf" "$vip" "$DP_PORT")" -s rr
		err=$(ip netns exec "$DP_DIR" "$PY" "$TUNCAP" adddest "$vip" "$DP_PORT" "$(rip "$df" 1)" "$DP_PORT" "$tt" 6080 "$tf" 2>&1)
		if [ "$err" = "errno=0" ]; then
			tap_ok "tunnels $label $name: destination added"
		else
			tap_fail "tunnels $label $name: destination added" "$err"
			continue
		fi
		cap=$d/$name.cap
		rm -f "$d/$name.ready"
		ip netns exec "${DP_RS[0]}" "$PY" "$TUNCAP" capture eth0 10.0.1.1,fd00:1::1 "$d/$name.ready" "$cap" &
		pid=$!
		wait_for_file "$d/$name.ready" 100
		ip netns exec "$DP_CL" "$PY" "$TUNCAP" send "$vip" "$DP_PORT" "$((40000 + n))" "$N" 2>"$d/$name.send.err"
		sleep 1
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		lines=$(wc -l <"$cap" 2>/dev/null || echo 0)
		bad=$(grep -cE 'hdr_csum_ok=False|udp_len_ok=False|plen_ok=False' "$cap" 2>/dev/null)
		if [ "$lines" -ge "$N" ] && [ "${bad:-0}" = 0 ]; then
			tap_ok "tunnels $label $name: $lines datagrams encapsulated, lengths right"
		else
			tap_fail "tunnels $label $name: $N datagrams encapsulated, lengths right" \
				"captured $lines, bad $bad" "$(head -n 3 "$cap" 2>/dev/null)" "$(cat "$d/$name.send.err")"
		fi
		# The datagrams leave the client with DF: the outer IPv4 header copies it, unless
		# pmtu_disc is 0.
		case $name in
		ipip4 | ipip4nopmtu)
			want=1
			[ "$name" = ipip4 ] || want=0
			if [ "$lines" -ge "$N" ] && ! grep -qvE "(^| )df=$want( |$)" "$cap"; then
				tap_ok "tunnels $label $name: outer DF $want"
			else
				tap_fail "tunnels $label $name: outer DF $want" "$(head -n 3 "$cap" 2>/dev/null)"
			fi
			;;
		esac
		ip netns exec "$DP_DIR" ipvsadm -D -u "$(hostport "$sf" "$vip" "$DP_PORT")"
		# Back to C's default (pmtu_disc is the only knob a case sets).
		[ -z "$knob" ] || ip netns exec "$DP_DIR" sysctl -q -w net.ipv4.vs.pmtu_disc=1
	done
	ip netns exec "$DP_DIR" ipvsadm -C
	topo_down "$label"
	unload_ipvs "$module" || tap_fail "tunnels $label: unload $module"
}

declare -A seen=()
labels=()
for m in "$@"; do
	seen[$m]=$((${seen[$m]:-0} + 1))
	label=$m
	[ "${seen[$m]}" = 1 ] || label=$m-${seen[$m]}
	run_module "$label" "$m"
	labels+=("$label")
done
# Every module's encapsulation of each case as the first module's.
if [ "${#labels[@]}" -ge 2 ]; then
	first=${labels[0]}
	for c in "${CASES[@]}"; do
		read -r name _ <<<"$c"
		a=$WORK/dp-tunnels-$first/$name.cap
		for l in "${labels[@]:1}"; do
			b=$WORK/dp-tunnels-$l/$name.cap
			if [ -s "$a" ] && [ -s "$b" ] && diff -q "$a" "$b" >/dev/null; then
				tap_ok "tunnels $name: $l as $first"
			else
				tap_fail "tunnels $name: $l as $first" "$(diff "$a" "$b" 2>&1 | head -n 6)"
			fi
		done
	done
fi
for l in "${labels[@]}"; do publish "dp-tunnels-$l"; done
finish
