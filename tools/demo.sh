#!/usr/bin/env bash
# `make demo`: build what is missing, boot the test kernel, run tests/vm/demo.sh inside.
. "$(dirname "$0")/env.sh"
cd "$IPVS_RS_TOP"
tools/module.sh
VM_OUT=${VM_OUT:-$CACHE_DIR/demo} tools/vm.sh --timeout "${VM_TIMEOUT:-600}" -- tests/vm/demo.sh
