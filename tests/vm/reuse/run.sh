#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/reuse/run.sh [MOD...]     (default: c rs c)
# From the host:  VM_OUT=/tmp/reuse tools/vm.sh --timeout 1800 -- tests/vm/reuse/run.sh c rs c
#
# The port-reuse scenario of issue 5: a kube-proxy-like topology with a client namespace, a
# director namespace (VIP on a dummy device, IPVS NAT service, nft MASQUERADE towards the real
# servers) and three real-server namespaces running TCP servers (reuse-load.c). The client opens
# short connections from a small fixed set of source ports, so ports are reused while IPVS and
# conntrack still hold their entries; after phase 1 one destination gets weight 0, after phase 2
# it is deleted; after phase 3 another one is deleted with no traffic (fix B).
#
# Each MOD (c = C ip_vs, rs = ipvs_rs.ko) runs every cell in this boot; a module named twice
# runs twice ("c", "c-2"), which measures C's own run-to-run spread. A cell is
#   m<conn_reuse_mode>-e<expire_nodest_conn>-ct<conntrack>-<fin|rst>[-old1]
# (fin/rst: how the servers close; -old1: net.ipv4.vs.conn_reuse_old_conntrack=1, ipvs_rs only).
#
# Environment:
#   REUSE_CELLS   cell names (CELL:N1,N2,N3 gives a cell its own phases), or a preset:
#                 check (default), demo, full
#   REUSE_PHASES  connections per phase N1,N2,N3 (default per preset)
#   REUSE_PORTS   source ports BASE:COUNT (default 40000:8); REUSE_CONC concurrency (default 4)
#   PY            python3 for the analysis (default /usr/bin/python3)
# Results: $VM_OUT/reuse/<run>/<cell>.json per run and cell, $VM_OUT/reuse/matrix.json (all of
# them with their summaries), $VM_OUT/reuse/table.txt, and TAP lines in $VM_OUT/reuse.tap.
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/ctl/common.sh
. "$here/../ctl/common.sh"
rm -f "$TAP"  # common.sh named it after this script; the scenario is "reuse"
TAP=$OUT/reuse.tap
: >"$TAP"

[ $# -gt 0 ] || set -- c rs c
check_modules "$@"

preset=${REUSE_CELLS:-check}
case $preset in
check)
	# Shortened matrix for `make check`: every outcome class that differs between cells
	# (SYNs dropped or not, weight-0 destination rescheduled away or sticking, draining or not,
	# entries of a deleted destination expired by fix B or kept, blackholed connections after
	# the deletion) once, one stalling cell (C's ~1 s per connection makes those the costly
	# ones) and the conn_reuse_old_conntrack cell with more connections, because its p99 is
	# compared with that of the FIN-closing flow run alongside (of 375 connections each the
	# 4th slowest, above what one guest-wide stall hitting the connections in flight reaches).
	cells="m1-e0-ct1-fin m1-e0-ct1-rst-old1:300,300,150 m1-e0-ct1-rst m0-e0-ct1-fin m1-e1-ct0-rst m0-e1-ct1-fin"
	phases=${REUSE_PHASES:-40,40,20} ;;
demo)
	# The headline cells of `make demo`.
	cells="m1-e0-ct1-fin m1-e0-ct1-rst-old1 m1-e0-ct1-rst m0-e0-ct1-fin"
	phases=${REUSE_PHASES:-120,120,60} ;;
full)
	# conn_reuse_mode x expire_nodest_conn x conntrack x server close, and
	# conn_reuse_old_conntrack=1 where the old conntrack matters, each right after the FIN
	# cell its latency is compared with.
	cells=
	for m in 0 1 2; do for e in 0 1; do for ct in 0 1; do
		cells+=" m$m-e$e-ct$ct-fin"
		case m$m-e$e-ct$ct in
		m1-e0-ct1) cells+=" m$m-e$e-ct$ct-fin-old1 m$m-e$e-ct$ct-rst-old1" ;;
		m1-e1-ct1|m2-e0-ct1) cells+=" m$m-e$e-ct$ct-rst-old1" ;;
		esac
		cells+=" m$m-e$e-ct$ct-rst"
	done; done; done
	phases=${REUSE_PHASES:-120,120,60} ;;
*)
	cells=$preset
	phases=${REUSE_PHASES:-40,40,20} ;;
esac
ports=${REUSE_PORTS:-40000:8}
conc=${REUSE_CONC:-4}
RES=$OUT/reuse
mkdir -p "$RES"

fail_infra() {
	_report "not ok - reuse: $*"
	failures=$((failures + 1))
}

# The load generator and the servers, built for this run with the host's compiler (-O0: cc1
# under TCG takes ~20 s at -O2, ~5 s at -O0; the program waits on the network either way).
LOAD=$WORK/reuse-load
t=$SECONDS
if ! cc -O0 -Wall -o "$LOAD" "$here/reuse-load.c" 2>"$WORK/cc.err"; then
	sed 's/^/# /' "$WORK/cc.err"
	fail_infra "reuse-load.c does not compile"
	exit 1
fi
echo "# reuse: reuse-load built in $((SECONDS - t))s"

VIP=10.96.0.10
CLI=10.0.1.2
NS_ALL="rc_cli rc_lb rc_s1 rc_s2 rc_s3"

topology_up() {
	local k
	{
		for ns in $NS_ALL; do echo "netns add $ns"; done
		echo "link add eth0 netns rc_cli type veth peer name c1 netns rc_lb"
		for k in 1 2 3; do echo "link add eth0 netns rc_s$k type veth peer name s$k netns rc_lb"; done
	} | ip -b - || return 1
	ip -n rc_cli -b - <<-EOF || return 1
		link set lo up
		link set eth0 up
		addr add $CLI/24 dev eth0
		route add default via 10.0.1.1
	EOF
	{
		echo "link set lo up"
		echo "link set c1 up"
		echo "addr add 10.0.1.1/24 dev c1"
		# kube-proxy's kube-ipvs0: a dummy device holding the service addresses.
		echo "link add kipvs0 type dummy"
		echo "link set kipvs0 up"
		echo "addr add $VIP/32 dev kipvs0"
		for k in 1 2 3; do
			echo "link set s$k up"
			echo "addr add 10.0.1$k.1/24 dev s$k"
		done
	} | ip -n rc_lb -b - || return 1
	for k in 1 2 3; do
		ip -n rc_s$k -b - <<-EOF || return 1
			link set lo up
			link set eth0 up
			addr add 10.0.1$k.2/24 dev eth0
			route add default via 10.0.1$k.1
		EOF
	done
}

topology_down() {
	for ns in $NS_ALL; do echo "netns del $ns"; done | ip -b - 2>/dev/null
}

# director_setup MODE EXPIRE CT OLDCT PAIR: sysctls, nft (MASQUERADE, and SYN counters for
# port 80), the service VIP:80 and, if PAIR=1, VIP:81 with the same destinations (on port 81).
# Prints "absent" if conn_reuse_old_conntrack was asked for and the module has no such sysctl.
director_setup() {
	# shellcheck disable=SC2016  # the script is expanded by the inner sh, with its arguments
	ip netns exec rc_lb sh -ec '
		vs=/proc/sys/net/ipv4/vs
		echo 1 >/proc/sys/net/ipv4/ip_forward
		echo "$1" >$vs/conn_reuse_mode
		echo "$2" >$vs/expire_nodest_conn
		echo "$3" >$vs/conntrack
		if [ "$4" = 1 ]; then
			if [ -e $vs/conn_reuse_old_conntrack ]; then
				echo 1 >$vs/conn_reuse_old_conntrack
			else
				echo absent
			fi
		fi
		nft -f - <<-EOF
		table ip reuse_nat {
			chain post {
				type nat hook postrouting priority srcnat;
				oifname "s*" masquerade
			}
		}
		table inet reuse_count {
			counter syn_in { }
			counter syn_out { }
			chain pre {
				type filter hook prerouting priority -300;
				iifname "c1" tcp dport 80 tcp flags & (syn | ack) == syn counter name "syn_in"
			}
			chain post {
				type filter hook postrouting priority 300;
				oifname "s*" tcp dport 80 tcp flags & (syn | ack) == syn counter name "syn_out"
			}
		}
		EOF
		ipvsadm -R <<-EOF
		-A -t '"$VIP"':80 -s rr
		-a -t '"$VIP"':80 -r 10.0.11.2:80 -m -w 1
		-a -t '"$VIP"':80 -r 10.0.12.2:80 -m -w 1
		-a -t '"$VIP"':80 -r 10.0.13.2:80 -m -w 1
		EOF
		if [ "$5" = 1 ]; then
			ipvsadm -R <<-EOF
			-A -t '"$VIP"':81 -s rr
			-a -t '"$VIP"':81 -r 10.0.11.2:81 -m -w 1
			-a -t '"$VIP"':81 -r 10.0.12.2:81 -m -w 1
			-a -t '"$VIP"':81 -r 10.0.13.2:81 -m -w 1
			EOF
		fi
	' director_setup "$@"
}

# run_cell LABEL MODULE CELL PHASES
run_cell() {
	local label=$1 module=$2 cell=$3 phases=$4 m e ct close old=0 pair=0 note extra t0=$SECONDS
	if ! [[ $cell =~ ^m([0-9])-e([01])-ct([01])-(fin|rst)(-old1)?$ ]]; then
		fail_infra "bad cell name '$cell'"
		return
	fi
	m=${BASH_REMATCH[1]} e=${BASH_REMATCH[2]} ct=${BASH_REMATCH[3]} close=${BASH_REMATCH[4]}
	[ -z "${BASH_REMATCH[5]}" ] || old=1
	# The conn_reuse_old_conntrack RST cells carry a FIN-closing flow alongside (VIP:81), the
	# reference their latency is compared with under the same host load.
	if [ "$old" = 1 ] && [ "$close" = rst ]; then pair=1; fi
	topology_down
	if ! topology_up; then
		fail_infra "$label $cell: topology setup failed"
		topology_down
		return
	fi
	if ! note=$(director_setup "$m" "$e" "$ct" "$old" "$pair" 2>"$WORK/setup.err"); then
		sed 's/^/# /' "$WORK/setup.err"
		fail_infra "$label $cell: director setup failed"
		topology_down
		return
	fi
	extra=$(printf '{"run": "%s", "module": "%s", "cell": "%s", "conn_reuse_mode": %s, "expire_nodest_conn": %s, "conntrack": %s, "old_conntrack": %s, "old_conntrack_sysctl": "%s"}' \
		"$label" "$module" "$cell" "$m" "$e" "$ct" "$old" "$(if [ "$old" = 0 ]; then echo unused; elif [ "$note" = absent ]; then echo absent; else echo present; fi)")
	mkdir -p "$RES/$label" "$WORK/$label-$cell"
	if ! timeout 600 "$LOAD" --cli rc_cli --cli-addr "$CLI" --lb rc_lb --vip "$VIP" \
		--server rc_s1=10.0.11.2 --server rc_s2=10.0.12.2 --server rc_s3=10.0.13.2 \
		--ports "$ports" --concurrency "$conc" --phases "$phases" --close "$close" \
		--pair-port "$([ "$pair" = 1 ] && echo 81 || echo 0)" --weight0 3 --fixb 2 --workdir "$WORK/$label-$cell" --label "$label/$cell" \
		--extra-json "$extra" --out "$RES/$label/$cell.json" 2>"$WORK/load.err"; then
		sed 's/^/# /' "$WORK/load.err"
		fail_infra "$label $cell: reuse-load failed"
		rm -f "$RES/$label/$cell.json"
	fi
	topology_down
	echo "# reuse: $label $cell done in $((SECONDS - t0))s"
}

# Run labels: a module named twice runs twice ("c", "c-2").
declare -A seen=()
labels=()
for module in "$@"; do
	seen[$module]=$(( ${seen[$module]:-0} + 1 ))
	if [ "${seen[$module]}" = 1 ]; then labels+=("$module"); else labels+=("$module-${seen[$module]}"); fi
done
for label in "${labels[@]}"; do rm -rf "${RES:?}/$label"; done

# Cell by cell, every run of a cell back to back: TCG timing drifts with the host's load, and
# comparing rs with the C runs just before and after it keeps that drift out of the spread.
start=$SECONDS
names=
for spec in $cells; do
	cell=${spec%%:*}
	names+=" $cell"
	cell_phases=$phases
	[ "$spec" = "$cell" ] || cell_phases=${spec#*:}
	for label in "${labels[@]}"; do
		module=${label%%-*}
		# conn_reuse_old_conntrack is ipvs_rs's: C has no such sysctl.
		if [ "$module" = c ] && [[ $cell == *-old1 ]]; then continue; fi
		if ! load_ipvs "$module"; then
			fail_infra "load $module for run $label $cell"
			continue
		fi
		run_cell "$label" "$module" "$cell" "$cell_phases"
		# Namespace teardown is asynchronous; rmmod may have to wait for it.
		for _ in 1 2 3 4 5 6 7 8 9 10; do unload_ipvs "$module" 2>/dev/null && break; sleep 1; done
		if grep -qE "^(ip_vs|ipvs_rs) " /proc/modules; then
			fail_infra "unload $module after run $label $cell"
			break 2
		fi
	done
done
echo "# reuse: all runs in $((SECONDS - start))s"

"$PY" "$here/analyze.py" --tap "$TAP" --cells "$names" "$RES" "$@" || fail_infra "analyze.py failed"
cat "$RES/table.txt" 2>/dev/null
failures=$((failures + $(grep -c '^not ok - ' "$TAP")))
echo "# reuse: $(grep -c '^ok - ' "$TAP") ok, $(grep -c '^not ok - ' "$TAP") not ok"
[ "$(grep -c '^not ok - ' "$TAP")" = 0 ]
