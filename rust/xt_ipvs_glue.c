// SPDX-License-Identifier: GPL-2.0
/*
 * The `ipvs` xtables match (see include/ipvs_rs_xt.h): the registration record and the
 * family check of net/netfilter/xt_ipvs.c (Linux 6.12), as C has them; the match function
 * is ipvs_rs's (Rust), so `iptables -m ipvs` and iptables-nft's compat `match ipvs` find
 * this one and the kernel never asks for xt_ipvs.ko (which needs C's ip_vs).
 *
 * Which of two `ipvs` matches the kernel uses: xt_register_match() does not refuse
 * duplicates (it list_add()s at the head of xt[af].match), and xt_find_match() takes the
 * first of the name and revision. C's xt_ipvs.ko cannot load next to ipvs_rs anyway: it
 * needs ip_vs.ko's symbols, and ipvs_rs vetoes ip_vs (rust/glue/modnotify.rs).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/build_bug.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter/xt_ipvs.h>
#include <net/netfilter/nf_conntrack.h>
#include "../include/ipvs_rs.h"

static ipvs_rs_xt_ipvs_mt_fn ipvs_rs_mt;

static bool ipvs_mt(const struct sk_buff *skb, struct xt_action_param *par)
{
	return ipvs_rs_mt(skb, xt_net(par), xt_family(par), par->matchinfo);
}

/* ipvs_mt_check() of xt_ipvs.c (built with CONFIG_IP_VS_IPV6). */
static int ipvs_mt_check(const struct xt_mtchk_param *par)
{
	if (par->family != NFPROTO_IPV4 && par->family != NFPROTO_IPV6) {
		pr_info_ratelimited("protocol family %u not supported\n", par->family);
		return -EINVAL;
	}
	return 0;
}

static struct xt_match ipvs_rs_xt_ipvs_mt_reg __read_mostly = {
	.name       = "ipvs",
	.revision   = 0,
	.family     = NFPROTO_UNSPEC,
	.match      = ipvs_mt,
	.checkentry = ipvs_mt_check,
	.matchsize  = XT_ALIGN(sizeof(struct xt_ipvs_mtinfo)),
	.me         = THIS_MODULE,
};

int ipvs_rs_xt_ipvs_register(ipvs_rs_xt_ipvs_mt_fn mt)
{
	/* The layout ipvs_core::xt_ipvs::field reads. */
	BUILD_BUG_ON(sizeof(struct xt_ipvs_mtinfo) != IPVS_RS_XT_IPVS_INFO_SIZE);
	BUILD_BUG_ON(XT_ALIGN(sizeof(struct xt_ipvs_mtinfo)) != IPVS_RS_XT_IPVS_INFO_SIZE);
	BUILD_BUG_ON(offsetof(struct xt_ipvs_mtinfo, vaddr) != 0);
	BUILD_BUG_ON(offsetof(struct xt_ipvs_mtinfo, vmask) != 16);
	BUILD_BUG_ON(offsetof(struct xt_ipvs_mtinfo, vport) != 32);
	BUILD_BUG_ON(offsetof(struct xt_ipvs_mtinfo, l4proto) != 34);
	BUILD_BUG_ON(offsetof(struct xt_ipvs_mtinfo, fwd_method) != 35);
	BUILD_BUG_ON(offsetof(struct xt_ipvs_mtinfo, vportctl) != 36);
	BUILD_BUG_ON(offsetof(struct xt_ipvs_mtinfo, invert) != 38);
	BUILD_BUG_ON(offsetof(struct xt_ipvs_mtinfo, bitmask) != 39);

	/* Set before the match is visible; xt_register_match()'s mutex orders the two. */
	ipvs_rs_mt = mt;
	return xt_register_match(&ipvs_rs_xt_ipvs_mt_reg);
}

void ipvs_rs_xt_ipvs_unregister(void)
{
	xt_unregister_match(&ipvs_rs_xt_ipvs_mt_reg);
}

int ipvs_rs_skb_ct_dir(const struct sk_buff *skb)
{
	enum ip_conntrack_info ctinfo;
	struct nf_conn *ct = nf_ct_get(skb, &ctinfo);

	if (!ct)
		return -1;
	return ctinfo >= IP_CT_IS_REPLY;
}
