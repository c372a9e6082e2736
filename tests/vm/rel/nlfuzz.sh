#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/rel/nlfuzz.sh [MOD...]     (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/rel tools/vm.sh --timeout 1500 -- tests/vm/rel/nlfuzz.sh c rs
#
# Netlink fuzzing, per MOD: $REL_NL_PROCS (4) network namespaces, each running nlfuzz.py (random
# and mutated IPVS generic netlink requests, bulk adds of $REL_NL_BULK (300) services with up to
# 8 destinations each, flushes; see its docstring) for $REL_NL_SECS (30; 300 with REL_LONG=1)
# s, all at once, while data traffic flows through NAT services (TCP IPv4, UDP IPv6) in the
# dp/common.sh topology of another namespace. Checks (TAP "nlfuzz MOD: ..."):
#   - every request of every fuzzer was answered (errno or success) within 10 s, and its own
#     state queries stayed consistent (after a flush: no services in the dump nor in
#     /proc/net/ip_vs; after N successful adds: N in both);
#   - afterwards `ipvsadm -C` then `ipvsadm -L -n` lists nothing in each fuzz namespace;
#   - the data traffic succeeded throughout (every dpgen connection, every round);
#   - the module unloads; kernel log clean; kmemleak (debug kernel) finds nothing after it;
#   - with both c and rs: the same $REL_NL_SEQ (1000) random requests, one at a time in a fresh
#     namespace, get the same errno from both, and the same services are listed every 250
#     (differential; the diff is in $VM_OUT/rel-nlfuzz-sequence.diff).
. "$(dirname "$0")/common.sh"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
if [ "$LONG" = 1 ]; then SECS=${REL_NL_SECS:-300}; else SECS=${REL_NL_SECS:-30}; fi
NPROCS=${REL_NL_PROCS:-4}
BULK=${REL_NL_BULK:-300}
SEED=${REL_NL_SEED:-$(date +%s)}
NSEQ=${REL_NL_SEQ:-1000}
ulimit -n 65536

# proc_across_namespaces LABEL MODULE DIR: 300 services in each of two namespaces; each
# namespace's /proc/net/ip_vs must list its own 300. C's does not (ip_vs_info_seq_next() walks
# every namespace's services, ip_vs_info_array() restarts a read by a position counted in the
# reader's namespace only): reported as a note for C, a TAP line for ipvs_rs.
proc_across_namespaces() {
	local label=$1 module=$2 d=$3 ns_a=nlpa_${1//-/_} ns_b=nlpb_${1//-/_} i n1 n2
	for ns in "$ns_a" "$ns_b"; do
		ip netns del "$ns" 2>/dev/null
		ip netns add "$ns"
		for i in $(seq 300); do echo "-A -t 10.20.$((i / 250)).$((i % 250 + 1)):80 -s rr"; done | ip netns exec "$ns" ipvsadm -R
	done
	n1=$(ip netns exec "$ns_a" grep -c '^TCP ' /proc/net/ip_vs)
	n2=$(ip netns exec "$ns_a" ipvsadm -L -n | grep -c '^TCP ')
	echo "proc $n1 netlink $n2" >"$d/proc-across-namespaces"
	ip netns del "$ns_a"
	ip netns del "$ns_b"
	if [ "$n1" = 300 ] && [ "$n2" = 300 ]; then
		tap_ok "nlfuzz $label: /proc/net/ip_vs and the dump list a namespace's 300 services while another has 300"
	elif [ "$module" = c ] && [ "$n2" = 300 ]; then
		note "nlfuzz $label: C's /proc/net/ip_vs lists $n1 of a namespace's 300 services while another namespace has 300 (C defect: position counted per namespace, walk over all)"
	else
		tap_fail "nlfuzz $label: /proc/net/ip_vs and the dump list a namespace's 300 services while another has 300" "/proc/net/ip_vs: $n1, ipvsadm -L -n: $n2"
	fi
}

run_module() {
	local label=$1 module=$2 from d=$WORK/rel-nlfuzz-$1 i ns rc pids=() tpids=() t0
	mkdir -p "$d"
	from=$(($(dmesg_lines) + 1))
	kmemleak_clear
	if ! load_ipvs "$module"; then
		tap_fail "nlfuzz $label: load $module"
		return
	fi
	if ! topo_up "$label" || ! servers_up "$label"; then
		tap_fail "nlfuzz $label: topology and servers"
		servers_down
		topo_down "$label"
		unload_ipvs "$module"
		return
	fi
	{
		echo "-A -t 10.0.100.1:$DP_PORT -s rr"
		echo "-A -u [fd00:100::1]:$DP_PORT -s wrr"
		for i in 1 2 3; do
			echo "-a -t 10.0.100.1:$DP_PORT -r $(rip 4 "$i"):$DP_PORT -m"
			echo "-a -u [fd00:100::1]:$DP_PORT -r [$(rip 6 "$i")]:$DP_PORT -m"
		done
	} | ip netns exec "$DP_DIR" ipvsadm -R
	local dur=$(((SECS + 5) * 1000))
	ip netns exec "$DP_CL" "$DPGEN" client -t -d 10.0.100.1 -s "$(src_base 4)" -k "$DP_NSRC" -C 1 -D "$dur" \
		-n 20 -c 20 -r 1000000 -I 300 -w 3000 -R 5 -e 1000 -q >"$d/tcp4.client" 2>&1 &
	tpids+=($!)
	ip netns exec "$DP_CL" "$DPGEN" client -u -d fd00:100::1 -s "$(src_base 6)" -k "$DP_NSRC" -C 2 -D "$dur" \
		-n 20 -c 20 -r 1000000 -I 300 -w 3000 -R 5 -e 1000 -P 20000 -q >"$d/udp6.client" 2>&1 &
	tpids+=($!)

	proc_across_namespaces "$label" "$module" "$d"
	# C's /proc/net/ip_vs loses entries when other namespaces have services (above): its
	# fuzzers do not fail on that, ipvs_rs's do.
	local lenient=
	[ "$module" = c ] && lenient=--lenient-proc
	t0=$SECONDS
	for i in $(seq "$NPROCS"); do
		ns=nlfz_${label//-/_}_$i
		ip netns del "$ns" 2>/dev/null
		ip netns add "$ns"
		ip -n "$ns" link set lo up
		ip netns exec "$ns" "$PY" "$REL/nlfuzz.py" $lenient "$SECS" "$((SEED + i))" "$BULK" >"$d/fuzz-$i.txt" 2>&1 &
		pids+=($!)
	done
	local sent=0 n
	for i in $(seq "$NPROCS"); do
		rc=0
		wait "${pids[i - 1]}" || rc=$?
		local line
		line=$(grep '^nlfuzz ' "$d/fuzz-$i.txt")
		n=$(printf '%s\n' "$line" | sed -n 's/.*sent=\([0-9]*\).*/\1/p')
		sent=$((sent + ${n:-0}))
		if [ "$rc" = 0 ] && [ -n "$line" ]; then
			tap_ok "nlfuzz $label: namespace $i: every request answered, state consistent (${line#nlfuzz })"
		else
			tap_fail "nlfuzz $label: namespace $i: every request answered, state consistent" "exit $rc" "$(tail -n 20 "$d/fuzz-$i.txt")"
		fi
	done
	note "nlfuzz $label: $sent requests from $NPROCS namespaces in $((SECONDS - t0))s (seed $SEED)"
	echo "$sent" >"$d/sent"
	for i in $(seq "$NPROCS"); do
		ns=nlfz_${label//-/_}_$i
		local listing
		ip netns exec "$ns" ipvsadm -C >/dev/null 2>&1
		listing=$(ip netns exec "$ns" ipvsadm -L -n 2>&1 | grep -vE '^(IP Virtual Server|Prot LocalAddress|  -> RemoteAddress)')
		if [ -z "$listing" ]; then
			tap_ok "nlfuzz $label: namespace $i: empty after ipvsadm -C"
		else
			tap_fail "nlfuzz $label: namespace $i: empty after ipvsadm -C" "$(printf '%s\n' "$listing" | head -n 10)"
		fi
		ip netns del "$ns"
	done
	for i in 0 1; do
		rc=0
		wait "${tpids[i]}" || rc=$?
		local f
		f=$d/$([ "$i" = 0 ] && echo tcp4 || echo udp6).client
		if [ "$rc" = 0 ]; then
			tap_ok "nlfuzz $label: traffic during the fuzz: $(basename "$f" .client) ($(grep '^result' "$f"))"
		else
			tap_fail "nlfuzz $label: traffic during the fuzz: $(basename "$f" .client)" "exit $rc" "$(tail -n 5 "$f")"
		fi
	done
	# The same random requests, one at a time, in a fresh namespace: compared across modules
	# at the end.
	ns=nlseq_${label//-/_}
	ip netns add "$ns"
	if ! ip netns exec "$ns" "$PY" "$REL/nlfuzz.py" --sequence "$NSEQ" "$SEED" >"$d/sequence.txt" 2>&1; then
		tap_fail "nlfuzz $label: sequence of $NSEQ requests answered" "$(tail -n 5 "$d/sequence.txt")"
	fi
	ip netns del "$ns"
	cp "$d/sequence.txt" "$WORK/sequence-$module.txt"
	servers_down
	ip netns exec "$DP_DIR" ipvsadm -C
	topo_down "$label"
	if unload_ipvs "$module"; then
		tap_ok "nlfuzz $label: $module unloads"
	else
		tap_fail "nlfuzz $label: $module unloads" "$(grep -E '^(ip_vs|ipvs_rs)' /proc/modules)"
	fi
	log_clean "nlfuzz $label" "$from"
	kmemleak_check "nlfuzz $label"
	publish "rel-nlfuzz-$label"
}

build_dpgen || { tap_fail "nlfuzz: build dpgen"; finish; exit; }
i=0
for m in "$@"; do
	i=$((i + 1))
	run_module "$(run_label "$i" "$m" "$1" "${2:-}")" "$m"
done
# Differential: C and ipvs_rs answered the same random sequence alike (request by request).
if [ -s "$WORK/sequence-c.txt" ] && [ -s "$WORK/sequence-rs.txt" ]; then
	# Every command is compared, the sync daemons' NEW_DAEMON (9) and DEL_DAEMON (10) too.
	for m in c rs; do cp "$WORK/sequence-$m.txt" "$WORK/sequence-$m.cmp"; done
	ndiff=$(diff "$WORK/sequence-c.cmp" "$WORK/sequence-rs.cmp" | grep -c '^<')
	diff "$WORK/sequence-c.cmp" "$WORK/sequence-rs.cmp" >"$OUT/rel-nlfuzz-sequence.diff"
	if [ "$ndiff" = 0 ]; then
		tap_ok "nlfuzz: C and ipvs_rs answer the same $NSEQ random requests alike (seed $SEED)"
	else
		tap_fail "nlfuzz: C and ipvs_rs answer the same $NSEQ random requests alike (seed $SEED)" \
			"$ndiff line(s) differ (< C, > ipvs_rs; $OUT/rel-nlfuzz-sequence.diff):" "$(head -n 30 "$OUT/rel-nlfuzz-sequence.diff")"
	fi
fi
finish
