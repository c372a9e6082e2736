#!/usr/bin/env bash
# `make compat`: ipvs_rs still builds with rustc 1.78, the oldest rustc Linux 6.12 accepts
# (scripts/min-tool-version.sh). An out-of-tree Rust module is built by its kernel's rustc, so
# this builds the module against FLAVOR=rustc178, the default test kernel built by rustc 1.78
# (tools/kernel.sh; a cold cache builds it in ~15 min on 2 cores). Checks, one TAP line each:
#   the core's host tests with `cargo +1.78.0 test` (Cargo.lock resolved for rust-version 1.78);
#   the production module and the KUnit test build (IPVS_RS_KUNIT=y), built by rustc 1.78;
#   neither build prints a warning.
# Logs in $COMPAT_OUT (default $CACHE_DIR/compat-<date>). Leaves ipvs_rs.ko built for the
# rustc178 kernel: a plain `make` rebuilds it for the default one (the bindings follow the
# kernel). Ends with "N passed, M failed"; exits non-zero if M > 0.
FLAVOR=rustc178
. "$(dirname "$0")/env.sh"
export FLAVOR
cd "$IPVS_RS_TOP"

OUT=${COMPAT_OUT:-$CACHE_DIR/compat-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
finish() {
	log "logs in $OUT"
	echo "$passed passed, $failed failed"
	exit $((failed > 0))
}

tc=$(flavor_toolchain)
# rustc 1.78.0 with rust-src and bindgen-cli 0.72.1, if missing.
tools/deps.sh >&2

log "core: cargo +$tc test"
if (cd rust/core && cargo "+$tc" test --no-fail-fast) >"$OUT/host.log" 2>&1; then
	ok "core: cargo +$tc test ($(grep -E '^test result' "$OUT/host.log" | awk '{s += $4} END {print s}') passed)"
else
	grep -E '^test .* FAILED$|^error' "$OUT/host.log" | head -n 20 >&2 || true
	not_ok "core: cargo +$tc test (see $OUT/host.log)"
fi

log "kernel: FLAVOR=$FLAVOR (cached, or built now: ~15 min on 2 cores)"
if ! kdir=$(tools/kernel.sh 2>"$OUT/kernel.log"); then
	tail -n 20 "$OUT/kernel.log" >&2
	not_ok "kernel: the rustc $tc test kernel did not build (see $OUT/kernel.log)"
	finish
fi
kver=$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT="\(.*\)"$/\1/p' "$kdir/.config")
case "$kver" in
"rustc $tc "*) ok "kernel: $kdir built by $kver" ;;
*) not_ok "kernel: $kdir was built by '$kver', not rustc $tc"; finish ;;
esac

for build in production kunit; do
	kunit=
	if [ "$build" = kunit ]; then kunit=y; fi
	log "module: $build build with $kver"
	# Rebuild every object: the warnings of a build are printed only when it compiles.
	rm -f rust/*.o rust/libipvs_core.rmeta ipvs_rs.ko
	if IPVS_RS_KUNIT=$kunit KDIR="$kdir" tools/module.sh >"$OUT/module-$build.log" 2>&1 \
		&& [ -f ipvs_rs.ko ]; then
		ok "module: the $build build of ipvs_rs.ko builds with rustc $tc"
		cp ipvs_rs.ko "$OUT/ipvs_rs-$build.ko"
		n=$(grep -cE '(^|: )warning[:[]' "$OUT/module-$build.log" || true)
		if [ "$n" = 0 ]; then
			ok "module: the $build build prints no warning with rustc $tc"
		else
			grep -E -A5 '(^|: )warning[:[]' "$OUT/module-$build.log" | head -n 40 >&2
			not_ok "module: the $build build prints $n warnings with rustc $tc (see $OUT/module-$build.log)"
		fi
	else
		grep -E -A8 '^error' "$OUT/module-$build.log" | head -n 60 >&2 || tail -n 30 "$OUT/module-$build.log" >&2
		not_ok "module: the $build build of ipvs_rs.ko with rustc $tc (see $OUT/module-$build.log)"
	fi
done
finish
