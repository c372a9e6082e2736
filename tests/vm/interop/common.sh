# shellcheck shell=bash
# Sourced by the tests/vm/interop/ scripts (guest side, as root): dp/common.sh (TAP helpers,
# load_ipvs/unload_ipvs c|rs, the client/rt/director/rs1..3 namespaces, dpgen, server_counts)
# plus what the node-interop replays share: the TAP file interop-<script>.tap, the python that
# has pyroute2 ($IPY), kernel-log checks and the comparison of per-run result files.
# shellcheck source=tests/vm/dp/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../dp/common.sh"

# shellcheck disable=SC2034  # used by the scripts that source this file
IOP=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -s "$TAP" ] || rm -f "$TAP"
TAP=$OUT/interop-$(basename "$0" .sh).tap
: >"$TAP"

dmesg_lines() { dmesg | wc -l; }

# find_ipy: a python3 that imports pyroute2.ipvs: $IPY if set, else the venv of tools/deps.sh
# (on PATH in the guest: tools/vm.sh exports the host's PATH, which tools/env.sh prefixes with
# the venv; the guest sees the host's root filesystem), else its default place.
find_ipy() {
	local p
	for p in "${IPY:-}" "$(command -v python3 2>/dev/null)" \
		"${VENV_DIR:-${CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/ipvs-rs}/venv}/bin/python3" \
		/root/.cache/ipvs-rs/venv/bin/python3; do
		if [ -z "$p" ] || [ ! -x "$p" ]; then continue; fi
		if "$p" -c 'import pyroute2.ipvs' 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# log_clean NAME FROM: a TAP line for the kernel log since line FROM.
log_clean() {
	local name=$1 from=$2 f=$WORK/dmesg-part
	dmesg | tail -n +"$from" >"$f"
	if "$TOP/tools/dmesg-check.sh" "$f" >"$f.check" 2>&1; then
		tap_ok "$name: kernel log clean"
	else
		tap_fail "$name: kernel log clean" "$(head -n 30 "$f.check")"
	fi
}

# same_as NAME DIR REF_LABEL LABEL FILE...: one TAP line "NAME LABEL: FILE same as REF_LABEL"
# per FILE: $WORK/DIR-LABEL/FILE must be $WORK/DIR-REF_LABEL/FILE, "# " note lines (timings)
# left out.
same_as() {
	local name=$1 dir=$2 ref=$3 label=$4 f a b d
	shift 4
	for f in "$@"; do
		a=$WORK/$dir-$ref/$f
		b=$WORK/$dir-$label/$f
		if [ ! -e "$a" ] || [ ! -e "$b" ]; then
			tap_fail "$name $label: $f same as $ref" "missing: $([ -e "$a" ] || echo "$a") $([ -e "$b" ] || echo "$b")"
			continue
		fi
		if d=$(diff -u --label "$ref/$f" --label "$label/$f" <(grep -v '^# ' "$a") <(grep -v '^# ' "$b")); then
			tap_ok "$name $label: $f same as $ref"
		else
			tap_fail "$name $label: $f same as $ref" "$d"
		fi
	done
}

# labels_for MOD...: sets LABELS (c, rs, or c, c-2 when a module is repeated).
labels_for() {
	local m
	local -A seen=()
	LABELS=()
	for m in "$@"; do
		seen[$m]=$((${seen[$m]:-0} + 1))
		if [ "${seen[$m]}" = 1 ]; then LABELS+=("$m"); else LABELS+=("$m-${seen[$m]}"); fi
	done
}
