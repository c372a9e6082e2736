# shellcheck shell=bash
# Sourced by the guest scripts: TAP-style checks that keep going after a failure.
# Each check prints "ok - <desc>" or "not ok - <desc>" (with the command's output on failure)
# to stdout and to $VM_OUT/<script>.tap, which tools/check.sh counts.
set -u
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KO=${KO:-$TOP/ipvs_rs.ko}
TAP=${VM_OUT:-/tmp}/$(basename "$0" .sh).tap
: >"$TAP"
failures=0

_report() {
	echo "$1" | tee -a "$TAP"
}

# check DESC CMD...: CMD must succeed.
check() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		_report "ok - $desc"
	else
		_report "not ok - $desc"
		printf '#   %s\n' "\$ $*" "$out" | sed 's/^/# /'
		failures=$((failures + 1))
	fi
}

# refuse DESC CMD...: CMD must fail.
refuse() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		_report "not ok - $desc"
		printf '#   %s\n' "\$ $* (succeeded, should have failed)" "$out" | sed 's/^/# /'
		failures=$((failures + 1))
	else
		_report "ok - $desc"
		printf '#   %s\n' "$out" | head -n 3
	fi
}

# equals DESC EXPECTED CMD...: CMD's stdout must be EXPECTED.
equals() {
	local desc=$1 want=$2 got
	shift 2
	got=$("$@" 2>&1)
	if [ "$got" = "$want" ]; then
		_report "ok - $desc"
	else
		_report "not ok - $desc"
		echo "#   \$ $*: got '$got', want '$want'"
		failures=$((failures + 1))
	fi
}

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# TAP helpers that take a verdict computed by the caller.
tap_ok() { _report "ok - $1"; }
tap_fail() {
	_report "not ok - $1"
	failures=$((failures + 1))
	shift
	local l
	for l in "$@"; do printf '%s\n' "$l" | sed 's/^/# /'; done
}
note() { printf '# %s\n' "$*"; }

# kmemleak_available: the debug kernel's kmemleak is there and on.
kmemleak_available() { [ -w /sys/kernel/debug/kmemleak ]; }

# kmemleak_clear: forget what is known so far (boot-time reports are not ours).
kmemleak_clear() {
	kmemleak_available || return 0
	echo scan >/sys/kernel/debug/kmemleak 2>/dev/null
	echo clear >/sys/kernel/debug/kmemleak 2>/dev/null
}

# kmemleak_check NAME: TAP line; after two scans (kmemleak reports an object only once it was
# unreferenced in two scans), no leak reported. Skipped (a note, no TAP line) without kmemleak.
kmemleak_check() {
	local name=$1 out
	if ! kmemleak_available; then
		note "$name: kmemleak not available on this kernel (FLAVOR=debug has it)"
		return 0
	fi
	echo scan >/sys/kernel/debug/kmemleak
	sleep 1
	echo scan >/sys/kernel/debug/kmemleak
	out=$(cat /sys/kernel/debug/kmemleak)
	if [ -z "$out" ]; then
		tap_ok "$name: kmemleak finds nothing"
	else
		tap_fail "$name: kmemleak finds nothing" "$(printf '%s\n' "$out" | head -n 40)"
		[ -z "${WORK:-}" ] || printf '%s\n' "$out" >"$WORK/kmemleak-$(printf '%s' "$name" | tr -c 'A-Za-z0-9_-' _).txt"
	fi
}

finish() {
	echo "# $(basename "$0"): $failures failure(s)"
	[ "$failures" = 0 ]
}
