#!/usr/bin/env bash
# Usage: tools/lint.sh   (make lint)
# Static checks, one TAP line each ("ok - lint: ..." / "not ok - lint: ..."), the findings of a
# failed check as "# " lines under it; exits 1 if any check failed.
#   - shell scripts (every one under tools/ and tests/, and .ci/run): shellcheck, settings in
#     .shellcheckrc
#   - the host crates (rust/core, its fuzz target, tests/pktfuzz-core): rustfmt --check, settings
#     in .rustfmt.toml (the kernel's)
#   - rust/core: clippy, all targets, warnings denied (the kernel's lint set: rust/core/Cargo.toml)
#   - the module's files (rust/*.rs, rust/*/*.rs outside rust/core): rustfmt --check, with the
#     count of files and lines that would change (LINT_MODULE_FMT=0 skips it)
#   - the production module built with Kbuild's clippy (make CLIPPY=1: the kernel's lint set)
#     against $KDIR or the cached test kernel, in a copy of the tree: no warning
#     (LINT_MODULE_CLIPPY=0 skips it)
. "$(dirname "$0")/env.sh"
cd "$IPVS_RS_TOP"

failed=0
# report OK DESC [FINDINGS_FILE]: the TAP line, then at most 60 lines of findings.
report() {
	if [ "$1" = 0 ]; then
		echo "ok - lint: $2"
	else
		echo "not ok - lint: $2"
		failed=1
		if [ -s "${3:-}" ]; then
			sed -n '1,60s/^/# /p' "$3"
			[ "$(wc -l <"$3")" -le 60 ] || echo "# ... ($(wc -l <"$3") lines in all)"
		fi
	fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Files of the tree (tracked ones in a git checkout, so that build output is not linted).
tree_files() {
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -- "$@"
	else
		find "$@" -type f | sort
	fi
}

# --- shellcheck -------------------------------------------------------------------------------
scripts=()
while IFS= read -r f; do
	case $f in
	*.sh) scripts+=("$f") ;;
	*) if head -n 1 "$f" | grep -qE '^#!.*[/ ](ba)?sh$'; then scripts+=("$f"); fi ;;
	esac
done < <(tree_files tools tests .ci)
if ! command -v shellcheck >/dev/null; then
	echo "shellcheck is not installed (tools/deps.sh installs it)" >"$tmp/sc"
	report 1 "shellcheck" "$tmp/sc"
elif shellcheck -f gcc "${scripts[@]}" >"$tmp/sc" 2>&1; then
	report 0 "shellcheck (${#scripts[@]} scripts)"
else
	report 1 "shellcheck: $(grep -c ': [a-z]*: ' "$tmp/sc") findings in ${#scripts[@]} scripts" "$tmp/sc"
fi

# --- rustfmt of the host crates -----------------------------------------------------------------
host_rs=(rust/core/fuzz/fuzz_targets/parse.rs tests/pktfuzz-core/src/main.rs)
n=$(tree_files rust/core/src | grep -c '\.rs$')
if (cd rust/core && cargo fmt --check -- --color never) >"$tmp/fmt" 2>&1 && rustfmt --check --color never "${host_rs[@]}" >>"$tmp/fmt" 2>&1; then
	report 0 "rustfmt host crates ($((n + ${#host_rs[@]})) files)"
else
	report 1 "rustfmt host crates: $(grep -c '^Diff in' "$tmp/fmt") places differ (cargo fmt in rust/core; rustfmt ${host_rs[*]})" "$tmp/fmt"
fi

# --- clippy of the core -------------------------------------------------------------------------
if (cd rust/core && cargo clippy --quiet --all-targets -- -D warnings) >"$tmp/clippy" 2>&1; then
	report 0 "clippy rust/core (all targets, the kernel's lint set, warnings denied)"
else
	report 1 "clippy rust/core: $(grep -cE '^(warning|error)(\[|:)' "$tmp/clippy") findings" "$tmp/clippy"
fi

# --- rustfmt of the module's files ---------------------------------------------------
# Formatted in a copy, so that the count of lines that would change is exact.
if [ "${LINT_MODULE_FMT:-1}" = 1 ]; then
	mapfile -t mod_rs < <(tree_files rust | grep '\.rs$' | grep -v '^rust/core/')
	mkdir -p "$tmp/m"
	cp .rustfmt.toml "$tmp/m/"
	for f in "${mod_rs[@]}"; do mkdir -p "$tmp/m/$(dirname "$f")"; cp "$f" "$tmp/m/$f"; done
	if (cd "$tmp/m" && rustfmt "${mod_rs[@]}") >"$tmp/mfmt" 2>&1; then
		changed=() lines=0
		for f in "${mod_rs[@]}"; do
			if ! cmp -s "$f" "$tmp/m/$f"; then
				changed+=("$f")
				lines=$((lines + $(diff "$f" "$tmp/m/$f" | grep -c '^[<>]' || true)))
			fi
		done
		if [ "${#changed[@]}" = 0 ]; then
			report 0 "rustfmt module (${#mod_rs[@]} files)"
		else
			printf '%s\n' "${changed[@]}" >"$tmp/mfmt"
			report 1 "rustfmt module: ${#changed[@]} of ${#mod_rs[@]} files would change ($lines lines removed or added)" "$tmp/mfmt"
		fi
	else
		report 1 "rustfmt module: rustfmt failed" "$tmp/mfmt"
	fi
else
	echo "# lint: rustfmt of the module's files not checked (LINT_MODULE_FMT=0)"
fi

# --- clippy of the module ---------------------------------------------------------------------
# The production module built with Kbuild's clippy (the kernel's lint set) in a copy of the
# tree: the build in place is the one the tests load. CLIPPY=1 reaches Kbuild as `make CLIPPY=1`
# passes it: make takes the variables in MAKEFLAGS as given on its command line, which is where
# Kbuild wants CLIPPY.
if [ "${LINT_MODULE_CLIPPY:-1}" = 1 ]; then
	while IFS= read -r f; do
		mkdir -p "$tmp/c/$(dirname "$f")"
		cp "$f" "$tmp/c/$f"
	done < <(tree_files Kbuild Makefile rust include tools patches)
	if MAKEFLAGS="${MAKEFLAGS:-} CLIPPY=1" IPVS_RS_KUNIT='' "$tmp/c/tools/module.sh" >"$tmp/mclippy" 2>&1; then
		grep -E '^(warning|error)(\[|:)' "$tmp/mclippy" | grep -v ' warnings\? emitted$' >"$tmp/mclippy.w" || true
		if [ -s "$tmp/mclippy.w" ]; then
			sort "$tmp/mclippy.w" | uniq -c | sort -rn >"$tmp/mclippy.kinds"
			report 1 "clippy module: $(wc -l <"$tmp/mclippy.w") warnings (make CLIPPY=1)" "$tmp/mclippy.kinds"
		else
			report 0 "clippy module (make CLIPPY=1, the kernel's lint set, production build)"
		fi
	else
		report 1 "clippy module: the build failed (make CLIPPY=1)" "$tmp/mclippy"
	fi
else
	echo "# lint: clippy of the module not checked (LINT_MODULE_CLIPPY=0)"
fi

exit "$failed"
