#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/interop/xt-ipvs.sh [MOD...]   (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/interop tools/vm.sh --timeout 900 -- tests/vm/interop/xt-ipvs.sh c rs
#
# NOT part of run-all.sh yet: Docker swarm and kube-router put the `-m ipvs` iptables match
# (C's xt_ipvs, which needs C's ip_vs) in nat POSTROUTING, and ipvs_rs does not register an
# `ipvs` match yet (issue 12 item 4): under rs every rule below is refused today.
#
# Per MOD, in the namespaces of dp/common.sh, with the real servers' default route NOT via the
# director (rs_routes DR): a masqueraded connection is answered only if the `-m ipvs` rule
# SNATs it to the director's address, so every connection checks the match.
#   Docker swarm (moby daemon/libnetwork/service_linux.go: addLBBackend, configureFWMark):
#     net/ipv4/vs/conntrack=1; mangle INPUT -d VIP/32 -j MARK --set-mark FWMARK; an IPVS
#     fwmark service (rr, moby/ipvs requests through kpipvs.py: destinations of port 0,
#     masquerading, weight 1, the service's scheduler name cleared as moby clears it);
#     nat POSTROUTING -m ipvs --ipvs -d SUBNET -j SNAT --to-source EIP
#   kube-router (pkg/controllers/proxy/network_services_controller.go:
#     ensureMasqueradeIptablesRule, with masqueradeAll): nat POSTROUTING -m ipvs --ipvs
#     --vdir ORIGINAL --vmethod MASQ -m comment --comment "" -j SNAT --to-source NODEIP
#     --random-fully; a ClusterIP-style service and an fwmark service (an external IP marked
#     in mangle PREROUTING)
# TAP "xt-ipvs MOD ...": each rule accepted, 30 connections through each service answered
# 10/10/10, each rule's packet counter non-zero; then the counts must be the same under each
# MOD as under the first. Files: $VM_OUT/interop-xt-<label>/.
. "$(dirname "$0")/common.sh"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
SUBNET=10.0.1.0/24
EIP=10.0.1.1
VIP_SW=10.0.100.80   # swarm service VIP (fwmark 260)
VIP_KR=10.0.100.81   # kube-router ClusterIP-style service
VIP_KRX=10.0.100.82  # kube-router external IP (fwmark 1000)

kp() { ip netns exec "$DP_DIR" "$IPY" "$IOP/kpipvs.py" >"$1" 2>&1; }
ipt() { ip netns exec "$DP_DIR" iptables "$@"; }

# rule LABEL DESC TABLE RULE...: append RULE; TAP line.
rule() {
	local label=$1 desc=$2 table=$3 out
	shift 3
	if out=$(ipt -t "$table" -A "$@" 2>&1); then
		tap_ok "xt-ipvs $label: $desc accepted"
	else
		tap_fail "xt-ipvs $label: $desc accepted" "iptables -t $table -A $*: $out"
	fi
}

# traffic LABEL NAME VIP PORT CELL: 30 connections; TAP line.
traffic() {
	local label=$1 name=$2 rc=0
	ip netns exec "$DP_CL" "$DPGEN" client -t -d "$3" -p "$4" -s "$(src_base 4)" -k 8 -n 30 -c 1 -C "$5" \
		-w 2000 -R 2 -e 3 >"$d/$name.client" 2>&1 || rc=$?
	server_counts "$label" "$5" tcp >"$d/$name.counts"
	if [ "$rc" = 0 ] && [ "$(cat "$d/$name.counts")" = "10 10 10" ]; then
		tap_ok "xt-ipvs $label: $name: 30 connections to $3:$4 answered (10 10 10)"
	else
		tap_fail "xt-ipvs $label: $name: 30 connections to $3:$4 answered (10 10 10)" \
			"exit $rc, counts $(cat "$d/$name.counts")" "$(grep -E '^(result|server)' "$d/$name.client")"
	fi
}

# counted LABEL DESC: the nat POSTROUTING rule matched packets; TAP line. (iptables -L prints
# the match's options, not its name: "ipvs" only with --ipvs, "vdir ORIGINAL vmethod MASQ" for
# kube-router's rule.)
counted() {
	local n
	n=$(ipt -t nat -L POSTROUTING -v -x -n 2>/dev/null | awk '/ipvs|vdir|vmethod|vaddr|vproto|vport/ { n += $1 } END { print n + 0 }')
	if [ "${n:-0}" -gt 0 ]; then
		tap_ok "xt-ipvs $1: $2: the -m ipvs rule matched $n packets"
	else
		tap_fail "xt-ipvs $1: $2: the -m ipvs rule matched packets" "$(ipt -t nat -L POSTROUTING -v -x -n 2>&1)"
	fi
}

run_module() {
	local label=$1 module=$2 from i
	d=$WORK/interop-xt-$label
	mkdir -p "$d"
	from=$(($(dmesg_lines) + 1))
	if ! load_ipvs "$module" || ! ipvs_is "$module"; then
		tap_fail "xt-ipvs $label: load $module" "$(grep -E '^(ip_vs|ipvs_rs) ' /proc/modules)"
		unload_ipvs "$module" 2>/dev/null
		return
	fi
	if ! topo_up "$label" || ! servers_up "$label"; then
		tap_fail "xt-ipvs $label: namespaces and servers"
		servers_down
		topo_down "$label"
		unload_ipvs "$module"
		return
	fi
	rs_routes DR

	# Docker swarm.
	ip netns exec "$DP_DIR" sh -c 'echo 1 > /proc/sys/net/ipv4/vs/conntrack'
	rule "$label" "swarm: mangle INPUT MARK" mangle INPUT -d "$VIP_SW/32" -j MARK --set-mark 260
	kp "$d/swarm.txt" <<-EOF
		add-svc fwm:260 sched=rr
		$(for i in 1 2 3; do echo "add-dest fwm:260 sched= $(rip 4 $i):0 weight=1"; done)
		dump
	EOF
	if grep -q '^error\|^exception' "$d/swarm.txt"; then
		tap_fail "xt-ipvs $label: swarm: fwmark service programmed" "$(cat "$d/swarm.txt")"
	else
		tap_ok "xt-ipvs $label: swarm: fwmark service programmed"
	fi
	rule "$label" "swarm: nat POSTROUTING -m ipvs --ipvs -d $SUBNET -j SNAT" nat POSTROUTING \
		-m ipvs --ipvs -d "$SUBNET" -j SNAT --to-source "$EIP"
	traffic "$label" swarm "$VIP_SW" "$DP_PORT" 30
	counted "$label" swarm
	ipt -t nat -S POSTROUTING >"$d/swarm-rules.txt" 2>&1
	ipt -t nat -F POSTROUTING
	ipt -t nat -Z

	# kube-router.
	rule "$label" "kube-router: nat POSTROUTING -m ipvs --ipvs --vdir ORIGINAL --vmethod MASQ -j SNAT" nat POSTROUTING \
		-m ipvs --ipvs --vdir ORIGINAL --vmethod MASQ -m comment --comment "" -j SNAT --to-source "$EIP" --random-fully
	rule "$label" "kube-router: mangle PREROUTING MARK for an external IP" mangle PREROUTING \
		-d "$VIP_KRX/32" -p tcp --dport "$DP_PORT" -j MARK --set-mark 1000
	ip netns exec "$DP_DIR" ipvsadm -R >"$d/kube-router.err" 2>&1 <<-EOF
		-A -t $VIP_KR:80 -s rr
		$(for i in 1 2 3; do echo "-a -t $VIP_KR:80 -r $(rip 4 $i):$DP_PORT -m -w 1"; done)
		-A -f 1000 -s rr
		$(for i in 1 2 3; do echo "-a -f 1000 -r $(rip 4 $i):$DP_PORT -m -w 1"; done)
	EOF
	traffic "$label" kube-router-svc "$VIP_KR" 80 31
	traffic "$label" kube-router-fwmark "$VIP_KRX" "$DP_PORT" 32
	counted "$label" kube-router
	ipt -t nat -S POSTROUTING >"$d/kube-router-rules.txt" 2>&1

	ip netns exec "$DP_DIR" ipvsadm -C
	servers_down
	topo_down "$label"
	# xt_ipvs holds a reference on ip_vs until the namespaces' rules are gone (namespace
	# cleanup runs asynchronously): out first.
	for i in $(seq 50); do
		grep -q '^xt_ipvs ' /proc/modules || break
		rmmod xt_ipvs 2>/dev/null || sleep 0.2
	done
	unload_ipvs "$module" || tap_fail "xt-ipvs $label: unload $module"
	log_clean "xt-ipvs $label" "$from"
}

start=$SECONDS
if ! build_dpgen; then
	tap_fail "xt-ipvs: build dpgen"
	finish
	exit
fi
if ! IPY=$(find_ipy); then
	tap_fail "xt-ipvs: a python3 with pyroute2 (tools/deps.sh installs it into the venv)"
	finish
	exit
fi
labels_for "$@"
for k in "${!LABELS[@]}"; do
	run_module "${LABELS[k]}" "${@:k+1:1}"
	publish "interop-xt-${LABELS[k]}"
done
for label in "${LABELS[@]:1}"; do
	same_as xt-ipvs interop-xt "${LABELS[0]}" "$label" swarm.counts kube-router-svc.counts kube-router-fwmark.counts
done
note "xt-ipvs ($*): $((SECONDS - start))s"
finish
