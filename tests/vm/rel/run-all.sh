#!/usr/bin/env bash
# Guest side: the reliability scenarios of issue 9 (tests/vm/rel), each against the modules
# given (default "c rs"). Each scenario writes $VM_OUT/rel-<name>.tap; tools/check.sh counts
# them (names: tools/check.sh's REL_SCENARIOS). faults.sh needs the debug kernel's fault
# injection (FLAVOR=debug, which tools/check.sh writes to $VM_OUT/flavor); on the default
# kernel it is not run and not counted.
# REL_LONG=1 makes every scenario run for minutes instead of its quick default.
set -u
here=$(cd "$(dirname "$0")" && pwd)
mods=${*:-c rs}
flavor=$(cat "${VM_OUT:-/tmp}/flavor" 2>/dev/null || echo default)
# The host's REL_* settings (tools/check.sh writes them; vm.sh passes no host environment).
if [ -f "${VM_OUT:-/tmp}/rel.env" ]; then
	set -a
	# shellcheck disable=SC1091
	. "${VM_OUT:-/tmp}/rel.env"
	set +a
fi
rc=0
mapfile -t scenarios <"$here/scenarios"
for name in "${scenarios[@]}"; do
	if [ "$name" = faults ] && [ "$flavor" != debug ]; then
		continue
	fi
	echo "# === rel/$name.sh $mods"
	t0=$SECONDS
	# shellcheck disable=SC2086  # the module list is words
	"$here/$name.sh" $mods || rc=1
	echo "# rel/run-all: $name in $((SECONDS - t0))s"
done
exit $rc
