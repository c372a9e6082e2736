# shellcheck shell=bash
# Sourced by the tests/vm/ctl/ scripts (guest side, as root): lib.sh's TAP helpers plus
# loading/unloading one IPVS implementation and netns helpers.
#
#   load_ipvs c|rs   c:  modprobe ip_vs and the schedulers the scripts use (preloaded, because
#                        ipvs_rs cannot autoload C scheduler modules and the C side must not
#                        depend on autoloading either);
#                    rs: insmod $KO ($TOP/ipvs_rs.ko unless KO is set).
#   unload_ipvs c|rs the reverse (rmmod; nf_conntrack & co. stay loaded).
# shellcheck source=tests/vm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

C_MODULES="ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_sh ip_vs_mh"
OUT=${VM_OUT:-/tmp}
# Guest-local scratch space (the guest's /tmp is a tmpfs overlay). Creating thousands of small
# files on $VM_OUT (9p) line by line, and reading them back to compare, dominated a run under
# TCG; the scripts work here and copy their result trees to $OUT once (publish).
WORK=$(mktemp -d /tmp/ipvs-ctl.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
publish() {
	local n
	for n in "$@"; do
		rm -rf "${OUT:?}/$n"
		cp -r "$WORK/$n" "$OUT/"
	done
}
PY=${PY:-/usr/bin/python3}
CTL=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

load_ipvs() {
	case $1 in
	c)
		# shellcheck disable=SC2086 # C_MODULES is a list of module names
		modprobe -a $C_MODULES ;;
	rs) insmod "$KO" ;;
	*) echo "load_ipvs: unknown module '$1' (c or rs)" >&2; return 2 ;;
	esac
}

unload_ipvs() {
	local m rc=0
	case $1 in
	c)
		# Schedulers first: they hold references on ip_vs.
		for m in ip_vs_twos ip_vs_ovf ip_vs_fo ip_vs_lblcr ip_vs_lblc ip_vs_nq ip_vs_sed ip_vs_dh \
			ip_vs_mh ip_vs_sh ip_vs_wlc ip_vs_lc ip_vs_wrr ip_vs_rr ip_vs; do
			if grep -q "^$m " /proc/modules; then rmmod "$m" || rc=1; fi
		done ;;
	rs) rmmod ipvs_rs || rc=1 ;;
	*) echo "unload_ipvs: unknown module '$1' (c or rs)" >&2; return 2 ;;
	esac
	return $rc
}

# Both implementations must be known names; a run of "c c" is the determinism check.
check_modules() {
	local m
	for m in "$@"; do
		case $m in c|rs) ;; *) echo "unknown module '$m' (want c or rs)" >&2; exit 2 ;; esac
	done
}

# run_label INDEX MODULE A B: the per-run label, e.g. "c" or, when both runs use the same
# module, "c" and "c-2", so that outputs and network namespaces never collide.
run_label() {
	if [ "$1" = 2 ] && [ "$3" = "$4" ]; then echo "$2-2"; else echo "$2"; fi
}

# lib.sh's _report pipes through tee: a fork per result, which is slow under TCG.
_report() {
	printf '%s\n' "$1"
	printf '%s\n' "$1" >>"$TAP"
}

# Normalizes /proc/net/ip_vs: the 3 header lines stay; then each service line with its "  -> "
# destination lines forms a block, and blocks are sorted. C lists services in hash order and
# the hash mixes in the netns pointer, so only the block order is random; the order of the
# destinations within a service is C's list order (newest first) and is kept.
# normalize_proc < FILE: on stdin. normalize_proc_dir DIR: every DIR/NNN.praw into DIR/NNN.proc
# (one awk + one sort for the whole directory), removing the .praw files.
# shellcheck disable=SC2016 # an awk program
_NORM_AWK='FNR <= 3 { printf "%s\t0\t%06d\t%s\n", FILENAME, FNR, $0; next }
	!/^  ->/ { svc = $0; n = 0 }
	{ printf "%s\t1\t%s\t%06d\t%s\n", FILENAME, svc, ++n, $0 }'
normalize_proc() {
	awk "$_NORM_AWK" | LC_ALL=C sort -t "$(printf '\t')" -k2,2 -k3,3 -k4,4 | awk -F '\t' '{ print $NF }'
}
normalize_proc_dir() {
	local dir=$1 f
	for f in "$dir"/*.praw; do : >"${f%.praw}.proc"; done
	awk "$_NORM_AWK" "$dir"/*.praw | LC_ALL=C sort -t "$(printf '\t')" -k1,1 -k2,2 -k3,3 -k4,4 |
		awk -F '\t' '{ f = $1; sub(/\.praw$/, ".proc", f)
			if (f != last) { if (last != "") close(last); last = f }
			print $NF >> f }'
	rm -f "$dir"/*.praw
}

# differing_ids DIR_A DIR_B: the NNN of every NNN.* file that differs or exists on one side only.
# case_diffs LABEL_A DIR_A LABEL_B DIR_B ID: append to the caller's `notes` array one unified
# diff per result file (rc, out, err, proc) of case ID that differs between the two runs.
case_diffs() {
	local la=$1 da=$2 lb=$3 db=$4 id=$5 ext d
	for ext in rc out err proc; do
		if ! d=$(diff -u --label "$la/$id.$ext" --label "$lb/$id.$ext" "$da/$id.$ext" "$db/$id.$ext" 2>&1); then
			notes+=("$d")
		fi
	done
}

differing_ids() {
	LC_ALL=C diff -rq -x work "$1" "$2" 2>&1 |
		sed -n -e 's|^Files .*/\([0-9][0-9]*\)\.[a-z]* and .* differ$|\1|p' \
			-e 's|^Only in [^:]*: \([0-9][0-9]*\)\..*|\1|p' | sort -u
}

# run_cases LABEL MODULE OUTFILE [PREFIX...]: load MODULE, run `PREFIX... nlclient.py cases`
# in a fresh netns nldiff_LABEL into OUTFILE (stderr: OUTFILE with .err for .txt), unload.
run_cases() {
	local label=$1 module=$2 out=$3 ns=nldiff_${1//-/_}
	shift 3
	if ! load_ipvs "$module"; then
		_report "not ok - load $module for run $label"
		failures=$((failures + 1))
	fi
	ip netns del "$ns" 2>/dev/null
	ip netns add "$ns"
	if ! ip netns exec "$ns" "$@" "$PY" "$CTL/nlclient.py" cases >"$out" 2>"${out%.txt}.err"; then
		_report "not ok - nlclient.py failed in run $label"
		failures=$((failures + 1))
		sed 's/^/# /' "${out%.txt}.err"
	fi
	ip netns exec "$ns" ipvsadm -C >/dev/null 2>&1
	ip netns del "$ns"
	if ! unload_ipvs "$module"; then
		_report "not ok - unload $module after run $label"
		failures=$((failures + 1))
	fi
}

# compare_cases TAG FILE_A FILE_B LABEL_A LABEL_B: one TAP line "TAG <case>" per case.
compare_cases() {
	local tag=$1 fa=$2 fb=$3 la=$4 lb=$5 name l
	local -A blk_a=() blk_b=()
	local order=()
	name=
	while IFS= read -r l; do
		if [[ $l == "CASE "* ]]; then name=${l#CASE }; name=${name%% *}; order+=("$name"); fi
		[ -n "$name" ] && blk_a[$name]+="$l"$'\n'
	done <"$fa"
	name=
	while IFS= read -r l; do
		if [[ $l == "CASE "* ]]; then
			name=${l#CASE }; name=${name%% *}
			[ -n "${blk_a[$name]+x}" ] || order+=("$name")
		fi
		[ -n "$name" ] && blk_b[$name]+="$l"$'\n'
	done <"$fb"
	if [ ${#order[@]} = 0 ]; then
		_report "not ok - $tag: no cases ran"
		failures=$((failures + 1))
		return
	fi
	for name in "${order[@]}"; do
		if [ "${blk_a[$name]-}" = "${blk_b[$name]-}" ]; then
			_report "ok - $tag $name"
		else
			_report "not ok - $tag $name"
			failures=$((failures + 1))
			diff -u --label "$la" --label "$lb" <(printf '%s' "${blk_a[$name]-}") <(printf '%s' "${blk_b[$name]-}") | sed 's/^/# /'
		fi
	done
}

# Strips lines from modprobe (ipvsadm runs /sbin/modprobe ip_vs when it cannot talk to IPVS;
# whether that prints anything depends on whether the C ip_vs happens to be loaded).
filter_modprobe() { grep -v '^modprobe: ' || true; }
