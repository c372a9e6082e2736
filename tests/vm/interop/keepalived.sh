#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/interop/keepalived.sh [MOD...]   (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/interop tools/vm.sh --timeout 900 -- tests/vm/interop/keepalived.sh c rs
#
# The real keepalived (Debian's, installed by tools/deps.sh; its own IPVS netlink code,
# keepalived/check/libipvs.c) as a node runs it: the checker process only (--check), in the
# director namespace of dp/common.sh, with two NAT virtual servers over rs1..rs3 and a
# TCP_CHECK per real server (delay_loop 1):
#   VS_DEL  10.0.100.60:8080 rr                       a failed check removes the real server
#   VS_INH  10.0.100.61:8080 wrr, inhibit_on_failure  a failed check sets its weight to 0
# Steps per MOD: keepalived programs both services (3 real servers each) and traffic is spread
# over them; rs2 stops answering the director's checks (a prohibit route to the director's
# address in rs2: its SYN-ACKs to the checker are not sent; client traffic, answered through
# the default route, is untouched): keepalived removes rs2 from VS_DEL and sets its weight to
# 0 in VS_INH, and new connections avoid it; rs2 recovers: keepalived puts it back; keepalived
# stops (SIGTERM): it removes its virtual servers. TAP "keepalived MOD ..."; then the IPVS
# state after each step and the traffic counts must be the same under each MOD as under the
# first ("... same as c"). Files: $VM_OUT/interop-ka-<label>/.
. "$(dirname "$0")/common.sh"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
VS_DEL=10.0.100.60
VS_INH=10.0.100.61
KA=$(command -v keepalived || echo /usr/sbin/keepalived)

ka_conf() {
	local vs extra i
	cat <<-EOF
		global_defs {
		    router_id interop
		}
	EOF
	for vs in "$VS_DEL rr" "$VS_INH wrr inhibit"; do
		# shellcheck disable=SC2086  # "VIP SCHED [inhibit]"
		set -- $vs
		extra=
		[ "${3:-}" = inhibit ] && extra="inhibit_on_failure"
		cat <<-EOF
			virtual_server $1 $DP_PORT {
			    delay_loop 1
			    lb_algo $2
			    lb_kind NAT
			    protocol TCP
		EOF
		for i in 1 2 3; do
			cat <<-EOF
				    real_server $(rip 4 $i) $DP_PORT {
				        weight 1
				        $extra
				        TCP_CHECK {
				            connect_timeout 3
				            retry 1
				            delay_before_retry 1
				        }
				    }
			EOF
		done
		echo "}"
	done
}

# ipvs_state: ipvsadm -L -n, services sorted (C lists in hash order), without the connection
# counters (they follow the TIME_WAIT entries of earlier steps, a matter of timing here).
ipvs_state() {
	ip netns exec "$DP_DIR" ipvsadm -L -n 2>&1 | normalize_proc | awk '$1 == "->" { print $1, $2, $3, $4; next } { print }'
}

# wait_state FILE TENTHS CMD...: until CMD (run on the state) succeeds; the state in FILE.
wait_state() {
	local f=$1 n=0 max=$2
	shift 2
	while :; do
		ipvs_state >"$f"
		"$@" <"$f" && return 0
		[ "$n" -lt "$max" ] || return 1
		sleep 0.5
		n=$((n + 5))
	done
}

# has_dests VS N: the service VS has N real servers (stdin: ipvs_state).
has_dests() {
	awk -v vs="$1:$DP_PORT" -v want="$2" '$1 == "TCP" { in_vs = ($2 == vs) } in_vs && $1 == "->" && $2 != "RemoteAddress:Port" { n++ }
		END { exit !(n == want) }'
}
# weight_of VS RS W: the real server RS of VS has weight W (stdin: ipvs_state).
weight_of() {
	awk -v vs="$1:$DP_PORT" -v rs="$2:$DP_PORT" -v w="$3" '$1 == "TCP" { in_vs = ($2 == vs) } in_vs && $1 == "->" && $2 == rs { found = ($4 == w) }
		END { exit !found }'
}
gone_rs2() { local s; s=$(cat); has_dests "$VS_DEL" 2 <<<"$s" && weight_of "$VS_INH" "$(rip 4 2)" 0 <<<"$s"; }
back_rs2() { local s; s=$(cat); has_dests "$VS_DEL" 3 <<<"$s" && weight_of "$VS_INH" "$(rip 4 2)" 1 <<<"$s"; }
all_up() { local s; s=$(cat); has_dests "$VS_DEL" 3 <<<"$s" && has_dests "$VS_INH" 3 <<<"$s"; }
no_services() { ! grep -q '^TCP' ; }

# traffic LABEL NAME VIP CELL WANT: 30 connections, one at a time; TAP line.
traffic() {
	local label=$1 name=$2 vip=$3 cell=$4 want=$5 rc=0
	ip netns exec "$DP_CL" "$DPGEN" client -t -d "$vip" -s "$(src_base 4)" -k 8 -n 30 -c 1 -C "$cell" \
		-w 3000 -R 3 >"$d/$name.client" 2>&1 || rc=$?
	server_counts "$label" "$cell" tcp >"$d/$name.counts"
	if [ "$rc" = 0 ] && [ "$(cat "$d/$name.counts")" = "$want" ]; then
		tap_ok "keepalived $label: $name: 30 connections to $vip ($want)"
	else
		tap_fail "keepalived $label: $name: 30 connections to $vip" "exit $rc, counts $(cat "$d/$name.counts"), want $want" \
			"$(grep -E '^(result|server)' "$d/$name.client")"
	fi
}

# step LABEL DESC FILE PRED: wait (40 s) for the IPVS state PRED; TAP line.
step() {
	if wait_state "$3" 400 "$4"; then
		tap_ok "keepalived $1: $2"
	else
		tap_fail "keepalived $1: $2" "$(cat "$3")" "$(tail -n 15 "$d/keepalived.log")"
	fi
}

run_module() {
	local label=$1 module=$2 from ka_pid rc
	d=$WORK/interop-ka-$label
	mkdir -p "$d"
	from=$(($(dmesg_lines) + 1))
	if ! load_ipvs "$module" || ! ipvs_is "$module"; then
		tap_fail "keepalived $label: load $module" "$(grep -E '^(ip_vs|ipvs_rs) ' /proc/modules)"
		unload_ipvs "$module" 2>/dev/null
		return
	fi
	if ! topo_up "$label" || ! servers_up "$label"; then
		tap_fail "keepalived $label: namespaces and servers"
		servers_down
		topo_down "$label"
		unload_ipvs "$module"
		return
	fi
	ka_conf >"$d/keepalived.conf"
	ip netns exec "$DP_DIR" "$KA" --check --dont-fork --log-console --log-detail --use-file "$d/keepalived.conf" \
		--pid "$d/keepalived.pid" --checkers_pid "$d/checkers.pid" >"$d/keepalived.log" 2>&1 &
	ka_pid=$!
	step "$label" "both virtual servers programmed with 3 real servers" "$d/1-up.txt" all_up
	traffic "$label" up-del "$VS_DEL" 20 "10 10 10"
	traffic "$label" up-inh "$VS_INH" 21 "10 10 10"

	ip -n "${DP_RS[1]}" route add prohibit 10.0.1.1/32
	step "$label" "rs2's check fails: removed from $VS_DEL, weight 0 in $VS_INH" "$d/2-down.txt" gone_rs2
	traffic "$label" down-del "$VS_DEL" 22 "15 0 15"
	traffic "$label" down-inh "$VS_INH" 23 "15 0 15"

	ip -n "${DP_RS[1]}" route del prohibit 10.0.1.1/32
	step "$label" "rs2's check passes again: back in both" "$d/3-back.txt" back_rs2
	traffic "$label" back-del "$VS_DEL" 24 "10 10 10"
	traffic "$label" back-inh "$VS_INH" 25 "10 10 10"

	kill -TERM "$ka_pid" 2>/dev/null
	rc=0
	wait "$ka_pid" || rc=$?
	ipvs_state >"$d/4-stopped.txt"
	if no_services <"$d/4-stopped.txt"; then
		tap_ok "keepalived $label: stopped (exit $rc), its virtual servers removed"
	else
		tap_fail "keepalived $label: stopped (exit $rc), its virtual servers removed" "$(cat "$d/4-stopped.txt")"
	fi
	# keepalived's own IPVS errors, if any (netlink replies it did not expect).
	grep -i 'ipvs' "$d/keepalived.log" | grep -iE 'error|fail|cannot|can.t' >"$d/ipvs-errors.txt"
	if [ -s "$d/ipvs-errors.txt" ]; then
		tap_fail "keepalived $label: no IPVS error in keepalived's log" "$(head -n 10 "$d/ipvs-errors.txt")"
	else
		tap_ok "keepalived $label: no IPVS error in keepalived's log"
	fi

	ip netns exec "$DP_DIR" ipvsadm -C
	servers_down
	topo_down "$label"
	unload_ipvs "$module" || tap_fail "keepalived $label: unload $module"
	log_clean "keepalived $label" "$from"
}

start=$SECONDS
if ! build_dpgen; then
	tap_fail "keepalived: build dpgen"
	finish
	exit
fi
if ! [ -x "$KA" ]; then
	tap_fail "keepalived: the keepalived binary (tools/deps.sh installs it)"
	finish
	exit
fi
note "keepalived: $("$KA" --version 2>&1 | head -n 1)"
labels_for "$@"
for k in "${!LABELS[@]}"; do
	run_module "${LABELS[k]}" "${@:k+1:1}"
	publish "interop-ka-${LABELS[k]}"
done
for label in "${LABELS[@]:1}"; do
	same_as keepalived interop-ka "${LABELS[0]}" "$label" 1-up.txt 2-down.txt 3-back.txt 4-stopped.txt \
		up-del.counts up-inh.counts down-del.counts down-inh.counts back-del.counts back-inh.counts
done
note "keepalived ($*): $((SECONDS - start))s"
finish
