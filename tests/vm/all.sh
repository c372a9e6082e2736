#!/usr/bin/env bash
# Guest side of `make check`: every VM scenario in one boot. Each scenario writes
# $VM_OUT/<name>.tap (counted by tools/check.sh); this exits non-zero if any scenario failed.
# ctl/ compares the control plane of C IPVS and ipvs_rs, dp/ their data path, rel/ their
# behaviour under hostile input, floods, faults and lifecycle races, interop/ what kube-proxy,
# keepalived, kube-router and Docker swarm do to them.
set -u
here=$(cd "$(dirname "$0")" && pwd)
rc=0
# FLAVOR=debug: smaller volumes for the slower kernel (tools/check.sh copies
# tests/vm/debug-profile.env here).
if [ -f "${VM_OUT:-/tmp}/profile.env" ]; then
	set -a
	# shellcheck source=tests/vm/debug-profile.env
	. "${VM_OUT:-/tmp}/profile.env"
	set +a
	echo "# profile: $(grep -oE '^: "\$\{[A-Z_]+:=[^}]*' "${VM_OUT:-/tmp}/profile.env" | sed 's/^: "\${//; s/:=/=/' | tr '\n' ' ')"
fi
for scenario in "$here/smoke.sh" "$here/netns.sh" "$here/ctl/run-all.sh c rs" "$here/dp/run-all.sh c rs"; do
	echo "# === ${scenario#"$here"/}"
	# shellcheck disable=SC2086  # "run-all.sh c rs" carries its arguments
	$scenario || rc=1
done
echo "# === rel/run-all.sh c rs"; "$here/rel/run-all.sh" c rs || rc=1
echo "# === interop/run-all.sh c rs"; "$here/interop/run-all.sh" c rs || rc=1
# Connection sync: C→C and rs→rs in one kernel, then C→rs and rs→C by record and replay.
echo "# === sync/pair.sh c rs"; "$here/sync/pair.sh" c rs || rc=1
echo "# === sync/mixed.sh c:rs rs:c"; "$here/sync/mixed.sh" c:rs rs:c || rc=1
echo "# === reuse/run.sh c rs c"; "$here/reuse/run.sh" c rs c || rc=1
# The bench harness (make bench) in its seconds-long form: every metric measured for both.
echo "# === bench/run.sh c rs (BENCH_SMOKE=1)"; BENCH_SMOKE=1 "$here/bench/run.sh" c rs || rc=1
exit $rc
