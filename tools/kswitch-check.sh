#!/usr/bin/env bash
# Usage: tools/kswitch-check.sh KDIR_A KDIR_B OUT
#
# Issue 9 item 0: one tree built against kernel A, then against kernel B (e.g. the default and
# the debug flavor, whose struct layouts differ), must end up with B's bindings, not A's.
# Builds a scratch copy of the tree (OUT/tree) against A then B, and a second copy (OUT/fresh)
# against B only; prints TAP lines; leaves the switched module as OUT/ipvs_rs-kswitch.ko, which
# the smoke test loads on kernel B (tests/vm/smoke.sh) and checks in a new namespace.
. "$(dirname "$0")/env.sh"
a=${1:?usage}; b=${2:?usage}; out=${3:?usage}
tap() { if [ "$1" = 0 ]; then echo "ok - kswitch: $2"; else echo "not ok - kswitch: $2"; fi; }
mkdir -p "$out"
copy() { rm -rf "$1"; mkdir -p "$1"; (cd "$IPVS_RS_TOP" && git ls-files -z | rsync -a --from0 --files-from=- ./ "$1/"); }
build() { make -C "$2" M="$1" LLVM="${LLVM:-1}" modules >>"$out/build.log" 2>&1; }
: >"$out/build.log"
copy "$out/tree"
copy "$out/fresh"
ra=0; build "$out/tree" "$a" || ra=$?
tap "$ra" "build against A ($a)"
cp "$out/tree/rust/glue/bindings_generated.rs" "$out/bindings-a.rs" 2>/dev/null || true
rb=0; build "$out/tree" "$b" || rb=$?
tap "$rb" "then against B ($b) in the same tree"
rf=0; build "$out/fresh" "$b" || rf=$?
tap "$rf" "a fresh tree against B"
if [ "$ra$rb$rf" = 000 ]; then
	fresh=$out/fresh/rust/glue/bindings_generated.rs
	# The two kernels must differ in layout for this to prove anything.
	n=$(diff "$out/bindings-a.rs" "$fresh" | grep -c '^[<>]' || true)
	if [ "$n" -gt 0 ]; then tap 0 "A's and B's bindings differ ($n lines), so the check means something"
	else tap 1 "A's and B's bindings differ (they are identical)"; fi
	if cmp -s "$out/tree/rust/glue/bindings_generated.rs" "$fresh"; then tap 0 "after switching, the tree's bindings are B's (as a fresh build's)"
	else tap 1 "after switching, the tree's bindings are B's (they differ from a fresh build's)"; fi
	if cp "$out/tree/ipvs_rs.ko" "$out/ipvs_rs-kswitch.ko"; then tap 0 "the switched module is kept for the VM on kernel B"
	else tap 1 "the switched module is kept for the VM on kernel B"; fi
fi
