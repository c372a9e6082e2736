#!/usr/bin/env bash
# Usage: tools/dmesg-check.sh FILE
# Scans a kernel log (dmesg output) for reports that mean the kernel hit a bug: BUG/WARN/Oops,
# sanitizers, lockdep, RCU stalls, hung tasks, leaks, list/refcount corruption, panics.
# Exit 0: clean. Exit 1: problems found (each offending line is printed with its line number).
# Exit 2: usage error or unreadable file.
set -euo pipefail

# The one list of what counts as a kernel problem (extended regexps, case-sensitive).
# Keep these specific: ordinary pr_err/pr_warn lines (e.g. "sysctl duplicate entry",
# "RETBleed: WARNING: Spectre v2 mitigation ...", "kmemleak: Kernel memory leak detector
# initialized") are not failures.
PATTERNS=(
	'------------\[ cut here \]------------'     # start of every WARN()/BUG() report
	'\bBUG:'                                      # BUG: KASAN/sleeping function/soft lockup/bad page ...
	'kernel BUG at '                              # BUG()/BUG_ON()
	'WARNING: CPU: [0-9]+ PID: [0-9]+'            # WARN()/WARN_ON() header
	'WARNING: at [^ ]+:[0-9]+'                    # WARN() header without CPU info
	'\bOops\b'                                    # die(): "Oops: 0000 [#1] SMP"
	': [0-9a-f]{4} \[#[0-9]+\]'                   # any die() banner ("general protection fault ...: 0000 [#1]")
	'general protection fault'
	'invalid opcode: '
	'Kernel panic'                                # "Kernel panic - not syncing: ..."
	'\bpanicked at\b'                             # Rust panic!() in the kernel
	'\bKASAN:'
	'\bUBSAN:'
	'\bKFENCE:'
	'kmemleak: [0-9]+ new suspected memory leak'
	'unreferenced object 0x'                      # kmemleak report body
	'possible circular locking dependency'        # lockdep
	'inconsistent lock state'                     # lockdep
	'possible recursive locking'                  # lockdep
	'possible irq lock inversion'                 # lockdep
	'suspicious RCU usage'                        # lockdep RCU checks
	'bad unlock balance'                          # lockdep
	'held lock freed'                             # lockdep
	'lock held when returning to user space'      # lockdep
	'INFO: lockdep'                               # "INFO: lockdep is turned off."
	'INFO: trying to register non-static key'     # lockdep
	'refcount_t: '                                # refcount saturation/underflow/use-after-free
	'list_(add|del) corruption'
	'sleeping function called from invalid context'
	'scheduling while atomic'
	'rcu: INFO: '                                 # "rcu: INFO: rcu_sched self-detected stall on CPU"
	'self-detected stall'
	'detected stalls on CPUs'
	'blocked for more than [0-9]+ seconds'        # hung task detector
	'hung_task: blocked tasks'
)

[ $# -eq 1 ] || { echo "usage: $0 DMESG_FILE" >&2; exit 2; }
file=$1
[ -r "$file" ] || { echo "dmesg-check: cannot read '$file'" >&2; exit 2; }

grep_args=()
for p in "${PATTERNS[@]}"; do grep_args+=(-e "$p"); done

rc=0
hits=$(grep -anE "${grep_args[@]}" -- "$file") || rc=$?
case $rc in
0)
	echo "dmesg-check: kernel problems in $file:"
	printf '%s\n' "$hits" | sed 's/^/  line /'
	echo "dmesg-check: FAIL ($(printf '%s\n' "$hits" | wc -l) offending line(s))"
	exit 1 ;;
1) exit 0 ;;
*) echo "dmesg-check: grep failed on '$file'" >&2; exit 2 ;;
esac
