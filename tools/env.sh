# shellcheck shell=bash
# Sourced by the tools/ scripts: one place for paths, versions and the toolchain PATH.
# Everything here may be overridden from the environment (or `make VAR=...`).
set -euo pipefail

IPVS_RS_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE_DIR=${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ipvs-rs}
FLAVOR=${FLAVOR:-default}            # default | debug
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

# The fragments that make up a flavor, in application order.
kernel_fragments() {
	echo "$IPVS_RS_TOP/patches/kernel.config"
	if [ "$FLAVOR" = debug ]; then echo "$IPVS_RS_TOP/patches/kernel-debug.config"; fi
}

# Cache key: source version + fragments + toolchain versions. Anything that changes the
# produced kernel must be in here; nothing else may be (or warm CI rebuilds for nothing).
kernel_key() {
	{
		echo "src=$(ksrc_version)"
		echo "flavor=$FLAVOR"
		kernel_fragments | xargs cat
		rustc --version
		bindgen --version
		clang --version | head -n 1
		ld.lld --version | head -n 1
		echo "epoch=1"  # bump to force a rebuild after changing tools/kernel.sh
	} | sha256sum | cut -c1-16
}

kernel_dir() {
	if [ -n "${KDIR:-}" ]; then echo "$KDIR"; else echo "$CACHE_DIR/kernel-$FLAVOR-$(kernel_key)"; fi
}
