#!/usr/bin/env bash
# Install what ipvs-rs needs, checking before each step (a second run only checks).
# Debian packages, rust-src, a pinned bindgen-cli, and virtme-ng and pyroute2 (pinned) in a venv.
. "$(dirname "$0")/env.sh"

# pyroute2: an IPVS netlink library independent of the project's own codec, used by
# tests/vm/interop/ (the guest sees this venv: it shares the host's root filesystem).
PYROUTE2_VERSION=${PYROUTE2_VERSION:-0.9.7}

APT_PACKAGES=(
	"$KSRC_PKG" clang-19 lld-19 llvm-19 libclang-19-dev libelf-dev libssl-dev bc flex bison
	cpio kmod xz-utils rsync qemu-system-x86 ipvsadm iproute2 socat iptables nftables procps
	python3-venv shellcheck keepalived iputils-ping
)
# `make bench` and `make demo` draw plots with Debian's matplotlib (`tools/deps.sh --plots`);
# `make check` does not need it.
if [ "${1:-}" = --plots ]; then APT_PACKAGES+=(python3-matplotlib); fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	log "installing Debian packages: ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v rustup >/dev/null || die "rustup not found: ipvs-rs needs rustup's Rust toolchain"
if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
	log "adding rust-src"
	rustup component add rust-src
fi

# FLAVOR=rustc178: the kernel and the module are built by that flavor's rustup toolchain.
tc=$(flavor_toolchain)
if [ -n "$tc" ] && ! rustup component list --toolchain "$tc" --installed 2>/dev/null | grep -q '^rust-src'; then
	log "installing rustc $tc with rust-src (FLAVOR=$FLAVOR)"
	rustup toolchain install "$tc" --profile minimal --component rust-src
fi

bv=$(flavor_bindgen_version)
if [ -n "$bv" ] && [ "$("$CACHE_DIR/bindgen-$bv/bin/bindgen" --version 2>/dev/null)" != "bindgen $bv" ]; then
	log "installing bindgen-cli $bv into $CACHE_DIR/bindgen-$bv (FLAVOR=$FLAVOR)"
	cargo install bindgen-cli --version "$bv" --locked --quiet --root "$CACHE_DIR/bindgen-$bv"
fi

if [ "$(bindgen --version 2>/dev/null)" != "bindgen $BINDGEN_VERSION" ]; then
	log "installing bindgen-cli $BINDGEN_VERSION"
	cargo install bindgen-cli --version "$BINDGEN_VERSION" --locked --quiet
fi

if [ "$("$VENV_DIR/bin/vng" --version 2>/dev/null | awk '{print $NF}')" != "$VIRTME_NG_VERSION" ]; then
	log "installing virtme-ng $VIRTME_NG_VERSION into $VENV_DIR"
	python3 -m venv "$VENV_DIR"
	"$VENV_DIR/bin/pip" install -q "virtme-ng==$VIRTME_NG_VERSION"
fi

# `make lint`: rustfmt and clippy of rustup's default toolchain (its default profile has them;
# a minimal one does not).
for c in rustfmt clippy; do
	if ! rustup component list --installed 2>/dev/null | grep -q "^$c"; then
		log "adding $c"
		rustup component add "$c"
	fi
done

if [ "$("$VENV_DIR/bin/python3" -c 'import pyroute2; print(pyroute2.__version__)' 2>/dev/null)" != "$PYROUTE2_VERSION" ]; then
	log "installing pyroute2 $PYROUTE2_VERSION into $VENV_DIR"
	[ -x "$VENV_DIR/bin/python3" ] || python3 -m venv "$VENV_DIR"
	"$VENV_DIR/bin/pip" install -q "pyroute2==$PYROUTE2_VERSION"
fi
