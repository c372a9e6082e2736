#!/usr/bin/env bash
# Build ipvs_rs.ko out of tree against $KDIR (default: the cached test kernel, built if missing).
. "$(dirname "$0")/env.sh"
if [ -z "${KDIR:-}" ]; then
	KDIR=$("$IPVS_RS_TOP/tools/kernel.sh")
fi
[ -f "$KDIR/Module.symvers" ] || [ -f "$KDIR/Makefile" ] || die "KDIR=$KDIR is not a kernel build tree"
grep -q '^CONFIG_RUST=y' "$KDIR/.config" 2>/dev/null || die "KDIR=$KDIR: kernel not built with CONFIG_RUST=y"
# IPVS_RS_KUNIT=y: the test build, with the KUnit suites (see Kbuild); default: production.
make -C "$KDIR" M="$IPVS_RS_TOP" LLVM="${LLVM:-1}" IPVS_RS_KUNIT="${IPVS_RS_KUNIT:-}" modules >&2
log "built $IPVS_RS_TOP/ipvs_rs.ko against $KDIR${IPVS_RS_KUNIT:+ (with KUnit suites)}"
