// SPDX-License-Identifier: GPL-2.0
/*
 * A QEMU TCG plugin for `BENCH_INSNS=1 make bench` (tools/bench.sh): it counts how often every
 * translation block of the guest runs, and writes a snapshot of the counts when the guest asks
 * (tests/vm/bench/run.sh writes a name into the trigger file; the plugin writes
 * OUT/NAME.tb, "vaddr insns count" per block, and removes the trigger). Two snapshots
 * around a measurement give the instructions the guest executed in between, per address:
 * tests/vm/bench/insns.py sums them by function (kernel, C ip_vs, ipvs_rs).
 *
 * Arguments: trigger=PATH,out=DIR. The plugin API is declared here as QEMU 7.2 (Debian 12)
 * has it (QEMU_PLUGIN_VERSION 1; Debian ships no qemu-plugin.h): a QEMU that refuses this
 * version says so at start and the run fails.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
					      void *ptr, uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* One per translation (a block translated again gets another). */
struct block {
	uint64_t vaddr;
	uint64_t count;
	uint32_t insns;
};

#define MAX_BLOCKS (8u << 20)
static struct block *blocks;
static atomic_uint nblocks;
static char trigger[512], outdir[512];

static void translated(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	unsigned int i = atomic_fetch_add(&nblocks, 1);

	(void)id;
	if (i >= MAX_BLOCKS)
		return;
	blocks[i].vaddr = qemu_plugin_tb_vaddr(tb);
	blocks[i].insns = qemu_plugin_tb_n_insns(tb);
	/* Counted inline, without a call: with -icount the vCPUs run one at a time. */
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &blocks[i].count, 1);
}

static void snapshot(const char *name)
{
	char path[1100], tmp[1110];
	unsigned int i, n = atomic_load(&nblocks);
	FILE *o;

	if (n > MAX_BLOCKS)
		n = MAX_BLOCKS;
	snprintf(path, sizeof(path), "%s/%s.tb", outdir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	o = fopen(tmp, "w");
	if (!o)
		return;
	for (i = 0; i < n; i++)
		if (blocks[i].count)
			fprintf(o, "%llx %u %llu\n", (unsigned long long)blocks[i].vaddr,
				blocks[i].insns, (unsigned long long)blocks[i].count);
	fclose(o);
	rename(tmp, path);
}

static void *watch(void *arg)
{
	char name[256];

	(void)arg;
	for (;;) {
		FILE *t;

		usleep(20000);
		t = fopen(trigger, "r");
		if (!t)
			continue;
		/* The guest renames the trigger into place, but be safe against reading it
		 * before its name is written: an empty trigger is read again later. */
		if (!fgets(name, sizeof(name), t)) {
			fclose(t);
			continue;
		}
		fclose(t);
		name[strcspn(name, "\n")] = 0;
		if (!name[0])
			continue;
		/* A name, not a path. */
		if (!strchr(name, '/'))
			snapshot(name);
		unlink(trigger);
	}
	return NULL;
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
							    const void *info, int argc,
							    char **argv)
{
	pthread_t th;
	int i;

	(void)info;
	for (i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "trigger=", 8))
			snprintf(trigger, sizeof(trigger), "%s", argv[i] + 8);
		else if (!strncmp(argv[i], "out=", 4))
			snprintf(outdir, sizeof(outdir), "%s", argv[i] + 4);
	}
	if (!trigger[0] || !outdir[0]) {
		fprintf(stderr, "qemu-tbcount: arguments trigger=PATH,out=DIR needed\n");
		return -1;
	}
	blocks = calloc(MAX_BLOCKS, sizeof(*blocks));
	if (!blocks)
		return -1;
	qemu_plugin_register_vcpu_tb_trans_cb(id, translated);
	return pthread_create(&th, NULL, watch, NULL) ? -1 : 0;
}
