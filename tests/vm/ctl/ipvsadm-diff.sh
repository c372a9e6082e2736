#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/ctl/ipvsadm-diff.sh [A [B]]     (default: c rs)
#
# Runs every line of ipvsadm-script.txt (IPVSADM_SCRIPT overrides) against IPVS implementation
# A, then against B (c = C ip_vs + schedulers, rs = ipvs_rs.ko), each time with the module
# freshly loaded and in a fresh network namespace. Per line it keeps, under
# $VM_OUT/ipvsadm-<run>/: NNN.cmd (the line), NNN.out/.err/.rc (stdout, stderr, exit code) and
# NNN.proc (/proc/net/ip_vs after the line, blocks sorted: see normalize_proc). Then it
# compares the two runs file by file, one TAP line per script line:
#   ok - ipvsadm NNN: <command>
#   not ok - ipvsadm NNN: <command>     followed by "# " + unified diffs / expectation notes
# A line starting with "!" must fail (non-zero exit) in both runs, any other line must succeed.
# `ipvsadm-diff.sh c c` checks that the script is deterministic (run labels c and c-2).
. "$(dirname "$0")/common.sh"

A=${1:-c}
B=${2:-rs}
check_modules "$A" "$B"
SCRIPT=${IPVSADM_SCRIPT:-$CTL/ipvsadm-script.txt}

# The script's commands, numbered: "NNN<TAB>line" (comments and blank lines dropped).
LINES=$WORK/ipvsadm-script.lines
grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$SCRIPT" | awk '{ printf "%03d\t%s\n", NR, $0 }' >"$LINES"

# run_script LABEL MODULE: load MODULE, run all lines in netns ipvsdiff_LABEL, unload.
run_script() {
	local label=$1 module=$2 ns=ipvsdiff_${1//-/_} dir=$WORK/ipvsadm-$1
	rm -rf "$dir"
	mkdir -p "$dir/work"
	if ! load_ipvs "$module"; then
		_report "not ok - ipvsadm-diff: load $module for run $label"
		failures=$((failures + 1))
	fi
	ip netns del "$ns" 2>/dev/null
	ip netns add "$ns"
	ip netns exec "$ns" "$CTL/run-lines.sh" "$LINES" "$dir"
	normalize_proc_dir "$dir"
	# Leave nothing behind even if the script did not end with -C.
	ip netns exec "$ns" ipvsadm -C >/dev/null 2>&1
	ip netns del "$ns"
	if ! unload_ipvs "$module"; then
		_report "not ok - ipvsadm-diff: unload $module after run $label"
		failures=$((failures + 1))
	fi
}

LA=$(run_label 1 "$A" "$A" "$B")
LB=$(run_label 2 "$B" "$A" "$B")
DA=$WORK/ipvsadm-$LA
DB=$WORK/ipvsadm-$LB
start=$SECONDS
run_script "$LA" "$A"
run_script "$LB" "$B"
echo "# ipvsadm-diff: ran $(wc -l <"$LINES") lines against $LA and $LB in $((SECONDS - start))s"

declare -A differ=()
for id in $(differing_ids "$DA" "$DB"); do differ[$id]=1; done
while IFS=$'\t' read -r id line; do
	notes=()
	[ -z "${differ[$id]:-}" ] || case_diffs "$LA" "$DA" "$LB" "$DB" "$id"
	for l in "$LA" "$LB"; do
		rc=missing
		read -r rc <"$WORK/ipvsadm-$l/$id.rc" 2>/dev/null
		case $line in
		'!'*) [ "$rc" != 0 ] || notes+=("run $l: exit 0, but this line must fail") ;;
		*) [ "$rc" = 0 ] || notes+=("run $l: exit $rc, but this line must succeed; stderr: $(head -c 300 "$WORK/ipvsadm-$l/$id.err")") ;;
		esac
	done
	if [ ${#notes[@]} = 0 ]; then
		_report "ok - ipvsadm $id: $line"
	else
		_report "not ok - ipvsadm $id: $line"
		failures=$((failures + 1))
		printf '%s\n' "${notes[@]}" | sed 's/^/# /'
	fi
done <"$LINES"
publish "ipvsadm-$LA" "ipvsadm-$LB"
finish
