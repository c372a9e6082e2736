// SPDX-License-Identifier: GPL-2.0
/*
 * Data-path glue of ipvs_rs: see include/ipvs_rs_dp.h. The hook table and the transmit
 * mechanics follow net/netfilter/ipvs/ip_vs_core.c and ip_vs_xmit.c of Linux 6.12; every
 * decision about *what* to do with a packet is made on the Rust side (the trampolines make
 * two of C's pass-through tests early, and the Rust side again: see hook()).
 */
#include <linux/module.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/delay.h>
#include <linux/random.h>
#include <linux/rcupdate_wait.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/ip_vs.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/ip6_route.h>
#include <net/ip_tunnels.h>
#include <net/inet_ecn.h>
#include <net/gre.h>
#include <net/gue.h>
#include <net/udp.h>
#include <net/ip6_checksum.h>
#include <net/icmp.h>
#include <net/route.h>
#include <net/dst.h>
#include <net/dst_metadata.h>
#include <net/gso.h>
#include <net/sock.h>
#include <net/addrconf.h>
#include <net/netfilter/nf_conntrack.h>
#include <net/netfilter/nf_conntrack_core.h>
#include <net/netfilter/nf_conntrack_zones.h>
#include <net/netfilter/ipv6/nf_defrag_ipv6.h>
#include "../include/ipvs_rs.h"

static int conn_tab_bits = 12;
module_param(conn_tab_bits, int, 0444);
MODULE_PARM_DESC(conn_tab_bits, "Set connections' hash size");

int ipvs_rs_conn_tab_bits(void)
{
	/* ip_vs_conn_init(): 8..20 with the default kernel limits. */
	return clamp(conn_tab_bits, 8, 20);
}

/* --- hooks ---------------------------------------------------------------------------- */
static inline const unsigned char *skb_view(const struct sk_buff *skb, unsigned int *lin,
					    unsigned int *len)
{
	int off = skb_network_offset(skb);

	*len = skb->len - off;
	if (off < 0 || off > (int)skb_headlen(skb)) {
		*lin = 0;
		return NULL;
	}
	*lin = skb_headlen(skb) - off;
	return skb_network_header(skb);
}

/* What every hook reads of a packet first (struct ipvs_rs_skb_head). @ipv4: the network
 * header is an IPv4 header, linear (as at every IPv4 hook). */
static __always_inline void skb_head(const struct sk_buff *skb, bool ipv4,
				     struct ipvs_rs_skb_head *h)
{
	unsigned int flags = 0;

	h->lin = skb_view(skb, &h->lin_len, &h->len);
	if (skb->ipvs_property)
		flags |= IPVS_RS_SKB_IPVS_PROPERTY;
	if (skb->pkt_type == PACKET_HOST)
		flags |= IPVS_RS_SKB_PKT_HOST;
	if (skb_dst(skb))
		flags |= IPVS_RS_SKB_HAS_DST;
	h->v4_proto = 0;
	if (ipv4) {
		const struct iphdr *iph = ip_hdr(skb);

		h->v4_proto = iph->protocol;
		if (ip_is_fragment(iph))
			flags |= IPVS_RS_SKB_V4_FRAGMENT;
	}
	h->flags = flags;
}

/*
 * The trampolines. A hook runs ~30 times per NAT connection, most of them for packets IPVS
 * lets pass, so two of C's first tests are made here too, before any call (the Rust side
 * makes them again, and decides everything else): a packet IPVS handled already passes
 * every hook (C: `skb->ipvs_property` first in ip_vs_in_hook()/ip_vs_out_hook()), and
 * ip_vs_forward_icmp() looks at IPv4 ICMP only. The others get their first facts read
 * here, into the call.
 */
static __always_inline unsigned int hook(unsigned int kind, struct sk_buff *skb,
					 const struct nf_hook_state *state)
{
	struct ipvs_rs_skb_head h;
	bool ipv4 = state->pf == NFPROTO_IPV4;

	if (skb->ipvs_property)
		return NF_ACCEPT;
	if (kind == IPVS_RS_HOOK_FWD_ICMP && ipv4 && ip_hdr(skb)->protocol != IPPROTO_ICMP)
		return NF_ACCEPT;
	skb_head(skb, ipv4, &h);
	return ipvs_rs_dp_hook(kind, state->pf, state->hook, state->net, skb, &h);
}

static unsigned int in_hook(void *priv, struct sk_buff *skb, const struct nf_hook_state *state)
{
	return hook(IPVS_RS_HOOK_IN, skb, state);
}

static unsigned int out_hook(void *priv, struct sk_buff *skb, const struct nf_hook_state *state)
{
	return hook(IPVS_RS_HOOK_OUT, skb, state);
}

static unsigned int fwd_icmp_hook(void *priv, struct sk_buff *skb, const struct nf_hook_state *state)
{
	return hook(IPVS_RS_HOOK_FWD_ICMP, skb, state);
}

/* ip_vs_ops4[] and ip_vs_ops6[] of ip_vs_core.c: same hook points and priorities. */
static const struct nf_hook_ops ipvs_rs_ops4[] = {
	/* After packet filtering, change source only for VS/NAT */
	{ .hook = out_hook, .pf = NFPROTO_IPV4, .hooknum = NF_INET_LOCAL_IN,
	  .priority = NF_IP_PRI_NAT_SRC - 2 },
	/* After packet filtering, forward packet through VS/DR, VS/TUN, or VS/NAT */
	{ .hook = in_hook, .pf = NFPROTO_IPV4, .hooknum = NF_INET_LOCAL_IN,
	  .priority = NF_IP_PRI_NAT_SRC - 1 },
	/* Before ip_vs_in, change source only for VS/NAT */
	{ .hook = out_hook, .pf = NFPROTO_IPV4, .hooknum = NF_INET_LOCAL_OUT,
	  .priority = NF_IP_PRI_NAT_DST + 1 },
	/* After mangle, schedule and forward local requests */
	{ .hook = in_hook, .pf = NFPROTO_IPV4, .hooknum = NF_INET_LOCAL_OUT,
	  .priority = NF_IP_PRI_NAT_DST + 2 },
	/* After packet filtering (but before ip_vs_out_icmp), catch icmp destined for
	 * 0.0.0.0/0, which is for incoming IPVS connections */
	{ .hook = fwd_icmp_hook, .pf = NFPROTO_IPV4, .hooknum = NF_INET_FORWARD,
	  .priority = 99 },
	/* After packet filtering, change source only for VS/NAT */
	{ .hook = out_hook, .pf = NFPROTO_IPV4, .hooknum = NF_INET_FORWARD,
	  .priority = 100 },
};

static const struct nf_hook_ops ipvs_rs_ops6[] = {
	{ .hook = out_hook, .pf = NFPROTO_IPV6, .hooknum = NF_INET_LOCAL_IN,
	  .priority = NF_IP6_PRI_NAT_SRC - 2 },
	{ .hook = in_hook, .pf = NFPROTO_IPV6, .hooknum = NF_INET_LOCAL_IN,
	  .priority = NF_IP6_PRI_NAT_SRC - 1 },
	{ .hook = out_hook, .pf = NFPROTO_IPV6, .hooknum = NF_INET_LOCAL_OUT,
	  .priority = NF_IP6_PRI_NAT_DST + 1 },
	{ .hook = in_hook, .pf = NFPROTO_IPV6, .hooknum = NF_INET_LOCAL_OUT,
	  .priority = NF_IP6_PRI_NAT_DST + 2 },
	{ .hook = fwd_icmp_hook, .pf = NFPROTO_IPV6, .hooknum = NF_INET_FORWARD,
	  .priority = 99 },
	{ .hook = out_hook, .pf = NFPROTO_IPV6, .hooknum = NF_INET_FORWARD,
	  .priority = 100 },
};

int ipvs_rs_hooks_register(struct net *net, int af)
{
	if (af == AF_INET6)
		return nf_register_net_hooks(net, ipvs_rs_ops6, ARRAY_SIZE(ipvs_rs_ops6));
	return nf_register_net_hooks(net, ipvs_rs_ops4, ARRAY_SIZE(ipvs_rs_ops4));
}

void ipvs_rs_hooks_unregister(struct net *net, int af)
{
	if (af == AF_INET6)
		nf_unregister_net_hooks(net, ipvs_rs_ops6, ARRAY_SIZE(ipvs_rs_ops6));
	else
		nf_unregister_net_hooks(net, ipvs_rs_ops4, ARRAY_SIZE(ipvs_rs_ops4));
}

/* --- skb ------------------------------------------------------------------------------ */
int ipvs_rs_skb_read(const struct sk_buff *skb, unsigned int off, void *to, unsigned int len)
{
	int noff = skb_network_offset(skb);

	if (noff < 0 || off > INT_MAX - noff || len > INT_MAX)
		return -EINVAL;
	return skb_copy_bits(skb, noff + off, to, len);
}

bool ipvs_rs_icmp_csum_ok(struct sk_buff *skb, unsigned int toff, int af)
{
	int noff = skb_network_offset(skb);

	/* ip_vs_checksum_needed(): already validated, or locally generated */
	if (skb_csum_unnecessary(skb) || !skb->dev)
		return true;
	if (noff < 0 || toff > INT_MAX - noff)
		return false;
	/* ip_vs_checksum_common_check(): validate even for FORWARD */
	return !nf_checksum(skb, NF_INET_LOCAL_IN, noff + toff,
			    af == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, af);
}

unsigned char *ipvs_rs_skb_writable(struct sk_buff *skb, unsigned int len, unsigned int *lin)
{
	int off = skb_network_offset(skb);

	if (off < 0 || skb_ensure_writable(skb, off + len))
		return NULL;
	*lin = skb_headlen(skb) - off;
	return skb_network_header(skb);
}

unsigned int ipvs_rs_skb_pkt_len(const struct sk_buff *skb)
{
	return skb->len - skb_network_offset(skb);
}

const unsigned char *ipvs_rs_skb_view(const struct sk_buff *skb, unsigned int *lin,
				      unsigned int *len)
{
	return skb_view(skb, lin, len);
}

bool ipvs_rs_skb_ipvs_property(const struct sk_buff *skb)
{
	return skb->ipvs_property;
}

void ipvs_rs_skb_set_ipvs_property(struct sk_buff *skb)
{
	skb->ipvs_property = 1;
}

__u32 ipvs_rs_skb_mark(const struct sk_buff *skb)
{
	return skb->mark;
}

bool ipvs_rs_skb_csum_partial(const struct sk_buff *skb)
{
	return skb->ip_summed == CHECKSUM_PARTIAL;
}

bool ipvs_rs_skb_is_gso(const struct sk_buff *skb)
{
	return skb_is_gso(skb);
}

bool ipvs_rs_skb_dst_sctp_crc(const struct sk_buff *skb)
{
	const struct dst_entry *dst = skb_dst(skb);

	return dst && dst->dev && (dst->dev->features & NETIF_F_SCTP_CRC);
}

void ipvs_rs_skb_csum_invalidate(struct sk_buff *skb)
{
	if (skb->ip_summed == CHECKSUM_COMPLETE)
		skb->ip_summed = CHECKSUM_NONE;
}

void ipvs_rs_skb_csum_unnecessary(struct sk_buff *skb)
{
	skb->ip_summed = CHECKSUM_UNNECESSARY;
}

bool ipvs_rs_skb_nodefrag_sk(const struct sk_buff *skb)
{
	struct sock *sk = skb_to_full_sk(skb);

	return sk && sk->sk_family == PF_INET && inet_test_bit(NODEFRAG, sk);
}

void ipvs_rs_skb_notrack(struct sk_buff *skb)
{
	enum ip_conntrack_info ctinfo;
	struct nf_conn *ct = nf_ct_get(skb, &ctinfo);

	if (ct) {
		nf_conntrack_put(&ct->ct_general);
		nf_ct_set(skb, NULL, IP_CT_UNTRACKED);
	}
}

bool ipvs_rs_addr_is_unicast(struct net *net, int af, const void *addr)
{
	if (af == AF_INET6)
		return ipv6_addr_type((const struct in6_addr *)addr) & IPV6_ADDR_UNICAST;
	return inet_addr_type(net, *(const __be32 *)addr) == RTN_UNICAST;
}

void ipvs_rs_bypass_prepare(struct sk_buff *skb, int af)
{
	if (af != AF_INET6)
		ip_send_check(ip_hdr(skb));
	/* Another hack: avoid icmp_send in ip_fragment */
	skb->ignore_df = 1;
}

void ipvs_rs_icmp_port_unreach(struct sk_buff *skb, int af, struct net *net)
{
	if (af == AF_INET6) {
		if (!skb->dev)
			skb->dev = net->loopback_dev;
		icmpv6_send(skb, ICMPV6_DEST_UNREACH, ICMPV6_PORT_UNREACH, 0);
	} else {
		icmp_send(skb, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH, 0);
	}
}

int ipvs_rs_route_me_harder(struct net *net, int af, struct sk_buff *skb, unsigned int hooknum)
{
	/* ip_vs_route_me_harder() after its sysctl_snat_reroute test (made by the caller).
	 * Reroute replies only to remote clients (FORWARD and LOCAL_OUT): at LOCAL_IN the reply
	 * goes to a local client and keeps its input route. */
	if (hooknum == NF_INET_LOCAL_IN)
		return 0;
	if (af == AF_INET6) {
		struct dst_entry *dst = skb_dst(skb);

		if (dst->dev && !(dst->dev->flags & IFF_LOOPBACK) &&
		    ip6_route_me_harder(net, skb->sk, skb) != 0)
			return 1;
	} else {
		if (!(skb_rtable(skb)->rt_flags & RTCF_LOCAL) &&
		    ip_route_me_harder(net, skb->sk, skb, RTN_LOCAL) != 0)
			return 1;
	}
	return 0;
}

void ipvs_rs_kfree_skb(struct sk_buff *skb)
{
	kfree_skb(skb);
}

/* ip_vs_defrag_user() */
static enum ip_defrag_users defrag_user(unsigned int hooknum)
{
	if (hooknum == NF_INET_LOCAL_IN)
		return IP_DEFRAG_VS_IN;
	if (hooknum == NF_INET_FORWARD)
		return IP_DEFRAG_VS_FWD;
	return IP_DEFRAG_VS_OUT;
}

/* ip_vs_gather_frags() */
int ipvs_rs_gather_frags(struct net *net, struct sk_buff *skb, unsigned int hooknum)
{
	int err;

	local_bh_disable();
	err = ip_defrag(net, skb, defrag_user(hooknum));
	local_bh_enable();
	if (!err) {
		ip_send_check(ip_hdr(skb));
		return 0;
	}
	return err == -EINPROGRESS ? 1 : -1;
}

bool ipvs_rs_skb_from_local_stack(const struct sk_buff *skb)
{
	return !skb->dev || (skb->dev->flags & IFF_LOOPBACK);
}

bool ipvs_rs_skb_from_world(const struct sk_buff *skb, int af)
{
	/* ip_vs_nat_xmit(): was_input; ip_vs_nat_xmit_v6(): the device test */
	if (af == AF_INET6)
		return !ipvs_rs_skb_from_local_stack(skb);
	return rt_is_input_route(skb_rtable(skb));
}

void ipvs_rs_log_dnat_loopback(const char *func, int af, const void *daddr)
{
	/* C: IP_VS_DBG_RL_PKT(1, ...) / IP_VS_DBG(1, ...), compiled in with CONFIG_IP_VS_DEBUG
	 * only; here a rate-limited debug message (dynamic debug). */
	if (af == AF_INET6)
		net_dbg_ratelimited("IPVS: %s(): stopping DNAT to loopback %pI6\n", func, daddr);
	else
		net_dbg_ratelimited("IPVS: %s(): stopping DNAT to loopback %pI4\n", func, daddr);
}

/* --- routing and output --------------------------------------------------------------- */
static bool exceeds_mtu(const struct sk_buff *skb, unsigned int mtu)
{
	if (skb->len <= mtu)
		return false;
	if (skb_is_gso(skb) && skb_gso_validate_network_len(skb, mtu))
		return false;
	return true;
}

static bool is_local_route6(struct rt6_info *rt)
{
	return rt->dst.dev && (rt->dst.dev->flags & IFF_LOOPBACK);
}

/* crosses_local_route_boundary() of ip_vs_xmit.c */
static __always_inline bool crosses_local_route_boundary(int skb_af, struct sk_buff *skb,
							 int rt_mode, bool new_rt_is_local)
{
	bool source_is_loopback, old_rt_is_local;

	if (skb_af == AF_INET6) {
		int addr_type = ipv6_addr_type(&ipv6_hdr(skb)->saddr);

		source_is_loopback = (!skb->dev || skb->dev->flags & IFF_LOOPBACK) &&
				     (addr_type & IPV6_ADDR_LOOPBACK);
		old_rt_is_local = is_local_route6(dst_rt6_info(skb_dst(skb)));
	} else {
		source_is_loopback = ipv4_is_loopback(ip_hdr(skb)->saddr);
		old_rt_is_local = skb_rtable(skb)->rt_flags & RTCF_LOCAL;
	}
	if (new_rt_is_local) {
		if (!(rt_mode & IPVS_RS_RT_MODE_LOCAL))
			return true;
		if (!(rt_mode & IPVS_RS_RT_MODE_RDR) && !old_rt_is_local)
			return true;
	} else {
		if (!(rt_mode & IPVS_RS_RT_MODE_NON_LOCAL))
			return true;
		if (source_is_loopback)
			return true;
	}
	return false;
}

/* decrement_ttl(): of the packet's own family (@skb_af), whatever the route's. */
static bool decrement_ttl(struct net *net, int skb_af, struct sk_buff *skb)
{
	if (skb_af == AF_INET6) {
		struct dst_entry *dst = skb_dst(skb);

		if (ipv6_hdr(skb)->hop_limit <= 1) {
			struct inet6_dev *idev = __in6_dev_get_safely(skb->dev);

			/* Force OUTPUT device used as source address */
			skb->dev = dst->dev;
			icmpv6_send(skb, ICMPV6_TIME_EXCEED, ICMPV6_EXC_HOPLIMIT, 0);
			IP6_INC_STATS(net, idev, IPSTATS_MIB_INHDRERRORS);
			return false;
		}
		if (skb_ensure_writable(skb, sizeof(struct ipv6hdr)))
			return false;
		ipv6_hdr(skb)->hop_limit--;
	} else {
		if (ip_hdr(skb)->ttl <= 1) {
			IP_INC_STATS(net, IPSTATS_MIB_INHDRERRORS);
			icmp_send(skb, ICMP_TIME_EXCEEDED, ICMP_EXC_TTL, 0);
			return false;
		}
		if (skb_ensure_writable(skb, sizeof(struct iphdr)))
			return false;
		ip_decrease_ttl(ip_hdr(skb));
	}
	return true;
}

/* maybe_update_pmtu() + ensure_mtu_is_adequate(), for a packet of family @skb_af about to
 * take a route whose usable MTU is @mtu (IPVS_RS_RT_MODE_NO_PMTU_DISC: the namespace's
 * pmtu_disc is 0). */
static bool mtu_is_adequate(struct net *net, int skb_af, int rt_mode, struct sk_buff *skb,
			    int mtu, bool icmp, bool first_frag)
{
	if ((rt_mode & IPVS_RS_RT_MODE_TUNNEL) && skb_valid_dst(skb))
		skb_dst_update_pmtu(skb, mtu);
	if (skb_af == AF_INET6) {
		if ((IP6CB(skb)->frag_max_size && IP6CB(skb)->frag_max_size > mtu) ||
		    (!IP6CB(skb)->frag_max_size && exceeds_mtu(skb, mtu))) {
			if (!skb->dev)
				skb->dev = net->loopback_dev;
			if (first_frag && !icmp)
				icmpv6_send(skb, ICMPV6_PKT_TOOBIG, 0, mtu);
			return false;
		}
	} else if ((rt_mode & IPVS_RS_RT_MODE_TUNNEL) && (rt_mode & IPVS_RS_RT_MODE_NO_PMTU_DISC)) {
		/* "If we're going to tunnel the packet and pmtu discovery is disabled, we'll
		 * just fragment it anyway" */
		return true;
	} else if ((ip_hdr(skb)->frag_off & htons(IP_DF)) && exceeds_mtu(skb, mtu) && !icmp) {
		icmp_send(skb, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, htonl(mtu));
		return false;
	}
	return true;
}

/* Per-destination route cache (C: struct ip_vs_dest_dst, dest->dest_dst, dest->dst_lock,
 * __ip_vs_dst_set(), __ip_vs_dst_check(), __ip_vs_dst_cache_reset(), ip_vs_dst_event()). */
struct ipvs_rs_dest_dst {
	struct dst_entry *dst_cache;
	u32 dst_cookie;
	union {
		__be32 ip;
		struct in6_addr in6;
	} dst_saddr;
	struct rcu_head rcu_head;
};

struct ipvs_rs_dst_cache {
	spinlock_t lock;
	struct ipvs_rs_dest_dst __rcu *dest_dst;
	/* On dst_caches, under dst_caches_lock. */
	struct list_head node;
};

/* Every cache of every namespace: the notifier's walk (control path only; the packet path
 * never takes this lock). */
static LIST_HEAD(dst_caches);
static DEFINE_SPINLOCK(dst_caches_lock);

static void dest_dst_rcu_free(struct rcu_head *head)
{
	struct ipvs_rs_dest_dst *dd = container_of(head, struct ipvs_rs_dest_dst, rcu_head);

	dst_release(dd->dst_cache);
	kfree(dd);
}

/* __ip_vs_dst_set(): caller holds c->lock; @dd NULL resets. Readers that found the old
 * route keep it until their read-side section ends. */
static void dest_dst_set(struct ipvs_rs_dst_cache *c, struct ipvs_rs_dest_dst *dd,
			  struct dst_entry *dst, u32 cookie)
{
	struct ipvs_rs_dest_dst *old = rcu_dereference_protected(c->dest_dst,
								 lockdep_is_held(&c->lock));

	if (dd) {
		dd->dst_cache = dst;
		dd->dst_cookie = cookie;
	}
	rcu_assign_pointer(c->dest_dst, dd);
	if (old)
		call_rcu(&old->rcu_head, dest_dst_rcu_free);
}

/* __ip_vs_dst_check(): the cached route if still valid. RCU read side. */
static struct ipvs_rs_dest_dst *dest_dst_check(struct ipvs_rs_dst_cache *c)
{
	struct ipvs_rs_dest_dst *dd = rcu_dereference(c->dest_dst);
	struct dst_entry *dst;

	if (!dd)
		return NULL;
	dst = dd->dst_cache;
	if (dst->obsolete && dst->ops->check(dst, dd->dst_cookie) == NULL)
		return NULL;
	return dd;
}

struct ipvs_rs_dst_cache *ipvs_rs_dst_cache_alloc(void)
{
	struct ipvs_rs_dst_cache *c = kzalloc(sizeof(*c), GFP_KERNEL);

	if (!c)
		return NULL;
	spin_lock_init(&c->lock);
	spin_lock_bh(&dst_caches_lock);
	list_add(&c->node, &dst_caches);
	spin_unlock_bh(&dst_caches_lock);
	return c;
}

void ipvs_rs_dst_cache_reset(struct ipvs_rs_dst_cache *c)
{
	spin_lock_bh(&c->lock);
	dest_dst_set(c, NULL, NULL, 0);
	spin_unlock_bh(&c->lock);
}

/* The owner (a destination) is gone: every packet that could route with this cache held the
 * owner, so none is left and the route goes at once (no call_rcu(): this may run in an RCU
 * callback, after the module's last rcu_barrier()). Any context. */
void ipvs_rs_dst_cache_free(struct ipvs_rs_dst_cache *c)
{
	struct ipvs_rs_dest_dst *dd;

	if (!c)
		return;
	spin_lock_bh(&dst_caches_lock);
	list_del(&c->node);
	spin_unlock_bh(&dst_caches_lock);
	dd = rcu_dereference_protected(c->dest_dst, 1);
	if (dd) {
		dst_release(dd->dst_cache);
		kfree(dd);
	}
	kfree(c);
}

/* ip_vs_dst_event(): a device going down (C's only event) or being unregistered (a route
 * cached again between the two would hold it) drops every cached route through it. */
static int dst_event(struct notifier_block *nb, unsigned long event, void *ptr)
{
	struct net_device *dev = netdev_notifier_info_to_dev(ptr);
	struct ipvs_rs_dst_cache *c;

	if (event != NETDEV_DOWN && event != NETDEV_UNREGISTER)
		return NOTIFY_DONE;
	spin_lock_bh(&dst_caches_lock);
	list_for_each_entry(c, &dst_caches, node) {
		struct ipvs_rs_dest_dst *dd;

		spin_lock(&c->lock);
		dd = rcu_dereference_protected(c->dest_dst, lockdep_is_held(&c->lock));
		if (dd && dd->dst_cache->dev == dev)
			dest_dst_set(c, NULL, NULL, 0);
		spin_unlock(&c->lock);
	}
	spin_unlock_bh(&dst_caches_lock);
	return NOTIFY_DONE;
}

/* Before addrconf's notifier (C's priority): at NETDEV_DOWN it moves IPv6 uncached routes
 * (the KNOWN_NH clones of DR and TUN) to blackhole_netdev, after which their dev no longer
 * says which device they came from, yet their fib6_info (rt->from) still holds it. */
static struct notifier_block dst_notifier = {
	.notifier_call = dst_event,
	.priority = ADDRCONF_NOTIFY_PRIORITY + 5,
};

int ipvs_rs_dst_caches_register(void)
{
	return register_netdevice_notifier(&dst_notifier);
}

void ipvs_rs_dst_caches_unregister(void)
{
	unregister_netdevice_notifier(&dst_notifier);
	/* The routes that resets queued for release. */
	rcu_barrier();
}

/* do_output_route4() */
static struct rtable *output_route4(struct net *net, __be32 daddr, int rt_mode, __be32 *saddr)
{
	struct flowi4 fl4;
	struct rtable *rt;

	memset(&fl4, 0, sizeof(fl4));
	fl4.daddr = daddr;
	fl4.flowi4_flags = (rt_mode & IPVS_RS_RT_MODE_KNOWN_NH) ? FLOWI_FLAG_KNOWN_NH : 0;
	rt = ip_route_output_key(net, &fl4);
	if (IS_ERR(rt))
		return NULL;
	if (saddr)
		*saddr = fl4.saddr;
	return rt;
}

/* __ip_vs_route_output_v6() */
static struct dst_entry *output_route6(struct net *net, const struct in6_addr *daddr,
				       int rt_mode, struct in6_addr *saddr)
{
	struct flowi6 fl6 = { .daddr = *daddr };
	struct dst_entry *dst;

	if (rt_mode & IPVS_RS_RT_MODE_KNOWN_NH)
		fl6.flowi6_flags = FLOWI_FLAG_KNOWN_NH;
	dst = ip6_route_output(net, NULL, &fl6);
	if (dst->error) {
		dst_release(dst);
		return NULL;
	}
	if (saddr) {
		if (ipv6_addr_any(&fl6.saddr) &&
		    ipv6_dev_get_saddr(net, ip6_dst_idev(dst)->dev, &fl6.daddr, 0, &fl6.saddr) < 0) {
			dst_release(dst);
			return NULL;
		}
		*saddr = fl6.saddr;
	}
	return dst;
}

/* The cached route of @c, or a new one put in it (C's "if (dest)" branch of
 * __ip_vs_get_out_rt(_v6)()). NULL: no route (the cache is left empty). RCU read side. */
static __always_inline struct ipvs_rs_dest_dst *
dest_dst_get(struct net *net, struct ipvs_rs_dst_cache *c, int af, const void *daddr,
	     int rt_mode)
{
	struct ipvs_rs_dest_dst *dd = dest_dst_check(c);
	struct dst_entry *dst;
	u32 cookie = 0;

	if (likely(dd))
		return dd;
	dd = kmalloc(sizeof(*dd), GFP_ATOMIC);
	spin_lock_bh(&c->lock);
	if (!dd)
		goto fail;
	if (af == AF_INET6) {
		dst = output_route6(net, daddr, rt_mode, &dd->dst_saddr.in6);
		if (dst)
			cookie = rt6_get_cookie(dst_rt6_info(dst));
	} else {
		struct rtable *rt = output_route4(net, *(const __be32 *)daddr, rt_mode,
						  &dd->dst_saddr.ip);

		dst = rt ? &rt->dst : NULL;
	}
	if (!dst) {
		kfree(dd);
		goto fail;
	}
	dest_dst_set(c, dd, dst, cookie);
	spin_unlock_bh(&c->lock);
	return dd;
fail:
	dest_dst_set(c, NULL, NULL, 0);
	spin_unlock_bh(&c->lock);
	return NULL;
}

static int route4(struct net *net, struct sk_buff *skb, int skb_af, __be32 daddr, int rt_mode,
		  unsigned int overhead, bool icmp, bool first_frag, __be32 *saddr,
		  struct ipvs_rs_dst_cache *c)
{
	struct rtable *rt;
	int local, mtu;
	/* A cached route is attached without a reference (the hook's RCU section). */
	bool noref = c != NULL;

	if (c) {
		struct ipvs_rs_dest_dst *dd = dest_dst_get(net, c, AF_INET, &daddr, rt_mode);

		if (!dd)
			goto err_unreach;
		rt = dst_rtable(dd->dst_cache);
		if (saddr)
			*saddr = dd->dst_saddr.ip;
	} else {
		rt = output_route4(net, daddr, rt_mode, saddr);
		if (!rt)
			goto err_unreach;
	}
	local = (rt->rt_flags & RTCF_LOCAL) ? 1 : 0;
	if (crosses_local_route_boundary(skb_af, skb, rt_mode, local))
		goto err_put;
	if (local) {
		/* skb to local stack, preserve old route */
		if (!noref)
			ip_rt_put(rt);
		return 1;
	}
	mtu = dst_mtu(&rt->dst) - overhead;
	if ((rt_mode & IPVS_RS_RT_MODE_TUNNEL) && mtu < 68)
		goto err_put;
	if (!decrement_ttl(net, skb_af, skb) ||
	    !mtu_is_adequate(net, skb_af, rt_mode, skb, mtu, icmp, first_frag))
		goto err_put;
	skb_dst_drop(skb);
	if (noref)
		skb_dst_set_noref(skb, &rt->dst);
	else
		skb_dst_set(skb, &rt->dst);
	return 0;

err_put:
	if (!noref)
		ip_rt_put(rt);
	return -1;
err_unreach:
	if (!skb->dev)
		skb->dev = skb_dst(skb)->dev;
	dst_link_failure(skb);
	return -1;
}

static int route6(struct net *net, struct sk_buff *skb, int skb_af, const struct in6_addr *daddr,
		  int rt_mode, unsigned int overhead, bool icmp, bool first_frag,
		  struct in6_addr *saddr, struct ipvs_rs_dst_cache *c)
{
	struct dst_entry *dst;
	struct rt6_info *rt;
	int local, mtu;
	bool noref = c != NULL;

	if (c) {
		struct ipvs_rs_dest_dst *dd = dest_dst_get(net, c, AF_INET6, daddr, rt_mode);

		if (!dd)
			goto err_unreach;
		dst = dd->dst_cache;
		if (saddr)
			*saddr = dd->dst_saddr.in6;
	} else {
		dst = output_route6(net, daddr, rt_mode, saddr);
		if (!dst)
			goto err_unreach;
	}
	rt = dst_rt6_info(dst);
	local = is_local_route6(rt);
	if (crosses_local_route_boundary(skb_af, skb, rt_mode, local))
		goto err_put;
	if (local) {
		if (!noref)
			dst_release(&rt->dst);
		return 1;
	}
	mtu = dst_mtu(&rt->dst) - overhead;
	if ((rt_mode & IPVS_RS_RT_MODE_TUNNEL) && mtu < IPV6_MIN_MTU)
		goto err_put;
	if (!decrement_ttl(net, skb_af, skb) ||
	    !mtu_is_adequate(net, skb_af, rt_mode, skb, mtu, icmp, first_frag))
		goto err_put;
	skb_dst_drop(skb);
	if (noref)
		skb_dst_set_noref(skb, &rt->dst);
	else
		skb_dst_set(skb, &rt->dst);
	return 0;

err_put:
	if (!noref)
		dst_release(&rt->dst);
	return -1;
err_unreach:
	if (!skb->dev)
		skb->dev = skb_dst(skb)->dev;
	dst_link_failure(skb);
	return -1;
}

int ipvs_rs_route(struct net *net, struct sk_buff *skb, int af, int skb_af, const void *daddr,
		  int rt_mode, unsigned int overhead, bool icmp, bool first_frag, void *saddr,
		  struct ipvs_rs_dst_cache *cache)
{
	if (af == AF_INET6)
		return route6(net, skb, skb_af, daddr, rt_mode, overhead, icmp, first_frag, saddr,
			      cache);
	return route4(net, skb, skb_af, *(const __be32 *)daddr, rt_mode, overhead, icmp,
		      first_frag, saddr, cache);
}

unsigned int ipvs_rs_send_or_cont(struct net *net, struct sk_buff *skb, int af, bool local,
				  bool notrack, bool drop_demux)
{
	skb->ipvs_property = 1;
	if (notrack)
		ipvs_rs_skb_notrack(skb);
	if (drop_demux && skb->dev)
		skb_orphan(skb);
	if (local)
		return NF_ACCEPT;
	skb_forward_csum(skb);
	if (skb->dev)
		skb_clear_tstamp(skb);
	NF_HOOK(af == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4, NF_INET_LOCAL_OUT, net, NULL, skb,
		NULL, skb_dst(skb)->dev, dst_output);
	return NF_STOLEN;
}

/* ipvs_gue_encap(): the GUE and UDP headers in front of the inner packet (the skb's data). */
static int gue_encap(struct net *net, struct sk_buff *skb, __be16 tun_port, u16 tun_flags,
		     __u8 *next_protocol)
{
	__be16 sport = udp_flow_src_port(net, skb, 0, 0, false);
	struct udphdr *udph;
	struct guehdr *gueh;
	size_t hdrlen, optlen = 0;
	void *data;
	bool need_priv = false;

	if ((tun_flags & IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM) && skb->ip_summed == CHECKSUM_PARTIAL) {
		optlen += GUE_PLEN_REMCSUM + GUE_LEN_PRIV;
		need_priv = true;
	}
	hdrlen = sizeof(struct guehdr) + optlen;
	skb_push(skb, hdrlen);
	gueh = (struct guehdr *)skb->data;
	gueh->control = 0;
	gueh->version = 0;
	gueh->hlen = optlen >> 2;
	gueh->flags = 0;
	gueh->proto_ctype = *next_protocol;
	data = &gueh[1];
	if (need_priv) {
		__be32 *flags = data;
		u16 csum_start = skb_checksum_start_offset(skb);
		__be16 *pd;

		gueh->flags |= GUE_FLAG_PRIV;
		*flags = 0;
		data += GUE_LEN_PRIV;
		if (csum_start < hdrlen)
			return -EINVAL;
		csum_start -= hdrlen;
		pd = data;
		pd[0] = htons(csum_start);
		pd[1] = htons(csum_start + skb->csum_offset);
		if (!skb_is_gso(skb)) {
			skb->ip_summed = CHECKSUM_NONE;
			skb->encapsulation = 0;
		}
		*flags |= GUE_PFLAG_REMCSUM;
	}
	skb_push(skb, sizeof(struct udphdr));
	skb_reset_transport_header(skb);
	udph = udp_hdr(skb);
	udph->dest = tun_port;
	udph->source = sport;
	udph->len = htons(skb->len);
	udph->check = 0;
	*next_protocol = IPPROTO_UDP;
	return 0;
}

/* ipvs_gre_encap() */
static void gre_encap(struct sk_buff *skb, u16 tun_flags, __u8 *next_protocol)
{
	__be16 proto = *next_protocol == IPPROTO_IPIP ? htons(ETH_P_IP) : htons(ETH_P_IPV6);
	IP_TUNNEL_DECLARE_FLAGS(tflags) = { };

	if (tun_flags & IP_VS_TUNNEL_ENCAP_FLAG_CSUM)
		__set_bit(IP_TUNNEL_CSUM_BIT, tflags);
	gre_build_header(skb, gre_calc_hlen(tflags), tflags, proto, 0, 0);
	*next_protocol = IPPROTO_GRE;
}

/* The GSO type bits of the encapsulation (the part of ip_vs_tunnel_xmit() after
 * __tun_gso_type_mask()). */
static int encap_gso_type(int tun_type, u16 tun_flags, const struct sk_buff *skb)
{
	int gso_type = 0;

	if (tun_type == IP_VS_CONN_F_TUNNEL_TYPE_GUE) {
		if (tun_flags & (IP_VS_TUNNEL_ENCAP_FLAG_CSUM | IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM))
			gso_type |= SKB_GSO_UDP_TUNNEL_CSUM;
		else
			gso_type |= SKB_GSO_UDP_TUNNEL;
		if ((tun_flags & IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM) &&
		    skb->ip_summed == CHECKSUM_PARTIAL)
			gso_type |= SKB_GSO_TUNNEL_REMCSUM;
	} else if (tun_type == IP_VS_CONN_F_TUNNEL_TYPE_GRE) {
		if (tun_flags & IP_VS_TUNNEL_ENCAP_FLAG_CSUM)
			gso_type |= SKB_GSO_GRE_CSUM;
		else
			gso_type |= SKB_GSO_GRE;
	}
	return gso_type;
}

int ipvs_rs_tunnel_xmit(struct net *net, struct sk_buff *skb, int outer_af, int inner_af,
			const void *saddr, const void *daddr, bool nfct, int tun_type,
			__be16 tun_port, u16 tun_flags, unsigned int encap_len, bool pmtu_disc)
{
	struct net_device *tdev = skb_dst(skb)->dev;
	unsigned int max_headroom;
	__u8 next_protocol, dsfield, ttl;
	__be16 df = 0;
	int gso_type;

	/* ip_vs_prepare_tunneled_skb(): what the outer header takes from the inner one. */
	if (inner_af == AF_INET6) {
		const struct ipv6hdr *old = ipv6_hdr(skb);

		next_protocol = IPPROTO_IPV6;
		dsfield = ipv6_get_dsfield(old);
		ttl = old->hop_limit;
	} else {
		const struct iphdr *old = ip_hdr(skb);

		next_protocol = IPPROTO_IPIP;
		dsfield = ipv4_get_dsfield(old);
		ttl = old->ttl;
		/* "We only care about the df field if sysctl_pmtu_disc(ipvs) is set" */
		if (pmtu_disc)
			df = old->frag_off & htons(IP_DF);
	}
	/* INET_ECN_encapsulate(): the outer header carries the inner DSCP and ECN, CE as ECT(0). */
	dsfield = INET_ECN_encapsulate(dsfield, dsfield);
	/* __tun_gso_type_mask(): by the outer family. */
	gso_type = outer_af == AF_INET6 ? SKB_GSO_IPXIP6 : SKB_GSO_IPXIP4;
	gso_type |= encap_gso_type(tun_type, tun_flags, skb);

	/* The caller computed @encap_len (the GUE/GRE headers) from the same skb. */
	max_headroom = LL_RESERVED_SPACE(tdev) + encap_len +
		       (outer_af == AF_INET6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr));
	if (skb_headroom(skb) < max_headroom || skb_cloned(skb)) {
		if (pskb_expand_head(skb, max_headroom, 0, GFP_ATOMIC))
			goto drop;
	}
	if (iptunnel_handle_offloads(skb, gso_type))
		goto drop;
	skb->transport_header = skb->network_header;
	skb_set_inner_ipproto(skb, next_protocol);
	skb_set_inner_mac_header(skb, skb_inner_network_offset(skb));

	if (tun_type == IP_VS_CONN_F_TUNNEL_TYPE_GUE) {
		bool check = tun_flags & (IP_VS_TUNNEL_ENCAP_FLAG_CSUM |
					  IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM);

		if (gue_encap(net, skb, tun_port, tun_flags, &next_protocol))
			goto drop;
		if (outer_af == AF_INET6)
			udp6_set_csum(!check, skb, (const struct in6_addr *)saddr,
				      (const struct in6_addr *)daddr, skb->len);
		else
			udp_set_csum(!check, skb, *(const __be32 *)saddr, *(const __be32 *)daddr,
				     skb->len);
	} else if (tun_type == IP_VS_CONN_F_TUNNEL_TYPE_GRE) {
		gre_encap(skb, tun_flags, &next_protocol);
	}

	if (outer_af == AF_INET6) {
		struct ipv6hdr *iph;

		skb_push(skb, sizeof(struct ipv6hdr));
		skb_reset_network_header(skb);
		memset(&(IPCB(skb)->opt), 0, sizeof(IPCB(skb)->opt));
		iph = ipv6_hdr(skb);
		iph->version = 6;
		iph->nexthdr = next_protocol;
		iph->payload_len = htons(skb->len - sizeof(struct ipv6hdr));
		ip6_flow_hdr(iph, dsfield, 0);
		iph->daddr = *(const struct in6_addr *)daddr;
		iph->saddr = *(const struct in6_addr *)saddr;
		iph->hop_limit = ttl;
		skb->protocol = htons(ETH_P_IPV6);
	} else {
		struct iphdr *iph;

		skb_push(skb, sizeof(struct iphdr));
		skb_reset_network_header(skb);
		memset(&(IPCB(skb)->opt), 0, sizeof(IPCB(skb)->opt));
		iph = ip_hdr(skb);
		iph->version = 4;
		iph->ihl = sizeof(struct iphdr) >> 2;
		iph->frag_off = df;
		iph->protocol = next_protocol;
		iph->tos = dsfield;
		iph->daddr = *(const __be32 *)daddr;
		iph->saddr = *(const __be32 *)saddr;
		iph->ttl = ttl;
		ip_select_ident(net, skb, NULL);
		skb->protocol = htons(ETH_P_IP);
	}
	/* Another hack: avoid icmp_send in ip_fragment */
	skb->ignore_df = 1;
	/* ip_vs_tunnel_xmit_prepare() */
	skb->ipvs_property = 1;
	if (nfct && nf_conntrack_confirm(skb) != NF_ACCEPT) {
		kfree_skb(skb);
		return -EPERM;
	}
	nf_reset_ct(skb);
	skb_forward_csum(skb);
	if (skb->dev)
		skb_clear_tstamp(skb);
	if (outer_af == AF_INET6)
		ip6_local_out(net, skb->sk, skb);
	else
		ip_local_out(net, skb->sk, skb);
	return 0;
drop:
	kfree_skb(skb);
	return -ENOMEM;
}

/* --- timers, RCU, locks ----------------------------------------------------------------- */
void ipvs_rs_timer_setup(struct timer_list *timer, void (*fn)(struct timer_list *))
{
	timer_setup(timer, fn, 0);
}

unsigned long ipvs_rs_jiffies(void)
{
	return jiffies;
}

int ipvs_rs_mod_timer(struct timer_list *timer, unsigned long expires)
{
	return mod_timer(timer, expires);
}

int ipvs_rs_mod_timer_pending(struct timer_list *timer, unsigned long expires)
{
	return mod_timer_pending(timer, expires);
}

int ipvs_rs_timer_delete(struct timer_list *timer)
{
	return timer_delete(timer);
}

unsigned long ipvs_rs_timer_expires(const struct timer_list *timer)
{
	return READ_ONCE(timer->expires);
}

bool ipvs_rs_timer_pending(const struct timer_list *timer)
{
	return timer_pending(timer);
}

void ipvs_rs_call_rcu(struct rcu_head *head, void (*fn)(struct rcu_head *))
{
	call_rcu(head, fn);
}

void ipvs_rs_rcu_barrier(void)
{
	rcu_barrier();
}

void ipvs_rs_synchronize_rcu(void)
{
	synchronize_rcu();
}

void ipvs_rs_rcu_read_lock(void)
{
	rcu_read_lock();
}

void ipvs_rs_rcu_read_unlock(void)
{
	rcu_read_unlock();
}

void ipvs_rs_local_bh_disable(void)
{
	local_bh_disable();
}

void ipvs_rs_local_bh_enable(void)
{
	local_bh_enable();
}

void ipvs_rs_msleep(unsigned int ms)
{
	msleep(ms);
}

void ipvs_rs_cond_resched(void)
{
	cond_resched();
}

void ipvs_rs_cond_resched_rcu(void)
{
	cond_resched_rcu();
}

#define CONN_LOCKS 256
static spinlock_t conn_locks[CONN_LOCKS];

void ipvs_rs_conn_locks_init(void)
{
	int i;

	for (i = 0; i < CONN_LOCKS; i++)
		spin_lock_init(&conn_locks[i]);
}

void ipvs_rs_conn_lock(unsigned int hash)
{
	spin_lock_bh(&conn_locks[hash % CONN_LOCKS]);
}

void ipvs_rs_conn_unlock(unsigned int hash)
{
	spin_unlock_bh(&conn_locks[hash % CONN_LOCKS]);
}

void ipvs_rs_conn_state_lock_init(spinlock_t *lock)
{
	spin_lock_init(lock);
}

void ipvs_rs_spin_lock_bh(spinlock_t *lock)
{
	spin_lock_bh(lock);
}

void ipvs_rs_spin_unlock_bh(spinlock_t *lock)
{
	spin_unlock_bh(lock);
}

__u32 ipvs_rs_random_u32(void)
{
	return get_random_u32();
}

__u32 ipvs_rs_random_u32_below(__u32 ceil)
{
	return ceil ? get_random_u32_below(ceil) : 0;
}

unsigned long ipvs_rs_free_and_buffer_pages(void)
{
	struct sysinfo i;

	/* update_defense_level(): "we only count free and buffered memory (in pages)" */
	si_meminfo(&i);
	return i.freeram + i.bufferram;
}

bool ipvs_rs_skb_ct_confirmed(const struct sk_buff *skb)
{
	enum ip_conntrack_info ctinfo;
	struct nf_conn *ct = nf_ct_get(skb, &ctinfo);

	return ct && nf_ct_is_confirmed(ct);
}

void ipvs_rs_dwork_init(struct delayed_work *dw, void (*fn)(struct work_struct *))
{
	INIT_DELAYED_WORK(dw, fn);
}

bool ipvs_rs_dwork_queue(struct delayed_work *dw, unsigned long delay)
{
	return queue_delayed_work(system_long_wq, dw, delay);
}

bool ipvs_rs_dwork_cancel_sync(struct delayed_work *dw)
{
	return cancel_delayed_work_sync(dw);
}

struct delayed_work *ipvs_rs_dwork_of(struct work_struct *work)
{
	return to_delayed_work(work);
}

/* --- conntrack (ip_vs_nfct.c) ------------------------------------------------------------ */

void ipvs_rs_update_conntrack(struct sk_buff *skb, int af, const void *addr, __be16 port, bool outin)
{
	enum ip_conntrack_info ctinfo;
	struct nf_conn *ct = nf_ct_get(skb, &ctinfo);
	struct nf_conntrack_tuple new_tuple;
	union nf_inet_addr a = {};

	if (ct == NULL || nf_ct_is_confirmed(ct) || nf_ct_is_dying(ct))
		return;
	/* Alter reply only in original direction */
	if (CTINFO2DIR(ctinfo) != IP_CT_DIR_ORIGINAL)
		return;
	memcpy(&a, addr, af == AF_INET6 ? 16 : 4);
	/*
	 * The connection is not yet in the hashtable, so we update it. CIP->VIP will remain
	 * the same, so leave the tuple in IP_CT_DIR_ORIGINAL untouched. When the reply comes
	 * back from the real-server we will see RIP->DIP.
	 */
	new_tuple = ct->tuplehash[IP_CT_DIR_REPLY].tuple;
	if (outin) {
		new_tuple.src.u3 = a;
		if (new_tuple.dst.protonum != IPPROTO_ICMP && new_tuple.dst.protonum != IPPROTO_ICMPV6)
			new_tuple.src.u.tcp.port = port;
	} else {
		new_tuple.dst.u3 = a;
		if (new_tuple.dst.protonum != IPPROTO_ICMP && new_tuple.dst.protonum != IPPROTO_ICMPV6)
			new_tuple.dst.u.tcp.port = port;
	}
	nf_conntrack_alter_reply(ct, &new_tuple);
}

void ipvs_rs_drop_conntrack(struct net *net, int af, __u8 protocol, const void *caddr, __be16 cport,
			    const void *vaddr, __be16 vport)
{
	struct nf_conntrack_tuple_hash *h;
	struct nf_conntrack_tuple tuple;
	struct nf_conn *ct;
	int n = af == AF_INET6 ? 16 : 4;

	if (!cport)
		return;
	tuple = (struct nf_conntrack_tuple) {
		.dst = { .protonum = protocol, .dir = IP_CT_DIR_ORIGINAL } };
	memcpy(&tuple.src.u3, caddr, n);
	tuple.src.u.all = cport;
	tuple.src.l3num = af;
	memcpy(&tuple.dst.u3, vaddr, n);
	tuple.dst.u.all = vport;

	h = nf_conntrack_find_get(net, &nf_ct_zone_dflt, &tuple);
	if (h) {
		ct = nf_ct_tuplehash_to_ctrack(h);
		nf_ct_kill(ct);
		nf_ct_put(ct);
	}
}

bool ipvs_rs_retire_conntrack(struct sk_buff *skb, struct net *net, int af)
{
	enum ip_conntrack_info ctinfo;
	struct nf_conn *ct = nf_ct_get(skb, &ctinfo);
	struct nf_hook_state state;

	if (!ct || !nf_ct_is_confirmed(ct))
		return false;
	nf_ct_kill(ct);
	nf_conntrack_put(&ct->ct_general);
	nf_ct_set(skb, NULL, 0);
	/*
	 * Give the packet the fresh, unconfirmed entry for its original tuple (client ->
	 * virtual service) that the client's retransmit would have got in PRE_ROUTING once
	 * the old entry was gone, so that the rest of the connection's packets find it and
	 * ip_vs_update_conntrack() can bind its reply tuple to the chosen real server.
	 */
	nf_hook_state_init(&state, NF_INET_PRE_ROUTING, af == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4,
			   skb->dev, NULL, NULL, net, NULL);
	return nf_conntrack_in(skb, &state) == NF_ACCEPT;
}

int ipvs_rs_nf_defrag_ipv6_enable(struct net *net)
{
	return nf_defrag_ipv6_enable(net);
}

/* Per-CPU counters: this_cpu_*() are preemption- and interrupt-safe single updates, so the
 * hooks may count from any context (process context at LOCAL_OUT included). The pointers
 * are __percpu ones, passed through Rust as plain void *. */
void *ipvs_rs_pcpu_alloc(void)
{
	return (void __force *)alloc_percpu_gfp(struct ipvs_rs_counters, GFP_KERNEL);
}

void ipvs_rs_pcpu_free(void *pcpu)
{
	free_percpu((void __percpu __force *)pcpu);
}

void ipvs_rs_pcpu_conn(void *pcpu)
{
	struct ipvs_rs_counters __percpu *c = (void __percpu __force *)pcpu;

	this_cpu_inc(c->conns);
}

void ipvs_rs_pcpu_in(void *pcpu, __u64 bytes)
{
	struct ipvs_rs_counters __percpu *c = (void __percpu __force *)pcpu;

	this_cpu_inc(c->inpkts);
	this_cpu_add(c->inbytes, bytes);
}

void ipvs_rs_pcpu_out(void *pcpu, __u64 bytes)
{
	struct ipvs_rs_counters __percpu *c = (void __percpu __force *)pcpu;

	this_cpu_inc(c->outpkts);
	this_cpu_add(c->outbytes, bytes);
}

void ipvs_rs_pcpu_sum(void *pcpu, struct ipvs_rs_counters *out)
{
	struct ipvs_rs_counters __percpu *c = (void __percpu __force *)pcpu;
	int cpu;

	memset(out, 0, sizeof(*out));
	for_each_possible_cpu(cpu) {
		const struct ipvs_rs_counters *p = per_cpu_ptr(c, cpu);

		out->conns += READ_ONCE(p->conns);
		out->inpkts += READ_ONCE(p->inpkts);
		out->outpkts += READ_ONCE(p->outpkts);
		out->inbytes += READ_ONCE(p->inbytes);
		out->outbytes += READ_ONCE(p->outbytes);
	}
}
