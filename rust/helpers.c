// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for ipvs_rs: each wraps one static inline or macro the Rust side cannot call
 * directly. No policy lives here, except C's sysctl handlers that ip_vs_ctl.c keeps static
 * (at the end, reproduced as they are).
 */
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/seq_file_net.h>
#include <net/net_namespace.h>
#include <linux/cpumask.h>
#include <linux/kthread.h>
#include <linux/sched/task.h>
#include <linux/log2.h>
#include <linux/sched.h>
#include <linux/sched/isolation.h>
#include <linux/sched/prio.h>
#include <linux/slab.h>
#include <linux/swap.h>
#include <linux/user_namespace.h>
#include "../include/ipvs_rs.h"

void *ipvs_rs_net_generic(const struct net *net, unsigned int id)
{
	return net_generic(net, id);
}

struct net *ipvs_rs_init_net(void)
{
	return &init_net;
}

/*
 * register_ip_vs_pe() is exported (GPL-only, which symbol_get() requires) by ip_vs.ko; if it resolves, the C IPVS is
 * loaded. symbol_get() takes a module reference that we drop at once.
 */
bool ipvs_rs_c_ipvs_loaded(void)
{
	void *sym = __symbol_get("register_ip_vs_pe");

	if (!sym)
		return false;
	__symbol_put("register_ip_vs_pe");
	return true;
}

const char *ipvs_rs_module_name(const struct module *mod)
{
	return mod->name;
}

int ipvs_rs_notifier_from_errno(int err)
{
	return notifier_from_errno(err);
}

#ifdef IPVS_RS_KUNIT
/* Only in the test build (IPVS_RS_KUNIT=y): the production module needs no KUnit symbol. */
void ipvs_rs_kunit_fail(struct kunit *test, const char *file, int line, const char *msg)
{
	KUNIT_FAIL(test, "%s:%d: %s", file, line, msg);
}
#endif

/* /proc/net files of one namespace, shown by a single show() call (seq_file grows the buffer). */
bool ipvs_rs_proc_create(struct net *net, const char *name, int (*show)(struct seq_file *, void *))
{
	return proc_create_net_single(name, 0444, net->proc_net, show, NULL) != NULL;
}

void ipvs_rs_proc_remove(struct net *net, const char *name)
{
	remove_proc_entry(name, net->proc_net);
}

struct net *ipvs_rs_seq_net(struct seq_file *seq)
{
	return seq_file_single_net(seq);
}

void ipvs_rs_seq_write(struct seq_file *seq, const char *buf, size_t len)
{
	seq_write(seq, buf, len);
}

bool ipvs_rs_proc_create_seq(struct net *net, const char *name, const struct seq_operations *ops,
			     unsigned int state_size)
{
	return proc_create_net(name, 0444, net->proc_net, ops,
			       sizeof(struct seq_net_private) + state_size) != NULL;
}

void *ipvs_rs_seq_state(struct seq_file *seq)
{
	/* seq_net_private holds pointers: what follows it is pointer-aligned. */
	return (struct seq_net_private *)seq->private + 1;
}

struct net *ipvs_rs_seq_file_net(struct seq_file *seq)
{
	return seq_file_net(seq);
}

unsigned int ipvs_rs_nr_cpu_ids(void)
{
	return nr_cpu_ids;
}

/*
 * net/ipv4/vs sysctl handlers that are static in C's ip_vs_ctl.c, reproduced line for line
 * (same proc_dointvec() into a copy, same checks, same errnos). C serialises them with
 * ipvs->sync_mutex / ipvs->est_mutex; one module-wide mutex does here (writes are rare).
 * ipvs_rs has no sync daemon, and its estimator thread reads est_cpulist and est_nice at
 * every round (ipvs_rs_kthread_follow()), so what C does after storing
 * (ip_vs_est_reload_start(): restart the threads) has no counterpart here.
 */
static DEFINE_MUTEX(ipvs_rs_sysctl_mutex);

struct ipvs_rs_est_cpulist {
	bool valid;		/* C: ipvs->est_cpulist_valid */
	cpumask_var_t mask;	/* C: ipvs->sysctl_est_cpulist */
};

/* proc_do_sync_threshold() */
int ipvs_rs_proc_do_sync_threshold(const struct ctl_table *table, int write, void *buffer, size_t *lenp,
				   loff_t *ppos)
{
	int *valp = table->data;
	int val[2];
	int rc;
	struct ctl_table tmp = {
		.data = &val,
		.maxlen = table->maxlen,
		.mode = table->mode,
	};

	mutex_lock(&ipvs_rs_sysctl_mutex);
	memcpy(val, valp, sizeof(val));
	rc = proc_dointvec(&tmp, write, buffer, lenp, ppos);
	if (write) {
		if (val[0] < 0 || val[1] < 0 || (val[0] >= val[1] && val[1]))
			rc = -EINVAL;
		else
			memcpy(valp, val, sizeof(val));
	}
	mutex_unlock(&ipvs_rs_sysctl_mutex);
	return rc;
}

/* proc_do_sync_ports() */
int ipvs_rs_proc_do_sync_ports(const struct ctl_table *table, int write, void *buffer, size_t *lenp,
			       loff_t *ppos)
{
	int *valp = table->data;
	int val = *valp;
	int rc;
	struct ctl_table tmp = {
		.data = &val,
		.maxlen = sizeof(int),
		.mode = table->mode,
	};

	rc = proc_dointvec(&tmp, write, buffer, lenp, ppos);
	if (write && (*valp != val)) {
		if (val < 1 || !is_power_of_2(val))
			rc = -EINVAL;
		else
			WRITE_ONCE(*valp, val);
	}
	return rc;
}

struct ipvs_rs_est_cpulist *ipvs_rs_est_cpulist_alloc(void)
{
	return kzalloc(sizeof(struct ipvs_rs_est_cpulist), GFP_KERNEL);
}

void ipvs_rs_est_cpulist_free(struct ipvs_rs_est_cpulist *c)
{
	if (c && c->valid)
		free_cpumask_var(c->mask);
	kfree(c);
}

bool ipvs_rs_est_cpulist_empty(struct ipvs_rs_est_cpulist *c)
{
	bool empty;

	mutex_lock(&ipvs_rs_sysctl_mutex);
	empty = c->valid && cpumask_empty(c->mask);
	mutex_unlock(&ipvs_rs_sysctl_mutex);
	return empty;
}

/* sysctl_est_cpulist(): the list as set, else the housekeeping CPUs. Under the mutex. */
static const struct cpumask *ipvs_rs_est_mask(struct ipvs_rs_est_cpulist *c)
{
	return c->valid ? c->mask : housekeeping_cpumask(HK_TYPE_KTHREAD);
}

static DEFINE_MUTEX(ipvs_rs_kthread_mutex);

void ipvs_rs_kthread_ready(bool *ready)
{
	mutex_lock(&ipvs_rs_kthread_mutex);
	*ready = true;
	mutex_unlock(&ipvs_rs_kthread_mutex);
}

int ipvs_rs_kthread_start(void **slot, bool *ready, int (*fn)(void *), void *data, unsigned int gen,
			  struct ipvs_rs_est_cpulist *c, int nice)
{
	struct task_struct *t;
	int ret = 0;

	mutex_lock(&ipvs_rs_kthread_mutex);
	if (!*ready || *slot)
		goto out;
	t = kthread_create(fn, data, "ipvs-e:%u:0", gen);
	if (IS_ERR(t)) {
		ret = PTR_ERR(t);
		goto out;
	}
	get_task_struct(t);
	/* ip_vs_est_kthread_start() */
	set_user_nice(t, nice);
	mutex_lock(&ipvs_rs_sysctl_mutex);
	if (!(c->valid && cpumask_empty(c->mask)))
		set_cpus_allowed_ptr(t, ipvs_rs_est_mask(c));
	mutex_unlock(&ipvs_rs_sysctl_mutex);
	*slot = t;
	wake_up_process(t);
out:
	mutex_unlock(&ipvs_rs_kthread_mutex);
	return ret;
}

void ipvs_rs_kthread_stop(void **slot, bool *ready)
{
	struct task_struct *t;

	mutex_lock(&ipvs_rs_kthread_mutex);
	*ready = false;
	t = *slot;
	*slot = NULL;
	mutex_unlock(&ipvs_rs_kthread_mutex);
	if (t) {
		kthread_stop(t);
		put_task_struct(t);
	}
}

bool ipvs_rs_kthread_should_stop(void)
{
	return kthread_should_stop();
}

void ipvs_rs_kthread_sleep(unsigned long timeout)
{
	/* ip_vs_estimation_kthread(): idle, not counted in the load average */
	set_current_state(TASK_IDLE);
	if (!kthread_should_stop())
		schedule_timeout(timeout);
	__set_current_state(TASK_RUNNING);
}

void ipvs_rs_kthread_follow(struct ipvs_rs_est_cpulist *c, int nice)
{
	if (task_nice(current) != nice)
		set_user_nice(current, nice);
	mutex_lock(&ipvs_rs_sysctl_mutex);
	if (!(c->valid && cpumask_empty(c->mask)) &&
	    !cpumask_equal(current->cpus_ptr, ipvs_rs_est_mask(c)))
		set_cpus_allowed_ptr(current, ipvs_rs_est_mask(c));
	mutex_unlock(&ipvs_rs_sysctl_mutex);
}

/* ipvs_proc_est_cpumask_set() */
static int ipvs_rs_est_cpumask_set(const struct ctl_table *table, void *buffer)
{
	struct ipvs_rs_est_cpulist *c = table->data;
	cpumask_var_t newmask;
	int ret;

	if (!zalloc_cpumask_var(&newmask, GFP_KERNEL))
		return -ENOMEM;

	ret = cpulist_parse(buffer, newmask);
	if (ret)
		goto out;

	mutex_lock(&ipvs_rs_sysctl_mutex);
	if (!c->valid) {
		if (!zalloc_cpumask_var(&c->mask, GFP_KERNEL)) {
			ret = -ENOMEM;
			goto unlock;
		}
		c->valid = true;
	}
	cpumask_and(newmask, newmask, &current->cpus_mask);
	cpumask_copy(c->mask, newmask);
unlock:
	mutex_unlock(&ipvs_rs_sysctl_mutex);
out:
	free_cpumask_var(newmask);
	return ret;
}

/* ipvs_proc_est_cpumask_get() */
static int ipvs_rs_est_cpumask_get(const struct ctl_table *table, void *buffer, size_t size)
{
	struct ipvs_rs_est_cpulist *c = table->data;
	struct cpumask *mask;
	int ret;

	mutex_lock(&ipvs_rs_sysctl_mutex);
	if (c->valid)
		mask = c->mask;
	else
		mask = (struct cpumask *)housekeeping_cpumask(HK_TYPE_KTHREAD);
	ret = scnprintf(buffer, size, "%*pbl\n", cpumask_pr_args(mask));
	mutex_unlock(&ipvs_rs_sysctl_mutex);
	return ret;
}

/* ipvs_proc_est_cpulist() */
int ipvs_rs_proc_est_cpulist(const struct ctl_table *table, int write, void *buffer, size_t *lenp,
			     loff_t *ppos)
{
	int ret;

	/* Ignore both read and write(append) if *ppos not 0 */
	if (*ppos || !*lenp) {
		*lenp = 0;
		return 0;
	}
	if (write) {
		/* proc_sys_call_handler() appends terminator */
		ret = ipvs_rs_est_cpumask_set(table, buffer);
		if (ret >= 0)
			*ppos += *lenp;
	} else {
		/* proc_sys_call_handler() allocates 1 byte for terminator */
		ret = ipvs_rs_est_cpumask_get(table, buffer, *lenp + 1);
		if (ret >= 0) {
			*lenp = ret;
			*ppos += *lenp;
			ret = 0;
		}
	}
	return ret;
}

/* ipvs_proc_est_nice() */
int ipvs_rs_proc_est_nice(const struct ctl_table *table, int write, void *buffer, size_t *lenp, loff_t *ppos)
{
	int *valp = table->data;
	int val = *valp;
	int ret;
	struct ctl_table tmp_table = {
		.data = &val,
		.maxlen = sizeof(int),
		.mode = table->mode,
	};

	ret = proc_dointvec(&tmp_table, write, buffer, lenp, ppos);
	if (write && ret >= 0) {
		if (val < MIN_NICE || val > MAX_NICE) {
			ret = -EINVAL;
		} else {
			mutex_lock(&ipvs_rs_sysctl_mutex);
			if (*valp != val)
				WRITE_ONCE(*valp, val);
			mutex_unlock(&ipvs_rs_sysctl_mutex);
		}
	}
	return ret;
}

/* ipvs_proc_run_estimation() */
int ipvs_rs_proc_run_estimation(const struct ctl_table *table, int write, void *buffer, size_t *lenp,
				loff_t *ppos)
{
	int *valp = table->data;
	int val = *valp;
	int ret;
	struct ctl_table tmp_table = {
		.data = &val,
		.maxlen = sizeof(int),
		.mode = table->mode,
	};

	ret = proc_dointvec(&tmp_table, write, buffer, lenp, ppos);
	if (write && ret >= 0) {
		mutex_lock(&ipvs_rs_sysctl_mutex);
		if (*valp != val)
			WRITE_ONCE(*valp, val);
		mutex_unlock(&ipvs_rs_sysctl_mutex);
	}
	return ret;
}

unsigned long ipvs_rs_sync_qlen_max_default(void)
{
	return nr_free_buffer_pages() / 32;
}

bool ipvs_rs_net_unpriv(const struct net *net)
{
	return net->user_ns != &init_user_ns;
}
