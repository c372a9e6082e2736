/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel API surface ipvs_rs uses. At build time bindgen turns this header into
 * rust/glue/bindings_generated.rs (see Kbuild), with the kernel's own clang flags, so the
 * module follows whatever kernel it is built against. Static inlines and macros that
 * bindgen cannot see are wrapped in rust/helpers.c and declared here.
 */
#ifndef IPVS_RS_H
#define IPVS_RS_H

#include <linux/module.h>
#include <linux/notifier.h>
#include <linux/sysctl.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <kunit/test.h>
#include <linux/ip_vs.h>
#include <net/netlink.h>
#include "ipvs_rs_genl.h"
#include "ipvs_rs_dp.h"
#include "ipvs_rs_xt.h"
#include "ipvs_rs_sync.h"

/* net_generic(): per-netns storage registered through pernet_operations.id/size. */
void *ipvs_rs_net_generic(const struct net *net, unsigned int id);
/* &init_net, so KUnit cases can look at the initial namespace. */
struct net *ipvs_rs_init_net(void);
/* Whether the C IPVS module (ip_vs) is loaded and live. */
bool ipvs_rs_c_ipvs_loaded(void);
/* mod->name of a module passed to a module notifier. */
const char *ipvs_rs_module_name(const struct module *mod);
/* notifier_from_errno(). */
int ipvs_rs_notifier_from_errno(int err);
/* KUNIT_FAIL() with a message built by the Rust side. */
void ipvs_rs_kunit_fail(struct kunit *test, const char *file, int line, const char *msg);

#include <linux/seq_file.h>
/* /proc/net/<name> in @net, 0444, rendered by @show (proc_create_net_single). */
bool ipvs_rs_proc_create(struct net *net, const char *name, int (*show)(struct seq_file *, void *));
void ipvs_rs_proc_remove(struct net *net, const char *name);
/* seq_file_single_net(). */
struct net *ipvs_rs_seq_net(struct seq_file *seq);
void ipvs_rs_seq_write(struct seq_file *seq, const char *buf, size_t len);
/* /proc/net/<name> in @net, 0444, iterated by @ops (proc_create_net(), as C's
 * ip_vs_conn): each reader gets @state_size zeroed bytes (ipvs_rs_seq_state()) after the
 * seq_net_private that names the file's namespace (ipvs_rs_seq_file_net()). */
bool ipvs_rs_proc_create_seq(struct net *net, const char *name, const struct seq_operations *ops,
			     unsigned int state_size);
void *ipvs_rs_seq_state(struct seq_file *seq);
/* seq_file_net(). */
struct net *ipvs_rs_seq_file_net(struct seq_file *seq);

/* nr_cpu_ids: rows of /proc/net/ip_vs_stats_percpu. */
unsigned int ipvs_rs_nr_cpu_ids(void);

/*
 * net/ipv4/vs sysctls: C's handlers that are static in ip_vs_ctl.c, reproduced with their
 * checks and errnos (rust/helpers.c), and what the table needs from the kernel.
 */
struct ipvs_rs_est_cpulist;
int ipvs_rs_proc_do_sync_threshold(const struct ctl_table *table, int write, void *buffer, size_t *lenp,
				   loff_t *ppos);
int ipvs_rs_proc_do_sync_ports(const struct ctl_table *table, int write, void *buffer, size_t *lenp,
			       loff_t *ppos);
int ipvs_rs_proc_est_cpulist(const struct ctl_table *table, int write, void *buffer, size_t *lenp,
			     loff_t *ppos);
int ipvs_rs_proc_est_nice(const struct ctl_table *table, int write, void *buffer, size_t *lenp, loff_t *ppos);
int ipvs_rs_proc_run_estimation(const struct ctl_table *table, int write, void *buffer, size_t *lenp,
				loff_t *ppos);
/* est_cpulist's storage (C: ipvs->sysctl_est_cpulist + est_cpulist_valid). */
struct ipvs_rs_est_cpulist *ipvs_rs_est_cpulist_alloc(void);
void ipvs_rs_est_cpulist_free(struct ipvs_rs_est_cpulist *c);
/* Whether est_cpulist was set and is empty (C then stops the estimators). */
bool ipvs_rs_est_cpulist_empty(struct ipvs_rs_est_cpulist *c);
/*
 * The estimation kthread of a namespace (C: ip_vs_est_kthread_start() and its loop). A slot is
 * a task pointer and a "ready" flag owned by the Rust side and changed only here, under one
 * mutex: ready set when the namespace's glue registered the slot (it will stop the thread
 * before the state the thread uses is freed), cleared by the stop.
 */
/* Set *ready. */
void ipvs_rs_kthread_ready(bool *ready);
/* If *ready and no thread runs in *slot: kthread_create(@fn, @data, "ipvs-e:%u:0", @gen),
 * with est_nice @nice and est_cpulist @c as C sets them (set_user_nice(),
 * set_cpus_allowed_ptr()), then woken. 0 or a negative errno. */
int ipvs_rs_kthread_start(void **slot, bool *ready, int (*fn)(void *), void *data, unsigned int gen,
			  struct ipvs_rs_est_cpulist *c, int nice);
/* Clear *ready; stop and release the thread of *slot, if any (kthread_stop()). */
void ipvs_rs_kthread_stop(void **slot, bool *ready);
/* In the thread: kthread_should_stop(). */
bool ipvs_rs_kthread_should_stop(void);
/* In the thread: sleep @timeout jiffies (TASK_IDLE) unless asked to stop. */
void ipvs_rs_kthread_sleep(unsigned long timeout);
/* In the thread: follow est_cpulist @c (unless set and empty) and est_nice @nice. */
void ipvs_rs_kthread_follow(struct ipvs_rs_est_cpulist *c, int nice);
/* C's default of sync_qlen_max: nr_free_buffer_pages() / 32. */
unsigned long ipvs_rs_sync_qlen_max_default(void);
/* net->user_ns != &init_user_ns: C's test for unprivileged namespaces. */
bool ipvs_rs_net_unpriv(const struct net *net);
/* est_cpulist's maxlen in C (unused by its handler, but visible in the table). */
enum { IPVS_RS_NR_CPUS = NR_CPUS };
/* The kernel's HZ, a constant of its configuration (read per packet: no call). */
enum { IPVS_RS_HZ = HZ };

#endif /* IPVS_RS_H */
