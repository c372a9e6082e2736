#!/usr/bin/env bash
# `make sync-more`: the connection-sync scenarios that are not in `make check` (about 8 min
# under TCG): keepalived's lvs_sync_daemon (tests/vm/sync/keepalived.sh) and the protocol's
# other forms, sync_version=0 and the IPv6 group with IPv6 connections
# (tests/vm/sync/variants.sh), each for C and ipvs_rs. Results in $VM_OUT (default
# $CACHE_DIR/sync-more); exit status non-zero if a check failed.
. "$(dirname "$0")/env.sh"
cd "$IPVS_RS_TOP"
[ -n "${KO:-}" ] || tools/module.sh
out=${VM_OUT:-$CACHE_DIR/sync-more}
mkdir -p "$out"
guest_env=()
[ -z "${KO:-}" ] || guest_env+=(KO="$(realpath -- "$KO")")
# shellcheck disable=SC2016 # the guest shell expands $?
VM_OUT=$out tools/vm.sh --timeout "${VM_TIMEOUT:-1500}" -- env "${guest_env[@]}" \
	sh -c 'tests/vm/sync/keepalived.sh c rs; a=$?; tests/vm/sync/variants.sh c rs; b=$?; [ "$a$b" = 00 ]'
