#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/dp/xtipvs.sh [MOD...]     (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/dp tools/vm.sh --timeout 1800 -- tests/vm/dp/xtipvs.sh c rs
#
# The `ipvs` xtables match (`iptables -m ipvs`) with traffic, for C (ip_vs + xt_ipvs.ko from
# modprobe) and ipvs_rs (its own match; xt_ipvs.ko must stay unloaded), with iptables-legacy
# and iptables-nft, in the director of common.sh's topology (net.ipv4.vs.conntrack=1, as
# kube-proxy and Docker set it: the nat table sees the first packet of each connection).
# Per module and tool, in fresh namespaces:
#   options     count-only rules in nat POSTROUTING (iptables and ip6tables), one per option
#               and negation (--ipvs --vproto --vaddr --vport --vportctl --vdir --vmethod) and
#               the two real-world rules' matches, while connections go through NAT (TCP with
#               vport 80 -> 8080, UDP, IPv6, a persistent service), DR (IPv4, IPv6) and TUN
#   docker      Docker swarm's `-d 10.0.1.0/24 -m ipvs --ipvs -j SNAT --to-source 10.0.1.1`
#               with NAT TCP and UDP: the real servers see the director's address
#   kuberouter  kube-router's `-m ipvs --ipvs --vdir ORIGINAL --vmethod MASQ -j MASQUERADE`
#               (iptables and ip6tables) with NAT IPv4/IPv6 and DR: NAT connections reach the
#               real servers from the director, DR ones from the client
# The real servers count, in their nat INPUT chain, the connections from the director and from
# the client pool. TAP lines: every client connection answered; the counters C must show by
# construction (MASQ/GATE/IPIP/vport/vportctl/REPLY, the SNAT'ed connections); and every
# counter of a later module equal to the first module's. For rs also: no xt_ipvs/ip_vs loaded,
# the match listed in /proc/net/ip_tables_matches, modprobe xt_ipvs refused, rmmod refused
# while a rule uses the match, and the match gone after unload.
# Files: $VM_OUT/dp-xtipvs-<run>/ (counters.txt: "TOOL PHASE NAME PACKETS" lines).
. "$(dirname "$0")/common.sh"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"

N=6     # connections per cell
NP=4    # connections of the persistent cell
TOOLS="legacy nft"

# The cells: NAME FAMILY PROTO METHOD VIPCELL VPORT PERSISTENT
CELLS="nat4t 4 t m 200 80 0
nat4u 4 u m 201 8080 0
pers4 4 t m 205 8080 1
nat6t 6 t m 204 8080 0
dr4 4 t g 202 8080 0
dr6 6 t g 206 8080 0
tun4 4 t i 203 8080 0"

cell_field() { awk -v c="$1" -v f="$2" '$1 == c { print $f }' <<<"$CELLS"; }

# services: every cell's service, over rs1 and rs2 (real port 8080).
services() {
	local name fam proto meth vc vport pers vip o
	while read -r name fam proto meth vc vport pers; do
		vip=$(vip "$fam" "$vc")
		o=""
		[ "$pers" = 1 ] && o="-p 60"
		echo "-A -$proto $(hostport "$fam" "$vip" "$vport") -s rr $o"
		echo "-a -$proto $(hostport "$fam" "$vip" "$vport") -r $(hostport "$fam" "$(rip "$fam" 1)" 8080) -$meth -w 1"
		echo "-a -$proto $(hostport "$fam" "$vip" "$vport") -r $(hostport "$fam" "$(rip "$fam" 2)" 8080) -$meth -w 1"
	done <<<"$CELLS"
}

# traffic DIR CELL TAG: the cell's connections; one "TAG CELL ok|fail" line in $DIR/clients.
UDP_BASE=20000
traffic() {
	local d=$1 cell=$2 tag=$3 fam proto vc vport n rc res
	fam=$(cell_field "$cell" 2)
	proto=$(cell_field "$cell" 3)
	vc=$(cell_field "$cell" 5)
	vport=$(cell_field "$cell" 6)
	n=$N
	[ "$(cell_field "$cell" 7)" = 1 ] && n=$NP
	# A fresh UDP source port range each time: an old conntrack entry would keep the new
	# flow out of the nat table.
	UDP_BASE=$((UDP_BASE + 100))
	rc=0
	ip netns exec "$DP_CL" "$DPGEN" client -"$proto" -d "$(vip "$fam" "$vc")" -p "$vport" -s "$(src_base "$fam")" \
		-k 2 -n "$n" -c 2 -C "$vc" -r 1 -w 3000 -R 3 -P "$UDP_BASE" >"$d/$tag-$cell.client" 2>&1 || rc=$?
	res=$(grep '^result' "$d/$tag-$cell.client")
	if [ "$rc" = 0 ] && [[ $res == "result ok=$n fail=0 "* ]]; then
		echo "$tag $cell ok" >>"$d/clients"
	else
		echo "$tag $cell fail (exit $rc: $res)" >>"$d/clients"
	fi
}

ipt() { ip netns exec "$1" "iptables-$2" "${@:3}"; }
ip6t() { ip netns exec "$1" "ip6tables-$2" "${@:3}"; }

# counters NS TOOL TAG: "TAG NAME PACKETS" for every commented rule of the nat table of NS
# (iptables and ip6tables; names are unique across both).
counters() {
	local ns=$1 tool=$2 tag=$3 save
	for save in "iptables-$tool-save" "ip6tables-$tool-save"; do
		ip netns exec "$ns" "$save" -c -t nat 2>/dev/null |
			sed -n 's/^\[\([0-9]*\):[0-9]*\] -A [A-Z]* .*--comment "\{0,1\}\([^" ]*\)"\{0,1\}.*/\2 \1/p' |
			while read -r name pkts; do echo "$tag $name $pkts"; done
	done
}

# rs_counters TOOL TAG: the real servers' nat INPUT counters, summed over rs1..rs3 (TAG is
# "TOOL PHASE").
rs_counters() {
	local tool=$1 tag=$2 ns
	for ns in "${DP_RS[@]}"; do counters "$ns" "$tool" "$tag"; done |
		awk '{ s[$1 " " $2 " " $3] += $4 } END { for (k in s) print k, s[k] }' | sort
}

# rs_rules TOOL: in each real server, count new connections by where they come from.
rs_rules() {
	local tool=$1 ns
	for ns in "${DP_RS[@]}"; do
		ipt "$ns" "$tool" -t nat -A INPUT -s 10.0.1.1 -m comment --comment rs-from-dir4 || return 1
		ipt "$ns" "$tool" -t nat -A INPUT -s 10.1.0.0/24 -m comment --comment rs-from-client4 || return 1
		ip6t "$ns" "$tool" -t nat -A INPUT -s fd00:1::1 -m comment --comment rs-from-dir6 || return 1
		ip6t "$ns" "$tool" -t nat -A INPUT -s fd00:c1::/64 -m comment --comment rs-from-client6 || return 1
	done
}

flush_nat() {
	local tool=$1 ns
	for ns in "$DP_DIR" "${DP_RS[@]}"; do
		ipt "$ns" "$tool" -t nat -F 2>/dev/null
		ip6t "$ns" "$tool" -t nat -F 2>/dev/null
	done
}

# The option rules: NAME then the match's arguments (after -m ipvs).
OPT4="o-ipvs --ipvs
o-not-ipvs ! --ipvs
o-vproto-tcp --vproto tcp
o-vproto-udp --vproto udp
o-not-vproto-tcp ! --vproto tcp
o-vaddr-a --vaddr VIP_NAT4T/32
o-not-vaddr-a ! --vaddr VIP_NAT4T/32
o-vaddr-pool --vaddr 10.0.100.0/24
o-vport-80 --vport 80
o-not-vport-80 ! --vport 80
o-vport-8080 --vport 8080
o-vportctl --vportctl 8080
o-not-vportctl ! --vportctl 8080
o-vdir-orig --vdir ORIGINAL
o-vdir-reply --vdir REPLY
o-vmethod-masq --vmethod MASQ
o-vmethod-gate --vmethod GATE
o-vmethod-ipip --vmethod IPIP
o-not-vmethod-masq ! --vmethod MASQ
o-kuberouter --ipvs --vdir ORIGINAL --vmethod MASQ
o-all --ipvs --vproto tcp --vaddr 10.0.100.0/24 --vport 80 --vdir ORIGINAL --vmethod MASQ"
OPT6="o6-ipvs --ipvs
o6-not-ipvs ! --ipvs
o6-vproto-tcp --vproto tcp
o6-vaddr-nat --vaddr VIP_NAT6T/128
o6-vaddr-pool --vaddr fd00:100::/64
o6-not-vaddr-nat ! --vaddr VIP_NAT6T/128
o6-vport-8080 --vport 8080
o6-vdir-orig --vdir ORIGINAL
o6-vdir-reply --vdir REPLY
o6-vmethod-masq --vmethod MASQ
o6-vmethod-gate --vmethod GATE"

option_rules() {
	local tool=$1 name args
	while read -r name args; do
		args=${args//VIP_NAT4T/$(vip 4 "$(cell_field nat4t 5)")}
		# shellcheck disable=SC2086
		ipt "$DP_DIR" "$tool" -t nat -A POSTROUTING -m ipvs $args -m comment --comment "$name" || return 1
	done <<<"$OPT4"
	ipt "$DP_DIR" "$tool" -t nat -A POSTROUTING -d 10.0.1.0/24 -m ipvs --ipvs -m comment --comment o-docker || return 1
	while read -r name args; do
		args=${args//VIP_NAT6T/$(vip 6 "$(cell_field nat6t 5)")}
		# shellcheck disable=SC2086
		ip6t "$DP_DIR" "$tool" -t nat -A POSTROUTING -m ipvs $args -m comment --comment "$name" || return 1
	done <<<"$OPT6"
}

# run_tool LABEL MODULE TOOL: the three phases in fresh namespaces; appends to $d/counters.txt.
run_tool() {
	local label=$1 module=$2 tool=$3 d=$WORK/dp-xtipvs-$1 tl=$1-$3 c
	if ! topo_up "$tl" || ! servers_up "$tl"; then
		tap_fail "xtipvs $label $tool: namespaces and servers"
		servers_down
		topo_down "$tl"
		return
	fi
	: >"$d/$tool.rules.err"
	ip netns exec "$DP_DIR" sysctl -qw net.ipv4.vs.conntrack=1
	# Conntrack on in the director and the real servers, as on a kube-proxy or Docker node
	# (their rules use conntrack and NAT targets): a namespace tracks connections only once a
	# rule asks for it (nf_ct_netns_get() in the checkentry of conntrack, SNAT, MASQUERADE...),
	# not for a count-only rule, and untracked packets never see the nat table.
	local ns
	for ns in "$DP_DIR" "${DP_RS[@]}"; do
		if ! ipt "$ns" "$tool" -A INPUT -m conntrack --ctstate INVALID 2>>"$d/$tool.rules.err" ||
			! ip6t "$ns" "$tool" -A INPUT -m conntrack --ctstate INVALID 2>>"$d/$tool.rules.err"; then
			tap_fail "xtipvs $label $tool: conntrack on in $ns" "$(cat "$d/$tool.rules.err")"
		fi
	done
	services | ip netns exec "$DP_DIR" ipvsadm -R >"$d/$tool.ipvsadm" 2>&1 ||
		tap_fail "xtipvs $label $tool: ipvsadm -R" "$(cat "$d/$tool.ipvsadm")"

	# --- options
	if option_rules "$tool" 2>>"$d/$tool.rules.err"; then
		tap_ok "xtipvs $label $tool: iptables-$tool and ip6tables-$tool take every -m ipvs option"
	else
		tap_fail "xtipvs $label $tool: iptables-$tool and ip6tables-$tool take every -m ipvs option" \
			"$(cat "$d/$tool.rules.err")"
	fi
	if [ "$module" = rs ]; then
		if ! grep -qE '^(xt_ipvs|ip_vs) ' /proc/modules; then
			tap_ok "xtipvs $label $tool: rules use ipvs_rs's match (xt_ipvs and ip_vs not loaded)"
		else
			tap_fail "xtipvs $label $tool: rules use ipvs_rs's match (xt_ipvs and ip_vs not loaded)" \
				"$(grep -E '^(xt_ipvs|ip_vs|ipvs_rs) ' /proc/modules)"
		fi
		if rmmod ipvs_rs 2>"$d/$tool.rmmod-busy"; then
			tap_fail "xtipvs $label $tool: rmmod ipvs_rs refused while a rule uses the match"
			finish_early=1
			return
		else
			tap_ok "xtipvs $label $tool: rmmod ipvs_rs refused while a rule uses the match"
		fi
	fi
	for c in nat4t nat4u pers4 nat6t; do traffic "$d" "$c" "$tool-options"; done
	rs_routes DR
	for c in dr4 dr6 tun4; do traffic "$d" "$c" "$tool-options"; done
	rs_routes NAT
	counters "$DP_DIR" "$tool" "$tool options" >>"$d/counters.txt"
	ip netns exec "$DP_DIR" ipvsadm -L -n -c >"$d/$tool-options.conns" 2>&1
	flush_nat "$tool"

	# --- docker swarm
	rs_rules "$tool" 2>>"$d/$tool.rules.err" || tap_fail "xtipvs $label $tool: real servers' counting rules"
	ipt "$DP_DIR" "$tool" -t nat -A POSTROUTING -d 10.0.1.0/24 -m ipvs --ipvs -j SNAT --to-source 10.0.1.1 \
		-m comment --comment docker 2>>"$d/$tool.rules.err" || tap_fail "xtipvs $label $tool: Docker swarm's rule"
	for c in nat4t nat4u; do traffic "$d" "$c" "$tool-docker"; done
	{
		counters "$DP_DIR" "$tool" "$tool docker"
		rs_counters "$tool" "$tool docker"
	} >>"$d/counters.txt"
	flush_nat "$tool"

	# --- kube-router
	rs_rules "$tool" 2>>"$d/$tool.rules.err" || tap_fail "xtipvs $label $tool: real servers' counting rules"
	if ! ipt "$DP_DIR" "$tool" -t nat -A POSTROUTING -m ipvs --ipvs --vdir ORIGINAL --vmethod MASQ -j MASQUERADE \
		-m comment --comment kuberouter 2>>"$d/$tool.rules.err" ||
		! ip6t "$DP_DIR" "$tool" -t nat -A POSTROUTING -m ipvs --ipvs --vdir ORIGINAL --vmethod MASQ -j MASQUERADE \
			-m comment --comment kuberouter6 2>>"$d/$tool.rules.err"; then
		tap_fail "xtipvs $label $tool: kube-router's rule"
	fi
	for c in nat4t nat6t; do traffic "$d" "$c" "$tool-kuberouter"; done
	rs_routes DR
	traffic "$d" dr4 "$tool-kuberouter"
	rs_routes NAT
	{
		counters "$DP_DIR" "$tool" "$tool kuberouter"
		rs_counters "$tool" "$tool kuberouter"
	} >>"$d/counters.txt"
	flush_nat "$tool"

	ip netns exec "$DP_DIR" ipvsadm -C
	servers_down
	topo_down "$tl"
}

# wait_unused MODULE: the rules just flushed release the module asynchronously (nft commits
# and namespace exits finish in work items); wait up to 10 s for its reference count to drop.
wait_unused() {
	local n=0
	while [ "$(cat "/sys/module/$1/refcnt" 2>/dev/null || echo 0)" != 0 ] && [ "$n" -lt 100 ]; do
		sleep 0.1
		n=$((n + 1))
	done
}

# expect LABEL TOOL PHASE NAME WANT: the counter must be WANT.
expect() {
	local got
	got=$(awk -v t="$2" -v p="$3" -v n="$4" '$1 == t && $2 == p && $3 == n { print $4 }' "$WORK/dp-xtipvs-$1/counters.txt")
	if [ "$got" = "$5" ]; then
		tap_ok "xtipvs $1 $2 $3: $4 = $5"
	else
		tap_fail "xtipvs $1 $2 $3: $4 = $5" "got '${got:-none}'"
	fi
}

run_module() {
	local label=$1 module=$2 d=$WORK/dp-xtipvs-$1 tool dr_n nat4 masq4
	mkdir -p "$d"
	: >"$d/counters.txt"
	: >"$d/clients"
	finish_early=0
	if ! load_ipvs "$module" || ! ipvs_is "$module"; then
		tap_fail "xtipvs $label: load $module"
		unload_ipvs "$module" 2>/dev/null
		return 1
	fi
	if [ "$module" = c ]; then
		if modprobe xt_ipvs && grep -q '^xt_ipvs ' /proc/modules; then
			tap_ok "xtipvs $label: modprobe xt_ipvs"
		else
			tap_fail "xtipvs $label: modprobe xt_ipvs"
		fi
	else
		if grep -qw ipvs /proc/net/ip_tables_matches && grep -qw ipvs /proc/net/ip6_tables_matches &&
			! grep -q '^xt_ipvs ' /proc/modules; then
			tap_ok "xtipvs $label: ipvs_rs registers the ipvs match (ip_tables_matches, ip6_tables_matches)"
		else
			tap_fail "xtipvs $label: ipvs_rs registers the ipvs match (ip_tables_matches, ip6_tables_matches)" \
				"$(cat /proc/net/ip_tables_matches)"
		fi
		if modprobe xt_ipvs 2>"$d/modprobe.err"; then
			tap_fail "xtipvs $label: modprobe xt_ipvs refused while ipvs_rs is loaded" \
				"$(grep -E '^(xt_ipvs|ip_vs) ' /proc/modules)"
			rmmod xt_ipvs ip_vs 2>/dev/null
		elif grep -qE '^(xt_ipvs|ip_vs) ' /proc/modules; then
			tap_fail "xtipvs $label: modprobe xt_ipvs refused while ipvs_rs is loaded" "left loaded:" \
				"$(grep -E '^(xt_ipvs|ip_vs) ' /proc/modules)"
		else
			tap_ok "xtipvs $label: modprobe xt_ipvs refused while ipvs_rs is loaded"
			note "$(head -n 2 "$d/modprobe.err")"
		fi
	fi
	for tool in $TOOLS; do
		run_tool "$label" "$module" "$tool"
		[ "$finish_early" = 1 ] && break
	done
	# Every connection answered.
	if [ -s "$d/clients" ] && ! grep -qv ' ok$' "$d/clients"; then
		tap_ok "xtipvs $label: every client connection answered ($(wc -l <"$d/clients") runs)"
	else
		tap_fail "xtipvs $label: every client connection answered" "$(grep -v ' ok$' "$d/clients")"
	fi
	# What the counters must be by construction (N connections per cell, NP persistent).
	nat4=$((N + N + NP))
	dr_n=$N
	masq4=$nat4
	for tool in $TOOLS; do
		expect "$label" "$tool" options o-vmethod-masq "$masq4"
		expect "$label" "$tool" options o-vmethod-gate "$dr_n"
		expect "$label" "$tool" options o-vmethod-ipip 0
		expect "$label" "$tool" options o-vport-80 "$N"
		expect "$label" "$tool" options o-vportctl "$NP"
		expect "$label" "$tool" options o-vproto-udp "$N"
		expect "$label" "$tool" options o-vdir-reply 0
		expect "$label" "$tool" options o-kuberouter "$masq4"
		expect "$label" "$tool" options o-all "$N"
		expect "$label" "$tool" options o6-vmethod-masq "$N"
		expect "$label" "$tool" options o6-vmethod-gate "$N"
		expect "$label" "$tool" options o6-vdir-reply 0
		expect "$label" "$tool" docker docker $((2 * N))
		expect "$label" "$tool" docker rs-from-dir4 $((2 * N))
		expect "$label" "$tool" docker rs-from-client4 0
		expect "$label" "$tool" kuberouter kuberouter "$N"
		expect "$label" "$tool" kuberouter kuberouter6 "$N"
		expect "$label" "$tool" kuberouter rs-from-dir4 "$N"
		expect "$label" "$tool" kuberouter rs-from-dir6 "$N"
		expect "$label" "$tool" kuberouter rs-from-client4 "$N"
	done
	if [ "$module" = c ]; then
		wait_unused xt_ipvs
		rmmod xt_ipvs || tap_fail "xtipvs $label: rmmod xt_ipvs"
	fi
	# (ip_vs's count includes its schedulers' references: only ipvs_rs's can reach 0.)
	[ "$module" = rs ] && wait_unused ipvs_rs
	if unload_ipvs "$module"; then
		tap_ok "xtipvs $label: unload $module"
	else
		tap_fail "xtipvs $label: unload $module" "$(grep -E '^(xt_ipvs|ip_vs|ipvs_rs) ' /proc/modules)"
	fi
	if [ "$module" = rs ]; then
		if grep -qw ipvs /proc/net/ip_tables_matches; then
			tap_fail "xtipvs $label: the ipvs match is gone after rmmod ipvs_rs" "$(cat /proc/net/ip_tables_matches)"
		else
			tap_ok "xtipvs $label: the ipvs match is gone after rmmod ipvs_rs"
		fi
	fi
}

if ! build_dpgen; then
	tap_fail "xtipvs: build dpgen"
	finish
	exit
fi
for t in $TOOLS; do
	if ! command -v "iptables-$t" >/dev/null || ! command -v "ip6tables-$t" >/dev/null; then
		tap_fail "xtipvs: iptables-$t and ip6tables-$t installed"
	fi
done
declare -A seen=()
first=
for m in "$@"; do
	seen[$m]=$((${seen[$m]:-0} + 1))
	label=$m
	[ "${seen[$m]}" = 1 ] || label=$m-${seen[$m]}
	run_module "$label" "$m"
	publish "dp-xtipvs-$label"
	if [ -z "$first" ]; then
		first=$label
		continue
	fi
	# Every counter equal to the first module's.
	fa=$WORK/dp-xtipvs-$first/counters.txt
	fb=$WORK/dp-xtipvs-$label/counters.txt
	if [ ! -s "$fa" ] || [ ! -s "$fb" ]; then
		tap_fail "xtipvs $label vs $first: counters recorded"
		continue
	fi
	while read -r tool phase; do
		if d=$(diff <(awk -v t="$tool" -v p="$phase" '$1 == t && $2 == p' "$fa" | sort) \
			<(awk -v t="$tool" -v p="$phase" '$1 == t && $2 == p' "$fb" | sort)); then
			tap_ok "xtipvs $label vs $first $tool $phase: every rule counter equal ($(awk -v t="$tool" -v p="$phase" '$1 == t && $2 == p' "$fa" | wc -l) counters)"
		else
			tap_fail "xtipvs $label vs $first $tool $phase: every rule counter equal" "< $first, > $label" "$d"
		fi
	done < <(awk '{ print $1, $2 }' "$fa" "$fb" | sort -u)
done
finish
