#!/usr/bin/env bash
# Usage: run-lines.sh LINES DIR [PREFIX...]
# Helper of ipvsadm-diff.sh and unpriv.sh, run INSIDE the network namespace under test (one
# `ip netns exec` per run, not per line: that is what makes a run fast under TCG).
# LINES holds "NNN<TAB>line" records. For each, the line (a leading "!" removed) runs as
# `timeout LINE_TIMEOUT PREFIX... sh -c LINE` from DIR/work with stdin /dev/null (LINE_TIMEOUT:
# 60 s by default, so that an implementation that never answers costs one line, not the run;
# exit code 124 then). DIR/NNN.cmd gets the line, DIR/NNN.out/.err/.rc stdout, stderr and exit
# code, DIR/NNN.praw the raw /proc/net/ip_vs read right after it (the caller normalizes those;
# besides the command, only bash builtins run per line).
set -u
lines=$1
dir=$2
shift 2
cd "$dir/work" || exit 1
while IFS=$'\t' read -r id line; do
	printf '%s\n' "$line" >"$dir/$id.cmd"
	timeout -k 5 "${LINE_TIMEOUT:-60}" "$@" sh -c "${line#!}" </dev/null >"$dir/$id.out" 2>"$dir/$id.err"
	echo "$?" >"$dir/$id.rc"
	if ! { mapfile -t proc </proc/net/ip_vs; } 2>/dev/null; then
		proc=("(/proc/net/ip_vs not readable)")
	fi
	printf '%s\n' "${proc[@]}" >"$dir/$id.praw"
done <"$lines"
