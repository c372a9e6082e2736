#!/usr/bin/env bash
# Guest side of `make check`: every VM scenario in one boot, or the groups named (smoke netns
# ctl dp rel interop sync reuse bench, in that order; tools/check.sh splits the debug kernel's
# run over several boots). Each scenario writes $VM_OUT/<name>.tap (counted by
# tools/check.sh); this exits non-zero if any scenario failed.
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
known=" smoke netns ctl dp rel interop sync reuse bench "
groups=" ${*:-$known} "
for g in $groups; do
	[[ $known == *" $g "* ]] || { echo "all.sh: unknown group $g" >&2; exit 2; }
done
want() { [[ $groups == *" $1 "* ]]; }
# run DESC CMD...: one scenario, announced with the guest's clock and timed (the debug
# kernel's run is planned from these times).
run() {
	local t0=$SECONDS
	echo "# === $1 ($(date -u +%T))"
	shift
	"$@" || rc=1
	echo "# === took $((SECONDS - t0))s"
}
want smoke && run smoke.sh "$here/smoke.sh"
want netns && run netns.sh "$here/netns.sh"
want ctl && run "ctl/run-all.sh c rs" "$here/ctl/run-all.sh" c rs
want dp && run "dp/run-all.sh c rs" "$here/dp/run-all.sh" c rs
want rel && run "rel/run-all.sh c rs" "$here/rel/run-all.sh" c rs
want interop && run "interop/run-all.sh c rs" "$here/interop/run-all.sh" c rs
# Connection sync: C→C and rs→rs in one kernel, then C→rs and rs→C by record and replay.
want sync && run "sync/pair.sh c rs" "$here/sync/pair.sh" c rs
want sync && run "sync/mixed.sh c:rs rs:c" "$here/sync/mixed.sh" c:rs rs:c
want reuse && run "reuse/run.sh c rs c" "$here/reuse/run.sh" c rs c
# The bench harness (make bench) in its seconds-long form: every metric measured for both.
want bench && run "bench/run.sh c rs (BENCH_SMOKE=1)" env BENCH_SMOKE=1 "$here/bench/run.sh" c rs
exit $rc
