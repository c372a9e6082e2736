#!/usr/bin/env bash
# Build (or reuse) the Rust-enabled test kernel: Debian's linux-source-6.12 unpacked under
# $CACHE_DIR/src, configured from tinyconfig + patches/kernel.config (+ kernel-debug.config for
# FLAVOR=debug), built with LLVM=1 into $CACHE_DIR/kernel-<flavor>-<key>. Prints that directory.
# FLAVOR=rustc178 builds the default config with rustc 1.78 and bindgen-cli 0.72.1 (env.sh:
# flavor_toolchain, flavor_bindgen_version); the stamp records them for tools/module.sh.
# A finished build leaves a .ipvs-rs-done stamp; a second run with the same key does nothing.
. "$(dirname "$0")/env.sh"

ver=$(ksrc_version) || true
[ -n "$ver" ] || die "$KSRC_PKG is not installed (run: make deps)"
out=$(kernel_dir)
if [ "${1:-}" = --print-dir ]; then echo "$out"; exit 0; fi
if [ -f "$out/.ipvs-rs-done" ]; then
	log "kernel cached: $out"
	echo "$out"
	exit 0
fi

mkdir -p "$CACHE_DIR/src"
exec 9>"$CACHE_DIR/kernel.lock"
flock 9
if [ -f "$out/.ipvs-rs-done" ]; then echo "$out"; exit 0; fi

src="$CACHE_DIR/src/linux-$ver"
if [ ! -f "$src/.ipvs-rs-unpacked" ]; then
	log "unpacking $KSRC_PKG $ver"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -xf "/usr/src/$KSRC_PKG.tar.xz" -C "$src.tmp" --strip-components=1
	touch "$src.tmp/.ipvs-rs-unpacked"
	mv "$src.tmp" "$src"
fi

rm -rf "$out"
mkdir -p "$out"
krustc=$(kernel_rustc)
kbindgen=$(kernel_bindgen)
rustc_args=()
# HOSTRUSTC too: one compiler for the whole tree.
if [ -n "$(flavor_toolchain)" ]; then rustc_args+=(RUSTC="$krustc" HOSTRUSTC="$krustc"); fi
if [ -n "$(flavor_bindgen_version)" ]; then rustc_args+=(BINDGEN="$kbindgen"); fi
mk() { make -C "$src" O="$out" LLVM=1 "${rustc_args[@]}" -j"$(nproc)" "$@"; }

log "configuring $out (flavor $FLAVOR, $("$krustc" --version), $("$kbindgen" --version))"
mk rustavailable >/dev/null || die "the Rust toolchain is not usable for this kernel (make LLVM=1 rustavailable)"
mk tinyconfig >/dev/null
# shellcheck disable=SC2046
"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" $(kernel_fragments) >/dev/null
mk olddefconfig >/dev/null

# Refuse a config that silently lost a requested symbol.
missing=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*)
		if ! grep -qxF "$line" "$out/.config"; then
			log "config: wanted '$line', got '$(grep -E "^(# )?${line%%=*}[= ]" "$out/.config" || echo unset)'"
			missing=1
		fi ;;
	"# CONFIG_"*" is not set")
		sym=${line#\# }; sym=${sym%% *}
		if grep -qE "^$sym=[ym]" "$out/.config"; then log "config: wanted $sym unset"; missing=1; fi ;;
	esac
done < <(kernel_fragments | xargs cat)
[ "$missing" = 0 ] || die "kernel config does not honour the fragment (see above)"

log "building kernel (this takes ~15 min on 2 cores the first time)"
start=$(date +%s)
mk all >"$out/build.log" 2>&1 || { tail -n 40 "$out/build.log"; die "kernel build failed (log: $out/build.log)"; }
mk modules_install INSTALL_MOD_PATH="$out/modroot" INSTALL_MOD_STRIP=1 >>"$out/build.log" 2>&1 \
	|| die "modules_install failed (log: $out/build.log)"
log "kernel built in $(( $(date +%s) - start )) s"
# rustc= and bindgen=: what tools/module.sh builds the module with (a stamp without them: the
# ones on PATH).
{
	echo "src=$ver"; echo "flavor=$FLAVOR"; echo "key=$(kernel_key)"
	if [ -n "$(flavor_toolchain)" ]; then echo "rustc=$krustc"; fi
	if [ -n "$(flavor_bindgen_version)" ]; then echo "bindgen=$kbindgen"; fi
} > "$out/.ipvs-rs-done"
# Keep one build per flavor: older keys are dead weight (~2 GB each).
for old in "$CACHE_DIR/kernel-$FLAVOR-"*; do
	[ "$old" = "$out" ] || rm -rf "$old"
done
echo "$out"
