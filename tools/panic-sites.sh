#!/usr/bin/env bash
# Usage: tools/panic-sites.sh [--list] [--allow FILE] [KO]
#
# Lists every panic call site compiled into KO (default: ./ipvs_rs.ko) and checks them against
# an allow-list (default: tools/panic-sites.allow).
#
# A panic site is a call or jump (a relocation, since KO is a relocatable object) to a
# function that can only panic: core::panicking::* (panic, panic_fmt, panic_bounds_check,
# panic_const_*_overflow when overflow checks are on, panic_nounwind, ...),
# core::slice::index::*_fail, core::option::{unwrap,expect}_failed,
# core::result::unwrap_failed, core::str::slice_error_fail, core::cell::panic_already_*,
# alloc::alloc::handle_alloc_error, rust_begin_unwind, and the kernel's BUG helpers
# (rust_helper_BUG, __ubsan_handle_*, ...). Each is attributed to the function containing it
# (llvm-objdump-19 -dr --demangle: the last symbol header before the relocation). Demangled
# names lose their crate hashes ("core[1a2b..]::x" -> "core::x") so that the list is stable
# across builds.
#
# Output: one line per function, "COUNT<TAB>FUNCTION<TAB>AREA<TAB>TARGETS", AREA being
# packet (ipvs_rs::dp::*, glue::skb, the core's wire/proto/reuse/sched/persist/est modules),
# netlink (ctl::genl, ctl::service, glue::genetlink, the core's netlink codecs), test (kunit)
# library (an instance of a kernel/core generic: Vec::push, slice::rotate_left, ...; its callers
# decide whether it is on a hot path) or other; TARGETS the distinct callees with their counts.
# --list: print that list and exit 0.
# Otherwise: every function with a panic site must match a line of the allow-list
# ("PATTERN<TAB>JUSTIFICATION"; PATTERN is a shell glob over the demangled name; blank lines
# and #-comments ignored; a line without a justification is an error). Exit 0: all allowed.
# Exit 1: a function not allowed has panic sites (listed, packet/netlink ones flagged), or an
# allow line lacks a justification. Exit 2: usage error, no KO, no objdump. Allow lines that
# match nothing are reported as stale (informational).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
allow=$top/tools/panic-sites.allow
list_only=0
while [ $# -gt 0 ]; do
	case $1 in
	--list) list_only=1; shift ;;
	--allow) [ $# -ge 2 ] || { echo "usage: $0 [--list] [--allow FILE] [KO]" >&2; exit 2; }; allow=$2; shift 2 ;;
	-h|--help) sed -n 's/^# \{0,1\}//; 2,30p' "$0"; exit 0 ;;
	-*) echo "usage: $0 [--list] [--allow FILE] [KO]" >&2; exit 2 ;;
	*) break ;;
	esac
done
ko=${1:-$top/ipvs_rs.ko}
[ -r "$ko" ] || { echo "panic-sites: no module '$ko' (run make)" >&2; exit 2; }
objdump=
for o in llvm-objdump-19 llvm-objdump; do
	if command -v "$o" >/dev/null 2>&1; then objdump=$o; break; fi
done
[ -n "$objdump" ] || { echo "panic-sites: llvm-objdump-19 not found" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# FUNCTION<TAB>TARGET per site.
"$objdump" -dr --demangle --no-show-raw-insn "$ko" | awk '
	function clean(s) { gsub(/\[[0-9a-f]+\]/, "", s); return s }
	/^[0-9a-f]+ <.*>:$/ { f = $0; sub(/^[0-9a-f]+ </, "", f); sub(/>:$/, "", f); f = clean(f); next }
	/R_X86_64_(PLT32|PC32|32S|64)[ \t]/ {
		t = $0; sub(/.*R_X86_64_[A-Z0-9]+[ \t]+/, "", t); sub(/[-+]0x[0-9a-f]+$/, "", t); t = clean(t)
		if (t ~ /^core::panicking::/ || t ~ /^core::slice::index::.*_fail/ ||
		    t ~ /^core::option::(unwrap|expect)_failed/ || t ~ /^core::result::unwrap_failed/ ||
		    t ~ /^core::str::slice_error_fail/ || t ~ /^core::cell::panic_already/ ||
		    t ~ /^alloc::alloc::handle_alloc_error/ || t ~ /^rust_begin_unwind$/ ||
		    t ~ /^rust_helper_BUG$/ || t ~ /^__ubsan_handle_/ || t ~ /^core::result::Result<.*>::unwrap_failed/ ||
		    t ~ /::panic_fmt$/ || t ~ /^core::char::.*panic/ || t ~ /^core::num::.*(overflow|panic)/)
			print f "\t" t
	}' >"$tmp/sites"

# Per function: count, area, targets.
awk -F '\t' '
	{ n[$1]++; key = $1 SUBSEP $2; if (!(key in tc)) order[$1] = order[$1] "\x01" $2; tc[key]++ }
	END {
		for (f in n) {
			area = "other"
			if (f ~ /kunit/) area = "test"
			else if (f ~ /^(<\[|<kernel::|<core::|core::|kernel::|<alloc::|alloc::)/) area = "library"
			else if (f ~ /ipvs_(rs|main)::dp::|ipvs_(rs|main)::glue::skb|ipvs_core::(wire|proto|reuse|sched|persist|est)/) area = "packet"
			else if (f ~ /ipvs_(rs|main)::ctl::(genl|service)|ipvs_(rs|main)::glue::genetlink|ipvs_core::netlink/) area = "netlink"
			split(substr(order[f], 2), ts, "\x01")
			s = ""
			for (i = 1; i in ts; i++) s = s (i > 1 ? ", " : "") ts[i] " x" tc[f SUBSEP ts[i]]
			printf "%d\t%s\t%s\t%s\n", n[f], f, area, s
		}
	}' "$tmp/sites" | sort -t "$(printf '\t')" -k2,2 >"$tmp/funcs"

total=$(wc -l <"$tmp/sites")
nfun=$(wc -l <"$tmp/funcs")
if [ "$list_only" = 1 ]; then
	cat "$tmp/funcs"
	echo "panic-sites: $total site(s) in $nfun function(s) of $ko" >&2
	exit 0
fi

[ -r "$allow" ] || { echo "panic-sites: no allow-list '$allow'" >&2; exit 2; }
bad=0
# Allow patterns (tab-separated; a missing justification is itself a failure).
patterns=()
while IFS= read -r line || [ -n "$line" ]; do
	case $line in ''|'#'*) continue ;; esac
	pat=${line%%$'\t'*}
	why=${line#*$'\t'}
	if [ "$pat" = "$line" ] || [ -z "${why// /}" ]; then
		echo "panic-sites: allow line without a justification: $line"
		bad=1
		continue
	fi
	patterns+=("$pat")
done <"$allow"

declare -A used=()
unlisted=0
while IFS=$'\t' read -r count func area targets; do
	ok=0
	for p in "${patterns[@]}"; do
		# shellcheck disable=SC2053
		if [[ $func == $p ]]; then ok=1; used[$p]=1; break; fi
	done
	if [ "$ok" = 0 ]; then
		flag=
		[ "$area" = packet ] || [ "$area" = netlink ] && flag=" [$area path]"
		echo "panic-sites: not allowed$flag: $func: $count site(s): $targets"
		unlisted=$((unlisted + 1))
	fi
done <"$tmp/funcs"
for p in "${patterns[@]}"; do
	[ -n "${used[$p]+x}" ] || echo "panic-sites: stale allow line (no panic site): $p"
done
if [ "$unlisted" -gt 0 ] || [ "$bad" = 1 ]; then
	echo "panic-sites: FAIL ($unlisted function(s) with panic sites not in $allow; $total site(s) in $nfun function(s))"
	exit 1
fi
echo "panic-sites: ok ($total site(s) in $nfun function(s), all allowed)"
