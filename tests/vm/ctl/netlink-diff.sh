#!/usr/bin/env bash
# Usage (in the guest, as root): tests/vm/ctl/netlink-diff.sh [A [B]]     (default: c rs)
#
# Runs `nlclient.py cases` (hand-built generic netlink requests to the IPVS family, most of
# them malformed or edge cases) against implementation A, then B, each with the module freshly
# loaded and in a fresh network namespace; output in $VM_OUT/netlink-<run>.txt. Then compares
# case by case (a case is its "CASE <name> errno=.. extack=.." line plus the indented detail
# lines after it), one TAP line per case: "ok - netlink <name>" or "not ok - netlink <name>"
# followed by a unified diff ("# "-indented). `netlink-diff.sh c c` checks determinism.
. "$(dirname "$0")/common.sh"

A=${1:-c}
B=${2:-rs}
check_modules "$A" "$B"
LA=$(run_label 1 "$A" "$A" "$B")
LB=$(run_label 2 "$B" "$A" "$B")
start=$SECONDS
run_cases "$LA" "$A" "$OUT/netlink-$LA.txt"
run_cases "$LB" "$B" "$OUT/netlink-$LB.txt"
echo "# netlink-diff: $(grep -c '^CASE ' "$OUT/netlink-$LA.txt") cases against $LA and $LB in $((SECONDS - start))s"
compare_cases netlink "$OUT/netlink-$LA.txt" "$OUT/netlink-$LB.txt" "$LA" "$LB"
finish
