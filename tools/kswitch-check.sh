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
build "$out/tree" "$a"; ra=$?
tap "$ra" "build against A ($a)"
cp "$out/tree/rust/glue/bindings_generated.rs" "$out/bindings-a.rs" 2>/dev/null
build "$out/tree" "$b"; rb=$?
tap "$rb" "then against B ($b) in the same tree"
build "$out/fresh" "$b"; rf=$?
tap "$rf" "a fresh tree against B"
if [ "$ra$rb$rf" = 000 ]; then
	# The two kernels must differ in layout for this to prove anything.
	cmp -s "$out/bindings-a.rs" "$out/fresh/rust/glue/bindings_generated.rs"
	tap "$([ $? != 0 ]; echo $?)" "A's and B's bindings differ ($(diff "$out/bindings-a.rs" "$out/fresh/rust/glue/bindings_generated.rs" | grep -c '^[<>]') lines), so the check is meaningful"
	cmp -s "$out/tree/rust/glue/bindings_generated.rs" "$out/fresh/rust/glue/bindings_generated.rs"
	tap $? "after switching, the tree's bindings are B's (as a fresh build's)"
	cp "$out/tree/ipvs_rs.ko" "$out/ipvs_rs-kswitch.ko"
	tap $? "the switched module is kept for the VM on kernel B"
fi
