#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/dp/sctp.sh [MOD...]     (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/dp tools/vm.sh --timeout 900 -- tests/vm/dp/sctp.sh c rs
#
# SCTP services with real SCTP endpoints (the kernel's SCTP, sctpecho.py): per case an
# --sctp-service (rr) over rs1..rs3 and $N associations from the client, one after the other
# (connect, one message and its answer from the server, SHUTDOWN). Cases: NAT IPv4 and IPv6
# (the CRC32c is rewritten with the port: the services listen on another port than the
# virtual one), DR IPv4 and IPv6, TUN IPv4.
# Checks, TAP "sctp MOD CASE: ...": every association answered, by each real server once (rr);
# the entries left (ipvsadm -Lnc: state and real server, sorted) and, with two or more MODs,
# the answering servers and the entries equal to the first MOD's ("sctp CASE: MOD as FIRST").
# Files: $VM_OUT/dp-sctp-<run>/.
. "$(dirname "$0")/common.sh"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
N=3
SPORT=9132
ECHO=$DP/sctpecho.py
# CASE family method(-m NAT, -g DR, -i TUN) virtual-port
CASES=("nat4 4 -m 80" "nat6 6 -m 80" "dr4 4 -g $SPORT" "dr6 6 -g $SPORT" "tun4 4 -i $SPORT")
SCTP_PIDS=()

# sctp_servers_up DIR [ADDR]: one server per real server, on every address or on ADDR (the
# VIP, for DR and TUN: see sctpecho.py).
sctp_servers_up() {
	local d=$1 addr=${2:-} i
	SCTP_PIDS=()
	for i in 1 2 3; do
		rm -f "$d/srv$i.ready"
		ip netns exec "${DP_RS[i - 1]}" "$PY" "$ECHO" server "$i" "$SPORT" "$d/srv$i.ready" ${addr:+"$addr"} \
			2>"$d/srv$i.err" &
		SCTP_PIDS+=($!)
	done
	for i in 1 2 3; do wait_for_file "$d/srv$i.ready" 100 || return 1; done
}

sctp_servers_down() {
	local pid
	for pid in "${SCTP_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	for pid in "${SCTP_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
	SCTP_PIDS=()
}

run_module() {
	local label=$1 module=$2 d=$WORK/dp-sctp-$1 c name fam meth vport vip n svc i ok servers bind
	mkdir -p "$d"
	if ! load_ipvs "$module" || ! ipvs_is "$module"; then
		tap_fail "sctp $label: load $module"
		unload_ipvs "$module" 2>/dev/null
		return
	fi
	if ! topo_up "$label"; then
		tap_fail "sctp $label: namespaces"
		topo_down "$label"
		unload_ipvs "$module"
		return
	fi
	n=0
	for c in "${CASES[@]}"; do
		read -r name fam meth vport <<<"$c"
		n=$((n + 1))
		if [ "$meth" = -m ]; then rs_routes NAT; else rs_routes DR; fi
		vip=$(vip "$fam" "$((220 + n))")
		svc=$(hostport "$fam" "$vip" "$vport")
		bind=
		[ "$meth" = -m ] || bind=$vip
		if ! sctp_servers_up "$d" "$bind"; then
			tap_fail "sctp $label $name: SCTP servers" "$(cat "$d"/srv*.err 2>/dev/null | head -n 5)"
			sctp_servers_down
			continue
		fi
		{
			echo "-A --sctp-service $svc -s rr"
			for i in 1 2 3; do echo "-a --sctp-service $svc -r $(hostport "$fam" "$(rip "$fam" "$i")" "$SPORT") $meth -w 1"; done
		} | ip netns exec "$DP_DIR" ipvsadm -R >"$d/$name.err" 2>&1
		ip netns exec "$DP_CL" "$PY" "$ECHO" client "$vip" "$vport" "$N" >"$d/$name.client" 2>&1
		ok=$(grep -c ' ok ' "$d/$name.client")
		servers=$(awk '$2 == "ok" { print $3 }' "$d/$name.client" | sort | tr '\n' ' ')
		awk '$2 == "ok" { print $3 }' "$d/$name.client" >"$d/$name.servers"
		if [ "$ok" = "$N" ] && [ "$servers" = "1 2 3 " ]; then
			tap_ok "sctp $label $name: $N associations answered, one per real server"
		else
			tap_fail "sctp $label $name: $N associations answered, one per real server" \
				"$(cat "$d/$name.client" "$d/$name.err")"
		fi
		# The entries: state and real server (client ports are the client's choice).
		ip netns exec "$DP_DIR" ipvsadm -L -n -c >"$d/$name.conns" 2>&1
		awk -v v="$svc" '$1 == "SCTP" && $5 == v { print $3, $6 }' "$d/$name.conns" | sort >"$d/$name.entries"
		if [ "$(wc -l <"$d/$name.entries")" = "$N" ]; then
			tap_ok "sctp $label $name: $N entries listed ($(awk '{ print $1 }' "$d/$name.entries" | sort -u | tr '\n' ' '))"
		else
			tap_fail "sctp $label $name: $N entries listed" "$(cat "$d/$name.conns")"
		fi
		ip netns exec "$DP_DIR" ipvsadm -D --sctp-service "$svc"
		sctp_servers_down
	done
	ip netns exec "$DP_DIR" ipvsadm -C
	topo_down "$label"
	unload_ipvs "$module" || tap_fail "sctp $label: unload $module"
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
if [ "${#labels[@]}" -ge 2 ]; then
	first=${labels[0]}
	for c in "${CASES[@]}"; do
		read -r name _ <<<"$c"
		for l in "${labels[@]:1}"; do
			a=$WORK/dp-sctp-$first b=$WORK/dp-sctp-$l
			if [ -s "$a/$name.servers" ] && cmp -s "$a/$name.servers" "$b/$name.servers" &&
				cmp -s "$a/$name.entries" "$b/$name.entries"; then
				tap_ok "sctp $name: $l as $first (servers and entries)"
			else
				tap_fail "sctp $name: $l as $first (servers and entries)" \
					"$first: $(tr '\n' ' ' <"$a/$name.servers" 2>/dev/null) | $(tr '\n' ';' <"$a/$name.entries" 2>/dev/null)" \
					"$l: $(tr '\n' ' ' <"$b/$name.servers" 2>/dev/null) | $(tr '\n' ';' <"$b/$name.entries" 2>/dev/null)"
			fi
		done
	done
fi
for l in "${labels[@]}"; do publish "dp-sctp-$l"; done
finish
