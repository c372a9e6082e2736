#!/usr/bin/env bash
# Usage: tools/ktap.sh DMESG_FILE
# Checks the KUnit results (KTAP) in a kernel log with the kernel's own parser,
# `tools/testing/kunit/kunit.py parse` from the kernel source tree that tools/kernel.sh unpacks
# (override with KUNIT_PY=/path/to/kunit.py).
#
# stdout: exactly one line, "KTAP: N passed, M failed" (test-case counts; crashed cases count as
# failed). The parser's report and the reasons for a failure go to stderr.
# Exit 0 only if at least one test case passed and nothing failed, crashed or failed to parse;
# a log without any KTAP output fails. Exit 2: usage error or missing parser.
#
# Every KUnit run (module load, boot-time run) prints its own top-level "KTAP version 1" header,
# but kunit.py parse stops after the first top-level test plan and silently ignores later runs,
# so the log is cut at each top-level header and each run is parsed on its own (empty runs,
# "1..0", are skipped).
# kunit.py parse exits 1 for failures, crashes, missing KTAP and all-skipped runs, but not for
# parse errors (e.g. a wrong test number): those are caught from its summary line.
# shellcheck source=tools/env.sh
. "$(dirname "$0")/env.sh"

[ $# -eq 1 ] || { echo "usage: $0 DMESG_FILE" >&2; exit 2; }
[ -r "$1" ] || { echo "ktap: cannot read '$1'" >&2; exit 2; }
file=$(realpath -- "$1")   # kunit.py chdirs into the kernel tree: it needs an absolute path

if [ -z "${KUNIT_PY:-}" ]; then
	ver=$(ksrc_version) || true
	[ -n "$ver" ] || { echo "ktap: $KSRC_PKG is not installed (run: make deps)" >&2; exit 2; }
	KUNIT_PY="$CACHE_DIR/src/linux-$ver/tools/testing/kunit/kunit.py"
fi
[ -f "$KUNIT_PY" ] || { echo "ktap: $KUNIT_PY not found (tools/kernel.sh unpacks the kernel source)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One file per top-level KTAP header ("[    1.234567] KTAP version 1", not indented).
awk -v dir="$tmp" '
	/^(\[[ 0-9.]+\] ?)?KTAP version [0-9]+[[:space:]]*$/ { n++; out = sprintf("%s/run%04d", dir, n) }
	n > 0 { print > out }
' "$file"
runs=("$tmp"/run*)
[ -e "${runs[0]}" ] || runs=("$file")   # no header: let kunit.py say what it finds

# Count N from "name: N" in kunit.py's summary line (absent means 0).
count() { local n; n=$(sed -n "s/.*[ ,]$1: \([0-9]\+\).*/\1/p" <<<"$2"); echo "${n:-0}"; }

passed=0 failed=0 problems=()
for run in "${runs[@]}"; do
	# With CONFIG_KUNIT=y the boot-time executor prints an empty run ("1..0") when no suite is
	# built in; kunit.py calls that an error ("0 tests run!"). It is not a result: skip it.
	plan=$(sed -nE '/^(\[[ 0-9.]+\] ?)?1\.\.[0-9]+[[:space:]]*$/{s/^(\[[ 0-9.]+\] ?)?(1\.\.[0-9]+).*/\2/p;q}' "$run")
	[ "$plan" != 1..0 ] || continue
	rc=0
	report=$(python3 "$KUNIT_PY" parse "$run" 2>&1) || rc=$?
	printf '%s\n' "$report" >&2
	summary=$(grep -o 'Testing complete\. Ran .*' <<<"$report" | tail -n 1) || true
	if [ -z "$summary" ]; then
		problems+=("kunit.py parse printed no summary (exit $rc)")
		continue
	fi
	p=$(count passed "$summary")
	f=$(( $(count failed "$summary") + $(count crashed "$summary") ))
	e=$(count errors "$summary")
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$e" = 0 ] || problems+=("$e KTAP parse error(s)")
	[ "$rc" = 0 ] || [ "$f" != 0 ] || problems+=("kunit.py parse exited $rc")
done

[ "$failed" = 0 ] || problems+=("$failed test case(s) failed")
[ "$passed" != 0 ] || problems+=("no passing KUnit test case found (did the tests run?)")

echo "KTAP: $passed passed, $failed failed"
if [ ${#problems[@]} -ne 0 ]; then
	printf 'ktap: FAIL: %s\n' "${problems[@]}" >&2
	exit 1
fi
