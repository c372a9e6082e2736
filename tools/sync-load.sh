#!/usr/bin/env bash
# `make sync-load`: connection sync under load, C→C against rs→rs (tests/vm/sync/load.sh:
# 10000 connections exchanging rounds, the backup's count sampled against the master's, the
# VIP moved to the backup mid-load; about 10 min under TCG). Results in $VM_OUT (default
# $CACHE_DIR/sync-load): sync-load.txt, the samples.
. "$(dirname "$0")/env.sh"
cd "$IPVS_RS_TOP"
[ -n "${KO:-}" ] || tools/module.sh
out=${VM_OUT:-$CACHE_DIR/sync-load}
mkdir -p "$out"
guest_env=()
[ -z "${KO:-}" ] || guest_env+=(KO="$(realpath -- "$KO")")
# shellcheck disable=SC2086 # SYNC_LOAD_RUNS is a list of modules
VM_OUT=$out tools/vm.sh --timeout "${VM_TIMEOUT:-2400}" -- env "${guest_env[@]}" tests/vm/sync/load.sh ${SYNC_LOAD_RUNS:-c rs}
