/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The `ipvs` xtables match of ipvs_rs (rust/xt_ipvs_glue.c): C's net/netfilter/xt_ipvs.c
 * registration (name "ipvs", revision 0, NFPROTO_UNSPEC, struct xt_ipvs_mtinfo), with the
 * match function in Rust (rust/glue/xtables.rs, deciding with ipvs_core::xt_ipvs).
 */
#ifndef IPVS_RS_XT_H
#define IPVS_RS_XT_H

#include <linux/types.h>

struct net;
struct sk_buff;

/*
 * The match function: @family is xt_family() (NFPROTO_IPV4 or NFPROTO_IPV6, the check
 * refused the others), @info the rule's struct xt_ipvs_mtinfo (IPVS_RS_XT_IPVS_INFO_SIZE
 * bytes). Called in the packet path (softirq or process context with BHs off, under RCU).
 */
typedef bool (*ipvs_rs_xt_ipvs_mt_fn)(const struct sk_buff *skb, struct net *net, __u8 family,
				      const void *info);

/* sizeof(struct xt_ipvs_mtinfo) (checked at build time against the uapi header). */
#define IPVS_RS_XT_IPVS_INFO_SIZE 40

/* xt_register_match() of the `ipvs` match, whose .match calls @mt. 0 or a negative errno. */
int ipvs_rs_xt_ipvs_register(ipvs_rs_xt_ipvs_mt_fn mt);
/* xt_unregister_match(). Rules using the match hold a reference on this module, so none is
 * left when the module unloads. */
void ipvs_rs_xt_ipvs_unregister(void);

/* nf_ct_get() of the packet: -1 no conntrack (none, or untracked), 0 original direction,
 * 1 reply direction (ctinfo >= IP_CT_IS_REPLY). */
int ipvs_rs_skb_ct_dir(const struct sk_buff *skb);

#endif /* IPVS_RS_XT_H */
