# shellcheck shell=bash
# Sourced by the tools/ scripts: one place for paths, versions and the toolchain PATH.
# Everything here may be overridden from the environment (or `make VAR=...`).
set -euo pipefail

IPVS_RS_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR=${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ipvs-rs}
FLAVOR=${FLAVOR:-default}            # default | debug | rustc178
LLVM_BIN=${LLVM_BIN:-/usr/lib/llvm-19/bin}
BINDGEN_VERSION=${BINDGEN_VERSION:-0.73.2}
VIRTME_NG_VERSION=${VIRTME_NG_VERSION:-1.42}
KSRC_PKG=${KSRC_PKG:-linux-source-6.12}
VENV_DIR=${VENV_DIR:-$CACHE_DIR/venv}

export PATH="$LLVM_BIN:$HOME/.cargo/bin:$VENV_DIR/bin:$PATH"

log() { printf '[ipvs-rs] %s\n' "$*" >&2; }
die() { printf '[ipvs-rs] error: %s\n' "$*" >&2; exit 1; }

# Version of the installed Debian kernel source package (e.g. 6.12.117-1~deb12u1).
ksrc_version() { dpkg-query -W -f='${Version}' "$KSRC_PKG" 2>/dev/null; }

# The rustup toolchain a flavor's kernel is built with: none (rustup's default `rustc`) for
# default and debug; rustc178 is the default config built by rustc 1.78, the oldest rustc that
# Linux 6.12 accepts (scripts/min-tool-version.sh), to check that ipvs_rs still builds with it.
flavor_toolchain() {
	case "$FLAVOR" in
	rustc178) echo 1.78.0 ;;
	esac
}

# The rustc that builds the flavor's kernel: `rustc` (rustup's default) or the full path of
# the flavor's toolchain, which must be installed with rust-src:
#   rustup toolchain install 1.78.0 --profile minimal --component rust-src
kernel_rustc() {
	local tc
	tc=$(flavor_toolchain)
	if [ -z "$tc" ]; then echo rustc; return; fi
	rustup which --toolchain "$tc" rustc 2>/dev/null \
		|| die "FLAVOR=$FLAVOR needs rustc $tc: rustup toolchain install $tc --profile minimal --component rust-src"
}

# bindgen-cli 0.73 emits `const fn` accessors needing rustc 1.83 (__BindgenUnionField::as_mut,
# whatever --rust-target says: rust-bindgen issue 3498), so rustc178 uses 0.72.1, installed by
# tools/deps.sh under $CACHE_DIR; default and debug use the pinned $BINDGEN_VERSION on PATH.
flavor_bindgen_version() {
	case "$FLAVOR" in
	rustc178) echo 0.72.1 ;;
	esac
}

kernel_bindgen() {
	local v
	v=$(flavor_bindgen_version)
	if [ -z "$v" ]; then echo bindgen; return; fi
	[ -x "$CACHE_DIR/bindgen-$v/bin/bindgen" ] \
		|| die "FLAVOR=$FLAVOR needs bindgen-cli $v in $CACHE_DIR/bindgen-$v (run: FLAVOR=$FLAVOR make deps)"
	echo "$CACHE_DIR/bindgen-$v/bin/bindgen"
}

# The fragments that make up a flavor, in application order.
kernel_fragments() {
	echo "$IPVS_RS_TOP/patches/kernel.config"
	if [ "$FLAVOR" = debug ]; then echo "$IPVS_RS_TOP/patches/kernel-debug.config"; fi
}

# Cache key: source version + fragments + toolchain versions. Anything that changes the
# produced kernel must be in here; nothing else may be (or warm CI rebuilds for nothing).
kernel_key() {
	local krustc kbindgen
	krustc=$(kernel_rustc) || exit 1
	kbindgen=$(kernel_bindgen) || exit 1
	{
		echo "src=$(ksrc_version)"
		echo "flavor=$FLAVOR"
		kernel_fragments | xargs cat
		"$krustc" --version
		"$kbindgen" --version
		clang --version | head -n 1
		ld.lld --version | head -n 1
		echo "epoch=1"  # bump to force a rebuild after changing tools/kernel.sh
	} | sha256sum | cut -c1-16
}

kernel_dir() {
	local key
	if [ -n "${KDIR:-}" ]; then echo "$KDIR"; return; fi
	key=$(kernel_key) || exit 1
	echo "$CACHE_DIR/kernel-$FLAVOR-$key"
}
