#!/usr/bin/env bash
# Usage: tests/pktfuzz-core.sh [PACKETS [SEED]]     (host; default 400000 packets, seed 1)
# Writes PACKETS mutated packets with the VM fuzzer's generator (tests/vm/rel/pktfuzz.c -w,
# tap kinds included) and runs the core's packet-path functions over each, whole and
# truncated (tests/pktfuzz-core/): no input may panic. Exit 0: none did.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-400000}
seed=${2:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -Wall -o "$tmp/pktfuzz" "$top/tests/vm/rel/pktfuzz.c"
printf '%s\n' "tcp 10.1.0.2 40000 10.0.100.10 8080 10.0.1.11 8080" "udp fd00:c1::2 40001 fd00:100::a 8080 fd00:1::11 8080" \
	"tcp fd00:c1::3 40002 fd00:100::a 8080 fd00:1::12 8080" "udp 10.1.0.3 40003 10.0.100.10 8080 10.0.1.12 8080" >"$tmp/conns"
"$tmp/pktfuzz" -w "$tmp/corpus" -n "$n" -t -S "$seed" -4 10.0.100.200,10.0.100.10 -6 fd00:100::c8,fd00:100::a -c "$tmp/conns" >/dev/null
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$top/rust/core/target} cargo run -q --release \
	--manifest-path "$top/tests/pktfuzz-core/Cargo.toml" -- "$tmp/corpus"
