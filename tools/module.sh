#!/usr/bin/env bash
# Build ipvs_rs.ko out of tree against $KDIR (default: the cached test kernel, built if missing).
. "$(dirname "$0")/env.sh"
if [ -z "${KDIR:-}" ]; then
	KDIR=$("$IPVS_RS_TOP/tools/kernel.sh")
fi
[ -f "$KDIR/Module.symvers" ] || [ -f "$KDIR/Makefile" ] || die "KDIR=$KDIR is not a kernel build tree"
grep -q '^CONFIG_RUST=y' "$KDIR/.config" 2>/dev/null || die "KDIR=$KDIR: kernel not built with CONFIG_RUST=y"
# An out-of-tree Rust module must be built by the rustc that built its kernel (the crate
# metadata of `kernel` is rustc-version specific). The kernel's .config records it; when it is
# not rustup's default (FLAVOR=rustc178, or a KDIR built by another rustc), use the rustup
# toolchain of that version.
krustc=rustc
kver=$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT="\(.*\)"$/\1/p' "$KDIR/.config")
if [ -n "$kver" ] && [ "$(rustc --version | tr -d '#')" != "$kver" ]; then
	tc=$(echo "$kver" | awk '{print $2}')
	if alt=$(rustup which --toolchain "$tc" rustc 2>/dev/null) && [ "$("$alt" --version | tr -d '#')" = "$kver" ]; then
		krustc=$alt
		log "KDIR's kernel was built by $kver: using $krustc"
	else
		die "KDIR=$KDIR was built by '$kver', rustc is '$(rustc --version)': install that one (rustup toolchain install $tc --profile minimal --component rust-src)"
	fi
fi
rustc_args=()
[ "$krustc" = rustc ] || rustc_args=(RUSTC="$krustc")
# The bindgen the kernel was built with (tools/kernel.sh records it for FLAVOR=rustc178, whose
# rustc cannot compile what the default bindgen emits); otherwise the one on PATH.
kbindgen=$(sed -n 's/^bindgen=//p' "$KDIR/.ipvs-rs-done" 2>/dev/null || true)
if [ -n "$kbindgen" ]; then rustc_args+=(BINDGEN="$kbindgen"); fi
# IPVS_RS_KUNIT=y: the test build, with the KUnit suites (see Kbuild); default: production.
make -C "$KDIR" M="$IPVS_RS_TOP" LLVM="${LLVM:-1}" "${rustc_args[@]}" IPVS_RS_KUNIT="${IPVS_RS_KUNIT:-}" modules >&2
log "built $IPVS_RS_TOP/ipvs_rs.ko against $KDIR${IPVS_RS_KUNIT:+ (with KUnit suites)}"
