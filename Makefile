# ipvs-rs: top-level entry points. Kbuild (next to this file) describes the module itself.
#
#   make            build ipvs_rs.ko (installs prerequisites and builds the test kernel if needed)
#   make demo       the main job: the port-reuse scenario's headline cells, C ip_vs vs ipvs_rs
#   make bench      C ip_vs vs ipvs_rs in one boot, alternating: rates, costs, plots (~45 min under TCG)
#   make reuse-matrix  the whole port-reuse matrix (C twice, ipvs_rs once; ~40 min under TCG)
#   make check      all test tiers; ends with "N passed, M failed"
#   make lint       shellcheck, rustfmt and clippy of the core and the module (tools/lint.sh)
#   make sync-more  connection sync beyond make check: keepalived's lvs_sync_daemon, sync_version=0,
#                   the IPv6 group (C and ipvs_rs; ~8 min under TCG)
#   make sync-load  connection sync under load: 10000 connections, backup vs master, C and ipvs_rs
#   make sync-fuzz  hostile sync datagrams into C's and ipvs_rs's backups, entries compared
#   make compat     the core's tests and the module built with rustc 1.78, the oldest rustc Linux
#                   6.12 accepts (against FLAVOR=rustc178: ~15 min the first time); not in check
#   make KDIR=/lib/modules/$(uname -r)/build   build against your own Rust-enabled kernel
#
# Variables: KDIR (kernel build tree; default: the cached test kernel), FLAVOR=debug (KASAN,
# lockdep, kmemleak test kernel) or FLAVOR=rustc178 (built by rustc 1.78), CACHE_DIR (default ~/.cache/ipvs-rs), LLVM (default 1).

# When Kbuild re-enters this directory it reads Kbuild, not this file.
LLVM ?= 1
export FLAVOR CACHE_DIR

.PHONY: all module deps kernel check lint compat demo bench reuse-matrix sync-more sync-load sync-fuzz host-test clean
all: module

deps:
	@tools/deps.sh

kernel: deps
	@tools/kernel.sh >/dev/null

module: deps
	@tools/module.sh

host-test:
	cd rust/core && cargo test

check: deps
	@tools/check.sh

lint: deps
	@tools/lint.sh

compat: deps
	@tools/compat.sh

demo: deps
	@tools/deps.sh --plots
	@tools/demo.sh

bench: deps
	@tools/deps.sh --plots
	@tools/bench.sh

sync-more: deps
	@tools/sync-more.sh

sync-load: deps
	@tools/sync-load.sh

sync-fuzz: deps
	@tools/sync-fuzz.sh

reuse-matrix: deps
	@tools/deps.sh --plots
	@REUSE_CELLS=full REUSE_RUNS="c rs c" VM_TIMEOUT=$${VM_TIMEOUT:-5400} tools/demo.sh

clean:
	@if [ -n "$(KDIR)" ] || [ -d "$$(tools/kernel.sh --print-dir 2>/dev/null)" ]; then \
		$(MAKE) -C "$${KDIR:-$$(tools/kernel.sh --print-dir)}" M=$(CURDIR) LLVM=$(LLVM) clean; fi
	rm -f rust/glue/bindings_generated.rs rust/glue/kernel-id
	cd rust/core && cargo clean
