/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Data-path glue of ipvs_rs (rust/dp_glue.c): netfilter hook registration, skb access,
 * routing and output, timers, RCU and the connection-table locks. Each function wraps a
 * static inline, a macro or a short sequence of kernel calls that must stay together
 * (route + MTU + dst, NF_HOOK(LOCAL_OUT) + dst_output); no IPVS policy lives here.
 */
#ifndef IPVS_RS_DP_H
#define IPVS_RS_DP_H

#include <linux/types.h>
#include <linux/timer.h>
#include <linux/rcupdate.h>
#include <linux/spinlock_types.h>

struct net;
struct sk_buff;

/* Which hook function of ip_vs_ops4/ip_vs_ops6 a packet arrived at. */
enum ipvs_rs_hook_kind {
	IPVS_RS_HOOK_IN = 0,		/* ip_vs_in_hook */
	IPVS_RS_HOOK_OUT = 1,		/* ip_vs_out_hook */
	IPVS_RS_HOOK_FWD_ICMP = 2,	/* ip_vs_forward_icmp(_v6) */
};

struct ipvs_rs_skb_head;
/* Implemented in Rust (rust/dp/hook.rs): the verdict for one packet, with what the
 * trampoline read of it first (@head, describing @skb as it is). */
unsigned int ipvs_rs_dp_hook(unsigned int kind, unsigned int af, unsigned int hooknum,
			     struct net *net, struct sk_buff *skb,
			     const struct ipvs_rs_skb_head *head);

/* nf_register_net_hooks() of C IPVS's hook table for @af (AF_INET or AF_INET6) in @net. */
int ipvs_rs_hooks_register(struct net *net, int af);
void ipvs_rs_hooks_unregister(struct net *net, int af);

/* --- skb ------------------------------------------------------------------------------ */
/* skb_header_pointer() without the pointer: copies @len bytes at @off from the network
 * header into @to (skb_copy_bits(): linear area, page fragments, frag list), pulling
 * nothing. 0, or a negative errno if they are not all in the packet. */
int ipvs_rs_skb_read(const struct sk_buff *skb, unsigned int off, void *to, unsigned int len);
/* ip_vs_checksum_common_check() of the ICMP(v6) message at @toff from the network header:
 * true when the skb needs no check (CHECKSUM_UNNECESSARY, locally generated) or the checksum
 * verifies (nf_checksum(), which reads page fragments in place). */
bool ipvs_rs_icmp_csum_ok(struct sk_buff *skb, unsigned int toff, int af);
/* skb_ensure_writable() of the first @len bytes from the network header; returns the
 * network header (and the linear length in @lin) or NULL. */
unsigned char *ipvs_rs_skb_writable(struct sk_buff *skb, unsigned int len, unsigned int *lin);
unsigned int ipvs_rs_skb_pkt_len(const struct sk_buff *skb);
/* What skb_header_pointer() reads in place: returns the network header, with in @lin the
 * bytes from there that are in the linear area (0 and NULL when the network header is not in
 * it) and in @len the packet's length from there (as ipvs_rs_skb_pkt_len()). */
const unsigned char *ipvs_rs_skb_view(const struct sk_buff *skb, unsigned int *lin,
				      unsigned int *len);
/* What the hooks read of every packet first: the trampolines of rust/dp_glue.c fill it
 * before they call ipvs_rs_dp_hook(). */
struct ipvs_rs_skb_head {
	/* As ipvs_rs_skb_view() returns them. */
	const unsigned char *lin;
	unsigned int lin_len;
	unsigned int len;
	/* IPVS_RS_SKB_* */
	unsigned int flags;
	/* IPv4 only (an IPv4 hook): the header's protocol. */
	unsigned char v4_proto;
};
enum {
	IPVS_RS_SKB_IPVS_PROPERTY = 1,	/* skb->ipvs_property */
	IPVS_RS_SKB_PKT_HOST = 2,	/* skb->pkt_type == PACKET_HOST */
	IPVS_RS_SKB_HAS_DST = 4,	/* skb_dst(skb) != NULL */
	IPVS_RS_SKB_V4_FRAGMENT = 8,	/* IPv4 only: ip_is_fragment(ip_hdr(skb)) */
};
bool ipvs_rs_skb_ipvs_property(const struct sk_buff *skb);
void ipvs_rs_skb_set_ipvs_property(struct sk_buff *skb);
__u32 ipvs_rs_skb_mark(const struct sk_buff *skb);
/* skb->ip_summed == CHECKSUM_PARTIAL */
bool ipvs_rs_skb_csum_partial(const struct sk_buff *skb);
/* skb_is_gso() */
bool ipvs_rs_skb_is_gso(const struct sk_buff *skb);
/* skb_dst(skb)->dev->features & NETIF_F_SCTP_CRC: the output device computes SCTP CRCs. */
bool ipvs_rs_skb_dst_sctp_crc(const struct sk_buff *skb);
/* CHECKSUM_COMPLETE becomes CHECKSUM_NONE after a rewrite (skb->csum no longer matches). */
void ipvs_rs_skb_csum_invalidate(struct sk_buff *skb);
void ipvs_rs_skb_csum_unnecessary(struct sk_buff *skb);
/* A raw IPv4 socket with IP_NODEFRAG sent it from this host (C skips those). */
bool ipvs_rs_skb_nodefrag_sk(const struct sk_buff *skb);
/* ip_vs_conn_uses_old_conntrack(): the packet's conntrack exists and is confirmed. */
bool ipvs_rs_skb_ct_confirmed(const struct sk_buff *skb);
/* ip_vs_update_conntrack(): before confirmation, point the reply tuple of the packet's
 * conntrack at @addr:@port (4 or 16 bytes by @af; port in network order): the real server
 * (@outin) or the virtual service (a reply). */
void ipvs_rs_update_conntrack(struct sk_buff *skb, int af, const void *addr, __be16 port, bool outin);
/* ip_vs_conn_drop_conntrack(): kill the conntrack of the original tuple caddr:cport ->
 * vaddr:vport (ports in network order), if any. */
void ipvs_rs_drop_conntrack(struct net *net, int af, __u8 protocol, const void *caddr, __be16 cport,
			    const void *vaddr, __be16 vport);
/* conn_reuse_old_conntrack: kill the packet's confirmed conntrack, detach it from the
 * packet and give the packet a fresh entry (nf_conntrack_in() as in PRE_ROUTING). Returns
 * whether the packet now has a fresh entry. */
bool ipvs_rs_retire_conntrack(struct sk_buff *skb, struct net *net, int af);
/* nf_defrag_ipv6_enable(): C enables IPv6 defragmentation with the first IPv6 service. */
int ipvs_rs_nf_defrag_ipv6_enable(struct net *net);
/* ip_vs_notrack() */
void ipvs_rs_skb_notrack(struct sk_buff *skb);
/* ICMP(v6) port unreachable back to the sender (ip_vs_leave()). */
void ipvs_rs_icmp_port_unreach(struct sk_buff *skb, int af, struct net *net);
/* ip_vs_route_me_harder(): re-route a NAT reply as if it were locally generated (not at
 * LOCAL_IN, where the reply goes to a local client). Nonzero: the route failed, drop. */
int ipvs_rs_route_me_harder(struct net *net, int af, struct sk_buff *skb, unsigned int hooknum);
/* ip_vs_gather_frags(): ip_defrag() with the user of @hooknum (ip_vs_defrag_user()). 0: the
 * skb is now the whole datagram (IP checksum recomputed); otherwise the skb was consumed:
 * 1 queued until the other fragments arrive (-EINPROGRESS), -1 freed (any other error). */
int ipvs_rs_gather_frags(struct net *net, struct sk_buff *skb, unsigned int hooknum);
/* !skb->dev || skb->dev is a loopback device: generated by this host (ip_vs_schedule()'s
 * test for replies from a local real server). */
bool ipvs_rs_skb_from_local_stack(const struct sk_buff *skb);
/* The packet came from another host: IPv4 rt_is_input_route(), IPv6 a non-loopback skb->dev
 * (ip_vs_nat_xmit(_v6)()'s test before "stopping DNAT to loopback"). */
bool ipvs_rs_skb_from_world(const struct sk_buff *skb, int af);
/* The rate-limited debug message of a refused DNAT to a loopback address (@daddr: 4 or 16
 * bytes by @af; @func: the C transmitter's name). */
void ipvs_rs_log_dnat_loopback(const char *func, int af, const void *daddr);

/* --- routing and output (ip_vs_xmit.c) -------------------------------------------------- */
#define IPVS_RS_RT_MODE_LOCAL		0x0001
#define IPVS_RS_RT_MODE_NON_LOCAL	0x0002
#define IPVS_RS_RT_MODE_RDR		0x0004
#define IPVS_RS_RT_MODE_CONNECT		0x0008
#define IPVS_RS_RT_MODE_KNOWN_NH	0x0010
#define IPVS_RS_RT_MODE_TUNNEL		0x0020
/* ipvs_rs's own: the namespace's pmtu_disc is 0 (C reads sysctl_pmtu_disc() there). */
#define IPVS_RS_RT_MODE_NO_PMTU_DISC	0x0100
/* __ip_vs_get_out_rt(_v6)(): route to @daddr (4 or 16 bytes by @af), refuse what @rt_mode
 * forbids, decrement the TTL for forwarded packets, check the MTU (less @overhead for
 * tunnels; ICMP "too big" as C sends it) and attach the route. Returns 1 if @daddr is local
 * (the skb keeps its route), 0 if routed, -1 on error (the caller drops). @saddr (may be
 * NULL) gets the route's source address. @cache (C's dest->dest_dst; NULL: look the route up
 * now and attach it with a reference) is the route cache of the real server whose address
 * @daddr is: its route is looked up once, reused while valid and attached without a
 * reference, which the caller's RCU read-side section (the hook's) covers. */
struct ipvs_rs_dst_cache;
int ipvs_rs_route(struct net *net, struct sk_buff *skb, int af, int skb_af, const void *daddr,
		  int rt_mode, unsigned int overhead, bool icmp, bool first_frag, void *saddr,
		  struct ipvs_rs_dst_cache *cache);
/* A real server's route cache. alloc: process context (NULL: no memory, routes are then
 * looked up every time); reset (__ip_vs_dst_cache_reset()): the server's settings changed;
 * free: its owner is gone, so no packet can be routing with it (the route is released at
 * once). Every cache is on one list that a netdevice notifier walks: a device going down or
 * away drops the routes cached through it (C: ip_vs_dst_event()), else a cached route would
 * hold the device and its namespace could never be deleted. */
struct ipvs_rs_dst_cache *ipvs_rs_dst_cache_alloc(void);
void ipvs_rs_dst_cache_reset(struct ipvs_rs_dst_cache *c);
void ipvs_rs_dst_cache_free(struct ipvs_rs_dst_cache *c);
/* The notifier, for the module's lifetime: registered before any cache exists; unregister
 * waits (rcu_barrier()) for the routes that resets dropped to be released. */
int ipvs_rs_dst_caches_register(void);
void ipvs_rs_dst_caches_unregister(void);
/* ip_vs_nat_send_or_cont() / ip_vs_send_or_cont(): returns NF_STOLEN (sent through
 * NF_HOOK(LOCAL_OUT) + dst_output) or NF_ACCEPT (local: let it continue). */
/* ip_vs_addr_is_unicast(): IPv4 a unicast route's address that is not this host's, IPv6 a
 * unicast address (@addr: 4 or 16 bytes by @af). */
bool ipvs_rs_addr_is_unicast(struct net *net, int af, const void *addr);
/* ip_vs_bypass_xmit(_v6)() between routing and sending: the IPv4 header checksum, and no
 * "fragmentation needed" from ip_fragment() (ignore_df). */
void ipvs_rs_bypass_prepare(struct sk_buff *skb, int af);
unsigned int ipvs_rs_send_or_cont(struct net *net, struct sk_buff *skb, int af, bool local,
				  bool notrack, bool drop_demux);
/* The encapsulation of ip_vs_tunnel_xmit(_v6)() after routing: the outer IPv4 or IPv6
 * header (@outer_af; the inner packet may be of the other family) from @saddr to @daddr with
 * the inner header's TOS/TTL and, when @pmtu_disc, its DF, after a GUE (UDP to @tun_port, network order) or GRE header
 * for @tun_type with @tun_flags (IP_VS_TUNNEL_ENCAP_FLAG_*), offloads, and
 * ip(6)_local_out(). @encap_len is the GUE/GRE header length (ipvs_core::tunnel::encap_len).
 * The skb is consumed; returns 0 or a negative errno. */
int ipvs_rs_tunnel_xmit(struct net *net, struct sk_buff *skb, int outer_af, int inner_af,
			const void *saddr, const void *daddr, bool nfct, int tun_type,
			__be16 tun_port, u16 tun_flags, unsigned int encap_len, bool pmtu_disc);
void ipvs_rs_kfree_skb(struct sk_buff *skb);

/* --- timers, RCU, locks, time ---------------------------------------------------------- */
void ipvs_rs_timer_setup(struct timer_list *timer, void (*fn)(struct timer_list *));
unsigned long ipvs_rs_jiffies(void);
/* mod_timer(); returns whether the timer was pending. */
int ipvs_rs_mod_timer(struct timer_list *timer, unsigned long expires);
/* mod_timer_pending(): like mod_timer() but never arms a timer that is not pending. */
int ipvs_rs_mod_timer_pending(struct timer_list *timer, unsigned long expires);
int ipvs_rs_timer_delete(struct timer_list *timer);
unsigned long ipvs_rs_timer_expires(const struct timer_list *timer);
bool ipvs_rs_timer_pending(const struct timer_list *timer);
void ipvs_rs_call_rcu(struct rcu_head *head, void (*fn)(struct rcu_head *));
void ipvs_rs_rcu_barrier(void);
void ipvs_rs_synchronize_rcu(void);
void ipvs_rs_rcu_read_lock(void);
void ipvs_rs_rcu_read_unlock(void);
void ipvs_rs_local_bh_disable(void);
void ipvs_rs_local_bh_enable(void);
void ipvs_rs_msleep(unsigned int ms);
void ipvs_rs_cond_resched(void);
/* cond_resched_rcu(): inside rcu_read_lock(), let others run (drops the read lock for a
 * moment on kernels where an RCU reader cannot be preempted). */
void ipvs_rs_cond_resched_rcu(void);
/* Delayed work on system_long_wq (C: ipvs->expire_nodest_conn_work). */
#include <linux/workqueue.h>
void ipvs_rs_dwork_init(struct delayed_work *dw, void (*fn)(struct work_struct *));
bool ipvs_rs_dwork_queue(struct delayed_work *dw, unsigned long delay);
bool ipvs_rs_dwork_cancel_sync(struct delayed_work *dw);
struct delayed_work *ipvs_rs_dwork_of(struct work_struct *work);
/* The connection table's bucket locks (C's __ip_vs_conntbl_lock_array): spin_lock_bh of
 * lock @hash % 256. */
void ipvs_rs_conn_locks_init(void);
void ipvs_rs_conn_lock(unsigned int hash);
void ipvs_rs_conn_unlock(unsigned int hash);
/* A connection entry's own lock (C: cp->lock), one lockdep class for all entries. */
void ipvs_rs_conn_state_lock_init(spinlock_t *lock);
void ipvs_rs_spin_lock_bh(spinlock_t *lock);
void ipvs_rs_spin_unlock_bh(spinlock_t *lock);
/* The conn_tab_bits module parameter, clamped as C clamps it (8..20). */
int ipvs_rs_conn_tab_bits(void);
/* get_random_u32() */
__u32 ipvs_rs_random_u32(void);
__u32 ipvs_rs_random_u32_below(__u32 ceil);
/* si_meminfo(): freeram + bufferram, in pages (what update_defense_level() counts). */
unsigned long ipvs_rs_free_and_buffer_pages(void);

/* Per-CPU packet counters of a stats object (C: struct ip_vs_cpu_stats). */
struct ipvs_rs_counters {
	__u64 conns;
	__u64 inpkts;
	__u64 outpkts;
	__u64 inbytes;
	__u64 outbytes;
};
void *ipvs_rs_pcpu_alloc(void);
void ipvs_rs_pcpu_free(void *pcpu);
void ipvs_rs_pcpu_conn(void *pcpu);
void ipvs_rs_pcpu_in(void *pcpu, __u64 bytes);
void ipvs_rs_pcpu_out(void *pcpu, __u64 bytes);
void ipvs_rs_pcpu_sum(void *pcpu, struct ipvs_rs_counters *out);

#endif /* IPVS_RS_DP_H */
