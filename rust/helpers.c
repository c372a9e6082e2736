// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for ipvs_rs: each wraps one static inline or macro the Rust side cannot call
 * directly. No policy lives here.
 */
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/seq_file_net.h>
#include <net/net_namespace.h>
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
