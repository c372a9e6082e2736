#!/usr/bin/env bash
# Usage: tests/harness-selftest.sh
# Host-only self-test of the log checkers (no VM): tools/dmesg-check.sh and tools/ktap.sh
# against the fixtures in tests/fixtures, and of the data-path reports (tests/vm/dp). Prints "ok - <desc>" / "not ok - <desc>" per case
# and exits 1 if any case did not behave as expected. Also the bench's instruction report
# (tests/vm/bench/insns.py) on made-up counts.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
fx="$top/tests/fixtures"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: > "$tmp/empty.txt"

failures=0
# check DESC EXPECT(pass|fail) CMD...: run CMD (output kept in $tmp/out for failures).
check() {
	local desc=$1 expect=$2 rc=0
	shift 2
	"$@" > "$tmp/out" 2>&1 || rc=$?
	if { [ "$expect" = pass ] && [ "$rc" = 0 ]; } || { [ "$expect" = fail ] && [ "$rc" = 1 ]; }; then
		echo "ok - $desc"
	else
		echo "not ok - $desc (exit $rc, expected $expect)"
		sed 's/^/#   /' "$tmp/out"
		failures=$((failures + 1))
	fi
}

# check_output DESC EXPECTED_STDOUT CMD...: CMD's stdout (exit status ignored) must be exactly this.
check_output() {
	local desc=$1 want=$2 got
	shift 2
	got=$("$@" 2>/dev/null) || true
	if [ "$got" = "$want" ]; then
		echo "ok - $desc"
	else
		echo "not ok - $desc (got '$got', expected '$want')"
		failures=$((failures + 1))
	fi
}

check "dmesg-check accepts a clean boot log" pass "$top/tools/dmesg-check.sh" "$fx/dmesg-clean.txt"
check "dmesg-check flags a WARNING" fail "$top/tools/dmesg-check.sh" "$fx/dmesg-warn.txt"
check "dmesg-check flags an Oops" fail "$top/tools/dmesg-check.sh" "$fx/dmesg-oops.txt"
# tests/vm/rel/faults.sh: fault injection's notices and stack dumps (verbose=2) are not reports,
# but a real report after them still is.
check "dmesg-check accepts FAULT_INJECTION notices and their stack dumps" pass "$top/tools/dmesg-check.sh" "$fx/dmesg-faultinject.txt"
cat "$fx/dmesg-faultinject.txt" "$fx/dmesg-warn.txt" > "$tmp/fault-then-warn.txt"
check "dmesg-check flags a WARNING after FAULT_INJECTION notices" fail "$top/tools/dmesg-check.sh" "$tmp/fault-then-warn.txt"
check "ktap passes a passing KUnit run" pass "$top/tools/ktap.sh" "$fx/ktap-pass.txt"
check_output "ktap counts a passing run" "KTAP: 7 passed, 0 failed" "$top/tools/ktap.sh" "$fx/ktap-pass.txt"
check "ktap fails a run with a failing case" fail "$top/tools/ktap.sh" "$fx/ktap-fail.txt"
check_output "ktap counts a failing run" "KTAP: 6 passed, 1 failed" "$top/tools/ktap.sh" "$fx/ktap-fail.txt"
check "ktap fails an empty log" fail "$top/tools/ktap.sh" "$tmp/empty.txt"
check "ktap fails a log without KTAP" fail "$top/tools/ktap.sh" "$fx/dmesg-clean.txt"
cat "$fx/ktap-pass.txt" "$fx/ktap-fail.txt" > "$tmp/two-runs.txt"
check "ktap fails when a later KUnit run fails" fail "$top/tools/ktap.sh" "$tmp/two-runs.txt"
# The data-path reports (tests/vm/dp): made-up runs that must pass, and the same with one real
# difference planted (an entry at another destination, entries missing, a listing taken while
# the table changed, expiry too early or late at any poll spacing) that must fail.
check "dp report controls (tests/vm/dp/report_selftest.py)" pass python3 "$top/tests/vm/dp/report_selftest.py"
# tests/vm/bench/insns.py (BENCH_INSNS=1): block counts before and after a measurement, summed
# by function and divided by its connections. Made up: ipvs_hook runs a 10-instruction block
# 10 more times and a 3-instruction translation of it 7 times (121), ipvs_other 40, the kernel
# 200; 10 connections: 36.1 in all, 16.1 the load balancer's.
mkdir -p "$tmp/insns" "$tmp/res"
printf 'ffffffff81000000 T vmfunc\nffffffffc0000000 t ipvs_hook\t[ipvs_rs]\nffffffffc0000100 t ipvs_other\t[ipvs_rs]\n' >"$tmp/insns/connrate_1cpu_ct0_svc1-rs-r1.kallsyms"
printf 'ffffffffc0000000 10 5\nffffffff81000000 20 1\n' >"$tmp/insns/connrate_1cpu_ct0_svc1-rs-r1.start.tb"
printf 'ffffffffc0000000 10 15\nffffffffc0000100 4 10\nffffffff81000000 20 11\nffffffffc0000000 3 7\n' >"$tmp/insns/connrate_1cpu_ct0_svc1-rs-r1.tb"
printf 'connrate_1cpu_ct0_svc1\trs\t1\t100\t1 vCPU: ok=10 fail=0\n' >"$tmp/res/samples.tsv"
insns_line() { python3 "$top/tests/vm/bench/insns.py" "$tmp/insns" "$tmp/res" | awk '$1 == "connrate_1cpu_ct0_svc1-rs-r1" { print $4, $5 }'; }
check_output "bench insns.py: instructions per connection, in all and the load balancer's" "36 16" insns_line
insns_fn() { awk '$3 == "ipvs_hook" { print $1; exit }' "$tmp/res/insns-connrate_1cpu_ct0_svc1-rs-r1.txt"; }
check_output "bench insns.py: a function's count over both of its translations" "12.1" insns_fn
# --blocks: ipvs_hook's entry block ran once per connection, its second translation 0.7 times.
insns_blocks() { python3 "$top/tests/vm/bench/insns.py" --blocks "$tmp/insns" "$tmp/res" connrate_1cpu_ct0_svc1-rs-r1 ipvs_hook | awk '!/^#/ { printf "%s:%s ", $2, $5 }'; }
check_output "bench insns.py --blocks: a function's blocks, executions per connection" "3:0.70 10:1.00 " insns_blocks

if [ "$failures" -ne 0 ]; then
	echo "harness-selftest: $failures case(s) failed" >&2
	exit 1
fi
echo "harness-selftest: all cases passed"
