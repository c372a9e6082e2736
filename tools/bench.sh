#!/usr/bin/env bash
# `make bench`: build the module (production build), boot ONE VM and run tests/vm/bench/run.sh
# (C ip_vs and ipvs_rs alternating, $BENCH_ROUNDS rounds), then report on the host: a table of
# min/median/max per metric for C, ipvs_rs and the direct path, and rs/C; JSON; PNG plots.
#   BENCH_SMOKE=1  the seconds-long smoke of `make check` (1 round, small sizes)
#   BENCH_*        sizes and timeouts, see tests/vm/bench/run.sh
#   KO             the ipvs_rs.ko to load (default: the one built here)
#   VM_TIMEOUT     the whole guest run (default 4800 s; smoke 1200 s)
#   BENCH_ICOUNT=1 QEMU -icount (tools/vm.sh VM_ICOUNT=shift=0,sleep=off): the guest's clock
#                  counts instructions, 1 ns each, so every rate and time is a cost in
#                  instructions, stable however busy the host is. The vCPUs run in turn, so
#                  the 2-vCPU metrics measure total work, not parallel speed (the scaling
#                  metric is meaningless there). Slower: give it a larger VM_TIMEOUT.
#   BENCH_INSNS=1  BENCH_ICOUNT=1 plus exact instruction counts per function: a QEMU plugin
#                  (tools/qemu-tbcount.c) counts every translation block, the guest takes a
#                  snapshot around each profiled measurement (those BENCH_PERF profiles), and
#                  tests/vm/bench/insns.py writes bench/insns-NAME.txt (instructions per
#                  connection or packet by function, the load balancer's own first) and
#                  bench/insns-summary.txt (C against ipvs_rs).
# Results in $VM_OUT (default $CACHE_DIR/bench): bench/samples.tsv, bench/table.txt,
# bench/bench.json, bench/{metrics,services,entries}.png, dmesg.txt.
. "$(dirname "$0")/env.sh"
cd "$IPVS_RS_TOP"
[ -n "${KO:-}" ] || tools/module.sh
out=${VM_OUT:-$CACHE_DIR/bench}
sub=bench
[ "${BENCH_SMOKE:-0}" = 1 ] && sub=bench-smoke
timeout=${VM_TIMEOUT:-$([ "${BENCH_SMOKE:-0}" = 1 ] && echo 1200 || echo 4800)}
guest_env=()
for v in $(compgen -e | grep '^BENCH_'); do guest_env+=("$v=${!v}"); done
# The module the guest loads is a copy, kept with the results: BENCH_PERF's profiles are
# named from its symbols afterwards (tests/vm/bench/perf-syms.py), even if the tree is rebuilt.
mkdir -p "$out"
ko=$out/ipvs_rs-bench.ko
cp -- "${KO:-ipvs_rs.ko}" "$ko"
guest_env+=(KO="$(realpath -- "$ko")")
# What is measured: the commit at the start (and whether the module's sources differ from it).
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- rust include Kbuild 2>/dev/null || commit="$commit+dirty"
vm="2 vCPUs, TCG"
if [ "${BENCH_INSNS:-0}" = 1 ]; then
	export BENCH_ICOUNT=1
	guest_env+=(BENCH_ICOUNT=1)
	mkdir -p "$out"
	"$LLVM_BIN/clang" -O2 -Wall -shared -fPIC -fvisibility=hidden -o "$out/qemu-tbcount.so" \
		tools/qemu-tbcount.c -lpthread || die "cannot build tools/qemu-tbcount.c"
	export VM_TBCOUNT=$out/qemu-tbcount.so
fi
if [ "${BENCH_ICOUNT:-0}" = 1 ]; then
	export VM_ICOUNT=shift=0,sleep=off
	vm="2 vCPUs, TCG -icount $VM_ICOUNT (guest time = instructions)"
fi
rc=0
VM_OUT=$out tools/vm.sh --timeout "$timeout" -- env "${guest_env[@]}" tests/vm/bench/run.sh c rs || rc=$?
res=$out/$sub
if [ -f "$res/samples.tsv" ]; then
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	# The host's system python (Debian's matplotlib), not a venv's or pyenv's.
	"${PY:-/usr/bin/python3}" tests/vm/bench/report.py --plan "$res/plan.txt" --mods "c rs" \
		--rounds "$(cat "$res/rounds" 2>/dev/null || echo 1)" \
		--json "$res/bench.json" --png-dir "$res" \
		--meta "commit=$commit" --meta "host=$(nproc) cores, $cpu" --meta "vm=$vm" \
		"$res/samples.tsv" | tee "$res/table.txt" || true
	if [ "${BENCH_INSNS:-0}" = 1 ]; then
		"${PY:-/usr/bin/python3}" tests/vm/bench/insns.py "$out/insns" "$res" ||
			log "insns.py failed"
	fi
	if compgen -G "$res/perf-*.txt" >/dev/null; then
		"${PY:-/usr/bin/python3}" tests/vm/bench/perf-syms.py "$ko" "$res"/perf-*.txt ||
			log "perf-syms.py failed: the profiles keep ipvs_rs's raw offsets"
	fi
	log "table: $res/table.txt"
	log "JSON:  $res/bench.json"
	log "plots: $res/metrics.png $res/services.png $res/entries.png"
else
	log "no samples ($res/samples.tsv missing)"
	[ "$rc" != 0 ] || rc=1
fi
exit "$rc"
