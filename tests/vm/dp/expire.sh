#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/dp/expire.sh [MOD...]     (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/dp tools/vm.sh --timeout 900 -- tests/vm/dp/expire.sh c rs
#
# Connection states and timeouts, per MOD in fresh namespaces (common.sh), with
# `ipvsadm --set 5 3 4` (ESTABLISHED 5 s, FIN_WAIT 3 s, UDP 4 s; the other TCP states keep
# C's fixed timeouts: SYN_RECV 60 s, CLOSE_WAIT 60 s, TIME_WAIT 120 s, CLOSE 10 s).
# Thirteen single connections, each from its own client address, run at once against a NAT
# service (both directions pass the director: C's full TCP state table) and a DR service
# (only the client's packets do: the input-only table), while `ipvsadm -L -n -c` is polled in
# the director (expire-report.py reads the polls). IPVS names TCP states from the real
# server's side:
#   NAT  est        idle after one exchange              ESTABLISHED, gone after 5 s
#        clientfin  client half-closes, server holds     CLOSE_WAIT, expire ~60 s, still there
#        serverfin  server closes first, client holds    FIN_WAIT, gone after 3 s
#        close      normal close, client first           TIME_WAIT, expire ~120 s, still there
#        rst        client aborts (RST)                  CLOSE, gone after 10 s
#        refused    SYN to a port nobody listens on      CLOSE (server's RST), gone after 10 s
#        udp        one datagram each way                UDP, gone after 4 s
#   DR   est, rst, udp as above; clientfin and close (normal close): the client's FIN makes
#        it FIN_WAIT, gone after 3 s; refused (the server's RST bypasses the director):
#        SYN_RECV, expire ~60 s, still there
# "Gone after T": the entry went away no earlier than T - $EARLY s after the connection's
# last packet and no later than T + $LATE s after it (TCG timers are coarse), as far as the
# polls can tell: the poller reads /proc/net/ip_vs_conn every ~0.2 s with bash builtins and
# every fifth time runs `ipvsadm -L -n -c`, stamping each read's start and end, and runs until
# $WINDOW s after the last client's last packet (expire-report.py). One TAP line per MOD and
# connection: "expire MOD NAME".
# Files: $VM_OUT/dp-expire-<run>/ (client outputs, polls.txt).
. "$(dirname "$0")/common.sh"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
WINDOW=${DP_EXPIRE_WINDOW:-14}

# NAME MODE PROTO PORT CLIENT-ADDRESS STATE SECONDS gone|stays DPGEN-CLIENT-OPTIONS
SCENARIOS="
nat-est       NAT tcp 8080 10.1.0.10  ESTABLISHED 5   gone  -L 30000
nat-clientfin NAT tcp 8080 10.1.0.11  CLOSE_WAIT  60  stays -L 30000 -h -f 2 -H 30000
nat-serverfin NAT tcp 8080 10.1.0.12  FIN_WAIT    3   gone  -L 30000 -f 1
nat-close     NAT tcp 8080 10.1.0.13  TIME_WAIT   120 stays
nat-rst       NAT tcp 8080 10.1.0.14  CLOSE       10  gone  -x
nat-refused   NAT tcp 8081 10.1.0.15  CLOSE       10  gone
nat-udp       NAT udp 8080 10.1.0.16  UDP         4   gone
dr-est        DR  tcp 8080 10.1.0.140 ESTABLISHED 5   gone  -L 30000
dr-clientfin  DR  tcp 8080 10.1.0.141 FIN_WAIT    3   gone  -L 30000 -h -f 2 -H 30000
dr-close      DR  tcp 8080 10.1.0.142 FIN_WAIT    3   gone
dr-rst        DR  tcp 8080 10.1.0.143 CLOSE       10  gone  -x
dr-refused    DR  tcp 8081 10.1.0.144 SYN_RECV    60  stays
dr-udp        DR  udp 8080 10.1.0.145 UDP         4   gone
"
NAT_VIP=10.0.100.1
DR_VIP=10.0.100.2

# run_module LABEL MODULE
run_module() {
	local label=$1 module=$2 d=$WORK/dp-expire-$1 start=$SECONDS ns name mode proto port src opts vip pids=() poller
	mkdir -p "$d"
	if ! load_ipvs "$module" || ! ipvs_is "$module"; then
		tap_fail "expire $label: load $module" "$(grep -E '^(ip_vs|ipvs_rs) ' /proc/modules)"
		unload_ipvs "$module" 2>/dev/null
		echo "$module did not load" >"$d/not-run"
		return
	fi
	if ! topo_up "$label" || ! servers_up "$label"; then
		tap_fail "expire $label: namespaces and servers"
		echo "no topology" >"$d/not-run"
	else
		# NAT and DR at once: the real servers send replies to the NAT clients (10.1.0.0/25)
		# back through the director, to the DR clients (10.1.0.128/25) straight to the router.
		for ns in "${DP_RS[@]}"; do
			ip -n "$ns" -batch - <<-EOF
				route replace 10.1.0.0/25 via 10.0.1.1
				route replace 10.1.0.128/25 via 10.0.1.254
			EOF
		done
		ip netns exec "$DP_DIR" ipvsadm -R <<-EOF
			--set 5 3 4
			-A -t $NAT_VIP:8080 -s rr
			-a -t $NAT_VIP:8080 -r 10.0.1.11:8080 -m
			-A -t $NAT_VIP:8081 -s rr
			-a -t $NAT_VIP:8081 -r 10.0.1.11:8081 -m
			-A -u $NAT_VIP:8080 -s rr
			-a -u $NAT_VIP:8080 -r 10.0.1.11:8080 -m
			-A -t $DR_VIP:8080 -s rr
			-a -t $DR_VIP:8080 -r 10.0.1.11:8080 -g
			-A -t $DR_VIP:8081 -s rr
			-a -t $DR_VIP:8081 -r 10.0.1.11:8081 -g
			-A -u $DR_VIP:8080 -s rr
			-a -u $DR_VIP:8080 -r 10.0.1.11:8080 -g
		EOF
		ip netns exec "$DP_DIR" ipvsadm -L -n --timeout >"$d/timeouts.txt" 2>&1
		ip netns exec "$DP_DIR" ipvsadm -L -n >"$d/services.txt" 2>&1
		# The poller: /proc/net/ip_vs_conn (read by bash itself, so a poll takes
		# milliseconds however slow processes start) every ~0.2 s, and every fifth time
		# `ipvsadm -L -n -c` (which formats that file), each between "@ <epoch seconds>" and
		# "= <epoch seconds>" lines: the table was read between the two. It stops when
		# $d/stop appears, or after 120 s.
		rm -f "$d/stop"
		# shellcheck disable=SC2016  # expanded by that bash
		ip netns exec "$DP_DIR" bash -c '
			exec {never}<> <(:)
			end=$((SECONDS + 120)) n=0
			while [ $SECONDS -lt $end ] && [ ! -e "$1" ]; do
				echo "@ $EPOCHREALTIME"
				mapfile -t lines </proc/net/ip_vs_conn
				echo "= $EPOCHREALTIME"
				printf "%s\n" "${lines[@]}"
				if [ $((n % 5)) = 0 ]; then
					echo "@ $EPOCHREALTIME"
					ipvsadm -L -n -c
					echo "= $EPOCHREALTIME"
				fi
				n=$((n + 1))
				read -r -t 0.2 -u $never _
			done' poller "$d/stop" >"$d/polls.txt" 2>&1 &
		poller=$!
		while read -r name mode proto port src _ _ _ opts; do
			[ -n "$name" ] || continue
			vip=$NAT_VIP
			[ "$mode" = DR ] && vip=$DR_VIP
			# shellcheck disable=SC2086  # opts are dpgen options
			ip netns exec "$DP_CL" "$DPGEN" client -"${proto:0:1}" -d "$vip" -p "$port" -s "$src" \
				-C 900 -w 3000 -R 0 -v $opts >"$d/$name.client" 2>&1 &
			pids+=($!)
		done <<<"$SCENARIOS"
		# Until WINDOW s after the last of the clients' last packets (the longest "gone"
		# timeout, CLOSE's 10 s, plus LATE, plus a margin), however long they took to start.
		local waited=0
		while [ $waited -lt 60 ]; do
			[ "$(grep -l -E '^(exchanged|result) ' "$d"/*.client 2>/dev/null | wc -l)" -lt ${#pids[@]} ] || break
			sleep 0.5
			waited=$((waited + 1))
		done
		sleep "$WINDOW"
		touch "$d/stop"
		wait "$poller"
		kill "${pids[@]}" 2>/dev/null
		wait "${pids[@]}" 2>/dev/null
		servers_down
		topo_down "$label"
	fi
	if ipvs_is "$module"; then echo yes; else grep -E '^(ip_vs|ipvs_rs) ' /proc/modules; fi >"$d/in-charge"
	unload_ipvs "$module" || tap_fail "expire $label: unload $module"
	note "expire $label: $((SECONDS - start))s"
}

start=$SECONDS
if ! build_dpgen; then
	tap_fail "expire: build dpgen"
	finish
	exit
fi
declare -A seen=()
for m in "$@"; do
	seen[$m]=$((${seen[$m]:-0} + 1))
	label=$m
	[ "${seen[$m]}" = 1 ] || label=$m-${seen[$m]}
	run_module "$label" "$m"
	while IFS= read -r line; do
		case $line in
		"ok - "*) tap_ok "${line#ok - }" ;;
		"not ok - "*) _report "$line"; failures=$((failures + 1)) ;;
		*) printf '%s\n' "$line" ;;
		esac
	done < <(printf '%s\n' "$SCENARIOS" | "$PY" "$DP/expire-report.py" "$label" "$m" "$WORK/dp-expire-$label" ||
		echo "not ok - expire $label: expire-report.py failed")
	publish "dp-expire-$label"
done
note "expire ($*): $((SECONDS - start))s"
finish
