#!/usr/bin/env bash
# `make sync-fuzz`: hostile sync datagrams into C's and ipvs_rs's backups, compared
# (tests/vm/sync/fuzz.sh: 2000 datagrams, then 130 s for the short entries to go; about 8 min
# under TCG; FLAVOR=debug on the debug kernel). Results in $VM_OUT (default $CACHE_DIR/sync-fuzz).
. "$(dirname "$0")/env.sh"
cd "$IPVS_RS_TOP"
[ -n "${KO:-}" ] || tools/module.sh
out=${VM_OUT:-$CACHE_DIR/sync-fuzz}
mkdir -p "$out"
guest_env=()
[ -z "${KO:-}" ] || guest_env+=(KO="$(realpath -- "$KO")")
# The fuzz's own knobs (seed, count, settle time) reach the guest.
while IFS= read -r v; do guest_env+=("$v"); done < <(env | grep -E '^SYNC_FUZZ_[A-Z]+=' || true)
# shellcheck disable=SC2086 # SYNC_FUZZ_RUNS is a list of modules
VM_OUT=$out tools/vm.sh --timeout "${VM_TIMEOUT:-2400}" -- env "${guest_env[@]}" tests/vm/sync/fuzz.sh ${SYNC_FUZZ_RUNS:-c rs}
