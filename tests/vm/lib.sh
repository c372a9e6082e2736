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

finish() {
	echo "# $(basename "$0"): $failures failure(s)"
	[ "$failures" = 0 ]
}
