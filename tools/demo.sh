#!/usr/bin/env bash
# `make demo`: build what is missing, boot the test kernel, run the port-reuse scenario's
# headline cells against C ip_vs and ipvs_rs (tests/vm/demo.sh), then draw the latency CDF.
#   REUSE_CELLS  demo (default), full, check, or cell names (see tests/vm/reuse/run.sh)
#   REUSE_RUNS   the modules to run, in order (default "c rs"; "c rs c" adds C's spread)
#   KO           the ipvs_rs.ko to load (default: the one built here)
# Results in $VM_OUT (default $CACHE_DIR/demo): reuse/matrix.json (every run and cell with
# summary and raw measurements), reuse/table.txt, reuse/cdf.png, reuse.tap.
. "$(dirname "$0")/env.sh"
cd "$IPVS_RS_TOP"
[ -n "${KO:-}" ] || tools/module.sh
out=${VM_OUT:-$CACHE_DIR/demo}
rm -rf "$out/reuse"
guest_env=(REUSE_CELLS="${REUSE_CELLS:-demo}")
[ -z "${KO:-}" ] || guest_env+=(KO="$(realpath -- "$KO")")
rc=0
# shellcheck disable=SC2086  # REUSE_RUNS is a list of module names
VM_OUT=$out tools/vm.sh --timeout "${VM_TIMEOUT:-900}" -- env "${guest_env[@]}" tests/vm/demo.sh ${REUSE_RUNS:-c rs} || rc=$?
if [ -f "$out/reuse/matrix.json" ]; then
	"${PY:-/usr/bin/python3}" tests/vm/reuse/plot.py "$out/reuse/matrix.json" "$out/reuse/cdf.png"
	log "full matrix: $out/reuse/matrix.json"
	log "table:       $out/reuse/table.txt"
	log "latency CDF: $out/reuse/cdf.png"
fi
exit "$rc"
