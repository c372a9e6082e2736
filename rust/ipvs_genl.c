// SPDX-License-Identifier: GPL-2.0
/*
 * The IPVS generic netlink family as data: attribute policies and the op table, copied in
 * meaning from net/netfilter/ipvs/ip_vs_ctl.c (Linux 6.12) so the kernel's own validator
 * treats requests to ipvs_rs exactly as it treats requests to the C IPVS (same errnos, same
 * extack messages). Every op is handled in Rust (rust/ctl/genl.rs); this file holds no logic,
 * only the family definition and wrappers for static inlines and macros.
 */
#include <linux/ip_vs.h>
#include <linux/netfilter.h>
#include <net/genetlink.h>
#include <net/netlink.h>
#include <net/sock.h>
#include <net/route.h>
#include <net/ip6_route.h>
#include <net/addrconf.h>
#include "../include/ipvs_rs_genl.h"

static const struct nla_policy ip_vs_cmd_policy[IPVS_CMD_ATTR_MAX + 1] = {
	[IPVS_CMD_ATTR_SERVICE]		= { .type = NLA_NESTED },
	[IPVS_CMD_ATTR_DEST]		= { .type = NLA_NESTED },
	[IPVS_CMD_ATTR_DAEMON]		= { .type = NLA_NESTED },
	[IPVS_CMD_ATTR_TIMEOUT_TCP]	= { .type = NLA_U32 },
	[IPVS_CMD_ATTR_TIMEOUT_TCP_FIN]	= { .type = NLA_U32 },
	[IPVS_CMD_ATTR_TIMEOUT_UDP]	= { .type = NLA_U32 },
};

static const struct nla_policy ip_vs_daemon_policy[IPVS_DAEMON_ATTR_MAX + 1] = {
	[IPVS_DAEMON_ATTR_STATE]	= { .type = NLA_U32 },
	[IPVS_DAEMON_ATTR_MCAST_IFN]	= { .type = NLA_NUL_STRING,
					    .len = IP_VS_IFNAME_MAXLEN - 1 },
	[IPVS_DAEMON_ATTR_SYNC_ID]	= { .type = NLA_U32 },
	[IPVS_DAEMON_ATTR_SYNC_MAXLEN]	= { .type = NLA_U16 },
	[IPVS_DAEMON_ATTR_MCAST_GROUP]	= { .type = NLA_U32 },
	[IPVS_DAEMON_ATTR_MCAST_GROUP6]	= { .len = sizeof(struct in6_addr) },
	[IPVS_DAEMON_ATTR_MCAST_PORT]	= { .type = NLA_U16 },
	[IPVS_DAEMON_ATTR_MCAST_TTL]	= { .type = NLA_U8 },
};

static const struct nla_policy ip_vs_svc_policy[IPVS_SVC_ATTR_MAX + 1] = {
	[IPVS_SVC_ATTR_AF]		= { .type = NLA_U16 },
	[IPVS_SVC_ATTR_PROTOCOL]	= { .type = NLA_U16 },
	[IPVS_SVC_ATTR_ADDR]		= { .type = NLA_BINARY,
					    .len = sizeof(union nf_inet_addr) },
	[IPVS_SVC_ATTR_PORT]		= { .type = NLA_U16 },
	[IPVS_SVC_ATTR_FWMARK]		= { .type = NLA_U32 },
	[IPVS_SVC_ATTR_SCHED_NAME]	= { .type = NLA_NUL_STRING,
					    .len = IP_VS_SCHEDNAME_MAXLEN - 1 },
	[IPVS_SVC_ATTR_PE_NAME]		= { .type = NLA_NUL_STRING,
					    .len = IP_VS_PENAME_MAXLEN },
	[IPVS_SVC_ATTR_FLAGS]		= { .type = NLA_BINARY,
					    .len = sizeof(struct ip_vs_flags) },
	[IPVS_SVC_ATTR_TIMEOUT]		= { .type = NLA_U32 },
	[IPVS_SVC_ATTR_NETMASK]		= { .type = NLA_U32 },
	[IPVS_SVC_ATTR_STATS]		= { .type = NLA_NESTED },
};

static const struct nla_policy ip_vs_dest_policy[IPVS_DEST_ATTR_MAX + 1] = {
	[IPVS_DEST_ATTR_ADDR]		= { .type = NLA_BINARY,
					    .len = sizeof(union nf_inet_addr) },
	[IPVS_DEST_ATTR_PORT]		= { .type = NLA_U16 },
	[IPVS_DEST_ATTR_FWD_METHOD]	= { .type = NLA_U32 },
	[IPVS_DEST_ATTR_WEIGHT]		= { .type = NLA_U32 },
	[IPVS_DEST_ATTR_U_THRESH]	= { .type = NLA_U32 },
	[IPVS_DEST_ATTR_L_THRESH]	= { .type = NLA_U32 },
	[IPVS_DEST_ATTR_ACTIVE_CONNS]	= { .type = NLA_U32 },
	[IPVS_DEST_ATTR_INACT_CONNS]	= { .type = NLA_U32 },
	[IPVS_DEST_ATTR_PERSIST_CONNS]	= { .type = NLA_U32 },
	[IPVS_DEST_ATTR_STATS]		= { .type = NLA_NESTED },
	[IPVS_DEST_ATTR_ADDR_FAMILY]	= { .type = NLA_U16 },
	[IPVS_DEST_ATTR_TUN_TYPE]	= { .type = NLA_U8 },
	[IPVS_DEST_ATTR_TUN_PORT]	= { .type = NLA_U16 },
	[IPVS_DEST_ATTR_TUN_FLAGS]	= { .type = NLA_U16 },
};

#define IPVS_RS_OP(c, doit_fn, dumpit_fn) {					\
	.cmd = (c),								\
	.validate = GENL_DONT_VALIDATE_STRICT | GENL_DONT_VALIDATE_DUMP,	\
	.flags = GENL_ADMIN_PERM,						\
	.doit = (doit_fn),							\
	.dumpit = (dumpit_fn),							\
}

/* Same commands, same flags as ip_vs_genl_ops[]: every op needs CAP_NET_ADMIN. */
static const struct genl_small_ops ipvs_rs_genl_ops[] = {
	IPVS_RS_OP(IPVS_CMD_NEW_SERVICE, ipvs_rs_genl_doit, NULL),
	IPVS_RS_OP(IPVS_CMD_SET_SERVICE, ipvs_rs_genl_doit, NULL),
	IPVS_RS_OP(IPVS_CMD_DEL_SERVICE, ipvs_rs_genl_doit, NULL),
	IPVS_RS_OP(IPVS_CMD_GET_SERVICE, ipvs_rs_genl_doit, ipvs_rs_genl_dumpit),
	IPVS_RS_OP(IPVS_CMD_NEW_DEST, ipvs_rs_genl_doit, NULL),
	IPVS_RS_OP(IPVS_CMD_SET_DEST, ipvs_rs_genl_doit, NULL),
	IPVS_RS_OP(IPVS_CMD_DEL_DEST, ipvs_rs_genl_doit, NULL),
	IPVS_RS_OP(IPVS_CMD_GET_DEST, NULL, ipvs_rs_genl_dumpit),
	IPVS_RS_OP(IPVS_CMD_NEW_DAEMON, ipvs_rs_genl_doit, NULL),
	IPVS_RS_OP(IPVS_CMD_DEL_DAEMON, ipvs_rs_genl_doit, NULL),
	IPVS_RS_OP(IPVS_CMD_GET_DAEMON, NULL, ipvs_rs_genl_dumpit),
	IPVS_RS_OP(IPVS_CMD_SET_CONFIG, ipvs_rs_genl_doit, NULL),
	IPVS_RS_OP(IPVS_CMD_GET_CONFIG, ipvs_rs_genl_doit, NULL),
	IPVS_RS_OP(IPVS_CMD_GET_INFO, ipvs_rs_genl_doit, NULL),
	IPVS_RS_OP(IPVS_CMD_ZERO, ipvs_rs_genl_doit, NULL),
	IPVS_RS_OP(IPVS_CMD_FLUSH, ipvs_rs_genl_doit, NULL),
};

static struct genl_family ipvs_rs_genl_family __ro_after_init = {
	.hdrsize	= 0,
	.name		= IPVS_GENL_NAME,
	.version	= IPVS_GENL_VERSION,
	.maxattr	= IPVS_CMD_ATTR_MAX,
	.policy		= ip_vs_cmd_policy,
	.netnsok	= true,
	.module		= THIS_MODULE,
	.small_ops	= ipvs_rs_genl_ops,
	.n_small_ops	= ARRAY_SIZE(ipvs_rs_genl_ops),
	.resv_start_op	= IPVS_CMD_FLUSH + 1,
};

int ipvs_rs_genl_register(void)
{
	return genl_register_family(&ipvs_rs_genl_family);
}

void ipvs_rs_genl_unregister(void)
{
	genl_unregister_family(&ipvs_rs_genl_family);
}

struct net *ipvs_rs_skb_net(const struct sk_buff *skb)
{
	return sock_net(skb->sk);
}

u8 ipvs_rs_genl_info_cmd(const struct genl_info *info)
{
	return info->genlhdr->cmd;
}

struct netlink_ext_ack *ipvs_rs_genl_info_extack(const struct genl_info *info)
{
	return info->extack;
}

const struct nlattr *ipvs_rs_genl_info_attr(const struct genl_info *info, int type)
{
	return type >= 0 && type <= IPVS_CMD_ATTR_MAX ? info->attrs[type] : NULL;
}

const void *ipvs_rs_nla_payload(const struct nlattr *nla, int *len)
{
	*len = nla_len(nla);
	return nla_data(nla);
}

/*
 * nla_parse_nested_deprecated() with the C IPVS policy of @set, as ip_vs_genl_parse_service()
 * and friends call it: liberal validation; the extack is used only for the daemon set, the
 * only one C parses with info->extack. @tb must hold IPVS_RS_NEST_MAX + 1 entries.
 */
int ipvs_rs_parse_nested(const struct nlattr **tb, enum ipvs_rs_nest set, const struct nlattr *nla,
			 struct netlink_ext_ack *extack)
{
	switch (set) {
	case IPVS_RS_NEST_SERVICE:
		return nla_parse_nested_deprecated((struct nlattr **)tb, IPVS_SVC_ATTR_MAX, nla,
						   ip_vs_svc_policy, NULL);
	case IPVS_RS_NEST_DEST:
		return nla_parse_nested_deprecated((struct nlattr **)tb, IPVS_DEST_ATTR_MAX, nla,
						   ip_vs_dest_policy, NULL);
	case IPVS_RS_NEST_DAEMON:
		return nla_parse_nested_deprecated((struct nlattr **)tb, IPVS_DAEMON_ATTR_MAX, nla,
						   ip_vs_daemon_policy, extack);
	}
	return -EINVAL;
}

struct sk_buff *ipvs_rs_reply_start(struct genl_info *info, u8 cmd, void **hdr)
{
	struct sk_buff *msg = nlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);

	if (!msg)
		return NULL;
	*hdr = genlmsg_put_reply(msg, info, &ipvs_rs_genl_family, 0, cmd);
	if (!*hdr) {
		nlmsg_free(msg);
		return NULL;
	}
	return msg;
}

int ipvs_rs_reply_send(struct sk_buff *msg, void *hdr, struct genl_info *info)
{
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

void ipvs_rs_msg_free(struct sk_buff *msg)
{
	nlmsg_free(msg);
}

void *ipvs_rs_dump_start(struct sk_buff *skb, struct netlink_callback *cb, u8 cmd)
{
	return genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			   &ipvs_rs_genl_family, NLM_F_MULTI, cmd);
}

void ipvs_rs_dump_end(struct sk_buff *skb, void *hdr)
{
	genlmsg_end(skb, hdr);
}

void ipvs_rs_dump_cancel(struct sk_buff *skb, void *hdr)
{
	genlmsg_cancel(skb, hdr);
}

u8 ipvs_rs_dump_cmd(const struct netlink_callback *cb)
{
	const struct genlmsghdr *gh = nlmsg_data(cb->nlh);

	return gh->cmd;
}

long *ipvs_rs_dump_args(struct netlink_callback *cb)
{
	return cb->args;
}

/*
 * The attributes of the dump request, parsed as ip_vs_genl_dump_dests() does (the family
 * policy, liberal). Returns 0 or a negative errno; @tb holds IPVS_CMD_ATTR_MAX + 1 entries.
 */
int ipvs_rs_dump_parse(const struct nlattr **tb, struct netlink_callback *cb)
{
	return nlmsg_parse_deprecated(cb->nlh, GENL_HDRLEN, (struct nlattr **)tb,
				      IPVS_CMD_ATTR_MAX, ip_vs_cmd_policy, cb->extack);
}

unsigned char *ipvs_rs_skb_tail(struct sk_buff *skb, unsigned int *room)
{
	*room = skb_tailroom(skb);
	return skb_tail_pointer(skb);
}

void ipvs_rs_skb_put(struct sk_buff *skb, unsigned int len)
{
	skb_put(skb, len);
}

int ipvs_rs_skb_len(const struct sk_buff *skb)
{
	return skb->len;
}

/*
 * The address check of ip_vs_new_dest(): a destination must be a unicast (or local)
 * address; IPv6 link-local or non-unicast addresses only if they route to loopback.
 */
int ipvs_rs_dest_addr_check(struct net *net, u16 af, const u8 *addr)
{
#if IS_ENABLED(CONFIG_IPV6)
	if (af == AF_INET6) {
		struct in6_addr a;
		unsigned int atype;

		memcpy(&a, addr, sizeof(a));
		atype = ipv6_addr_type(&a);
		if (!(atype & IPV6_ADDR_UNICAST) || atype & IPV6_ADDR_LINKLOCAL) {
			struct flowi6 fl6 = { .daddr = a };
			struct dst_entry *dst = ip6_route_output(net, NULL, &fl6);
			bool is_local = !dst->error && dst->dev && (dst->dev->flags & IFF_LOOPBACK);

			dst_release(dst);
			if (!is_local)
				return -EINVAL;
		}
		return 0;
	}
#endif
	{
		__be32 a;
		unsigned int atype;

		memcpy(&a, addr, sizeof(a));
		atype = inet_addr_type(net, a);
		if (atype != RTN_LOCAL && atype != RTN_UNICAST)
			return -EINVAL;
	}
	return 0;
}
