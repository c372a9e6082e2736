#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/ctl/sysctl-diff.sh [A [B]]     (default: c rs)
# From the host:  VM_OUT=/tmp/sysctl tools/vm.sh --timeout 900 -- tests/vm/ctl/sysctl-diff.sh c rs
#
# The net/ipv4/vs sysctl table of A against B (c = C ip_vs with ip_vs_lblc and ip_vs_lblcr
# loaded, whose lblc_expiration / lblcr_expiration live in the same directory; rs = ipvs_rs).
# Per run, with the module freshly loaded, in a fresh network namespace:
#   - `ls /proc/sys/net/ipv4/vs/` (names), every entry's mode, `sysctl -a` of net.ipv4.vs
#     (every value). (Namespaces of unprivileged user namespaces, where C makes five entries
#     read-only and leaves out lblc/lblcr, cannot be made here: the test kernel has no
#     CONFIG_USER_NS; the core's tests check that part of the table.)
#   - the writes of WRITES below, one per line: exit code, stderr and the value read back
#     after it; a "!" line must fail (C's ranges: sync_version 0..1, sync_retries 0..3,
#     sync_ports a power of two, sync_threshold ordered, est_nice -20..19, est_cpulist a CPU
#     list, the defense modes 0..3, numbers that do not fit an int);
#   - kube-proxy's startup writes (conntrack=1, expire_nodest_conn=1,
#     expire_quiescent_template=1) and Docker swarm's (the same and conn_reuse_mode=0) must
#     succeed and read back.
# A and B must agree on all of it (TAP "sysctl ..."); outputs in $VM_OUT/sysctl-<run>/.
. "$(dirname "$0")/common.sh"

A=${1:-c}
B=${2:-rs}
check_modules "$A" "$B"

# name value: one write per line; "!" marks a write C refuses.
WRITES='! sync_version 2
! sync_version -1
sync_version 0
! sync_retries 4
sync_retries 3
! sync_ports 3
! sync_ports 0
sync_ports 8
! sync_threshold 50 3
! sync_threshold 3 3
! sync_threshold -1 50
sync_threshold 10 0
sync_threshold 5 60
! est_nice 20
! est_nice -21
est_nice 19
! est_cpulist 99999
! est_cpulist abc
! drop_entry 4
! drop_packet -1
! secure_tcp 7
! amemthresh 2147483648
! conn_reuse_mode abc
! expire_quiescent_template 1x
sync_refresh_period 7
lblc_expiration 60
lblcr_expiration 3600
! lblc_expiration 1e3
sync_qlen_max 1234
sync_sock_size 65536
run_estimation 0
run_estimation 1
sloppy_tcp 1
snat_reroute 0
pmtu_disc 0
backup_only 1
cache_bypass 1
nat_icmp_send 1
schedule_icmp 1
ignore_tunneled 1
sloppy_sctp 1'

KUBE_PROXY='conntrack 1
expire_nodest_conn 1
expire_quiescent_template 1
conn_reuse_mode 0'

# dump_table DIR PREFIX: names, modes and values of the table as this process sees it.
dump_table() {
	local dir=$1 p=$2
	ls /proc/sys/net/ipv4/vs/ >"$dir/$p.ls" 2>&1
	(cd /proc/sys/net/ipv4/vs && stat -c '%a %n' -- *) >"$dir/$p.modes" 2>&1
	sysctl -a 2>/dev/null | grep '^net\.ipv4\.vs\.' >"$dir/$p.values"
}

run_sysctl() {
	local label=$1 module=$2 ns=sysctl_${1//-/_} dir=$WORK/sysctl-$1 line bang name value rc
	rm -rf "$dir"
	mkdir -p "$dir"
	if ! load_ipvs "$module" || { [ "$module" = c ] && ! modprobe -a ip_vs_lblc ip_vs_lblcr; }; then
		_report "not ok - sysctl: load $module for run $label"
		failures=$((failures + 1))
	fi
	ip netns del "$ns" 2>/dev/null
	ip netns add "$ns"
	ip netns exec "$ns" bash -c "$(declare -f dump_table); dump_table '$dir' fresh"
	: >"$dir/writes"
	while IFS= read -r line; do
		bang=
		case $line in '! '*) bang='!'; line=${line#! } ;; esac
		name=${line%% *}
		value=${line#* }
		rc=0
		ip netns exec "$ns" sysctl -q -w "net.ipv4.vs.$name=$value" >"$dir/out" 2>"$dir/err" || rc=$?
		printf '%s %s=%s: rc %s, err [%s], now [%s]\n' "$bang" "$name" "$value" "$rc" "$(cat "$dir/err")" \
			"$(ip netns exec "$ns" cat "/proc/sys/net/ipv4/vs/$name" 2>&1 | tr '\t' ' ')" >>"$dir/writes"
		if [ -n "$bang" ] && [ "$rc" = 0 ]; then
			_report "not ok - sysctl $label: $name=$value must be refused"
			failures=$((failures + 1))
		elif [ -z "$bang" ] && [ "$rc" != 0 ]; then
			_report "not ok - sysctl $label: $name=$value must be accepted"
			sed 's/^/# /' "$dir/err"
			failures=$((failures + 1))
		fi
	done <<<"$WRITES"
	ip netns exec "$ns" bash -c "$(declare -f dump_table); dump_table '$dir' written"
	# kube-proxy / Docker swarm, in the namespace they run in (the host's: init_net) and in
	# a fresh one; each write must succeed and read back.
	while read -r name value; do
		for where in init ns; do
			if [ "$where" = init ]; then
				sysctl -q -w "net.ipv4.vs.$name=$value" 2>"$dir/err"; rc=$?
				got=$(cat "/proc/sys/net/ipv4/vs/$name" 2>&1)
			else
				ip netns exec "$ns" sysctl -q -w "net.ipv4.vs.$name=$value" 2>"$dir/err"; rc=$?
				got=$(ip netns exec "$ns" cat "/proc/sys/net/ipv4/vs/$name" 2>&1)
			fi
			if [ "$rc" = 0 ] && [ "$got" = "$value" ]; then
				_report "ok - sysctl $label: kube-proxy/docker write $name=$value ($where)"
			else
				_report "not ok - sysctl $label: kube-proxy/docker write $name=$value ($where): rc $rc, reads '$got'"
				sed 's/^/# /' "$dir/err"
				failures=$((failures + 1))
			fi
		done
	done <<<"$KUBE_PROXY"
	ip netns del "$ns"
	unload_ipvs "$module" || {
		_report "not ok - sysctl: unload $module after run $label"
		failures=$((failures + 1))
	}
}

la=$(run_label 1 "$A" "$A" "$B")
lb=$(run_label 2 "$B" "$A" "$B")
run_sysctl "$la" "$A"
run_sysctl "$lb" "$B"
publish "sysctl-$la" "sysctl-$lb"

da=$WORK/sysctl-$la
db=$WORK/sysctl-$lb
# Each side must show the whole table: C's 29 entries of vs_vars[] plus lblc/lblcr (and for
# ipvs_rs its conn_reuse_old_conntrack, which the comparison below leaves out).
for pair in "$la $A" "$lb $B"; do
	# shellcheck disable=SC2086 # "LABEL MOD" into $1 $2
	set -- $pair
	want=31
	[ "$2" = rs ] && want=32
	n=$(wc -l <"$WORK/sysctl-$1/fresh.ls")
	if [ "$n" = "$want" ]; then
		_report "ok - sysctl $1: $n entries in a new namespace"
	else
		_report "not ok - sysctl $1: $n entries in a new namespace, want $want"
		failures=$((failures + 1))
	fi
done
# ipvs_rs's own knob, not in C: compared apart. sync_qlen_max's default is
# nr_free_buffer_pages() / 32, which moves with the zones' watermarks: compared apart too.
drop_own() { grep -v 'conn_reuse_old_conntrack' "$1" | sed 's/^\(net\.ipv4\.vs\.sync_qlen_max = \).*/\1N/'; }
qa=$(sed -n 's/^net\.ipv4\.vs\.sync_qlen_max = //p' "$da/fresh.values")
qb=$(sed -n 's/^net\.ipv4\.vs\.sync_qlen_max = //p' "$db/fresh.values")
if [ -n "$qa" ] && [ -n "$qb" ] && [ $((qa > qb ? qa - qb : qb - qa)) -le $((qa / 20)) ]; then
	_report "ok - sysctl: sync_qlen_max defaults agree within 5% ($qa, $qb: free buffer pages / 32)"
else
	_report "not ok - sysctl: sync_qlen_max defaults differ: '$qa' vs '$qb'"
	failures=$((failures + 1))
fi
for f in fresh.ls fresh.modes fresh.values writes written.ls written.values; do
	if diff <(drop_own "$da/$f") <(drop_own "$db/$f") >"$WORK/sysctl.diff" 2>&1; then
		_report "ok - sysctl: $f of $la and $lb agree ($(wc -l <"$da/$f") lines)"
	else
		_report "not ok - sysctl: $f of $la and $lb differ"
		sed 's/^/# /' "$WORK/sysctl.diff" | head -40
		failures=$((failures + 1))
	fi
done
for pair in "$la $A" "$lb $B"; do
	# shellcheck disable=SC2086 # "LABEL MOD" into $1 $2
	set -- $pair
	if [ "$2" = rs ]; then
		equals "sysctl $1: conn_reuse_old_conntrack (ipvs_rs only) defaults to 0" \
			"net.ipv4.vs.conn_reuse_old_conntrack = 0" grep conn_reuse_old_conntrack "$WORK/sysctl-$1/fresh.values"
	fi
done
finish
