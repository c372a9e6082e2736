#!/usr/bin/env bash
# `make check`: every test tier, counted together.
#   host     cargo test of the core crate (unit + property tests), one result per test
#   lint     tools/lint.sh (make lint): shellcheck of tools/ and tests/, rustfmt and clippy (the
#            kernel's lint set, warnings denied) of rust/core and of the module
#   harness  self-tests proving the VM harness fails on failing KTAP and on kernel warnings
#   kunit    KUnit suites inside ipvs_rs, run in the VM at insmod, KTAP parsed
#   vm       the VM scenarios (tests/vm/all.sh: smoke, netns isolation, the control-plane
#            differential against C IPVS in the same boot, and the data-path suite tests/vm/dp:
#            the kernel's ipvs.sh, the forwarding matrix, expiry, teardown under load, the
#            schedulers, quiescent templates, one-packet scheduling, tunnels, SCTP, the ipvs
#            match, each against C IPVS and ipvs_rs; the node-interop replays of kube-proxy,
#            keepalived, kube-router and Docker swarm (tests/vm/interop); connection sync
#            between two directors, C→C, rs→rs, C→rs, rs→C (tests/vm/sync); the port-reuse
#            matrix; `make bench` in its seconds-long smoke form), one result per check; a
#            scenario's TAP file that tools/check.sh does not name is counted too
#   build    the production module has no KUnit in it, and no panic site outside
#            tools/panic-sites.allow; rust/'s layers import one way (tools/layers.sh);
#            FLAVOR=debug: switching kernels regenerates the bindings
#   rel      (in vm) tests/vm/rel: hostile packets, netlink fuzzing, floods, lifecycle races,
#            fault injection (debug kernel), C IPVS and ipvs_rs alike
#   dmesg    the VM's kernel log holds no BUG/WARNING/Oops/KASAN/lockdep/leak report
# Ends with one line "N passed, M failed"; exits non-zero if M > 0 or a tier could not run.
. "$(dirname "$0")/env.sh"
cd "$IPVS_RS_TOP"

OUT=${CHECK_OUT:-$CACHE_DIR/check-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAILED: $*"; }

# Count "ok - x" / "not ok - x" lines of a TAP-ish file into the totals.
count_tap() {
	local tier=$1 file=$2 p f
	p=$(grep -c '^ok - ' "$file" || true)
	f=$(grep -c '^not ok - ' "$file" || true)
	passed=$((passed + p))
	failed=$((failed + f))
	grep '^not ok - ' "$file" | sed "s/^/FAILED: $tier: /" || true
	log "$tier: $p passed, $f failed"
}

# First: the harness self-tests need the kernel source (kunit.py) that the kernel build unpacks.
log "building the kernel (cached; a cold cache builds it in ~15 min on 2 cores) and the module"
# First the production module (no KUnit), kept aside for the VM's smoke test; then the test
# build with the KUnit suites, which the VM scenarios load.
mkdir -p "$OUT/vm"
if ! tools/module.sh >"$OUT/build.log" 2>&1 || ! cp ipvs_rs.ko "$OUT/vm/ipvs_rs-prod.ko"; then
	tail -n 30 "$OUT/build.log"
	fail "build: ipvs_rs.ko did not build (see $OUT/build.log)"
	echo "$passed passed, $failed failed"
	exit 1
fi
log "tier build: the production module carries no KUnit"
tools/prod-ko-check.sh "$OUT/vm/ipvs_rs-prod.ko" >"$OUT/prod-ko.tap" 2>&1 || true
cat "$OUT/prod-ko.tap"
count_tap build "$OUT/prod-ko.tap"
grep -q '^ok - ' "$OUT/prod-ko.tap" || fail "build: production module checks did not run"
log "tier build: panic sites of the production module (tools/panic-sites.allow)"
if tools/panic-sites.sh "$OUT/vm/ipvs_rs-prod.ko" >"$OUT/panic-sites.txt" 2>&1; then
	pass
else
	cat "$OUT/panic-sites.txt"
	fail "build: panic sites not in tools/panic-sites.allow (see $OUT/panic-sites.txt)"
fi
log "tier build: the kernel-side layers point one way (tools/layers.sh: glue -> dp -> ctl -> module)"
if tools/layers.sh >"$OUT/layers.txt" 2>&1; then
	pass
else
	cat "$OUT/layers.txt"
	fail "build: an upward import or an import circle among rust/'s layers (see $OUT/layers.txt)"
fi
if [ "$FLAVOR" = debug ]; then
	# Issue 9 item 0: a tree built for the default kernel, then for this one, must carry this
	# kernel's bindings; the smoke test loads that module here (the default kernel is built
	# first if it is not cached).
	log "tier build: one tree built for the default kernel, then for the debug one"
	if kdef=$(FLAVOR=default tools/kernel.sh 2>>"$OUT/build.log") && kdbg=$(tools/kernel.sh 2>>"$OUT/build.log"); then
		tools/kswitch-check.sh "$kdef" "$kdbg" "$OUT/kswitch" >"$OUT/kswitch.tap" 2>&1 || true
		cp "$OUT/kswitch/ipvs_rs-kswitch.ko" "$OUT/vm/" 2>/dev/null || true
	else
		echo "not ok - kswitch: the default kernel could not be built" >"$OUT/kswitch.tap"
	fi
	cat "$OUT/kswitch.tap"
	count_tap build "$OUT/kswitch.tap"
fi
if ! IPVS_RS_KUNIT=y tools/module.sh >>"$OUT/build.log" 2>&1; then
	tail -n 30 "$OUT/build.log"
	fail "build: the test build of ipvs_rs.ko (IPVS_RS_KUNIT=y) did not build (see $OUT/build.log)"
	echo "$passed passed, $failed failed"
	exit 1
fi

log "tier host: cargo test (core crate)"
(cd rust/core && cargo test --no-fail-fast 2>&1) | tee "$OUT/host.log" | grep -E '^test .* \.\.\. |test result|error' || true
hp=$(grep -cE '^test .* \.\.\. ok$' "$OUT/host.log" || true)
hf=$(grep -cE '^test .* \.\.\. FAILED$' "$OUT/host.log" || true)
passed=$((passed + hp))
failed=$((failed + hf))
if [ "$hp" = 0 ] || ! grep -q 'test result: ok' "$OUT/host.log"; then
	[ "$hf" != 0 ] || fail "host: cargo test did not run (see $OUT/host.log)"
fi

log "tier host: the VM fuzzer's packets through the core's packet path (tests/pktfuzz-core.sh)"
if tests/pktfuzz-core.sh "${PKTFUZZ_CORE_PACKETS:-200000}" >"$OUT/pktfuzz-core.log" 2>&1; then
	pass
else
	tail -n 20 "$OUT/pktfuzz-core.log"
	fail "host: the core panicked on a fuzzed packet (see $OUT/pktfuzz-core.log)"
fi

log "tier lint: shellcheck, rustfmt and clippy (tools/lint.sh, also make lint)"
tools/lint.sh >"$OUT/lint.tap" 2>&1 || true
cat "$OUT/lint.tap"
count_tap lint "$OUT/lint.tap"
grep -q '^ok - ' "$OUT/lint.tap" || fail "lint: tools/lint.sh did not run (see $OUT/lint.tap)"

log "tier harness: self-tests"
tests/harness-selftest.sh >"$OUT/harness.tap" 2>&1 || true
cat "$OUT/harness.tap"
count_tap harness "$OUT/harness.tap"
grep -q '^ok - ' "$OUT/harness.tap" || fail "harness: self-tests did not run"

log "tier vm: all scenarios + KUnit (one boot; FLAVOR=debug: four)"
echo "$FLAVOR" >"$OUT/vm/flavor"
# The debug kernel is ~3x slower: the scenarios run with smaller volumes, and the VM gets more
# time (tests/vm/debug-profile.env).
vm_timeout=${VM_TIMEOUT:-4800}
if [ "$FLAVOR" = debug ]; then
	cp tests/vm/debug-profile.env "$OUT/vm/profile.env"
	vm_timeout=${VM_TIMEOUT:-9000}
fi
env | grep -E '^REL_[A-Z_]+=' >"$OUT/vm/rel.env" || true
rel_names=()
mapfile -t rel_scenarios <tests/vm/rel/scenarios
for name in "${rel_scenarios[@]}"; do
	# Fault injection exists in the debug kernel only (patches/kernel-debug.config).
	[ "$name" = faults ] && [ "$FLAVOR" != debug ] && continue
	rel_names+=("rel-$name")
done
# (The data-path and port-reuse suites take ~5-10 min per module each under TCG.)
# The VM tier in chunks, one boot each (groups of tests/vm/all.sh, ';' between chunks): one
# chunk with everything, but the debug kernel's run takes longer than a working session
# (ipvsadm-diff alone ~5x the default kernel's time), so FLAVOR=debug runs four, and a run
# given the CHECK_OUT of an unfinished one of the same tree and flavor keeps the chunks that
# run finished (their TAP files, kernel logs and verdicts) and runs the others.
if [ -n "${CHECK_CHUNKS:-}" ]; then
	chunk_spec=$CHECK_CHUNKS
elif [ "$FLAVOR" = debug ]; then
	chunk_spec="smoke netns ctl;dp;rel;interop sync reuse bench"
else
	chunk_spec="smoke netns ctl dp rel interop sync reuse bench"
fi
IFS=';' read -r -a chunks <<<"$chunk_spec"
tree_id="$(git rev-parse HEAD 2>/dev/null)+$(git diff HEAD 2>/dev/null | sha1sum | cut -c1-12) $FLAVOR"
for i in "${!chunks[@]}"; do
	c=$(echo "${chunks[$i]}" | xargs)
	if [ "$(cat "$OUT/vm/chunk-$i.done" 2>/dev/null)" = "$tree_id: $c" ]; then
		log "vm chunk $((i + 1))/${#chunks[@]} ($c): finished by an earlier run of this tree, kept"
		continue
	fi
	log "vm chunk $((i + 1))/${#chunks[@]}: $c"
	st=0
	rm -f "$OUT/vm/exit-code"
	# shellcheck disable=SC2086  # the groups are words
	VM_OUT="$OUT/vm" tools/vm.sh --timeout "$vm_timeout" --dmesg "$OUT/dmesg-$i.txt" -- tests/vm/all.sh $c || st=$?
	echo "$st $([ -f "$OUT/vm/exit-code" ] && echo finished || echo unfinished)" >"$OUT/vm/chunk-$i.status"
	# Kept by a resumed run only if the guest got to the end (a boot killed from outside, or
	# one that hung, runs again).
	[ -f "$OUT/vm/exit-code" ] && echo "$tree_id: $c" >"$OUT/vm/chunk-$i.done"
done
# One kernel log for the record (the chunks' in order).
for i in "${!chunks[@]}"; do cat "$OUT/dmesg-$i.txt" 2>/dev/null; done >"$OUT/dmesg.txt"
vm_names=(smoke netns ipvsadm-diff netlink-diff unpriv sysctl-diff dp-selftest dp-matrix dp-expire
	dp-stress dp-sched dp-quiescent dp-onepacket dp-tunnels dp-knobs dp-sctp dp-xtipvs "${rel_names[@]}" interop-kubeproxy interop-keepalived interop-xt-ipvs sync-pair sync-mixed reuse bench-smoke)
for name in "${vm_names[@]}"; do
	if [ -f "$OUT/vm/$name.tap" ] && grep -qE '^(not )?ok - ' "$OUT/vm/$name.tap"; then
		count_tap "vm/$name" "$OUT/vm/$name.tap"
	else
		fail "vm: scenario $name produced no results"
	fi
done
# A scenario that writes TAP but is missing from the list above is counted all the same.
for tap in "$OUT"/vm/*.tap; do
	[ -f "$tap" ] || continue
	name=$(basename "$tap" .tap)
	case " ${vm_names[*]} " in *" $name "*) continue ;; esac
	log "vm/$name: not in tools/check.sh's list of scenarios, counted anyway"
	count_tap "vm/$name" "$tap"
done

log "tier kunit: KTAP from the ipvs_rs load"
if [ -f "$OUT/vm/kunit-dmesg.txt" ] && tools/ktap.sh "$OUT/vm/kunit-dmesg.txt" >"$OUT/kunit.txt" 2>&1; then
	:
fi
cat "$OUT/kunit.txt" 2>/dev/null || true
if line=$(grep -E '^KTAP: [0-9]+ passed, [0-9]+ failed' "$OUT/kunit.txt" 2>/dev/null); then
	kp=$(echo "$line" | awk '{print $2}')
	kf=$(echo "$line" | awk '{print $4}')
	passed=$((passed + kp))
	failed=$((failed + kf))
	[ "$kp" != 0 ] || fail "kunit: no test case ran"
else
	fail "kunit: no KTAP results"
fi

# vm.sh fails when the scenario failed, the guest hung, or the kernel log is not clean; the
# scenarios' own failures are already counted, so this is the log/timeout verdict, per boot.
for i in "${!chunks[@]}"; do
	read -r vm_status vm_end <"$OUT/vm/chunk-$i.status" 2>/dev/null || { vm_status=missing vm_end=unfinished; }
	if [ "$vm_status" = 0 ]; then
		pass
		log "dmesg (chunk $((i + 1))): clean"
	elif tools/dmesg-check.sh "$OUT/dmesg-$i.txt" >/dev/null 2>&1 && [ "$vm_end" = finished ]; then
		pass   # clean log; the non-zero status came from scenario failures counted above
		log "dmesg (chunk $((i + 1))): clean"
	else
		fail "dmesg/vm: kernel reported a problem or the VM did not finish (chunk $((i + 1)), status $vm_status, see $OUT/dmesg-$i.txt)"
	fi
done

log "results in $OUT"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
