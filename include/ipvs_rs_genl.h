/* SPDX-License-Identifier: GPL-2.0 */
/* The IPVS generic netlink family of ipvs_rs: rust/ipvs_genl.c (data) <-> Rust (handlers). */
#ifndef IPVS_RS_GENL_H
#define IPVS_RS_GENL_H

#include <linux/types.h>

struct sk_buff;
struct genl_info;
struct netlink_callback;
struct nlattr;
struct net;

/* Which nested policy to apply. */
enum ipvs_rs_nest {
	IPVS_RS_NEST_SERVICE,
	IPVS_RS_NEST_DEST,
	IPVS_RS_NEST_DAEMON,
};
/* Largest attribute index of any nested set and of the command set (table sizes). */
#define IPVS_RS_NEST_MAX 32

/* Implemented in Rust. */
int ipvs_rs_genl_doit(struct sk_buff *skb, struct genl_info *info);
int ipvs_rs_genl_dumpit(struct sk_buff *skb, struct netlink_callback *cb);

/* Implemented in rust/ipvs_genl.c. */
int ipvs_rs_genl_register(void);
void ipvs_rs_genl_unregister(void);
struct net *ipvs_rs_skb_net(const struct sk_buff *skb);
u8 ipvs_rs_genl_info_cmd(const struct genl_info *info);
const struct nlattr *ipvs_rs_genl_info_attr(const struct genl_info *info, int type);
const void *ipvs_rs_nla_payload(const struct nlattr *nla, int *len);
struct netlink_ext_ack;
int ipvs_rs_parse_nested(const struct nlattr **tb, enum ipvs_rs_nest set, const struct nlattr *nla,
			 struct netlink_ext_ack *extack);
struct netlink_ext_ack *ipvs_rs_genl_info_extack(const struct genl_info *info);
struct sk_buff *ipvs_rs_reply_start(struct genl_info *info, u8 cmd, void **hdr);
int ipvs_rs_reply_send(struct sk_buff *msg, void *hdr, struct genl_info *info);
void ipvs_rs_msg_free(struct sk_buff *msg);
void *ipvs_rs_dump_start(struct sk_buff *skb, struct netlink_callback *cb, u8 cmd);
void ipvs_rs_dump_end(struct sk_buff *skb, void *hdr);
void ipvs_rs_dump_cancel(struct sk_buff *skb, void *hdr);
u8 ipvs_rs_dump_cmd(const struct netlink_callback *cb);
long *ipvs_rs_dump_args(struct netlink_callback *cb);
int ipvs_rs_dump_parse(const struct nlattr **tb, struct netlink_callback *cb);
unsigned char *ipvs_rs_skb_tail(struct sk_buff *skb, unsigned int *room);
void ipvs_rs_skb_put(struct sk_buff *skb, unsigned int len);
int ipvs_rs_skb_len(const struct sk_buff *skb);
int ipvs_rs_dest_addr_check(struct net *net, u16 af, const u8 *addr);

#endif /* IPVS_RS_GENL_H */
