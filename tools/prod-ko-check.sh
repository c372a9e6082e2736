#!/usr/bin/env bash
# Usage: tools/prod-ko-check.sh KO — TAP lines: the production module (plain `make`, no
# IPVS_RS_KUNIT) has no KUnit in it, so it loads on a kernel built without CONFIG_KUNIT.
. "$(dirname "$0")/env.sh"
ko=${1:?usage: tools/prod-ko-check.sh KO}
tap() { if [ "$1" = 0 ]; then echo "ok - $2"; else echo "not ok - $2"; fi; }
[ -f "$ko" ] || { echo "not ok - production module exists ($ko)"; exit 1; }
und=$(llvm-nm -u "$ko" | awk '{print $NF}' | grep -i kunit || true)
tap "$([ -z "$und" ]; echo $?)" "production module needs no KUnit symbol${und:+ (needs: $(echo "$und" | tr '\n' ' '))}"
sec=$(llvm-readelf -S -W "$ko" | grep -o '\.kunit[a-z_]*' | sort -u | tr '\n' ' ' || true)
tap "$([ -z "$sec" ]; echo $?)" "production module has no KUnit section${sec:+ (has: $sec)}"
