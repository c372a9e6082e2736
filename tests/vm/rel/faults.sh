#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/rel/faults.sh [MOD...]     (MOD: c or rs; default: rs)
# From the host:  FLAVOR=debug VM_OUT=/tmp/rel tools/vm.sh --timeout 2400 -- tests/vm/rel/faults.sh rs c
#
# Fault injection (debug kernel only: CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC,
# CONFIG_FAULT_INJECTION_DEBUG_FS, CONFIG_FAULT_INJECTION_STACKTRACE_FILTER). This scenario
# belongs to the FLAVOR=debug run only; on a kernel without the debugfs files it fails (one
# "not ok - faults: fault injection available" line) rather than pass without testing anything.
#
# Per MOD, in fresh namespaces (rel/common.sh topology, NAT/DR/TUN services, TCP and UDP,
# IPv4 and IPv6): failures are restricted to the module's own code with the stack filter
# (require-start/require-end = the span of the module's executable sections, from
# /sys/module/<mod>/sections and the section sizes of its ELF; for C the ip_vs module; an
# allocation fails only if a return address on its stack lies in that span, so allocations
# the kernel makes on the module's behalf, e.g. a route or an skb copy during a transmit,
# fail too). Three phases of $REL_FAULT_SECS (30; 120 with REL_LONG=1) s each: failslab,
# fail_page_alloc, both, at $REL_FAULT_PROB (10) % with verbose=2 (stack dumps, at most 3 per 5 s),
# sleeping allocations included (ignore-gfp-wait=N), while
#   - dpgen clients open short connections (NAT TCP v4 / UDP v6, DR TCP v4, TUN UDP v6; every
#     new connection allocates an entry) in a loop,
#   - with fail_page_alloc armed, $REL_FAULT_FILL (3000) new NAT UDP v4 flows too (entries
#     that stay: the slab of the entries must grow, which is where the module's own calls
#     reach the page allocator), and
#   - a control loop adds and deletes services and destinations with ipvsadm, keeping a model
#     of what must exist: a command that succeeds must have taken effect, one that fails must
#     print an error and have changed nothing visible; the listing is compared with the model
#     after every command.
# Checks (TAP "faults MOD: ..."): failures were injected in every phase (the debugfs `times`
# countdown); every failed ipvsadm printed an error and the listing matched the model; rs:
# the drop balance of rel/common.sh on the client traffic (observed IPVS drops == growth of
# /proc/net/ip_vs_drops); after disarming: a fresh round of traffic fully succeeds, ipvsadm -C
# empties the table, the module unloads, kmemleak finds nothing, and the kernel log is clean
# (tools/dmesg-check.sh: the FAULT_INJECTION notices and their stack dumps are not reports).
. "$(dirname "$0")/common.sh"

[ $# -ge 1 ] || set -- rs
check_modules "$@"
if [ "$LONG" = 1 ]; then SECS=${REL_FAULT_SECS:-120}; else SECS=${REL_FAULT_SECS:-30}; fi
PROB=${REL_FAULT_PROB:-10}
FILL=${REL_FAULT_FILL:-3000}
DBG=/sys/kernel/debug
ulimit -n 65536

fault_files_present() {
	local f
	for f in failslab fail_page_alloc; do
		for a in probability interval times verbose verbose_ratelimit_interval_ms verbose_ratelimit_burst require-start require-end stacktrace-depth ignore-gfp-wait; do
			[ -e "$DBG/$f/$a" ] || { echo "missing $DBG/$f/$a"; return 1; }
		done
	done
}

# module_text_range MOD: "START END START_HEX END_HEX" spanning MOD's executable sections.
module_text_range() {
	local mod=$1 ko
	if [ "$mod" = ipvs_rs ]; then ko=$KO; else ko=$(modinfo -n "$mod"); fi
	case $ko in
	*.xz) xz -dc "$ko" >"$WORK/$mod.ko"; ko=$WORK/$mod.ko ;;
	*.zst) zstd -qdc "$ko" >"$WORK/$mod.ko"; ko=$WORK/$mod.ko ;;
	*.gz) gzip -dc "$ko" >"$WORK/$mod.ko"; ko=$WORK/$mod.ko ;;
	esac
	"$PY" - "$ko" "/sys/module/$mod/sections" <<-'EOF'
		import os, struct, sys
		ko, secdir = sys.argv[1], sys.argv[2]
		data = open(ko, "rb").read()
		shoff, = struct.unpack_from("<Q", data, 0x28)
		shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
		def sh(i):
		    return struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
		strtab = sh(shstrndx)[4]
		lo, hi = None, None
		for i in range(shnum):
		    name_off, typ, flags, _, _, size = sh(i)[:6]
		    name = data[strtab + name_off:data.index(b"\0", strtab + name_off)].decode()
		    if not flags & 0x4 or not flags & 0x2 or name.startswith(".init"):  # SHF_EXECINSTR, SHF_ALLOC
		        continue
		    p = os.path.join(secdir, name)
		    if not os.path.exists(p):
		        continue
		    start = int(open(p).read(), 16)
		    if start == 0:
		        continue
		    lo = start if lo is None else min(lo, start)
		    hi = start + size if hi is None else max(hi, start + size)
		if lo is None:
		    sys.exit("no executable section of the module found in " + secdir)
		print(lo, hi, hex(lo), hex(hi))
	EOF
}

# arm WHICH START END / disarm: failures in WHICH (failslab, fail_page_alloc or both).
TIMES0=1000000
arm() {
	local which=$1 start=$2 end=$3 f
	for f in failslab fail_page_alloc; do
		echo 0 >"$DBG/$f/probability"
	done
	for f in $which; do
		echo "$start" >"$DBG/$f/require-start"
		echo "$end" >"$DBG/$f/require-end"
		echo 32 >"$DBG/$f/stacktrace-depth"
		echo N >"$DBG/$f/ignore-gfp-wait"
		echo 1 >"$DBG/$f/interval"
		echo "$TIMES0" >"$DBG/$f/times"
		echo 0 >"$DBG/$f/space"
		echo 2 >"$DBG/$f/verbose"
		# The dumps' rate limit is off by default: at 10 % every failure printed a stack dump,
		# the console fell behind, printk dropped messages and the guest crawled for minutes
		# (the first debug-kernel run looked hung). A few dumps every 5 s (the value is used
		# as jiffies; HZ here is at most 1000) show where failures land.
		echo 5000 >"$DBG/$f/verbose_ratelimit_interval_ms"
		echo 3 >"$DBG/$f/verbose_ratelimit_burst"
		[ "$f" = fail_page_alloc ] && echo N >"$DBG/$f/ignore-gfp-highmem" && echo 0 >"$DBG/$f/min-order"
		echo "$PROB" >"$DBG/$f/probability"
	done
}
disarm() {
	local f
	for f in failslab fail_page_alloc; do echo 0 >"$DBG/$f/probability"; done
}
# injected WHICH: failures injected since arm (the times countdown).
injected() {
	local f n=0
	for f in $1; do n=$((n + TIMES0 - $(cat "$DBG/$f/times"))); done
	echo "$n"
}

# listing_model FILE: the control loop's services (TCP 10.0.100.150-157) and their
# destinations in an `ipvsadm -L -n` listing, as sorted "S VIP" / "D VIP RIP" lines. Every
# service line (TCP, UDP, FWM) starts a new service: only the control loop's have their
# destinations taken.
listing_model() {
	awk '
		$1 == "TCP" || $1 == "UDP" || $1 == "FWM" {
			split($2, a, ":"); s = a[1]; keep = ($1 == "TCP" && s ~ /^10\.0\.100\.15[0-7]$/)
			if (keep) print "S " s
			next
		}
		$1 == "->" && keep { split($2, a, ":"); print "D " s " " a[1] }' "$1" | sort
}

# The control loop: model of extra services on 10.0.100.150-157 (TCP, port 80), each with
# destinations .11-.13. Runs until $1 exists; writes "ops N failed N unexplained N mismatch N"
# to $2 and its mismatches to $2.log.
control_loop() {
	local stop=$1 out=$2 ops=0 failed=0 silent=0 mismatch=0 listfail=0 v r rc msg want got k d t a b
	local -A model=()
	# Start from what the kernel has (the services an earlier phase left). listing_model's
	# lines are sorted, so a service's "D" lines come before its "S" line: "S" must not
	# clear them (it did, and every op of a phase that began with a destination mismatched).
	ip netns exec "$DP_DIR" ipvsadm -L -n >"$out.list" 2>&1
	while read -r t a b; do
		[ -n "$t" ] || continue
		if [ "$t" = S ]; then model[$a]="${model[$a]:-}"; else model[$a]="${model[$a]:-} $b"; fi
	done <<<"$(listing_model "$out.list")"
	while [ ! -e "$stop" ]; do
		v=10.0.100.$((150 + RANDOM % 8))
		r=10.0.1.1$((1 + RANDOM % 3))
		case $((RANDOM % 4)) in
		0) set -- -A -t "$v:80" -s wlc ;;
		1) set -- -D -t "$v:80" ;;
		2) set -- -a -t "$v:80" -r "$r:80" -m -w $((RANDOM % 5 + 1)) ;;
		3) set -- -d -t "$v:80" -r "$r:80" ;;
		esac
		rc=0
		msg=$(ip netns exec "$DP_DIR" ipvsadm "$@" 2>&1) || rc=$?
		ops=$((ops + 1))
		# What the model expects from the kernel's answer.
		local key=$v
		if [ "$rc" = 0 ]; then
			case $1 in
			-A) model[$v]="" ;;
			-D) unset "model[$key]" ;;
			-a) model[$v]="${model[$v]:-} $r" ;;
			-d)
				# shellcheck disable=SC2086 # the destinations, a list of words
				model[$v]=$(printf '%s\n' ${model[$v]:-} | grep -vx "$r" | tr '\n' ' ') ;;
			esac
		else
			failed=$((failed + 1))
			if [ -z "$msg" ]; then
				silent=$((silent + 1))
				echo "silent failure (exit $rc): ipvsadm $*" >>"$out.log"
			fi
		fi
		# The listing must match the model (services and their destinations, sorted).
		want=$(for k in "${!model[@]}"; do
			echo "S $k"
			for d in ${model[$k]}; do echo "D $k $d"; done
		done | sort)
		# (The listing may fail under injected faults too: that is an error, retried.)
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			if ip netns exec "$DP_DIR" ipvsadm -L -n >"$out.list" 2>&1; then break; fi
			listfail=$((listfail + 1))
			if [ -z "$(cat "$out.list")" ]; then
				silent=$((silent + 1))
				echo "silent failure of ipvsadm -L -n" >>"$out.log"
			fi
		done
		got=$(listing_model "$out.list")
		if [ "$want" != "$got" ]; then
			mismatch=$((mismatch + 1))
			{
				echo "after ipvsadm $* (exit $rc: $msg):"
				diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | sed 's/^/  /'
			} >>"$out.log"
			# Resynchronise with what the kernel shows, so one mismatch is reported once.
			model=()
			while read -r t a b; do
				[ -n "$t" ] || continue
				if [ "$t" = S ]; then model[$a]="${model[$a]:-}"; else model[$a]="${model[$a]:-} $b"; fi
			done <<<"$got"
		fi
	done
	echo "ops $ops failed $failed silent $silent mismatch $mismatch listing_failed $listfail" >"$out"
}

# Short connections in a loop until $1 exists; sums into $2: "ok N fail N".
traffic_loop() {
	local stop=$1 out=$2 ok=0 fail=0 i=0 o f
	while [ ! -e "$stop" ]; do
		i=$((i + 1))
		for spec in "-t -d 10.0.100.10 -s $(src_base 4) -C 1" "-u -d fd00:100::a -s $(src_base 6) -C 2 -P 20000" \
			"-t -d 10.0.100.11 -s $DRTUN_SRC4 -C 3" "-u -d fd00:100::b -s $DRTUN_SRC6 -C 4 -P 30000"; do
			# shellcheck disable=SC2086
			ip netns exec "$DP_CL" "$DPGEN" client $spec -k "$DP_NSRC" -n 40 -c 20 -r 2 -w 2000 -R 3 -e 1000 -q \
				>"$out.last" 2>&1
			o=$(sed -n 's/^result ok=\([0-9]*\) fail=\([0-9]*\).*/\1 \2/p' "$out.last")
			[ -n "$o" ] || o="0 40"
			ok=$((ok + ${o% *})) fail=$((fail + ${o#* }))
		done
	done
	echo "ok $ok fail $fail" >"$out"
}

services_up() {
	local spec vip flag m p i
	for spec in "10.0.100.10 -m" "10.0.100.11 -g" "fd00:100::a -m" "fd00:100::b -i"; do
		vip=${spec% *} flag=${spec#* } m=4
		[[ $vip == *:* ]] && m=6
		for p in -t -u; do
			echo "-A $p $(hostport "$m" "$vip" "$DP_PORT") -s rr"
			for i in 1 2 3; do
				echo "-a $p $(hostport "$m" "$vip" "$DP_PORT") -r $(hostport "$m" "$(rip "$m" "$i")" "$DP_PORT") $flag"
			done
		done
	done | ip netns exec "$DP_DIR" ipvsadm -R
}

run_module() {
	local label=$1 module=$2 kmod from d=$WORK/rel-faults-$1 range phase which n
	mkdir -p "$d"
	kmod=$([ "$module" = rs ] && echo ipvs_rs || echo ip_vs)
	from=$(($(dmesg_lines) + 1))
	kmemleak_clear
	if ! load_ipvs "$module"; then
		tap_fail "faults $label: load $module"
		return
	fi
	if ! range=$(module_text_range "$kmod" 2>&1); then
		tap_fail "faults $label: text range of $kmod" "$range"
		unload_ipvs "$module"
		return
	fi
	note "faults $label: failures restricted to $kmod's code: $(echo "$range" | awk '{ print $3 "-" $4 }')"
	if ! rel_topo_up "$label" || ! servers_up "$label" || ! services_up ||
		! accounting_up "ip saddr 10.1.0.0/24" "ip6 saddr fd00:c1::/64" "ip daddr 10.1.0.0/24" "ip6 daddr fd00:c1::/64"; then
		tap_fail "faults $label: topology, servers, services and accounting rules"
		servers_down
		topo_down "$label"
		unload_ipvs "$module"
		return
	fi
	balance_start
	for phase in failslab fail_page_alloc both; do
		which=$phase
		[ "$phase" = both ] && which="failslab fail_page_alloc"
		rm -f "$d/stop"
		traffic_loop "$d/stop" "$d/traffic-$phase" &
		local tp=$!
		control_loop "$d/stop" "$d/control-$phase" &
		local cp=$!
		sleep 2
		# shellcheck disable=SC2086
		arm "$which" $range
		local fp=
		if [ "$phase" != failslab ]; then
			# Page allocations happen where the entries' slab grows: new UDP flows, each a
			# new entry living 300 s (the short connections alone reuse freed objects:
			# the first debug run injected no page failure into ipvs_rs).
			ip netns exec "$DP_CL" "$DPGEN" client -u -d 10.0.100.10 -s "$(src_base 4)" -k "$DP_NSRC" \
				-C 5 -n "$FILL" -c 50 -r 1 -w 2000 -R 2 -e 1000000 -q \
				>"$d/fill-$phase" 2>&1 &
			fp=$!
		fi
		sleep "$SECS"
		n=$(injected "$which")
		disarm
		touch "$d/stop"
		[ -z "$fp" ] || kill "$fp" 2>/dev/null
		wait "$tp" "$cp" $fp
		note "faults $label $phase: $n failures injected; traffic $(cat "$d/traffic-$phase"); control $(cat "$d/control-$phase")${fp:+; fill $(grep '^result' "$d/fill-$phase")}"
		echo "$n" >"$d/injected-$phase"
		if [ "$n" -gt 0 ]; then
			tap_ok "faults $label: $phase: $n failures injected in ${SECS}s"
		else
			tap_fail "faults $label: $phase: failures injected" "no failure injected (is the stack filter right? range $range)"
		fi
		local ops=0 silent=- mismatch=-
		[ -s "$d/control-$phase" ] && read -r _ ops _ _ _ silent _ mismatch _ <"$d/control-$phase"
		# The loop must have run (a loop that died wrote nothing) and checked something.
		if [ "${ops:-0}" -gt 0 ] && [ "$silent" = 0 ] && [ "$mismatch" = 0 ]; then
			tap_ok "faults $label: $phase: ipvsadm failures are errors and the listing follows the model ($(cat "$d/control-$phase"))"
		else
			tap_fail "faults $label: $phase: ipvsadm failures are errors and the listing follows the model" \
				"$(cat "$d/control-$phase" 2>/dev/null || echo "the control loop wrote no result")" \
				"$(head -n 30 "$d/control-$phase.log" 2>/dev/null)"
		fi
	done
	sleep 2
	balance_end "$d/accounting.txt"
	note "faults $label: $(head -n 1 "$d/accounting.txt")"
	if [ "$module" = rs ]; then
		if [ "$BAL_COUNTED" = "$BAL_OBSERVED" ]; then
			tap_ok "faults $label: IPVS drops accounted ($BAL_OBSERVED dropped, $BAL_COUNTED counted)"
		else
			tap_fail "faults $label: IPVS drops accounted" "$(cat "$d/accounting.txt")"
		fi
	fi
	# Disarmed: the module must work fully again.
	local o rc=0
	o=$(ip netns exec "$DP_CL" "$DPGEN" client -t -d 10.0.100.10 -s "$(src_base 4)" -k "$DP_NSRC" -C 9 -n 100 -c 25 -r 2 \
		-w 3000 -R 5 -q 2>&1) || rc=$?
	if [ "$rc" = 0 ]; then
		tap_ok "faults $label: traffic after disarming ($(printf '%s\n' "$o" | grep '^result'))"
	else
		tap_fail "faults $label: traffic after disarming" "$o"
	fi
	servers_down
	ip netns exec "$DP_DIR" ipvsadm -C
	o=$(ip netns exec "$DP_DIR" ipvsadm -L -n | grep -cE '^(TCP|UDP) ')
	if [ "$o" = 0 ]; then tap_ok "faults $label: ipvsadm -C empties the table"; else tap_fail "faults $label: ipvsadm -C empties the table" "$o services left"; fi
	topo_down "$label"
	if unload_ipvs "$module"; then
		tap_ok "faults $label: $module unloads"
	else
		tap_fail "faults $label: $module unloads" "$(grep -E '^(ip_vs|ipvs_rs)' /proc/modules)"
	fi
	note "faults $label: $(dmesg | tail -n +"$from" | grep -c 'FAULT_INJECTION: forcing a failure') FAULT_INJECTION notices in the kernel log"
	log_clean "faults $label" "$from"
	kmemleak_check "faults $label"
	publish "rel-faults-$label"
}

if ! out=$(fault_files_present); then
	tap_fail "faults: fault injection available (this scenario needs FLAVOR=debug)" "$out"
	finish
	exit
fi
tap_ok "faults: fault injection available"
build_dpgen || { tap_fail "faults: build dpgen"; finish; exit; }
i=0
for m in "$@"; do
	i=$((i + 1))
	run_module "$(run_label "$i" "$m" "$1" "${2:-}")" "$m"
done
finish
