#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/interop/kubeproxy.sh [MOD...]   (MOD: c or rs; default: c rs)
# From the host:  VM_OUT=/tmp/interop tools/vm.sh --timeout 900 -- tests/vm/interop/kubeproxy.sh c rs
#
# kube-proxy in IPVS mode, replayed (the real binary needs an API server): per MOD, in fresh
# namespaces (dp/common.sh; the director is the node), what kube-proxy does to IPVS, through
# kpipvs.py, which puts moby/ipvs's requests on the wire with pyroute2 (a netlink library
# from PyPI, not the project's codec). Followed, file by file:
#   kubernetes pkg/proxy/ipvs/proxier.go (since 1.31 also the backend's PrivilegedInit and
#     canUseIPVSProxier): startup sysctls with proxyutil.EnsureSysctl (read, write if
#     different, a failed write is fatal): net/ipv4/vs/conntrack=1, conn_reuse_mode left as
#     it is on kernels >= 5.9 (k8s issue 93297), expire_nodest_conn=1,
#     expire_quiescent_template=1, net/ipv4/ip_forward=1, and with strictARP
#     net/ipv4/conf/all/arp_ignore=1 and arp_announce=2; the scheduler probe: dump, add
#     198.51.100.0:20000/TCP with the configured scheduler, dump again, delete it;
#     syncService: services on ClusterIPs bound to the dummy device kube-ipvs0 (left down, as
#     kube-proxy's EnsureDummyDevice leaves it) and on node IPs for NodePorts, rr, masquerading
#     real servers of weight 1; ClientIP affinity = flag persistent (0x1) + timeout
#     stickyMaxAgeSeconds (10800 by default); an affinity change is UpdateVirtualServer
#   kubernetes pkg/proxy/ipvs/util/ipvs_linux.go: toIPVSService (netmask 0xffffffff),
#     toVirtualServer (a dumped service must carry IP_VS_SVC_F_HASHED, stripped on the way
#     back), toIPVSDestination
#   kubernetes pkg/proxy/ipvs/graceful_termination.go: a terminating endpoint gets weight 0
#     and is deleted once ActiveConn+InactiveConn is 0 (polled every minute there, every
#     second here)
#   moby/ipvs netlink_linux.go: the requests themselves (kpipvs.py's header says how)
# Checks per MOD (TAP "kube-proxy MOD ..."): each step's own expectation (writes accepted,
# every probe passes, every connection answered by the servers it must reach, the dump and
# pyroute2's own reading of it agree, the drained destination is deleted); then every step's
# recorded output must be the same under each MOD as under the first ("... same as c").
# Files: $VM_OUT/interop-kp-<label>/.
. "$(dirname "$0")/common.sh"

[ $# -ge 1 ] || set -- c rs
check_modules "$@"
# Every scheduler kube-proxy's configuration accepts (pkg/proxy/apis/config/validation).
KP_SCHEDS=(rr wrr lc wlc lblc lblcr sh dh sed nq mh)
CIP=10.96.0.10      # ClusterIP of a TCP and a UDP service
CIP_AFF=10.96.0.11  # ClusterIP with ClientIP affinity
CIP_GT=10.96.0.12   # ClusterIP whose endpoint terminates
NODEIP=10.0.1.1     # the node (director) address on eth0
NODEPORT=30080

# One kpipvs.py per run, in the director, fed through a FIFO (starting python and importing
# pyroute2 takes tens of seconds in a TCG guest: a process per step made the steps slower than
# the connections they are about). kp_start; kp OUT <<ops (the ops' output in OUT); kp_stop.
kp_start() {
	rm -f "$d/kp.in" "$d/kp.out" "$d/kp.seq"
	mkfifo "$d/kp.in"
	: >"$d/kp.out"
	ip netns exec "$DP_DIR" "$IPY" "$IOP/kpipvs.py" <"$d/kp.in" >>"$d/kp.out" 2>&1 &
	KP_PID=$!
	exec 9>"$d/kp.in"
}
kp() {
	local outf=$1 kseq before n=0
	# A counter file, not a variable: kp also runs at the end of pipelines (subshells).
	kseq=$(($(cat "$d/kp.seq" 2>/dev/null || echo 0) + 1))
	echo "$kseq" >"$d/kp.seq"
	before=$(wc -l <"$d/kp.out")
	# (SIGPIPE ignored in a subshell: if kpipvs.py is gone, the write fails, not the script.)
	(
		trap '' PIPE
		{ cat; echo "sync $kseq"; } >&9
	) 2>/dev/null
	until grep -qx "= $kseq" "$d/kp.out"; do
		if ! kill -0 "$KP_PID" 2>/dev/null || [ "$n" -ge 3000 ]; then
			tail -n +$((before + 1)) "$d/kp.out" >"$outf"
			echo "kpipvs.py: no answer (exited, or 300 s)" >>"$outf"
			return 1
		fi
		sleep 0.1
		n=$((n + 1))
	done
	tail -n +$((before + 1)) "$d/kp.out" | grep -vx -e "> sync $kseq" -e "= $kseq" >"$outf"
}
kp_stop() {
	exec 9>&-
	wait "$KP_PID"
	# The FIFO stays out of what publish copies to $VM_OUT (9p refuses special files).
	rm -f "$d/kp.in"
}

# ensure_sysctl NAME VALUE: proxyutil.EnsureSysctl: "NAME: OLD -> NEW" (or "NAME: OLD") on
# stdout; returns non-zero when the write fails or does not read back (fatal for kube-proxy).
ensure_sysctl() {
	local f=/proc/sys/$1 old new
	old=$(ip netns exec "$DP_DIR" cat "$f" 2>&1) || { echo "$1: read failed: $old"; return 1; }
	if [ "$old" = "$2" ]; then
		echo "$1: $old"
		return 0
	fi
	if ! new=$(ip netns exec "$DP_DIR" sh -c "echo $2 > $f" 2>&1); then
		echo "$1: $old -> write $2 failed: $new"
		return 1
	fi
	new=$(ip netns exec "$DP_DIR" cat "$f")
	echo "$1: $old -> $new"
	[ "$new" = "$2" ]
}

kp_sysctls() {
	local rc=0
	ensure_sysctl net/ipv4/vs/conntrack 1 || rc=1
	# conn_reuse_mode: left as it is on kernels >= 5.9; recorded, not written.
	echo "net/ipv4/vs/conn_reuse_mode: $(ip netns exec "$DP_DIR" cat /proc/sys/net/ipv4/vs/conn_reuse_mode 2>&1) (left as is)"
	ensure_sysctl net/ipv4/vs/expire_nodest_conn 1 || rc=1
	ensure_sysctl net/ipv4/vs/expire_quiescent_template 1 || rc=1
	ensure_sysctl net/ipv4/ip_forward 1 || rc=1
	ensure_sysctl net/ipv4/conf/all/arp_ignore 1 || rc=1
	ensure_sysctl net/ipv4/conf/all/arp_announce 2 || rc=1
	return $rc
}

# client LABEL NAME CELL ARGS...: dpgen client from the client namespace; output in
# $d/NAME.client, the per-server counts of CELL in $d/NAME.counts; returns dpgen's status.
client() {
	local label=$1 name=$2 cell=$3 proto=tcp rc=0
	shift 3
	case " $* " in *" -u "*) proto=udp ;; esac
	ip netns exec "$DP_CL" "$DPGEN" client -C "$cell" -w 3000 -R 3 "$@" >"$d/$name.client" 2>&1 || rc=$?
	server_counts "$label" "$cell" "$proto" >"$d/$name.counts"
	return $rc
}

# traffic_check LABEL NAME DESC CELL WANT ARGS...: TAP line: dpgen succeeded and the counts of
# CELL are WANT (a regular expression over "c1 c2 c3").
traffic_check() {
	local label=$1 name=$2 desc=$3 cell=$4 want=$5 rc=0
	shift 5
	client "$label" "$name" "$cell" "$@" || rc=$?
	if [ "$rc" = 0 ] && [[ $(cat "$d/$name.counts") =~ ^($want)$ ]]; then
		tap_ok "kube-proxy $label: $desc ($(cat "$d/$name.counts"))"
	else
		tap_fail "kube-proxy $label: $desc" "exit $rc, counts $(cat "$d/$name.counts"), want $want" \
			"$(grep -E '^(result|server)' "$d/$name.client")" "$(grep -vE '^(result|server)' "$d/$name.client" | head -n 3)"
	fi
}

# grep_check LABEL DESC FILE ERE: TAP line: FILE has a line matching ERE.
grep_check() {
	if grep -Eq -- "$4" "$3"; then
		tap_ok "kube-proxy $1: $2"
	else
		tap_fail "kube-proxy $1: $2" "no line matching '$4' in $(basename "$3"):" "$(cat "$3")"
	fi
}

run_module() {
	local label=$1 module=$2 from s i rc busy bidx other long_pid
	d=$WORK/interop-kp-$label
	mkdir -p "$d"
	from=$(($(dmesg_lines) + 1))
	if ! load_ipvs "$module" || ! ipvs_is "$module"; then
		tap_fail "kube-proxy $label: load $module" "$(grep -E '^(ip_vs|ipvs_rs) ' /proc/modules)"
		unload_ipvs "$module" 2>/dev/null
		return
	fi
	if ! topo_up "$label" || ! servers_up "$label"; then
		tap_fail "kube-proxy $label: namespaces and servers"
		servers_down
		topo_down "$label"
		unload_ipvs "$module"
		return
	fi
	# The ClusterIP range is routed to the node; only kube-ipvs0's addresses are local there.
	ip -n "$DP_RT" route add 10.96.0.0/16 via "$NODEIP"

	kp_start

	# 1. Startup sysctls (PrivilegedInit).
	if kp_sysctls >"$d/sysctl.txt" 2>&1; then
		tap_ok "kube-proxy $label: startup sysctls written"
	else
		tap_fail "kube-proxy $label: startup sysctls written (kube-proxy exits)" "$(cat "$d/sysctl.txt")"
	fi

	# 2. The scheduler probe, once per scheduler kube-proxy accepts (C: the scheduler module
	# is autoloaded, as on a node).
	for s in "${KP_SCHEDS[@]}"; do echo "probe $s"; done | kp "$d/probe.txt"
	for s in "${KP_SCHEDS[@]}"; do
		grep_check "$label" "scheduler probe $s" "$d/probe.txt" "^probe $s: ok\$"
	done

	# 3. Services: kube-ipvs0 with the ClusterIPs (EnsureDummyDevice, EnsureAddressBind),
	# GetVirtualServer before creation (fails: kube-proxy then adds), AddVirtualServer,
	# AddRealServer per endpoint.
	ip -n "$DP_DIR" link add kube-ipvs0 type dummy
	for i in $CIP $CIP_AFF $CIP_GT; do ip -n "$DP_DIR" addr add "$i/32" dev kube-ipvs0; done
	kp "$d/pre-get.txt" <<-EOF
		get tcp:$CIP:80 sched=rr
		get udp:$CIP:53 sched=rr
	EOF
	kp "$d/setup.txt" <<-EOF
		add-svc tcp:$CIP:80 sched=rr
		add-svc udp:$CIP:53 sched=rr
		add-svc tcp:$NODEIP:$NODEPORT sched=rr
		add-svc tcp:$CIP_AFF:80 sched=rr flags=0x1 timeout=10800
		add-svc tcp:$CIP_GT:80 sched=rr
		$(for i in 1 2 3; do
			echo "add-dest tcp:$CIP:80 sched=rr $(rip 4 $i):$DP_PORT weight=1"
			echo "add-dest udp:$CIP:53 sched=rr $(rip 4 $i):$DP_PORT weight=1"
			echo "add-dest tcp:$NODEIP:$NODEPORT sched=rr $(rip 4 $i):$DP_PORT weight=1"
			echo "add-dest tcp:$CIP_AFF:80 sched=rr flags=0x1 timeout=10800 $(rip 4 $i):$DP_PORT weight=1"
		done)
		add-dest tcp:$CIP_GT:80 sched=rr $(rip 4 1):$DP_PORT weight=1
		add-dest tcp:$CIP_GT:80 sched=rr $(rip 4 2):$DP_PORT weight=1
		get tcp:$CIP:80 sched=rr
		get tcp:$CIP_AFF:80 sched=rr flags=0x1 timeout=10800
		dests tcp:$CIP:80 sched=rr
	EOF
	if grep -q '^error' "$d/setup.txt"; then
		tap_fail "kube-proxy $label: services and real servers programmed" "$(grep -B1 '^error' "$d/setup.txt")"
	else
		tap_ok "kube-proxy $label: services and real servers programmed"
	fi
	grep_check "$label" "ClientIP service reads back persistent (flags 0x3), timeout 10800" "$d/setup.txt" \
		"^svc tcp:$CIP_AFF:80 sched=rr flags=0x3 timeout=10800 netmask=255.255.255.255\$"

	# 4. Traffic: ClusterIP TCP and UDP, NodePort; rr over three endpoints of weight 1.
	traffic_check "$label" cip-tcp "ClusterIP TCP: 30 connections, rr" 10 "10 10 10" \
		-t -d "$CIP" -p 80 -s "$(src_base 4)" -k 8 -n 30 -c 1
	traffic_check "$label" cip-udp "ClusterIP UDP: 30 datagram exchanges, rr" 11 "10 10 10" \
		-u -d "$CIP" -p 53 -s "$(src_base 4)" -k 8 -n 30 -c 1
	traffic_check "$label" nodeport "NodePort $NODEIP:$NODEPORT: 30 connections, rr" 12 "10 10 10" \
		-t -d "$NODEIP" -p "$NODEPORT" -s "$(src_base 4)" -k 8 -n 30 -c 1
	# The real servers' connection counters right after (TCP: every connection in TIME_WAIT,
	# inactive, for 120 s): compared across modules.
	kp "$d/counters.txt" <<-EOF
		dests tcp:$CIP:80 sched=rr
		dests udp:$CIP:53 sched=rr
		dests tcp:$NODEIP:$NODEPORT sched=rr
	EOF

	# 5. ClientIP affinity: 4 clients, 3 connections each: each client stays on one endpoint
	# (per-server counts are multiples of 3), one persistence template per client.
	traffic_check "$label" affinity "ClientIP affinity: 4 clients x 3 connections, each client on one endpoint" 13 \
		"(0|3|6|9|12) (0|3|6|9|12) (0|3|6|9|12)" -t -d "$CIP_AFF" -p 80 -s 10.1.0.101 -k 4 -n 12 -c 1
	echo "dests tcp:$CIP_AFF:80 sched=rr flags=0x1 timeout=10800" | kp "$d/affinity.txt"
	i=$(awk '/^  dest /{ for (f = 1; f <= NF; f++) if ($f ~ /^persist=/) { sub("persist=", "", $f); n += $f } } END { print n + 0 }' "$d/affinity.txt")
	if [ "$i" = 4 ]; then
		tap_ok "kube-proxy $label: ClientIP affinity: 4 persistence templates (dest PERSIST_CONNS)"
	else
		tap_fail "kube-proxy $label: ClientIP affinity: 4 persistence templates (dest PERSIST_CONNS)" \
			"sum of persist= is $i" "$(cat "$d/affinity.txt")"
	fi

	# 6. Flags with mask 0xffffffff: affinity switched off (UpdateVirtualServer, flags 0), one
	# client's 6 connections spread by rr; switched on again with another timeout.
	kp "$d/flags.txt" <<-EOF
		set-svc tcp:$CIP_AFF:80 sched=rr flags=0 timeout=0
		get tcp:$CIP_AFF:80 sched=rr
	EOF
	grep_check "$label" "affinity off: flags 0 under mask 0xffffffff reads back 0x2 (hashed), timeout 0" \
		"$d/flags.txt" "^svc tcp:$CIP_AFF:80 sched=rr flags=0x2 timeout=0 "
	traffic_check "$label" noaffinity "affinity off: one client's 6 connections spread by rr" 14 "2 2 2" \
		-t -d "$CIP_AFF" -p 80 -s 10.1.0.120 -k 1 -n 6 -c 1
	kp "$d/flags2.txt" <<-EOF
		set-svc tcp:$CIP_AFF:80 sched=rr flags=0x1 timeout=600
		get tcp:$CIP_AFF:80 sched=rr flags=0x1 timeout=600
	EOF
	grep_check "$label" "affinity on again: flags 0x1 reads back 0x3, timeout 600" "$d/flags2.txt" \
		"^svc tcp:$CIP_AFF:80 sched=rr flags=0x3 timeout=600 "

	# 7. GetVirtualServers + GetRealServers (empty nested service attribute in the dump), and
	# pyroute2's own reading of the same state.
	echo dump | kp "$d/dump.txt"
	echo libdump | kp "$d/libdump.txt"
	# Compared without the connection counters (the TIME_WAIT entries of the steps above
	# expire 120 s after them, which is a matter of speed here; counters.txt and affinity.txt
	# compare them right after the traffic).
	for i in dump libdump; do sed 's/ active=[0-9]* inact=[0-9]*//' "$d/$i.txt" >"$d/$i.nc"; done
	if grep -q 'ERROR-not-hashed\|^error' "$d/dump.txt"; then
		tap_fail "kube-proxy $label: service dump (every service hashed)" "$(cat "$d/dump.txt")"
	elif [ "$(grep -c '^svc ' "$d/dump.txt")" != 5 ]; then
		tap_fail "kube-proxy $label: service dump lists the 5 services" "$(cat "$d/dump.txt")"
	else
		tap_ok "kube-proxy $label: service dump lists the 5 services, each hashed"
	fi
	if diff <(grep -v '^> ' "$d/dump.nc") <(grep -v '^> ' "$d/libdump.nc") >"$d/dump.diff"; then
		tap_ok "kube-proxy $label: moby-style dump and pyroute2's own dump agree"
	else
		tap_fail "kube-proxy $label: moby-style dump and pyroute2's own dump agree" "$(cat "$d/dump.diff")"
	fi

	# 8. Graceful termination: a long connection (60 rounds, 0.3 s apart, ended by RST), its
	# endpoint terminates (weight 0), new connections go to the other one, the old one lives
	# on; the endpoint is deleted once ActiveConn+InActConn is 0.
	ip netns exec "$DP_CL" "$DPGEN" client -t -d "$CIP_GT" -p 80 -s 10.1.0.150 -n 1 -r 60 -I 300 -x \
		-C 15 -w 3000 -R 3 >"$d/long.client" 2>&1 &
	long_pid=$!
	echo "weight0 tcp:$CIP_GT:80 sched=rr busy" | kp "$d/graceful1.txt"
	busy=$(sed -n 's/^weight0: \([0-9.]*:[0-9]*\) busy, weight set to 0$/\1/p' "$d/graceful1.txt")
	if [ -z "$busy" ]; then
		tap_fail "kube-proxy $label: terminating endpoint with a live connection gets weight 0" "$(cat "$d/graceful1.txt")"
		wait "$long_pid"
	else
		tap_ok "kube-proxy $label: terminating endpoint $busy with a live connection gets weight 0"
		bidx=${busy%%:*}
		bidx=$((${bidx##*.} - 10))
		other=$((3 - bidx))
		if [ "$other" = 1 ]; then s="10 0 0"; else s="0 10 0"; fi
		traffic_check "$label" gt-new "graceful: 10 new connections all to the other endpoint" 16 "$s" \
			-t -d "$CIP_GT" -p 80 -s 10.1.0.160 -k 10 -n 10 -c 1
		rc=0
		wait "$long_pid" || rc=$?
		server_counts "$label" 15 tcp >"$d/long.counts"
		if [ "$rc" = 0 ] && grep -qx "server $bidx 1" "$d/long.client"; then
			tap_ok "kube-proxy $label: graceful: the old connection lives on (60 rounds on rs$bidx)"
		else
			tap_fail "kube-proxy $label: graceful: the old connection lives on (60 rounds on rs$bidx)" \
				"exit $rc" "$(head -n 5 "$d/long.client")"
		fi
		kp "$d/graceful2.txt" <<-EOF
			graceful tcp:$CIP_GT:80 sched=rr $busy 60
			dests tcp:$CIP_GT:80 sched=rr
		EOF
		if grep -qx 'graceful: drained, deleted' "$d/graceful2.txt" &&
			[ "$(grep -c '^  dest ' "$d/graceful2.txt")" = 1 ] &&
			grep -q "^  dest $(rip 4 "$other"):$DP_PORT " "$d/graceful2.txt"; then
			tap_ok "kube-proxy $label: graceful: deleted once ActiveConn+InActConn is 0 ($(grep '^# graceful' "$d/graceful2.txt" | sed 's/^# graceful: //'))"
		else
			tap_fail "kube-proxy $label: graceful: deleted once ActiveConn+InActConn is 0" "$(cat "$d/graceful2.txt")"
		fi
		sed 's/ active=[0-9]* inact=[0-9]*//' "$d/graceful2.txt" >"$d/graceful2.nc"
	fi

	ip netns exec "$DP_DIR" ipvsadm -L -n >"$d/list.txt" 2>&1
	ip netns exec "$DP_DIR" ipvsadm -L -n -c >"$d/conns.txt" 2>&1
	# 9. Cleanup (cleanupLeftovers: moby's Flush), then the dump is empty.
	printf 'flush\ndump\n' | kp "$d/flush.txt"
	if grep -qx ok "$d/flush.txt" && ! grep -q '^svc \|^error\|^exception' "$d/flush.txt"; then
		tap_ok "kube-proxy $label: cleanup: flush leaves no service"
	else
		tap_fail "kube-proxy $label: cleanup: flush leaves no service" "$(cat "$d/flush.txt")"
	fi
	kp_stop
	ip netns exec "$DP_DIR" ipvsadm -C
	servers_down
	topo_down "$label"
	unload_ipvs "$module" || tap_fail "kube-proxy $label: unload $module"
	log_clean "kube-proxy $label" "$from"
}

start=$SECONDS
if ! build_dpgen; then
	tap_fail "kube-proxy: build dpgen"
	finish
	exit
fi
if ! IPY=$(find_ipy); then
	tap_fail "kube-proxy: a python3 with pyroute2 (tools/deps.sh installs it into the venv)"
	finish
	exit
fi
note "kube-proxy: pyroute2 $("$IPY" -c 'import pyroute2; print(pyroute2.__version__)') ($IPY)"
labels_for "$@"
for k in "${!LABELS[@]}"; do
	run_module "${LABELS[k]}" "${@:k+1:1}"
	publish "interop-kp-${LABELS[k]}"
done
for label in "${LABELS[@]:1}"; do
	same_as kube-proxy interop-kp "${LABELS[0]}" "$label" sysctl.txt probe.txt pre-get.txt setup.txt cip-tcp.counts \
		cip-udp.counts nodeport.counts counters.txt affinity.counts affinity.txt flags.txt noaffinity.counts \
		flags2.txt dump.nc libdump.nc graceful1.txt gt-new.counts long.counts graceful2.nc flush.txt
done
note "kube-proxy ($*): $((SECONDS - start))s"
finish
