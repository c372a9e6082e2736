#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/ctl/unpriv.sh [A [B]]     (default: c rs)
#
# Unprivileged access to IPVS, A against B (c = C ip_vs, rs = ipvs_rs), each run with the module
# freshly loaded and a fresh network namespace holding a few services set up as root. The
# command list below runs inside that netns through `setpriv` in two identities:
#   nocaps  root with every capability dropped (--inh-caps=-all --bounding-set=-all): all lines
#   nobody  uid/gid 65534, no capabilities: the lines marked "#nobody" (ipvsadm fails the same
#           way for every command, in ipvs_init, so a few suffice; that identity is about /proc)
# and per line (TAP "unpriv <identity> NNN: <command>") the exit code, stdout and stderr must
# be the same for A and B, a "!" line must fail and any other succeed, and /proc/net/ip_vs
# (read as root after the line) must be what it was before: nothing may change.
# ipvsadm runs /sbin/modprobe ip_vs when it cannot talk to IPVS; modprobe's own lines are
# dropped from stderr, since whether it complains depends on whether ip_vs is the module loaded.
# Then `nlclient.py cases` runs without capabilities too (TAP "unpriv-netlink <case>"): every
# IPVS command must be refused the same way (EPERM, or EOPNOTSUPP for unknown commands).
# Outputs: $VM_OUT/unpriv-<run>/<identity>/NNN.*, $VM_OUT/netlink-unpriv-<run>.txt.
. "$(dirname "$0")/common.sh"

A=${1:-c}
B=${2:-rs}
check_modules "$A" "$B"
NOCAPS=(setpriv --inh-caps=-all --bounding-set=-all --)
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all --)

# Root sets this up before the unprivileged commands run (one ipvsadm -R).
SETUP='-A -t 10.0.0.1:80 -s rr
-a -t 10.0.0.1:80 -r 192.0.2.1:80 -m -w 1
-a -t 10.0.0.1:80 -r 192.0.2.2:80 -m -w 2
-A -u 10.0.0.1:53 -s wlc -p 60
-A -f 1 -s sh -b sh-port
-A -t [2001:db8::1]:443 -s mh'

LINES=$WORK/unpriv-commands.lines
awk '{ printf "%03d\t%s\n", NR, $0 }' >"$LINES" <<'EOF'
! ipvsadm
! ipvsadm -L -n #nobody
! ipvsadm -L -n --stats
! ipvsadm -L -n --rate
! ipvsadm -L -n -t 10.0.0.1:80
! ipvsadm -L --timeout
! ipvsadm -L --daemon
! ipvsadm -L -n -c
! ipvsadm -S -n
! ipvsadm -A -t 10.0.0.2:80 -s rr #nobody
! ipvsadm -E -t 10.0.0.1:80 -s wlc
! ipvsadm -D -t 10.0.0.1:80
! ipvsadm -D -f 1
! ipvsadm -a -t 10.0.0.1:80 -r 192.0.2.9:80 -m
! ipvsadm -e -t 10.0.0.1:80 -r 192.0.2.1:80 -m -w 9
! ipvsadm -d -t 10.0.0.1:80 -r 192.0.2.1:80
! ipvsadm -Z
! ipvsadm -Z -t 10.0.0.1:80
! ipvsadm -C
! ipvsadm --set 1 2 3
! ipvsadm -R < rules
! ipvsadm --start-daemon master --mcast-interface lo
! ipvsadm --stop-daemon master
cat /proc/net/ip_vs #nobody
cat /proc/net/ip_vs_stats #nobody
cat /proc/net/ip_vs_conn #nobody
sysctl net.ipv4.vs.conn_reuse_mode net.ipv4.vs.expire_nodest_conn net.ipv4.vs.conntrack #nobody
EOF
grep '#nobody' "$LINES" >"$LINES.nobody"

# run_unpriv LABEL MODULE: set up, run the list as both identities, run nlclient without caps.
run_unpriv() {
	local label=$1 module=$2 ns=unpriv_${1//-/_} dir=$WORK/unpriv-$1 who
	rm -rf "$dir"
	if ! load_ipvs "$module"; then
		_report "not ok - unpriv: load $module for run $label"
		failures=$((failures + 1))
	fi
	ip netns del "$ns" 2>/dev/null
	ip netns add "$ns"
	ip netns exec "$ns" ipvsadm -R <<<"$SETUP" || {
		_report "not ok - unpriv: set up services as root in run $label"
		failures=$((failures + 1))
	}
	for who in nocaps nobody; do
		mkdir -p "$dir/$who/work"
		chmod 755 "$WORK" "$dir" "$dir/$who" "$dir/$who/work"
		echo "-A -t 10.0.0.3:80 -s rr" >"$dir/$who/work/rules"
		chmod 644 "$dir/$who/work/rules"
		ip netns exec "$ns" cat /proc/net/ip_vs | normalize_proc >"$dir/$who/baseline.proc"
		if [ $who = nocaps ]; then
			ip netns exec "$ns" "$CTL/run-lines.sh" "$LINES" "$dir/$who" "${NOCAPS[@]}"
		else
			ip netns exec "$ns" "$CTL/run-lines.sh" "$LINES.nobody" "$dir/$who" "${NOBODY[@]}"
		fi
		normalize_proc_dir "$dir/$who"
		sed -i '/^modprobe: /d' "$dir/$who"/*.err
		# What `cat /proc/net/ip_vs` printed: same normalization as the .proc files.
		while IFS=$'\t' read -r id line; do
			if [[ $line == "cat /proc/net/ip_vs "* ]]; then
				normalize_proc <"$dir/$who/$id.out" >"$dir/$who/$id.out.sorted"
				mv "$dir/$who/$id.out.sorted" "$dir/$who/$id.out"
			fi
		done <"$LINES"
	done
	ip netns exec "$ns" ipvsadm -C >/dev/null 2>&1
	ip netns del "$ns"
	if ! unload_ipvs "$module"; then
		_report "not ok - unpriv: unload $module after run $label"
		failures=$((failures + 1))
	fi
	run_cases "$label" "$module" "$OUT/netlink-unpriv-$label.txt" "${NOCAPS[@]}"
}

LA=$(run_label 1 "$A" "$A" "$B")
LB=$(run_label 2 "$B" "$A" "$B")
start=$SECONDS
run_unpriv "$LA" "$A"
run_unpriv "$LB" "$B"
echo "# unpriv: ran $(wc -l <"$LINES") + $(wc -l <"$LINES.nobody") commands against $LA and $LB in $((SECONDS - start))s"

for who in nocaps nobody; do
	DA=$WORK/unpriv-$LA/$who
	DB=$WORK/unpriv-$LB/$who
	declare -A differ=()
	for id in $(differing_ids "$DA" "$DB"); do differ[$id]=1; done
	while IFS=$'\t' read -r id line; do
		notes=()
		[ -z "${differ[$id]:-}" ] || case_diffs "$LA/$who" "$DA" "$LB/$who" "$DB" "$id"
		for l in "$LA" "$LB"; do
			d=$WORK/unpriv-$l/$who
			rc=missing
			read -r rc <"$d/$id.rc" 2>/dev/null
			case $line in
			'!'*) [ "$rc" != 0 ] || notes+=("run $l: exit 0, but this must fail without CAP_NET_ADMIN") ;;
			*) [ "$rc" = 0 ] || notes+=("run $l: exit $rc, but this must work unprivileged; stderr: $(head -c 300 "$d/$id.err")") ;;
			esac
			if ! cmp -s "$d/baseline.proc" "$d/$id.proc"; then
				notes+=("run $l: /proc/net/ip_vs changed: $(diff -u "$d/baseline.proc" "$d/$id.proc")")
			fi
		done
		if [ ${#notes[@]} = 0 ]; then
			_report "ok - unpriv $who $id: $line"
		else
			_report "not ok - unpriv $who $id: $line"
			failures=$((failures + 1))
			printf '%s\n' "${notes[@]}" | sed 's/^/# /'
		fi
	done <"$LINES$([ $who = nocaps ] || echo .nobody)"
	unset differ
done
publish "unpriv-$LA" "unpriv-$LB"
compare_cases unpriv-netlink "$OUT/netlink-unpriv-$LA.txt" "$OUT/netlink-unpriv-$LB.txt" "$LA" "$LB"
finish
